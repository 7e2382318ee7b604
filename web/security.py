"""Security headers on every response. Pages reached by a citizen's token are never cached
and never leak their URL through Referer (the token is in the path)."""

from __future__ import annotations

from flask import Flask, Response, request

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' "
       "'wasm-unsafe-eval'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    https = app.config["BASE_URL"].startswith("https://")

    @app.after_request
    def headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        if https:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            h.setdefault("Cache-Control", "no-store")
        return resp
