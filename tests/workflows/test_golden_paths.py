"""Every workflow file has a golden path: ``workflows/<id>.path`` lists, one per line, the
``step event`` pairs a case records when a citizen and staff go through it as intended
(SpiffWorkflow's pattern). One parametrised test drives each workflow through the web layer,
step by step, with the driver of each step type (``tests/workflows/drive_<type>.py``, a
function ``drive(run, step)``), and compares the case's history with the file."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import CaseEvent
from tests.conftest import WORKFLOWS
from web.extensions import db

FILES = sorted(WORKFLOWS.glob("*.yaml"))


@dataclass
class GoldenRun:
    """What drivers share while going through one workflow."""

    app: Any
    client: Any  # the citizen's browser
    staff: Any  # a signed-in admin's browser
    spec: Any
    case_id: int | None = None
    token: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


def expected_path(yaml_file: Path) -> list[str]:
    path_file = yaml_file.with_suffix(".path")
    assert path_file.exists(), f"{path_file.name} is missing: every workflow needs a golden path"
    return [line.split("#")[0].strip() for line in path_file.read_text("utf-8").splitlines()
            if line.split("#")[0].strip()]


@pytest.mark.parametrize("yaml_file", FILES, ids=[f.stem for f in FILES])
def test_golden_path(yaml_file: Path, app: Any, make_staff: Any, auth: Any) -> None:
    spec = next(s for s in app.extensions["catalog"] if Path(s.path).resolve() == yaml_file)
    make_staff("golden@example.jp", role="admin")
    staff = app.test_client()
    type(auth)(staff).login("golden@example.jp")
    run = GoldenRun(app=app, client=app.test_client(), staff=staff, spec=spec)
    for step in spec.steps:
        try:
            driver = importlib.import_module(f"tests.workflows.drive_{step.type}")
        except ModuleNotFoundError:
            continue  # a step that only reacts (notify) has no driver
        driver.drive(run, step)
    assert run.case_id is not None, "no driver started a case"
    with app.app_context():
        events = db.session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == run.case_id).order_by(CaseEvent.id)).all()
        got = [f"{e.step_id} {e.event}" for e in events if e.step_id is not None]
    assert got == expected_path(yaml_file)
