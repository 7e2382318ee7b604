"""Workflow files -> validated, immutable spec objects, and the catalog of live workflows.

A workflow is one YAML file in ``workflows/`` plus the mail and print templates it names
beside it. Loading reports *every* problem as ``file:line: message`` before anything starts.
A spec's version is a hash of the file and the templates it names; a case keeps the version it
started with (see ``Catalog.for_case``), so editing a workflow never breaks a case in flight.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from sqlalchemy import select

from engine.database import DbSession
from engine.models import WorkflowVersion
from engine.spec import (
    I18nText,
    Loc,
    Problem,
    SpecError,
    StepSpec,
    WorkflowSpec,
    check_reference,
    format_loc,
)
from engine.steps import STEP_TYPES


def _line_of(doc: Any, loc: Loc) -> int:
    """1-based line of the deepest node of ``loc`` that exists in the round-trip document."""
    node, line = doc, 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def parse(path: str, source: str, *, read_asset: Any = None,
          others: Mapping[str, WorkflowSpec] | None = None) -> WorkflowSpec:
    """Parse and validate one workflow. Raises SpecError listing every problem.

    ``read_asset(relpath) -> str | None`` supplies templates named by steps (default: files
    beside ``path``). ``others`` are the other workflows, for references across a chain.
    """
    base = Path(path).parent
    if read_asset is None:
        def read_asset(rel: str) -> str | None:
            target = base / rel
            return target.read_text("utf-8") if target.is_file() else None

    problems: list[Problem] = []

    def report(loc: Loc, message: str) -> None:
        where = format_loc(loc)
        problems.append(Problem(path, _line_of(doc, loc), f"{where}: {message}" if where
                                else message))

    try:
        doc = YAML(typ="rt").load(io.StringIO(source))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SpecError([Problem(path, line, f"YAML syntax: {exc.problem or exc}")]) from None
    if not isinstance(doc, CommentedMap):
        raise SpecError([Problem(path, 1, "a workflow file must be a mapping (id, title, steps)")])

    raw = _plain(doc)
    raw_steps = raw.get("steps")
    steps: list[StepSpec] = []
    positions: list[int] = []  # index in the file of each step that loaded
    failed: set[str] = set()  # ids of steps that did not load: references to them are moot
    # Steps that did not load, minus their invalid parts: their references are still checked.
    partial: list[tuple[int, StepSpec, Any]] = []
    for i, raw_step in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        loc: Loc = ("steps", i)
        if not isinstance(raw_step, dict):
            report(loc, "a step must be a mapping with id and type")
            continue
        kind = raw_step.get("type")
        model = STEP_TYPES.get(kind) if isinstance(kind, str) else None
        try:
            if model is None:
                known = ", ".join(sorted(STEP_TYPES))
                report(loc + ("type",), f"unknown step type {kind!r} (known: {known})")
                raise LookupError
            steps.append(model.model_validate(raw_step))
            positions.append(i)
        except ValidationError as exc:
            for err in _real_errors(exc.errors()):
                report(loc + tuple(err["loc"]), _message(err))
            failed.add(str(raw_step.get("id")))
            salvaged = _salvage(model, raw_step, exc.errors()) if model else None
            if salvaged is not None:
                partial.append((i, *salvaged))
        except LookupError:
            failed.add(str(raw_step.get("id")))

    header_raw = {k: v for k, v in raw.items() if k != "steps"}
    if steps:
        header_raw["steps"] = steps
    elif raw_steps is not None and not (isinstance(raw_steps, list) and raw_steps):
        header_raw["steps"] = raw_steps  # [] or not a list: let the model say what is wrong
    try:
        header = WorkflowSpec.model_validate(header_raw)
    except ValidationError as exc:
        for err in exc.errors():
            if err["loc"][:1] == ("steps",) and isinstance(raw_steps, list) and raw_steps:
                continue  # every step was invalid and has been reported one by one above
            report(tuple(err["loc"]), _message(err))
        header = WorkflowSpec.model_construct(
            id=str(raw.get("id", "")), title=I18nText(ja="?"), steps=tuple(steps))

    texts: dict[str, str] = {}
    incomplete: set[int] = set()  # steps whose templates are missing: their check() can't run
    for pos, step in zip(positions, steps, strict=True):
        for loc, rel in step.assets():
            text = read_asset(rel)
            if text is None:
                report(("steps", pos) + loc, f"template file {rel!r} not found beside the workflow")
                incomplete.add(pos)
            else:
                texts[rel] = text

    digest = hashlib.sha256(source.encode("utf-8"))
    for rel in sorted(texts):
        digest.update(b"\0" + rel.encode() + b"\0" + texts[rel].encode("utf-8"))
    spec = header.model_copy(update={"path": path, "version": digest.hexdigest()[:16],
                                     "source": source, "texts": texts})
    # Cross-step checks run on the steps that loaded, so one pass reports every problem.
    all_ids = [str(r.get("id")) for r in raw_steps if isinstance(r, dict)] if isinstance(
        raw_steps, list) else []
    for loc, message in _check_chain(spec, others or {}, all_ids, failed):
        if loc[:1] == ("steps",) and isinstance(loc[1], int):
            loc = ("steps", positions[loc[1]]) + loc[2:]
        report(loc, message)
    for pos, step, to_file in partial:
        earlier = sum(1 for p in positions if p < pos)
        for loc, ref in step.references():
            if ref.split(".")[0] in failed:
                continue
            problem = check_reference(spec, earlier - 1, ref, others or {})
            if problem:
                report(("steps", pos) + to_file(loc), problem)
    for pos, step in zip(positions, steps, strict=True):
        if pos in incomplete:
            continue
        for loc, message in step.check(spec):
            report(("steps", pos) + loc, message)
    for i, ref in enumerate(spec.list_fields):
        problem = check_reference(spec, len(spec.steps) - 1, ref, {})
        if problem:
            report(("list_fields", i), problem)
    if problems:
        raise SpecError(problems)
    return with_processing(spec)


def with_processing(spec: WorkflowSpec) -> WorkflowSpec:
    """A workflow that starts with a form and has no review step gets one, unrouted, so that
    every case it receives can be processed and end (and its data be erased in time)."""
    from engine.steps.review.spec import default_step

    if spec.steps_of("review") or spec.steps[0].type != "form":
        return spec
    return spec.model_copy(update={"steps": (*spec.steps, default_step(spec))})


def _raw_index(raw_steps: Any, step_id: str, fallback: int) -> int:
    for i, raw_step in enumerate(raw_steps or []):
        if isinstance(raw_step, dict) and raw_step.get("id") == step_id:
            return i
    return fallback


def _real_errors(errors: list[Any]) -> list[Any]:
    """Pydantic counts a list's length after dropping its invalid items, so one bad field also
    gives "should have at least 1 item" on its list: that one is not a problem of its own."""
    def nested(err: Any) -> bool:
        n = len(err["loc"])
        return any(len(o["loc"]) > n and tuple(o["loc"][:n]) == tuple(err["loc"])
                   for o in errors)
    return [e for e in errors if not (e["type"] == "too_short" and nested(e))]


def _salvage(model: type[StepSpec], raw_step: dict[str, Any],
             errors: list[Any]) -> tuple[StepSpec, Any] | None:
    """The step without the list items (or optional keys) that hold its errors, so that the
    references of the rest can be checked in the same pass; with a function mapping the
    locations of the salvaged step back to the file's. None when nothing valid is left."""
    data = copy.deepcopy(raw_step)
    origin: dict[int, list[int]] = {}  # id(list) -> index in the file of each kept item

    def number(node: Any) -> None:
        if isinstance(node, list):
            origin[id(node)] = list(range(len(node)))
        for child in node if isinstance(node, list) else (
                node.values() if isinstance(node, dict) else ()):
            number(child)
    number(data)

    for _ in range(10):
        cuts: dict[int, tuple[Any, set[Any]]] = {}
        for err in _real_errors(errors):
            node, target = data, None
            for part in err["loc"]:
                if isinstance(node, list) and isinstance(part, int) and part < len(node):
                    target = (node, part)
                elif not (isinstance(node, dict) and part in node):
                    break
                node = node[part]
            if target is None and err["type"] != "missing" and err["loc"] and err["loc"][0] in (
                    data.keys() - {"id", "type"}):
                target = (data, err["loc"][0])
            if target is None:
                return None
            cuts.setdefault(id(target[0]), (target[0], set()))[1].add(target[1])
        for container, keys in cuts.values():
            for key in sorted(keys, reverse=True):
                del container[key]
                if isinstance(container, list):
                    del origin[id(container)][key]
        try:
            step = model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            continue

        def to_file(loc: Loc) -> Loc:
            node: Any = data
            out: list[str | int] = []
            for part in loc:
                if isinstance(node, list) and isinstance(part, int) and part < len(node):
                    out.append(origin[id(node)][part])
                    node = node[part]
                else:
                    out.append(part)
                    node = node.get(part) if isinstance(node, dict) else None
            return tuple(out)
        return step, to_file
    return None


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"])


