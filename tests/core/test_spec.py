"""Workflow files are validated once, and every problem is reported with file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.catalog import Catalog, parse
from engine.spec import SpecError
from tests.conftest import ROOT

GOOD = """\
id: sample
title: {ja: 見本, en: Sample}
steps:
  - id: visit
    type: booking
    counter: desk-1
    schedule:
      weekly: {mon: ["09:00-12:00"]}
      slot_minutes: 30
      capacity: 2
    fields:
      - {id: name, type: name, label: 氏名, required: true}
      - {id: email, type: email, label: メール, required: true}
  - id: answers
    type: form
    sections:
      - id: main
        fields:
          - {id: name, type: name, label: 氏名, prefill: visit.name}
"""


def problems(source: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse("wf.yaml", source)
    return [str(p) for p in info.value.problems]


def test_good_file_parses_into_an_immutable_spec():
    spec = parse("wf.yaml", GOOD)
    assert [s.id for s in spec.steps] == ["visit", "answers"]
    assert spec.title.get("en") == "Sample" and spec.title.get("ja") == "見本"
    assert len(spec.version) == 16
    with pytest.raises(ValidationError):  # frozen
        spec.steps[0].counter = "other"  # type: ignore[misc]


def test_version_is_the_hash_of_the_file():
    assert parse("wf.yaml", GOOD).version == parse("wf.yaml", GOOD).version
    assert parse("wf.yaml", GOOD).version != parse("wf.yaml", GOOD + "# edited\n").version


THREE_MISTAKES = GOOD.replace("title: {ja: 見本, en: Sample}\n",
                              "title: {ja: 見本, en: Sample}\nretention_days: 0\n").replace(
    "prefill: visit.name", "prefill: visit.nmae") + """\
  - id: extra
    type: bokking
"""


def test_three_mistakes_are_all_reported_with_their_lines():
    found = problems(THREE_MISTAKES)
    assert len(found) == 3
    assert found[0] == "wf.yaml:3: retention_days: Input should be greater than or equal to 1"
    assert found[1] == ("wf.yaml:20: steps[1].sections[0].fields[0].prefill: reference "
                        "'visit.nmae': step 'visit' collects no field 'nmae'")
    assert found[2].startswith("wf.yaml:22: steps[2].type: unknown step type 'bokking'")


def test_reference_to_a_field_no_earlier_step_collects():
    found = problems(GOOD.replace("prefill: visit.name", "prefill: visit.nmae"))
    assert found == ["wf.yaml:19: steps[1].sections[0].fields[0].prefill: reference "
                     "'visit.nmae': step 'visit' collects no field 'nmae'"]


def test_reference_to_a_later_step_is_refused():
    source = GOOD.replace(
        "      - {id: email, type: email, label: メール, required: true}\n",
        "      - {id: email, type: email, label: メール, prefill: answers.name}\n")
    [found] = problems(source)
    assert "wf.yaml:13:" in found and "comes later" in found


def test_bad_time_range_missing_field_and_duplicate_id():
    source = GOOD.replace('["09:00-12:00"]', '["12:00-09:00"]').replace(
        "    counter: desk-1\n", "").replace("id: answers", "id: visit")
    found = problems(source)
    assert any("ends before it starts" in p and p.startswith("wf.yaml:7:") for p in found)
    assert any("counter: required field is missing" in p and p.startswith("wf.yaml:4:")
               for p in found)


def test_duplicate_step_ids():
    found = problems(GOOD.replace("id: answers", "id: visit").replace(
        "prefill: visit.name", ""))
    assert any("duplicate step id 'visit'" in p and p.startswith("wf.yaml:14:") for p in found)


def test_unreachable_step():
    source = GOOD.replace("id: answers\n    type: form",
                          "id: answers\n    type: form\n    after: answers")
    found = problems(source)
    assert any("unreachable" in p for p in found)


def test_malformed_yaml_reports_its_line():
    [found] = problems(GOOD.replace("      slot_minutes: 30", "      slot_minutes: [30"))
    assert found.startswith("wf.yaml:") and "YAML syntax" in found


def test_missing_template_file_is_reported(tmp_path: Path):
    source = GOOD + """\
  - id: print
    type: document
    template: nowhere/form.html
