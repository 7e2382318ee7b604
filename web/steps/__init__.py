"""One blueprint per step type: the citizen- and staff-facing pages of that step.
Adding a step type's pages is one module and one line here."""

from __future__ import annotations

from flask import Blueprint

BLUEPRINTS: list[Blueprint] = []
