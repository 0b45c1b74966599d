"""An alert's short public reference, e.g. A7K2-9QF: printed in every e-mail, said in
every call and (by configuration) carried in every text, so that anyone can check on
the public site that the force really sent a message.

Seven symbols from an alphabet without the characters people confuse when they read
a reference aloud or copy it from a phone (0/O, 1/I/L, 5/S, 8/B): 27^7 is about
10 billion references, so a random one is also not guessable from the last one."""

from __future__ import annotations

import re
import secrets
import unicodedata

ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"
LENGTH = 7
# How a reference looks wherever it is printed: four symbols, a hyphen, three.
PATTERN = re.compile(rf"\b([{ALPHABET}]{{4}})[- ]?([{ALPHABET}]{{3}})\b")
# A stand-in of the same length and alphabet cost, for previews before an alert has one.
SAMPLE = "XXXX-XXX"


def new_reference() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{symbols[:4]}-{symbols[4:]}"


def read_reference(typed: object) -> str | None:
    """The reference someone typed, however they typed it (lower case, spaces, no
    hyphen, a full stop after it), or None when it cannot be one of ours."""
    if not isinstance(typed, str) or len(typed) > 40:
        return None
    # Full-width letters and digits (a Japanese or Chinese keyboard) as their own, and
    # any script's digits (Arabic-Indic ٧: a review).
    typed = _digits_as_ascii(unicodedata.normalize("NFKC", _unseen_dropped(typed)))
    symbols = re.sub(r"[\s\-\u2010-\u2015\u2212.,:;_/]", "", typed).upper()
    if len(symbols) != LENGTH or any(s not in ALPHABET for s in symbols):
        return None
    return f"{symbols[:4]}-{symbols[4:]}"


def find_reference(text: str) -> str | None:
    """The first reference printed in a pasted message ("Ref A7K2-9QF"), or None."""
    match = PATTERN.search(
        _digits_as_ascii(unicodedata.normalize("NFKC", _unseen_dropped(text))).upper()
    )
    return f"{match.group(1)}-{match.group(2)}" if match else None


def _unseen_dropped(text: str) -> str:
    """Without the format characters a paste brings along unseen (a soft hyphen, a
    zero-width space: a genuine alert's reference so was said not to be ours, an
    outside check), as services.text.unseen_dropped (not imported: this module is
    the models').

    >>> read_reference("JXNV\u00adQZV"), find_reference("Ref JX\u200bNV-QZV")
    ('JXNV-QZV', 'JXNV-QZV')
    """
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _digits_as_ascii(text: str) -> str:
    """
    >>> _digits_as_ascii("A٧K٢-٩QF")
    'A7K2-9QF'
    """
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )


def spoken(reference: str) -> str:
    """The reference as a voice says it clearly: each symbol on its own, a pause at
    the hyphen ("A, 7, K, 2. 9, Q, F")."""
    first, _, second = reference.partition("-")
    return ", ".join(first) + ". " + ", ".join(second)
