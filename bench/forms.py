"""Form submissions and printed documents.

1. The school absence morning rush: absence notices sent through the form-start API call
   (``POST /api/v1/workflows/kesseki-todoke/cases``, each with an Idempotency-Key; one request
   in five is a retry of an earlier one) by the real app under gunicorn on PostgreSQL,
   against a bare Flask + SQLAlchemy endpoint that only INSERTs the JSON body, in the same
   run, with the same load generator. Printed: requests/s, p50/p99, the ratio app / bare,
   and "accepted = stored" (distinct keys answered 201 = cases in the database, 0 duplicates).
2. The pregnancy notification PDF: WeasyPrint render time per page (in-process), against a
   bare WeasyPrint render of a one-line page with the same fonts.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/forms.py

The database's tables are dropped and recreated. Nothing here is a timed assertion. The
figures printed are added, dated, to bench/RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script this folder comes first on sys.path (bench/email.py would shadow the
# standard library's email package): put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.booking import drive, serve, stop, summary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DB = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_forms")
NOTICES = int(os.environ.get("BENCH_NOTICES", "3000"))
RENDERS = int(os.environ.get("BENCH_RENDERS", "20"))
NOTICE = {"school": "domyoji-e", "grade": "3", "class_name": "2組", "child_name": "藤井 太郎",
          "child_kana": "ふじい たろう", "date": "令和8年12月3日", "kind": "absent",
          "reason": "fever", "temperature": "38.2", "message": "朝から発熱があり、休ませます。",
          "guardian_name": "藤井 花子", "guardian_phone": "072-123-4567"}


def bare_app() -> Flask:
    """INSERT the posted JSON as one row: nothing else."""
    app = Flask("bare")
    engine = create_engine(DB, pool_size=4, max_overflow=4)

    @app.post("/notice")
    def notice() -> Any:
        body = request.get_data(as_text=True)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bare_notice (body, created_at) VALUES "
                              "(CAST(:b AS jsonb), now())"), {"b": body})
        return jsonify({"ok": True}), 201

    return app


def setup_bare() -> None:
    engine = create_engine(DB)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bare_notice"))
        conn.execute(text("CREATE TABLE bare_notice (id bigserial PRIMARY KEY, body jsonb, "
                          "created_at timestamptz)"))
    engine.dispose()


def app_env() -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": DB, "WORKFLOWS_DIR": str(ROOT / "workflows"),
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
            "BASE_URL": "http://127.0.0.1", "PYTHONPATH": str(ROOT)}


def setup_app(env: dict[str, str]) -> Flask:
    os.environ.update(env)
    from bench import schema
    from web import create_app
    from web.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB})
    with app.app_context():
        schema.recreate(db.engine)
    return app


def rush(base: str) -> tuple[list[tuple[str, Any, dict[str, str]]], int]:
    """NOTICES requests; every fifth repeats an earlier key (a retry after a timeout)."""
    requests: list[tuple[str, Any, dict[str, str]]] = []
    keys: list[str] = []
    for i in range(NOTICES):
        if i % 5 == 4 and keys:
            key = random.choice(keys)  # noqa: S311
        else:
            key = f"notice-{i}"
            keys.append(key)
        requests.append((f"{base}/api/v1/workflows/kesseki-todoke/cases",
                         {"answers": {**NOTICE, "class_name": f"{i % 9 + 1}組"}},
                         {"Idempotency-Key": key}))
    return requests, len(keys)


def stored(app: Flask) -> tuple[int, int]:
    from engine.models import Case, IdempotencyKey
    from web.extensions import db

    with app.app_context():
        cases = db.session.scalar(db.select(db.func.count()).select_from(Case).where(
            Case.workflow_id == "kesseki-todoke"))
        keys = db.session.scalar(db.select(db.func.count()).select_from(IdempotencyKey))
    return int(cases or 0), int(keys or 0)


def pdf_times(app: Flask) -> tuple[float, float, float, int]:
    from engine.steps.document import render as documents

    spec = app.extensions["catalog"].get("boshi-techo")
    data = {"questionnaire": {"name": "髙𠮷 花子", "kana": "タカヨシ ハナコ",
                              "birth_date": "1998-04-01", "postal_code": "570-0083",
                              "address": "大阪府守口市京阪本通2丁目5-5", "phone": "06-1234-5678",
                              "occupation": "employee", "weeks": 10, "due_date": "2027-06-20",
                              "clinic": "守口レディースクリニック", "multiple": "no",
                              "first_pregnancy": "yes", "smoking": "no", "agree": True}}
    now = datetime.now(UTC)
    html = documents.render_html(spec, "boshi-techo/ninshin-todoke.html", data=data,
                                 parent=None, reference="BENCH123", created_at=now, now=now)
    documents.to_pdf(html)  # warm up fonts
    full, bare = [], []
    for _ in range(RENDERS):
        t0 = time.perf_counter()
        pdf = documents.to_pdf(html)
        full.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        documents.to_pdf("<p>妊娠届出書</p>")
        bare.append((time.perf_counter() - t0) * 1000)
    return statistics.median(full), max(full), statistics.median(bare), len(pdf)


def line(name: str, r: dict[str, Any]) -> str:
    mix = " ".join(f"{k}:{v}" for k, v in sorted(r["codes"].items()))
    return (f"  {name:<5} {r['rps']:8.0f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms"
            f"  [{mix}]")


def main() -> None:
    import logging

    from bench import booking

    random.seed(5)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    env = app_env()
    app = setup_app(env)
    print(f"machine: {os.cpu_count()} cores; gunicorn {booking.WORKERS} gthread workers x "
          f"{booking.THREADS} threads; {booking.CLIENTS} concurrent clients; PostgreSQL "
          f"{DB.rsplit('/', 1)[-1]}")
    proc, base = serve("wsgi:app", env)
    try:
        # One notice first, as a warm-up (taken off the counts below).
        import httpx
        httpx.post(f"{base}/api/v1/workflows/kesseki-todoke/cases", json={"answers": NOTICE},
                   headers={"Idempotency-Key": "warm-up"}, timeout=30)
        requests, distinct = rush(base)
        app_r = summary([drive(requests, proc)])
    finally:
        stop(proc)
    cases, keys = stored(app)
    cases, keys = cases - 1, keys - 1  # the warm-up notice

    setup_bare()
    proc, base = serve("bench.forms:bare_app()", env)
    try:
        bare_r = summary([drive([(f"{base}/notice", {"answers": NOTICE})] * NOTICES, proc)])
    finally:
        stop(proc)

    print(f"\nmorning rush: {NOTICES} absence notices ({distinct} distinct, the rest retries "
          "with the same Idempotency-Key)")
    print(line("app", app_r))
    print(line("bare", bare_r))
    print(f"  ratio app/bare: {app_r['rps'] / bare_r['rps']:.2f} (requests/s), "
          f"p99 {app_r['p99'] / bare_r['p99']:.1f}x")
    print(f"  accepted = stored: {distinct} distinct keys, {cases} cases, {keys} idempotency "
          f"rows, duplicates {cases - distinct}")
    del booking

    p50, worst, bare_p50, size = pdf_times(app)
    print(f"\npregnancy notification PDF (A4, embedded IPAex + Noto subsets, {size} bytes): "
          f"p50 {p50:.0f} ms/page, max {worst:.0f} ms over {RENDERS} renders; a one-line page "
          f"{bare_p50:.0f} ms (ratio {p50 / bare_p50:.1f}x)")


if __name__ == "__main__":
    from bench.results import recorded

    with recorded("forms"):
        main()
