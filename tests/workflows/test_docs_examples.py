"""Every complete workflow in docs/ passes `flask workflows check`, and the app starts on it.

A complete workflow in the docs is a fenced ```yaml block whose first line is
``# complete workflow: <name>.yaml``; a template it names is a fenced block whose first line is
``{# file: <path beside the workflow> -#}`` (a Jinja comment, so the file works as copied).
The blocks of one page are written to one folder, laid out as an author would lay them out,
so a page's example can only pass if a newcomer copying it would get a working workflow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
WORKFLOW = re.compile(r"\A# complete workflow: ([a-z][a-z0-9_-]*\.yaml)[ \t]*\n")
TEMPLATE = re.compile(r"\A\{#-? file: ([A-Za-z0-9_./-]+) -?#\}")
# The three kinds a newcomer must be able to write from the docs alone.
KINDS = ("workflows/poster-form.md", "workflows/counter-visit.md", "workflows/event.md")


def _blocks(page: Path) -> list[tuple[str, str]]:
    return [(m[1].strip(), m[2]) for m in FENCE.finditer(page.read_text("utf-8"))]


def _examples() -> dict[str, dict[str, str]]:
    """page (relative to docs/) -> {relative file path: text} of its marked blocks."""
    out: dict[str, dict[str, str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        files: dict[str, str] = {}
        for _info, text in _blocks(page):
            match = WORKFLOW.match(text) or TEMPLATE.match(text)
            if match:
                assert match[1] not in files, f"{page}: {match[1]} is given twice"
                files[match[1]] = text
        if any(name.endswith(".yaml") for name in files):
            out[str(page.relative_to(DOCS))] = files
    return out


EXAMPLES = _examples()


def _write(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")


def test_docs_hold_a_complete_workflow_of_each_kind() -> None:
    workflows = [n for files in EXAMPLES.values() for n in files if n.endswith(".yaml")]
    assert len(workflows) >= 3, workflows
    for page in KINDS:
        assert page in EXAMPLES, f"docs/{page} has no complete workflow"


def test_every_whole_workflow_in_the_docs_is_marked() -> None:
    """A block with a top-level ``steps:`` is a whole workflow: unmarked, it would go unchecked."""
    for page in sorted(DOCS.rglob("*.md")):
        for info, text in _blocks(page):
            if info.startswith("yaml") and re.search(r"^steps:", text, re.M):
                assert WORKFLOW.match(text), f"{page}: a workflow without the marker line"


@pytest.mark.parametrize("page", sorted(EXAMPLES))
def test_complete_workflows_pass_the_check(page: str, tmp_path: Path, runner: Any,
                                           make_app: Any) -> None:
    files = EXAMPLES[page]
    folder = tmp_path / "workflows"
    _write(folder, files)
    result = runner.invoke(args=["workflows", "check", str(folder)])
    assert result.exit_code == 0, result.output
    names = [n for n in files if n.endswith(".yaml")]
    for name in names:
        assert f"ok  {folder / name}" in result.output, result.output

    app = make_app(WORKFLOWS=[str(folder)])
    specs = list(app.extensions["catalog"])
    assert len(specs) == len(names)
    used = {rel for spec in specs for rel in spec.texts}
    templates = {n for n in files if not n.endswith(".yaml")}
    assert templates <= used, f"templates no workflow names: {sorted(templates - used)}"
    listed = app.test_client().get("/api/v1/workflows").get_json()
    assert {w["id"] for w in listed["workflows"]} == {s.id for s in specs}
