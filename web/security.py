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


# (name, value) in the order they are added; each only where the view did not set it.
_COMMON = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
           ("X-Frame-Options", "DENY"))
_FOR_JSON = (("Content-Security-Policy", JSON_CSP), *_COMMON)
_FOR_PAGES = (("Content-Security-Policy", CSP),
              ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"), *_COMMON)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
_NO_STORE = ("Cache-Control", "no-store")  # all but static files


def init_app(app: Flask) -> None:
    hsts = (_HSTS,) if app.config["BASE_URL"].startswith("https://") else ()
    # (lower-case name, name, value) for each (JSON?, static file?), worked out once.
    wanted = {(json, static): tuple((name.lower(), name, value) for name, value in (
        *(_FOR_JSON if json else _FOR_PAGES), *hsts, *(() if static else (_NO_STORE,))))
        for json in (True, False) for static in (True, False)}

    @app.after_request
    def headers(resp: Response) -> Response:
        # One pass over the response's headers, not a scan per header: every response.
        h = resp.headers
        present = {name.lower() for name in h.keys()}
        for key, name, value in wanted[resp.mimetype == "application/json",
                                       request.endpoint == "static"]:
            if key not in present:
                h.add(name, value)
        return resp
