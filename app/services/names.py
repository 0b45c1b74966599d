"""Find a street or place by name, for the map's search box where there is no tile
server to search: "Stapleton Ro" -> Stapleton Road, Easton, and where it is."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flask_babel import gettext

from app.dao import names as names_dao
from app.services.text import TextRefused, checked_text

MIN_QUERY_CHARS = 2  # one letter matches thousands of names, none of them meant
# Longer than any street or place name a person types; what is longer is cut, since
# a name that starts with the whole text starts with its first 60 characters too.
MAX_QUERY_CHARS = 60
DEFAULT_LIMIT = 10
MAX_LIMIT = 50


class NameSearchRefused(ValueError):
    """A search we will not run: `reason` for programs ("too_short", "invalid"), the
    message for people."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class NameSearch:
    loaded: bool  # False: no names are loaded, so the search box needs a postcode
    results: list[dict]


def clean_query(value: object) -> str:
    """The typed text, trimmed, runs of spaces as one, composed (é as one character),
    at most MAX_QUERY_CHARS.

    Raises NameSearchRefused: a control character (naming it), or fewer than
    MIN_QUERY_CHARS characters.
    """
    try:
        text = checked_text(value, gettext("The search"))
    except TextRefused as refusal:
        raise NameSearchRefused(str(refusal), reason="invalid") from None
    text = " ".join(unicodedata.normalize("NFC", text).split())[:MAX_QUERY_CHARS].strip()
    if len(text) < MIN_QUERY_CHARS:
        raise NameSearchRefused(
            gettext(
                "Type at least %(count)s letters of a street or place name.",
                count=MIN_QUERY_CHARS,
            ),
            reason="too_short",
        )
    return text


def search_names(query: object, limit: object = None) -> NameSearch:
    """Streets and places whose name starts with the query, best first (see
    dao.names.search_names), at most `limit` (1 to MAX_LIMIT; default DEFAULT_LIMIT).

    Raises NameSearchRefused for a query or limit we cannot use.
    """
    text = clean_query(query)
    wanted = _limit(limit)
    if not names_dao.names_loaded():
        return NameSearch(loaded=False, results=[])
    return NameSearch(loaded=True, results=names_dao.search_names(text, wanted))


def _limit(value: object) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        wanted = int(str(value))
    except ValueError:
        wanted = 0
    if not 1 <= wanted <= MAX_LIMIT:
        raise NameSearchRefused(f"limit must be between 1 and {MAX_LIMIT}.", reason="invalid")
    return wanted
