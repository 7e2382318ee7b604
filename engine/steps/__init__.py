"""The step types: one package each (``engine/steps/<type>/``), whose ``spec`` module holds the
``Params`` class a workflow's step of that type is validated into, with its hooks (checks at
load, ``on_event`` at run time). Adding a type is one package and one line here."""

from __future__ import annotations

from engine.spec import StepSpec
from engine.steps.booking.spec import Params as Booking
from engine.steps.chain.spec import Params as Chain
from engine.steps.checkin.spec import Params as Checkin
from engine.steps.document.spec import Params as Document
from engine.steps.form.spec import Params as Form
from engine.steps.notify.spec import Params as Notify
from engine.steps.review.spec import Params as Review
from engine.steps.webhook.spec import Params as Webhook

STEP_TYPES: dict[str, type[StepSpec]] = {
    "booking": Booking,
    "notify": Notify,
    "form": Form,
    "document": Document,
    "checkin": Checkin,
    "chain": Chain,
    "review": Review,
    "webhook": Webhook,
}
