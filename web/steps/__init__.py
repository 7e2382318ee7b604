"""One blueprint per step type: the citizen- and staff-facing pages of that step.
Adding a step type's pages is one module and one line here."""

from __future__ import annotations

from flask import Blueprint

BLUEPRINTS: list[Blueprint] = []

from web.steps import checkin as _checkin  # noqa: E402

BLUEPRINTS.append(_checkin.bp)
from web.steps import document as _document  # noqa: E402
from web.steps import form as _form  # noqa: E402

BLUEPRINTS.extend([_form.bp, _document.bp])

from web import case as _case  # noqa: E402
from web.steps import booking as _booking  # noqa: E402

BLUEPRINTS += [_booking.bp, _case.bp]
