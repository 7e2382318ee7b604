"""What the parts of the web layer add to an app, kept per app (``app.extensions["parts"]``)
and filled by each part's ``init_app``: the staff menu, the panels of a case's staff page,
the kinds of link a citizen receives, periodic jobs and what `flask demo` prepares. Nothing
here fills up as a side effect of an import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask, current_app


@dataclass(frozen=True)
class LinkKind:
    """A kind of link: the token purpose it carries and the endpoint that serves it."""

    purpose: str
    endpoint: str
    ttl: timedelta | None = None


@dataclass
class Parts:
    # (place, endpoint, label, shown) of staff pages; the menu shows them by place, each to
    # the staff members ``shown(user)`` is true for (None: everyone).
    nav_entries: list[tuple[int, str, Any, Callable[[Any], bool] | None]] = field(
        default_factory=list)
    # Templates included on a case's staff page (each gets ``case`` and ``spec``), in order.
    case_panels: list[str] = field(default_factory=list)
    link_kinds: dict[str, LinkKind] = field(default_factory=dict)
    # Periodic jobs: name -> {"task": ..., "schedule": seconds}, for Celery beat.
    beat: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Run by `flask demo` after the demo account exists (e.g. generating slots).
    demo_hooks: list[Callable[[], None]] = field(default_factory=list)

    @property
    def nav(self) -> list[tuple[str, Any]]:
        """(endpoint, label) of the staff menu, in order."""
        return [(endpoint, label) for _, endpoint, label, _ in sorted(
            self.nav_entries, key=lambda entry: entry[0])]

    def nav_for(self, user: Any) -> list[tuple[str, Any]]:
        """The staff menu of ``user``: a school's secretary, who serves no counter, is not
        offered the counter's pages."""
        return [(endpoint, label) for _, endpoint, label, shown in sorted(
            self.nav_entries, key=lambda entry: entry[0]) if shown is None or shown(user)]

    def menu_entry(self, place: int, endpoint: str, label: Any,
                   shown: Callable[[Any], bool] | None = None) -> None:
        self.nav_entries.append((place, endpoint, label, shown))

    def link_kind(self, kind: str, *, purpose: str, endpoint: str,
                  ttl: timedelta | None = None) -> None:
        self.link_kinds[kind] = LinkKind(purpose, endpoint, ttl)


def serves_counters(user: Any) -> bool:
    return bool(user.role == "admin" or user.counters)


def serves_groups(user: Any) -> bool:
    return bool(user.role == "admin" or user.groups)


def init_app(app: Flask) -> Parts:
    parts = app.extensions["parts"] = Parts()
    return parts


def of(app: Flask | None = None) -> Parts:
    """The parts of ``app`` (default: the current one)."""
    target = app if app is not None else current_app
    return target.extensions["parts"]  # type: ignore[no-any-return]
