"""Official paper forms printed from a case's answers: a Jinja template beside the workflow
(HTML/CSS, mm positions where the form needs them), rendered in a sandbox and turned into a
PDF by WeasyPrint with the Japanese fonts embedded.

The template sees ``answers`` (answers by step id), ``parent`` (the answers of the case this
one was chained from), ``case`` (reference, dates), ``today`` and these helpers:
``wareki`` (令和8年4月1日; ``wareki("short")`` R8.4.1, ``wareki("year")`` 令和8年), ``era``,
``era_year``, ``month``, ``day`` (parts of a date for forms with boxes), ``age(on)`` (満年齢),
``label(ref)`` (the text of the chosen option of a choice field), ``mark`` (■ when true,
□ otherwise).
A template that names a field no step collects fails ``workflows check``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine import fields as F
from engine import wareki
from engine.localtime import TZ
from engine.spec import Loc, WorkflowSpec

# WeasyPrint logs every rendering step at INFO; a print is one line in our own log, not seven.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
NAMES = frozenset({"answers", "parent", "case", "today", "label", "loop", "range", "true",
                   "false", "none", "namespace"})
# Mincho first as on printed forms; Noto CJK covers what IPAex lacks (𠮷, many 異体字).
FONT_STACK = ('"IPAexMincho", "IPAex明朝", "Noto Serif CJK JP", "Noto Sans CJK JP", '
              '"IPAexGothic", serif')
PAPER = {"A4": "A4", "B5": "182mm 257mm", "A5": "A5"}


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(TZ).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return wareki.parse_date(value[:10] if "T" in value else value)
        except ValueError:
            return None
    return None


def _wareki(value: Any, style: str = "long") -> str:
    d = _as_date(value)
    return wareki.to_wareki(d, style) if d else ""


def _era(value: Any) -> str:
    d = _as_date(value)
    era = wareki.era_of(d) if d else None
    return era[0] if era else ""


def _era_year(value: Any) -> str:
    d = _as_date(value)
    era = wareki.era_of(d) if d else None
    return ("元" if era[1] == 1 else str(era[1])) if era else ""


def _part(attr: str) -> Any:
    def get(value: Any) -> str:
        d = _as_date(value)
        return str(getattr(d, attr)) if d else ""
    return get


def _age(value: Any, on: Any) -> str:
    """Full years (満年齢) on the date ``on``, as forms print next to a date of birth."""
    born, day = _as_date(value), _as_date(on)
    if born is None or day is None:
        return ""
    return str(day.year - born.year - ((day.month, day.day) < (born.month, born.day)))


def _mark(value: Any) -> str:
    return "■" if value and not isinstance(value, Undefined) else "□"


def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=True, undefined=ChainableUndefined,
                                        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(wareki=_wareki, era=_era, era_year=_era_year, year=_part("year"),
                       month=_part("month"), day=_part("day"), mark=_mark, age=_age)
    return env


_ENV = environment()


def _labeller(spec: WorkflowSpec, data: Mapping[str, Any], locale: str) -> Any:
    def label(ref: str) -> str:
        step_id, _, field_id = ref.partition(".")
        try:
            field = spec.step(step_id).collects().get(field_id)
        except KeyError:
            return ""
        value = (data.get(step_id) or {}).get(field_id)
        if not isinstance(field, F.FieldSpec) or value is None:
            return "" if value is None else str(value)
        texts = {c.value: c.label.get(locale) for c in field.choices}
        if field.type == "yesno":
            texts = {"yes": "はい" if locale == "ja" else "Yes",
                     "no": "いいえ" if locale == "ja" else "No"}
        if isinstance(value, list):
            return "、".join(str(texts.get(v) or v) for v in value)
        return texts.get(str(value), str(value))
    return label


def render_html(spec: WorkflowSpec, template: str, *, data: Mapping[str, Any],
                parent: Mapping[str, Any] | None, reference: str, created_at: datetime,
                now: datetime, locale: str = "ja") -> str:
    answers = {k: v for k, v in data.items() if not k.startswith("_")}
    tpl = _ENV.from_string(spec.asset(template))
    return tpl.render(
        answers=answers, parent=dict(parent or {}),
        case={"reference": reference, "created": created_at.astimezone(TZ).date()},
        today=now.astimezone(TZ).date(), label=_labeller(spec, answers, locale))


def to_pdf(html: str, *, paper: str = "A4", title: str = "") -> bytes:
    from weasyprint import CSS, HTML  # heavy import: only when printing
    from weasyprint.urls import URLFetcher

    # Print templates come from the workflow and may load nothing (no files, no network)
    # except inline data: URIs.
    fetcher = URLFetcher(allowed_protocols={"data"})

    base = CSS(url_fetcher=fetcher, string=f"@page {{ size: {PAPER.get(paper, paper)}; }} "
                      f"html {{ font-family: {FONT_STACK}; }}")
    doc = HTML(string=html, url_fetcher=fetcher, base_url="about:blank")
    pdf = doc.write_pdf(stylesheets=[base])
    assert pdf is not None
    return pdf  # type: ignore[no-any-return]


# --- checking a template --------------------------------------------------------------------

def template_problems(spec: WorkflowSpec, step_index: int, source: str,
                      others: Mapping[str, WorkflowSpec] | None = None) -> list[tuple[Loc, str]]:
    """Syntax errors, unknown variables, and ``answers.<step>.<field>`` references to a field
    no earlier step collects (the same rule as ``step.field`` in the YAML)."""
    from engine.spec import check_reference

    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [(("template",), f"template line {exc.lineno}: {exc.message}")]
    out: list[tuple[Loc, str]] = []
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in sorted({n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
                       - NAMES - assigned):
        out.append((("template",), f"template names unknown variable {name!r}"))
    # Jinja only fails on an unknown filter or test when the template runs (or compiles, and
    # not at all inside an {% if %}): check every name against the environment that prints.
    for kind, known, node_type in (("filter", _ENV.filters, nodes.Filter),
                                   ("test", _ENV.tests, nodes.Test)):
        for node in ast.find_all(node_type):
            if node.name not in known:
                close = difflib.get_close_matches(node.name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                out.append((("template",), f"template line {node.lineno}: unknown {kind} "
                            f"{node.name!r}{hint}"))
    for line, ref in sorted(set(_answer_refs(ast))):
        problem = check_reference(spec, step_index, ref, {})
        if problem:
            out.append((("template",), f"template line {line}: {problem}"))
    return out


def _answer_refs(ast: nodes.Template) -> Iterable[tuple[int, str]]:
    """(line, "step.field") for answers.step.field, answers["step"]["field"] and
    label("step.field")."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        path = _path(node)
        if path and path[0] == "answers" and len(path) >= 3:
            yield node.lineno, f"{path[1]}.{path[2]}"
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "label":
            for arg in call.args:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    yield call.lineno, arg.value


def _path(node: nodes.Node) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if isinstance(node, nodes.Name):
        parts.append(node.name)
        return parts[::-1]
    return None
