"""The step-type registry: one module per type, each with a ``Params`` spec class (validated
when a workflow loads) and optionally ``on_event(ctx, step, event)``, through which the step
reacts to events of the same case (a notify step queues an email when a booking is made).
Adding a type is one module and one line here."""

from __future__ import annotations

from types import ModuleType

from engine.spec import StepSpec
from engine.steps import booking, chain, checkin, document, form, notify

MODULES: dict[str, ModuleType] = {
    "booking": booking,
    "notify": notify,
    "form": form,
    "document": document,
    "checkin": checkin,
    "chain": chain,
}

STEP_TYPES: dict[str, type[StepSpec]] = {name: m.Params for name, m in MODULES.items()}
