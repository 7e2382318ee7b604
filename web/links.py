"""Absolute, tokenised links a citizen receives (emails, API responses, QR codes).

Each kind of link names a token purpose and the endpoint that serves it; the step types add
theirs (``web.parts``). Building a link issues a fresh token (only its hash is stored), so a
link can be built in an email task as well as in a request. A form step's id is also a kind:
it links to that step's form."""

from __future__ import annotations

from engine import tokens
from engine.models import Case
from web import parts
from web.context import catalog, external_url, now, token_key
from web.extensions import db
from web.parts import LinkKind

# Endpoint for a form step's link; its purpose is "form:<step id>".
FORM_ENDPOINT = "form.fill"


def link(case: Case, kind: str, issued: dict[str, str] | None = None) -> str:
    """An absolute URL of ``kind`` for ``case``, with a new token in its path. With
    ``issued`` (purpose -> token), kinds of the same purpose share one token (a ticket page
    and its QR image)."""
    spec_kind = parts.of().link_kinds.get(kind)
    if spec_kind is None:
        spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
        if kind not in {s.id for s in spec.steps if s.type == "form"}:
            raise ValueError(f"unknown link kind {kind!r} for workflow {spec.id!r}")
        spec_kind = LinkKind(f"form:{kind}", FORM_ENDPOINT)
    token = issued.get(spec_kind.purpose) if issued is not None else None
    if token is None:
        token = tokens.issue(db.session, case, spec_kind.purpose, key=token_key(), now=now(),
                             ttl=spec_kind.ttl)
        if issued is not None:
            issued[spec_kind.purpose] = token
    return external_url(spec_kind.endpoint, token=token)


def derived(case_token: str, kind: str) -> str:
    """An absolute URL of ``kind`` whose token is derived from ``case_token`` (engine.tokens):
    nothing is written, so a page shown by a GET can link to the case's other pages. The
    kind is a registered link kind or a form step's id."""
    spec_kind = parts.of().link_kinds.get(kind) or LinkKind(f"form:{kind}", FORM_ENDPOINT)
    token = tokens.derive(token_key(), case_token, spec_kind.purpose)
    return external_url(spec_kind.endpoint, token=token)


def links(case: Case, kinds: list[str]) -> dict[str, str]:
    issued: dict[str, str] = {}
    return {kind: link(case, kind, issued) for kind in kinds}