"""
    (tmp_path / "wf.yaml").write_text(source, "utf-8")
    with pytest.raises(SpecError) as info:
        Catalog.load([tmp_path])
    [problem] = info.value.problems
    assert problem.line == 22 and "not found beside the workflow" in problem.message


def test_cli_check_prints_every_problem_and_exits_1(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(THREE_MISTAKES, "utf-8")
    (tmp_path / "b.yaml").write_text(GOOD.replace("id: sample", "id: other").replace(
        "slot_minutes: 30", "slot_minutes: 1"), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "workflows", "check", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{tmp_path}/a.yaml:3", f"{tmp_path}/a.yaml:20", f"{tmp_path}/a.yaml:22",
        f"{tmp_path}/b.yaml:9"]
    assert "retention_days" in lines[0]
    assert "collects no field 'nmae'" in lines[1]
    assert "unknown step type 'bokking'" in lines[2]
    assert "slot_minutes" in lines[3]
    assert "4 problem(s) found." in result.stderr


def test_cli_check_passes_on_the_bundled_workflows():
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "workflows",
                             "check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok  ") == len(list((ROOT / "workflows").glob("*.yaml")))


def test_app_refuses_to_start_with_a_broken_workflow(tmp_path: Path, make_app):
    (tmp_path / "wf.yaml").write_text(GOOD.replace("type: booking", "type: bokking"), "utf-8")
    with pytest.raises(SystemExit) as info:
        make_app(WORKFLOWS=[str(tmp_path)])
    assert "unknown step type 'bokking'" in str(info.value)
    assert "wf.yaml:5:" in str(info.value)


def test_chain_to_a_workflow_that_does_not_exist(tmp_path: Path):
    source = GOOD + """\
  - id: next
    type: chain
    workflow: no-such-workflow
    source: answers
"""
    (tmp_path / "wf.yaml").write_text(source, "utf-8")
    with pytest.raises(SpecError) as info:
        Catalog.load([tmp_path])
    [problem] = info.value.problems
    assert str(problem) == (f"{tmp_path}/wf.yaml:22: steps[2].workflow: "
                            "no workflow 'no-such-workflow'")


def check_files(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """`flask workflows check` on real files in a folder: its output lines, and exit 1."""
    from click.testing import CliRunner

    from web.cli import workflows_cli
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, "utf-8")
    result = CliRunner().invoke(workflows_cli, ["check", str(tmp_path)])
    assert result.exit_code == 1, result.output
    return [line.replace(f"{tmp_path}/", "") for line in result.output.splitlines()
            if not line.endswith("problem(s) found.")]


def test_check_reports_a_bad_form_field_without_an_empty_sections_echo(tmp_path: Path):
    found = check_files(tmp_path, {"wf.yaml": GOOD.replace(
        "prefill: visit.name}",
        "prefill: visit.name}\n          - {id: age, type: nmber, label: 年齢}")})
    assert len(found) == 1, found
    assert found[0].startswith("wf.yaml:20: steps[1].sections[0].fields[1].type: Input should be")


def test_check_reports_schema_and_reference_errors_of_one_step_together(tmp_path: Path):
    source = GOOD.replace(
        "          - {id: name, type: name, label: 氏名, prefill: visit.name}\n",
        "          - {id: age, type: nmber, label: 年齢}\n"
        "          - {id: name, type: name, label: 氏名, prefill: visit.nmae}\n")
    assert check_files(tmp_path, {"wf.yaml": source}) == [
        "wf.yaml:19: steps[1].sections[0].fields[0].type: Input should be 'text', 'textarea', "
        "'number', 'date', 'choice', 'select', 'multichoice', 'yesno', 'email', 'phone', "
        "'postal', 'name', 'kana' or 'consent'",
        "wf.yaml:20: steps[1].sections[0].fields[1].prefill: reference 'visit.nmae': "
        "step 'visit' collects no field 'nmae'"]


def test_check_reports_an_unknown_filter_in_a_document_template(tmp_path: Path):
    source = GOOD + """\
  - id: print
    type: document
    template: wf/form.html
"""
    template = ("<p>{{ answers.visit.name }} {{ today | warekii }}</p>\n"
                "{% if answers.visit.name %}<p>{{ today | wareki('short') | mrak }}</p>"
                "{% endif %}\n")
    assert check_files(tmp_path, {"wf.yaml": source, "wf/form.html": template}) == [
        "wf.yaml:22: steps[2].template: template line 1: unknown filter 'warekii' "
        "(did you mean 'wareki'?)",
        "wf.yaml:22: steps[2].template: template line 2: unknown filter 'mrak' "
        "(did you mean 'mark'?)"]
