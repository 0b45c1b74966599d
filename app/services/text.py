"""Text as people and browsers send it, made safe to store and show."""

from __future__ import annotations

import re

# Control characters other than tab and newlines: PostgreSQL refuses NUL outright, and
# none of them belongs in a name, an address or an alert.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: object, *, max_length: int | None = None, multiline: bool = False) -> str:
    """The text without control characters, trimmed; newlines kept only if multiline.

    >>> clean_text(" Sam\\x00 Jones\\n")
    'Sam Jones'
    >>> clean_text("Line one\\r\\nLine two", multiline=True)
    'Line one\\nLine two'
    """
    text = "" if value is None else str(value)
    # Lone surrogates (from JSON's \ud800 escapes) cannot be stored or encoded.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = " ".join(text.split())
    text = text.strip()
    return text[:max_length] if max_length else text
