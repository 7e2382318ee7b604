"""Absolute, tokenised links a citizen receives (emails, API responses, QR codes).

Each kind of link names a token purpose and the endpoint that serves it; parts of the web
layer register theirs. Building a link issues a fresh token (only its hash is stored), so a
link can be built in an email task as well as in a request. A form step's id is also a kind:
it links to that step's form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from engine import tokens
from engine.models import Case
from web.context import catalog, external_url, now, token_key
from web.extensions import db


@dataclass(frozen=True)
class LinkKind:
    purpose: str
    endpoint: str
    ttl: timedelta | None = None


KINDS: dict[str, LinkKind] = {}
# Endpoint for a form step's link; its purpose is "form:<step id>".
FORM_ENDPOINT = "form.fill"


def register(kind: str, *, purpose: str, endpoint: str, ttl: timedelta | None = None) -> None:
    KINDS[kind] = LinkKind(purpose, endpoint, ttl)


def link(case: Case, kind: str) -> str:
    """An absolute URL of ``kind`` for ``case``, with a new token in its path."""
    spec_kind = KINDS.get(kind)
    if spec_kind is None:
        spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
        if kind not in {s.id for s in spec.steps if s.type == "form"}:
            raise ValueError(f"unknown link kind {kind!r} for workflow {spec.id!r}")
        spec_kind = LinkKind(f"form:{kind}", FORM_ENDPOINT)
    token = tokens.issue(db.session, case, spec_kind.purpose, key=token_key(), now=now(),
                         ttl=spec_kind.ttl)
    return external_url(spec_kind.endpoint, token=token)


def links(case: Case, kinds: list[str]) -> dict[str, str]:
    return {kind: link(case, kind) for kind in kinds}
