"""Booking on the web: the citizen's pages (choose a time, give the details, change or cancel,
the waiting list), the staff's slot pages and calendar feeds, staff booking for a caller
(``phone``), and the booking calls of the JSON API. Templates under ``templates/booking/``."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web import parts
from web.steps.booking import api, changes, pages, phone, staff  # noqa: F401  (their routes)


def init_app(app: Flask) -> None:
    app.register_blueprint(pages.bp)
    p = parts.of(app)
    p.menu_entry(20, "booking.staff_slots", _l("Slots"), parts.serves_counters)
    p.menu_entry(21, "booking.phone", _l("Book for a caller"), parts.serves_counters)
    p.case_panels.append("booking/staff_panel.html")
    p.link_kind("case", purpose="case", endpoint="case.page")
    p.link_kind("cancel", purpose="cancel", endpoint="booking.cancel")
    p.link_kind("reschedule", purpose="reschedule", endpoint="booking.reschedule")
    p.link_kind("ics", purpose="ics", endpoint="booking.ics")
    p.link_kind("waitlist", purpose="waitlist", endpoint="booking.offer")
    p.beat["booking-sweep"] = {"task": "booking.sweep", "schedule": 60.0}
    p.demo_hooks.append(staff.generate_year)
