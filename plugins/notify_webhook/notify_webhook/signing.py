"""The signature of a webhook delivery, and its check (what a receiver does, in Python).

``X-KPI-Signature: sha256=<hex>`` is HMAC-SHA256, keyed with the endpoint's
secret, over the bytes ``<X-KPI-Timestamp>.<body>``: the timestamp (Unix
seconds, when this attempt was sent), a dot, and the request body exactly as
received. A receiver recomputes it, compares in constant time, and refuses a
timestamp more than five minutes from its own clock (a captured request
cannot be replayed later). ``X-KPI-Delivery`` is the same on every attempt
of one delivery: a receiver that has seen it already can answer 200 and
do nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of ``X-KPI-Signature`` for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, received: str, *, now: float | None = None) -> bool:
    """Whether a delivery is genuine and fresh: the receiver's check."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), received)
