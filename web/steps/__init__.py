"""The web side of each step type, one package each (``web/steps/<type>/``): its blueprint,
citizen and staff pages, JSON API calls and templates. Each package's ``init_app`` registers
its blueprint and what it adds to the app (``web.parts``). Adding a step type's web side is
one package and one line here."""

from __future__ import annotations

from flask import Flask

from web.steps import booking, checkin, document, form, notify, review, webhook

# In the order of their panels on a case's staff page.
PACKAGES = (checkin, document, form, booking, notify, webhook, review)


def init_app(app: Flask) -> None:
    for package in PACKAGES:
        package.init_app(app)
