"""Responses compressed in the app when no proxy does it (``KPI_COMPRESS``): flask-compress.

A year of technician x month KPI values is megabytes of JSON and a few hundred KB compressed; on a
technician's phone connection that is the difference between a page that opens and one that
does not. Behind nginx (the compose topology) nginx compresses and the app does not.

A KPI answer is served from its stored bytes, but compressing a megabyte again cost more than the
rest of the request (~9 ms with brotli, bench/README.md): its compressed bytes are kept too, per
encoding, in flask-compress's cache, keyed by the answer's ETag (which names everything the answer
depends on, so one tag is one body). Other responses are never kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Flask, Request, g
from flask_compress import Compress

from kpi_core.config import Settings

COMPRESSED_TYPES = [
    "application/json",
    "text/csv",
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "image/svg+xml",
]


KEPT_BYTES = 64 * 1024 * 1024
"""The compressed answers kept per process, at most (the least recently served go first)."""
ANSWER_TAG = "kpi_answer_tag"
"""Where a view puts the ETag of the stored KPI answer it responds with (``flask.g``)."""


def keep_compressed(tag: str) -> None:
    """Keep this response's compressed bytes under ``tag``: the ETag of a stored answer, the same bytes
    whenever it is served."""
    setattr(g, ANSWER_TAG, tag)


def _cache_key(request: Request) -> str:
    # flask-compress prefixes the encoding: "br;<tag>". An empty tag: a response not to keep.
    return g.get(ANSWER_TAG) or ""


class CompressedAnswers:
    """flask-compress's cache backend: compressed KPI answers by encoding and tag, bounded in bytes."""

    def __init__(self, max_bytes: int = KEPT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: str) -> bytes | None:
        if key.endswith(";"):
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return found

    def set(self, key: str, value: bytes) -> None:
        if key.endswith(";") or len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:  # served again: flask-compress sets what it got
                self._entries.move_to_end(key)
                return
            self._entries[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)


def install(app: Flask, settings: Settings) -> None:
    """Compress responses of ``COMPRESSED_TYPES`` over 1 KB when ``settings.compress``."""
    if not settings.compress:
        return
    app.config.update(
        COMPRESS_MIMETYPES=COMPRESSED_TYPES,
        COMPRESS_MIN_SIZE=1024,
        # zstd and brotli where the browser offers them (both smaller and faster than gzip), else gzip.
        COMPRESS_ALGORITHM=["zstd", "br", "gzip", "deflate"],
        COMPRESS_LEVEL=6,
        COMPRESS_BR_LEVEL=4,
        COMPRESS_ZSTD_LEVEL=3,
        # Streamed downloads (CSV exports, reports) keep streaming, compressed as they go.
        COMPRESS_STREAMS=True,
        COMPRESS_CACHE_KEY=_cache_key,
        COMPRESS_CACHE_BACKEND=CompressedAnswers,
    )
    Compress(app)