def _check_chain(spec: WorkflowSpec, others: Mapping[str, WorkflowSpec], all_ids: list[str],
                 failed: set[str]) -> list[tuple[Loc, str]]:
    """Duplicate ids, unreachable steps, and references to data no earlier step collects.
    Locations index ``spec.steps``; ``failed`` are ids of steps that did not load."""
    out: list[tuple[Loc, str]] = []
    ids = [s.id for s in spec.steps]
    seen: set[str] = set()
    for i, step_id in enumerate(ids):
        if step_id in seen:
            out.append((("steps", i, "id"), f"duplicate step id {step_id!r}"))
        seen.add(step_id)
    seen.update(all_ids)

    # Each step follows ``after`` (default: the step before it); the first step is the entry.
    follows = {s.id: (s.after if s.after is not None else (ids[i - 1] if i else None))
               for i, s in enumerate(spec.steps)}
    for i, step in enumerate(spec.steps):
        if step.after is not None and step.after not in seen:
            out.append((("steps", i, "after"), f"no step with id {step.after!r}"))
            continue
        if step.after is not None and step.after not in ids:
            continue  # the step it follows did not load; that problem is reported already
        node: str | None = step.id
        hops = 0
        while node is not None and hops <= len(ids):
            node, hops = follows.get(node), hops + 1
        if node is not None or (step.after is not None and ids.index(step.after) >= i):
            out.append((("steps", i), f"step {step.id!r} is unreachable (its 'after' chain "
                        "does not lead back to the first step)"))

    for i, step in enumerate(spec.steps):
        for loc, ref in step.references():
            if ref.split(".")[0] in failed:
                continue
            problem = check_reference(spec, i, ref, others)
            if problem:
                out.append((("steps", i) + loc, problem))
    return out


