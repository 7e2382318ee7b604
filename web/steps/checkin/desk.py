"""The counter's day: the day list staff prepare from, the call queue, and the public
waiting-room display (numbers only, never names), updated live by polling a JSON endpoint."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from engine import localtime
from engine.errors import NotFound
from engine.models.checkin import QueueTicket
from engine.steps.checkin import daylist, queue
from web import labels
from web.context import catalog, now
from web.environment import env
from web.extensions import db
from web.steps.checkin.export import csv_response, record
from web.steps.checkin.pages import (
    booking_for_staff,
    bp,
    chosen_counter,
    counters,
    my_counters,
)

STATUS_LABELS: dict[str, Any] = labels.DAYLIST_STATUSES
QUEUE_LABELS: dict[str, Any] = labels.QUEUE_STATUSES


def grace() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("NO_SHOW_GRACE_MINUTES", 30)))


def chosen_day() -> date:
    raw = request.values.get("date", "")
    try:
        return date.fromisoformat(raw) if raw else localtime.local_date(now())
    except ValueError:
        return localtime.local_date(now())


def _day_rows() -> tuple[str, date, str, str, list[daylist.Row]]:
    """The day list the request asks for (counter, day, search, status filter)."""
    counter, day = chosen_counter(), chosen_day()
    query = request.args.get("q", "")[:100]
    status = request.args.get("status", "")
    status = status if status in daylist.STATUSES else ""
    rows = [r for r in daylist.day_list(db.session, catalog(), day=day, now=now(), grace=grace(),
                                        counter=counter, query=query, status=status)
            if current_user.serves_workflow(r.workflow_id)]
    return counter, day, query, status, rows


@bp.get("/staff/checkin/day", endpoint="daylist")
@login_required
def daylist_page() -> str:
    counter, day, query, status, rows = _day_rows()
    return render_template("checkin/staff/daylist.html", rows=rows, counter=counter,
                           counters=my_counters(), day=day, query=query, status=status,
                           labels=STATUS_LABELS, prev_day=day - timedelta(days=1),
                           next_day=day + timedelta(days=1))



@bp.get("/staff/checkin/day.csv", endpoint="daylist_csv")
@login_required
def daylist_csv() -> Response:
    """The same list as a CSV file for the back office."""
    counter, day, _query, _status, rows = _day_rows()
    return csv_response([record(r) for r in rows], f"{counter}-{day.isoformat()}.csv")


@bp.post("/staff/checkin/bookings/<int:booking_id>/no-show")
@login_required
def no_show(booking_id: int) -> BaseResponse:
    booking = booking_for_staff(booking_id)
    daylist.mark_no_show(env(), booking.id, staff=current_user)
    db.session.commit()
    flash(str(_l("Marked as no-show.")), "success")
    return redirect(url_for("checkin.daylist", counter=booking.slot.counter,
                            date=request.form.get("date", ""), q=request.form.get("q", "")))


@bp.get("/staff/checkin/queue", endpoint="queue")
@login_required
def queue_page() -> str:
    counter = chosen_counter()
    day = localtime.local_date(now())
    rows = queue.tickets(db.session, counter, day)
    names = {r.booking_id: r for r in daylist.day_list(
        db.session, catalog(), day=day, now=now(), grace=grace(), counter=counter)}
    return render_template("checkin/staff/queue.html", rows=rows, names=names, counter=counter,
                           counters=my_counters(), day=day, labels=QUEUE_LABELS,
                           board=queue.board(db.session, counter, day))



@bp.post("/staff/checkin/queue/next")
@login_required
def call_next() -> BaseResponse:
    counter = chosen_counter()
    try:
        ticket = queue.call_next(env(), counter)
    except NotFound:
        flash(str(_l("Nobody is waiting.")), "error")
    else:
        db.session.commit()
        flash(str(_l("Calling number %(number)s.", number=ticket.number)), "success")
    return redirect(url_for("checkin.queue", counter=counter))


@bp.post("/staff/checkin/queue/<int:ticket_id>/<any(called,served,missed):action>")
@login_required
def queue_move(ticket_id: int, action: str) -> BaseResponse:
    ticket = db.session.get(QueueTicket, ticket_id)
    if ticket is None or not current_user.serves_counter(ticket.counter):
        abort(404)
    queue.move(env(), ticket_id, action)
    db.session.commit()
    return redirect(url_for("checkin.queue", counter=ticket.counter))


# -- the waiting-room display: public, numbers only ----------------------------------------

def _known_counter(counter: str) -> str:
    if counter not in counters():
        abort(404)
    return counter


@bp.get("/queue/<counter>")
def display(counter: str) -> str:
    counter = _known_counter(counter)
    board = queue.board(db.session, counter, localtime.local_date(now()))
    return render_template("checkin/display.html", counter=counter, board=board)


@bp.get("/queue/<counter>.json")
def display_json(counter: str) -> Response:
    counter = _known_counter(counter)
    board = queue.board(db.session, counter, localtime.local_date(now()))
    return jsonify({"counter": counter, "calling": board.calling, "waiting": board.waiting,
                    "served": board.served})
