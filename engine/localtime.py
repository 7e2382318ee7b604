"""Japan time: the one time zone of the offices this serves. Times are stored in UTC; days,
opening hours and "today" are Japan's."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Tokyo")
# Weekdays as workflow files name them, Monday first (``date.weekday()`` indexes them).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def local_date(moment: datetime) -> date:
    """The day in Japan at ``moment`` (23:50 JST is still that day, 15:00 UTC the next)."""
    return moment.astimezone(TZ).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of ``day`` in Japan and of the day after."""
    start = datetime.combine(day, time(0), TZ)
    return start, start + timedelta(days=1)
