"""The printed pregnancy notification: rendered from the answers with the Japanese fonts
embedded (pdffonts), the answers in the text (pdftotext), 和暦 dates, rare kanji; staff-only
access; templates that name unknown fields fail the workflow check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.catalog import parse
from engine.spec import SpecError
from tests.conftest import WORKFLOWS
from tests.form.support import ANSWERS, booked_case, events, form_link
from tests.services import need_binary


def pdf_text(pdf: bytes, tmp_path: Path) -> tuple[str, str]:
    need_binary("pdftotext")
    need_binary("pdffonts")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                           check=True).stdout
    return text, fonts


def all_embedded(fonts: str) -> bool:
    rows = fonts.splitlines()[2:]
    assert rows, "no fonts in the PDF"
    # columns: name type encoding emb sub uni object ID; 'emb' is the 4th from the right
    return all(row.split()[-5] == "yes" for row in rows)


@pytest.fixture
def answered(app, client, make_case):
    case_id = booked_case(make_case)
    resp = client.post(form_link(app, case_id), data={
        **ANSWERS, "multiple": "yes", "fetuses": "2", "first_pregnancy": "no",
        "pregnancies": "3", "births": "1", "partner_name": "髙橋 一郎", "action": "submit"})
    assert resp.status_code == 303
    return case_id


def test_staff_pdf_has_the_answers_in_wareki_with_embedded_fonts(
        app, auth, make_staff, answered, tmp_path):
    make_staff()
    auth.login()
    resp = auth.client.get(f"/staff/cases/{answered}/documents/notification.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text, fonts = pdf_text(resp.data, tmp_path)
    compact = text.replace(" ", "")
    assert "妊娠届出書" in compact
    for expected in ("髙𠮷 花子", "タカヨシ ハナコ", "平成10年4月1日", "令和9年6月20日",
                     "守口レディースクリニック", "570-0083", "会社員・公務員", "髙橋 一郎",
                     "3 回目"):
        assert expected in text, expected
    assert "■ 多胎（2" in text
    assert all_embedded(fonts), fonts
    assert "Noto" in fonts  # 𠮷 is not in IPAex: it came from the fallback font
    printed = [(s, e) for s, e, _d in events(app, answered)]
    assert ("notification", "document_printed") in printed


def test_case_page_links_to_the_print(app, auth, make_staff, answered):
    make_staff()
    auth.login()
    html = auth.client.get(f"/staff/cases/{answered}").get_data(as_text=True)
    assert f"/staff/cases/{answered}/documents/notification.pdf" in html


def test_pdf_needs_staff_of_the_workflow(app, client, auth, make_staff, answered):
    assert client.get(f"/staff/cases/{answered}/documents/notification.pdf"
                      ).status_code in (302, 401)
    make_staff("other@example.jp", workflows=("kesseki-todoke",))
    auth.login("other@example.jp")
    assert auth.client.get(f"/staff/cases/{answered}/documents/notification.pdf"
                           ).status_code == 404


def test_unknown_document_step_404(app, auth, make_staff, answered):
    make_staff()
    auth.login()
    assert auth.client.get(f"/staff/cases/{answered}/documents/questionnaire.pdf"
                           ).status_code == 404


def test_api_pdf_with_bearer_token(app, client, runner, make_staff, answered, tmp_path):
    make_staff("api@example.jp")
    out = runner.invoke(args=["staff", "token", "api@example.jp"]).output
    token = out.strip().splitlines()[-1]
    url = f"/api/v1/cases/{answered}/documents/notification.pdf"
    assert client.get(url).status_code == 401
    resp = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    text, fonts = pdf_text(resp.data, tmp_path)
    assert "髙𠮷 花子" in text and all_embedded(fonts)


def _parse_with_template(template: str) -> None:
    yaml_path = WORKFLOWS / "boshi-techo.yaml"

    def read_asset(rel: str) -> str | None:
        if rel.endswith("ninshin-todoke.html"):
            return template
        target = WORKFLOWS / rel
        return target.read_text("utf-8") if target.is_file() else None
    parse(str(yaml_path), yaml_path.read_text("utf-8"), read_asset=read_asset)


def test_template_naming_an_unknown_field_fails_the_check():
    with pytest.raises(SpecError) as exc:
        _parse_with_template("<p>{{ answers.questionnaire.nmae }}</p>\n"
                             "<p>{{ answers.visit.x }}</p>")
    text = str(exc.value)
    assert "collects no field 'nmae'" in text and "collects no field 'x'" in text
    assert "boshi-techo.yaml:" in text


def test_template_unknown_variable_label_ref_and_syntax_errors():
    with pytest.raises(SpecError, match="unknown variable 'customer'"):
        _parse_with_template("{{ customer.name }}")
    with pytest.raises(SpecError, match="no field 'job'"):
        _parse_with_template('{{ label("questionnaire.job") }}')
    with pytest.raises(SpecError, match="template line 2"):
        _parse_with_template("ok\n{% if %}")
    with pytest.raises(SpecError, match="comes later"):
        _parse_with_template("{{ answers.checkin.x }}")


def test_cli_check_reports_the_template_problem(tmp_path):
    import shutil

    from click.testing import CliRunner

    from web.cli import workflows_cli
    shutil.copy(WORKFLOWS / "boshi-techo.yaml", tmp_path / "boshi-techo.yaml")
    shutil.copytree(WORKFLOWS / "boshi-techo", tmp_path / "boshi-techo")
    (tmp_path / "boshi-techo" / "ninshin-todoke.html").write_text(
        "{{ answers.questionnaire.shoe_size }}", "utf-8")
    result = CliRunner().invoke(workflows_cli, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "boshi-techo.yaml:" in result.output and "shoe_size" in result.output


def test_sandbox_hides_internal_attributes():
    from engine.steps.document.render import environment
    out = environment().from_string("[{{ answers.__class__.__mro__ }}]").render(answers={})
    assert out == "[]"


def test_templates_may_not_load_files(tmp_path):
    from engine.steps.document.render import to_pdf
    sheet = tmp_path / "leak.css"
    sheet.write_text('p::after { content: "LEAKED"; }', "utf-8")
    import logging
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
    html = f'<link rel="stylesheet" href="file://{sheet}"><p>visible</p>'
    text, _fonts = pdf_text(to_pdf(html), tmp_path)
    assert "visible" in text and "LEAKED" not in text


def test_wareki_filters():
    from engine.steps.document.render import environment
    env = environment()
    out = env.from_string("{{ d|wareki }} {{ d|wareki('short') }} {{ d|era }}{{ d|era_year }}"
                          " {{ d|month }}/{{ d|day }} {{ none_|wareki }}|{{ true|mark }}"
                          "{{ false|mark }}").render(d="2019-05-01", none_=None)
    assert out == "令和元年5月1日 R1.5.1 令和元 5/1 |■□"


def test_age_filter_counts_full_years():
    from engine.steps.document.render import environment
    tpl = environment().from_string("{{ b|age(d) }}")
    assert tpl.render(b="1998-04-01", d="2026-03-31") == "27"
    assert tpl.render(b="1998-04-01", d="2026-04-01") == "28"
    assert tpl.render(b=None, d="2026-04-01") == ""