def _missing_workflows(specs: Mapping[str, WorkflowSpec]) -> list[Problem]:
    out: list[Problem] = []
    for spec in specs.values():
        doc = None
        for i, step in enumerate(spec.steps):
            for loc, target in step.workflows():
                if target in specs:
                    continue
                if doc is None:
                    doc = YAML(typ="rt").load(io.StringIO(spec.source))
                where = ("steps", _raw_index(doc.get("steps"), step.id, i)) + loc
                out.append(Problem(spec.path, _line_of(doc, where),
                                   f"{format_loc(where)}: no workflow {target!r}"))
    return out


@dataclass
class Catalog:
    """The live workflows, plus every older version a case in flight still uses."""

    specs: dict[str, WorkflowSpec] = field(default_factory=dict)
    _pinned: dict[tuple[str, str], WorkflowSpec] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Catalog:
        """Load every ``*.yaml`` file (directories are searched); raise SpecError with all
        problems of all files."""
        files: list[Path] = []
        for p in map(Path, paths):
            files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
        problems: list[Problem] = []
        specs: dict[str, WorkflowSpec] = {}
        pending = list(files)
        # Chained workflows reference each other: load in passes until nothing new resolves.
        while pending:
            progress, retry, last_errors = False, [], {}
            for f in pending:
                try:
                    spec = parse(str(f), f.read_text("utf-8"), others=specs)
                except SpecError as exc:
                    retry.append(f)
                    last_errors[f] = exc.problems
                    continue
                except OSError as exc:
                    problems.append(Problem(str(f), 1, f"cannot read: {exc.strerror}"))
                    continue
                if spec.id in specs:
                    problems.append(Problem(str(f), 1, f"workflow id {spec.id!r} is also "
                                            f"used by {specs[spec.id].path}"))
                    continue
                specs[spec.id] = spec
                progress = True
            if not progress:
                for f in retry:
                    problems.extend(last_errors[f])
                break
            pending = retry
        problems.extend(_missing_workflows(specs))
        if problems:
            raise SpecError(problems)
        return cls(specs)

    def get(self, workflow_id: str) -> WorkflowSpec:
        return self.specs[workflow_id]

    def __iter__(self) -> Any:
        return iter(self.specs.values())

    def for_case(self, session: DbSession, workflow_id: str, version: str) -> WorkflowSpec:
        """The spec a case was started with, even if the file has changed since."""
        live = self.specs.get(workflow_id)
        if live is not None and live.version == version:
            return live
        key = (workflow_id, version)
        if key not in self._pinned:
            row = session.scalar(select(WorkflowVersion).filter_by(
                workflow_id=workflow_id, version=version))
            if row is None:
                raise KeyError(key)
            spec = parse(row.path, row.source, read_asset=row.assets.get, others=self.specs)
            # The stored text is what was hashed; keep the recorded version.
            self._pinned[key] = spec.model_copy(update={"version": version})
        return self._pinned[key]
