"""gunicorn's access log without the tokens of citizens' links.

A link carries its token in the path (``/c/<token>``, ``/api/v1/cases/<token>``), so a log
that records paths would record tokens. Use ``gunicorn -c python:web.gunicorn_config``: its
logger writes every path (in the request line, ``%(U)s`` and the Referer) with each segment
that could be a token replaced by ``{token}``, and no query string."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# Tokens are >= 128 bits in base32 or URL-safe base64: 26 characters or more. Words of a
# route and ids are shorter; a segment that long is replaced whatever it is.
TOKEN_SEGMENT = re.compile(r"[^/?#]{20,}")


def redact(path: str) -> str:
    path = path.split("?", 1)[0].split("#", 1)[0]
    return TOKEN_SEGMENT.sub("{token}", path)


class AccessLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any],
              request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = redact(environ.get("PATH_INFO", "") or "")
        atoms["U"] = path
        atoms["q"] = ""
        atoms["r"] = " ".join((environ.get("REQUEST_METHOD", "-"), path,
                               environ.get("SERVER_PROTOCOL", "-")))
        referer = environ.get("HTTP_REFERER")
        if referer:
            atoms["f"] = redact(referer)
        for key in list(atoms):  # %({RAW_URI}e)s and the like
            if key.endswith("}e") and isinstance(atoms[key], str) and "/" in atoms[key]:
                atoms[key] = redact(atoms[key])
        return atoms
