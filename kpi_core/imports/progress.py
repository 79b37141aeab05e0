"""A read-only byte stream that reports how much has been read: progress for long imports."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO


class ReadProgress(io.RawIOBase):
    def __init__(self, raw: IO[bytes], advance: Callable[[int], object]) -> None:
        self.raw = raw
        self.advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        if data:
            self.advance(len(data))
        return len(data)
