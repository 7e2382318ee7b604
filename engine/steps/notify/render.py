"""Email templates of notify steps: Jinja in a sandbox (workflow authors are not
programmers, and a template must not reach into the application), checked when the
workflow loads so a typo is a ``workflows check`` error rather than a failed email.

What a template may use:
    case.reference, case.locale
    answers.<step>.<field>        data collected by an earlier step
    booking.when|date|start|end|counter_name|location    the visit (needs a booking step)
    booking.hold_until            until when an offered place is kept (waitlist offers)
    links.<kind>                  only kinds listed in the step's ``links``
    workflow.title, site.name
    review.message                what staff wrote when returning or rejecting the case
    event                         what caused it: "booked", "rescheduled", "cancelled", ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.sandbox import SandboxedEnvironment

BOOKING_KEYS = ("when", "date", "start", "end", "counter_name", "location", "hold_until")
CASE_KEYS = ("reference", "locale")
ROOTS: dict[str, tuple[str, ...] | None] = {
    "case": CASE_KEYS, "booking": BOOKING_KEYS, "workflow": ("title",), "site": ("name",),
    "answers": None, "links": None, "event": (), "review": ("message",),
}

# Missing answers (an optional field left empty) render as nothing; misspelt names never
# get this far because ``problems`` rejects them at load.
TEXT_ENV = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False,
                                keep_trailing_newline=True)
HTML_ENV = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=True)


def _env(html: bool) -> SandboxedEnvironment:
    return HTML_ENV if html else TEXT_ENV


def _path(node: nodes.Node) -> list[tuple[str, int]] | None:
    """``a.b['c']`` -> [("a", line), ("b", line), ("c", line)]; None if not a plain path."""
    out: list[tuple[str, int]] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            out.append((node.attr, node.lineno))
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            out.append((node.arg.value, node.lineno))
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    out.append((node.name, node.lineno))
    return out[::-1]


def problems(source: str, *, html: bool, links: Iterable[str], has_booking: bool,
             check_answer: Callable[[str], str | None]) -> list[tuple[int, str]]:
    """(line, message) for every problem: syntax, unknown filters, unknown names, links the
    step does not list, answers no earlier step collects."""
    env = _env(html)
    try:
        tree = env.parse(source)
        env.compile(tree)  # unknown filters and tests are found here
    except TemplateSyntaxError as exc:
        return [(exc.lineno or 1, f"template syntax: {exc.message}")]
    except TemplateError as exc:
        return [(1, f"template: {exc}")]
    out: list[tuple[int, str]] = []
    known_links = set(links)
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in ROOTS:
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
            out.append((line, f"unknown variable {name!r} (use one of: {', '.join(ROOTS)})"))
    seen: set[tuple[str, ...]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        path = _path(node)
        if not path or path[0][0] not in ROOTS:
            continue
        names = tuple(p for p, _ in path)
        if names in seen:
            continue
        seen.add(names)
        line = path[-1][1]
        message = _check_path(names, known_links, has_booking, check_answer)
        if message:
            out.append((line, message))
    return sorted(set(out))


def _check_path(names: tuple[str, ...], links: set[str], has_booking: bool,
                check_answer: Callable[[str], str | None]) -> str | None:
    root, rest = names[0], names[1:]
    if root == "links":
        if rest[0] not in links:
            listed = ", ".join(sorted(links)) or "none"
            return f"link {rest[0]!r} is not in this step's links (listed: {listed})"
        return None
    if root == "answers":
        if len(rest) >= 2:
            return check_answer(f"{rest[0]}.{rest[1]}")
        return None
    if root == "booking" and not has_booking:
        return "booking.* needs a booking step before this one"
    allowed = ROOTS[root] or ()
    if rest[0] not in allowed:
        return f"unknown name {root}.{rest[0]} (use one of: {', '.join(allowed)})"
    return None


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Template:
    """Templates are immutable text of a pinned workflow version: compile each once."""
    return _env(html).from_string(source)


def render(source: str, *, html: bool, variables: Mapping[str, Any]) -> str:
    return _compiled(source, html).render(**variables)
