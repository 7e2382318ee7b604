"""Check-in on the web: the citizen's ticket with its QR code, the counter's scanner page, the
day list, the scan log (where a scan refused for another day may be accepted), the call
queue and its waiting-room display, and the check-in calls of the JSON API. Templates
under ``templates/checkin/``."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web import parts
from web.steps.checkin import api, desk, pages, scanlog  # noqa: F401  (their routes)


def init_app(app: Flask) -> None:
    app.register_blueprint(pages.bp)
    p = parts.of(app)
    p.menu_entry(10, "checkin.scanner", _l("Check-in"), parts.serves_counters)
    p.menu_entry(11, "checkin.daylist", _l("Day list"), parts.serves_counters)
    p.menu_entry(12, "checkin.queue", _l("Call queue"), parts.serves_counters)
    p.menu_entry(13, "checkin.scans", _l("Scan log"), parts.serves_counters)
    p.case_panels.append("checkin/staff/panel.html")
    p.link_kind("ticket", purpose="ticket", endpoint="checkin.ticket")
    p.link_kind("qr", purpose="ticket", endpoint="checkin.ticket_qr")
