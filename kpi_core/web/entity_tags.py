"""Entity tags as clients send them back, read as the app made them.

Our ETags hash a response's JSON, so every encoding of one answer is the same entity to us. On
the way out, though, a compressor changes the tag: flask-compress appends the encoding to a
strong tag (``"abc:gzip"``) and nginx's gzip weakens it (``W/"abc"``). A client then sends that
tag back in If-Match or If-None-Match, and compared as it is, it never matches: every edit made
through a compressing server was refused as stale (412). Each request's tags are put back as the
app made them, before any view reads them, so flask-smorest's ``check_etag``, our conditional
GETs and every If-Match check see the tag they issued.
"""

from __future__ import annotations

import re

from flask import Flask, request

CONDITIONAL_HEADERS = ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH")

# W/ (nginx) and :<encoding> (flask-compress) around the quoted tag.
_TAG = re.compile(r'(?:W/)?"([^":]*)(?::(?:gzip|br|zstd|deflate))?"')


def as_issued(header: str) -> str:
    """``header``'s tags as the app issued them: ``W/"abc", "def:br"`` -> ``"abc", "def"``; ``*`` stays."""
    return _TAG.sub(r'"\1"', header)


def _restore_tags() -> None:
    environ = request.environ
    for name in CONDITIONAL_HEADERS:
        if name in environ:
            environ[name] = as_issued(environ[name])


def install(app: Flask) -> None:
    """Read every request's If-Match and If-None-Match as the app issued their tags."""
    app.before_request(_restore_tags)


def held_tags() -> frozenset[str]:
    """The entity tags this request's If-None-Match names (werkzeug reads ``""`` as no tag)."""
    return frozenset(tag for tag in request.if_none_match.as_set() if tag)
