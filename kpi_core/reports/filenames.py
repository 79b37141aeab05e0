"""Download file names derived from a report's title: safe on every OS and in an HTTP header.

The title is the user's text. The name made from it has no path separators,
no leading dots, no control characters (CR/LF could split the header), no
quotes and none of the characters Windows refuses, and is at most
:data:`MAX_STEM` characters before the extension. The header carries an
ASCII ``filename`` for old clients and the UTF-8 name as ``filename*``
(RFC 6266 / RFC 5987), so "Ünïcode report" downloads under its own name.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_STEM = 100
FALLBACK = "report"
_UNSAFE = re.compile(r'[/\\<>:"|?*\'`;]')
_NOT_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._ -]")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def safe_file_name(title: str, extension: str) -> str:
    """``title`` made into a file name ending in ``.extension`` (Unicode kept, anything risky replaced)."""
    text = unicodedata.normalize("NFC", title or "")
    # Control and format characters (CR, LF, NUL, bidi overrides) become spaces, never part of a name.
    text = "".join(" " if unicodedata.category(char).startswith("C") else char for char in text)
    text = _UNSAFE.sub("_", text)
    stem = " ".join(text.split()).strip(" .")[:MAX_STEM].strip(" .")
    if not stem or _WINDOWS_RESERVED.match(stem):
        stem = f"{FALLBACK} {stem}".strip() if stem else FALLBACK
    return f"{stem}.{extension}"


def ascii_file_name(name: str) -> str:
    """An ASCII stand-in for ``name`` (accents dropped, other characters replaced)."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    plain = " ".join(_NOT_ASCII_SAFE.sub("_", plain).split()).strip(" .") or FALLBACK
    return f"{plain}.{extension}" if extension else plain


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the UTF-8 ``filename*`` of ``name``."""
    return f"attachment; filename=\"{ascii_file_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
