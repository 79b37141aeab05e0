"""Strict JSON out: standard JSON parsers reject NaN and Infinity, so the app never writes them."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing non-finite numbers (a ValueError, so the bug that made one is a logged
    500 at its cause, never a body a client's parser chokes on)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)
