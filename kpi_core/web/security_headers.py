"""Security headers on every answer, and CORS only for configured origins."""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_cors import CORS

from kpi_core.config import Settings

# flask-cors matches this as a regular expression from the path's start: everything under /api.
CORS_RESOURCES = r"/api/*"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Swagger UI sets element styles at run time; scripts stay strict.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def install(app: Flask, settings: Settings) -> None:
    cors = bool(settings.cors_origins)
    if cors:
        CORS(
            app,
            resources={CORS_RESOURCES: {"origins": list(settings.cors_origins)}},
            allow_headers=["Authorization", "Content-Type", "If-Match", "X-Request-ID"],
            expose_headers=["ETag", "X-Pagination", "X-Request-ID", "Retry-After"],
            max_age=600,
            # flask-cors adds it only when several origins are configured; we add it to every answer below.
            vary_header=False,
        )

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api/v1/"):
            headers.setdefault("Cache-Control", "no-store")
        if cors and re.match(CORS_RESOURCES, request.path):
            # Allowed, refused or absent, the Origin decides the CORS headers, so a cache must key on it.
            response.vary.add("Origin")
        return response
