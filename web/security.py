"""Security headers on every response. Pages reached by a citizen's token are never cached
and never leak their URL through Referer (the token is in the path)."""

from __future__ import annotations

from flask import Flask, Response, request

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' "
       "'wasm-unsafe-eval'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# A JSON response loads nothing and is never framed (the OWASP REST cheat sheet's policy);
# camera and the like are a page's permissions, so it has no Permissions-Policy either.
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def init_app(app: Flask) -> None:
    https = app.config["BASE_URL"].startswith("https://")

    @app.after_request
    def headers(resp: Response) -> Response:
        h = resp.headers
        if resp.mimetype == "application/json":
            h.setdefault("Content-Security-Policy", JSON_CSP)
        else:
            h.setdefault("Content-Security-Policy", CSP)
            h.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        if https:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            h.setdefault("Cache-Control", "no-store")
        return resp
