"""What each part adds to an app is the app's own: two apps in one process (a worker and a web
process, or the tests) do not share a staff menu, link kinds or a beat schedule."""

from __future__ import annotations

from typing import Any

from web import parts


def test_two_apps_keep_their_own_menu_and_schedule(make_app):
    dev = make_app(MAIL_SWEEP_SECONDS=7)  # no SMTP server: mail stays in the dev mail page
    smtp = make_app(SMTP_HOST="127.0.0.1", MAIL_SWEEP_SECONDS=11)
    dev_menu = [endpoint for endpoint, _ in parts.of(dev).nav]
    assert dev_menu == ["staff.cases", "review.today_index", "staff.index", "checkin.scanner",
                        "checkin.daylist", "checkin.queue", "checkin.scans",
                        "booking.staff_slots", "booking.phone", "posters.index",
                        "webhooks.index", "apidocs.page", "mail.index"]
    assert "mail.index" not in [endpoint for endpoint, _ in parts.of(smtp).nav]
    beat = {app: app.extensions["celery"].conf.beat_schedule for app in (dev, smtp)}
    assert beat[dev]["mail-sweep"]["schedule"] == 7
    assert beat[smtp]["mail-sweep"]["schedule"] == 11
    assert set(beat[dev]) == {"booking-sweep", "mail-sweep", "mail-reminders",
                              "erase-expired-personal-data", "webhook-sweep",
                              "review-digests"}


def test_each_step_type_adds_its_links_panels_and_demo(app):
    p = parts.of(app)
    assert set(p.link_kinds) == {"case", "cancel", "reschedule", "ics", "waitlist", "ticket",
                                 "qr"}
    assert p.case_panels == ["review/panel.html", "checkin/staff/panel.html",
                             "document/panel.html", "form/panel.html",
                             "booking/staff_panel.html", "notify/panel.html"]
    # slots first, then the demo day that books some of them
    assert [hook.__name__ for hook in p.demo_hooks] == ["generate_year", "demo_day"]


def test_the_menu_offers_each_person_the_pages_of_what_they_serve(
        app: Any, make_staff: Any, auth: Any) -> None:
    make_staff("school@example.jp", workflows=("kesseki-todoke",), counters=(),
               groups=("domyoji-e",))
    make_staff("counter@example.jp", workflows=("boshi-techo",), counters=("hoken-center",))
    menus = {}
    for email in ("school@example.jp", "counter@example.jp"):
        client = app.test_client()
        type(auth)(client).login(email)
        html = client.get("/staff/cases").get_data(as_text=True)
        menus[email] = html[html.index('aria-label="職員メニュー"'):html.index("</nav>", html.index(
            'aria-label="職員メニュー"'))]
    assert "/staff/checkin" not in menus["school@example.jp"]
    assert "/staff/booking/slots" not in menus["school@example.jp"]
    assert "/staff/today" in menus["school@example.jp"]
    assert "/staff/checkin" in menus["counter@example.jp"]
    assert "/staff/today" not in menus["counter@example.jp"]
