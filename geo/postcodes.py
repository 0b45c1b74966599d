"""The rules for UK postcodes, as a trio: canonical key, validity, display form.

The canonical key is the compact upper-case form ("BS11AD"); the display form has one
space before the three-character inward code ("BS1 1AD"). Input arrives as people type
it, so normalising is forgiving: any case, any whitespace (including non-breaking and
zero-width spaces), and stray punctuation at the ends.

Also: which valid postcodes are not in Great Britain (Northern Ireland, the Channel
Islands, the Isle of Man), told by their area letters alone.
"""

from __future__ import annotations

import re
import unicodedata

# The shape of every postcode Royal Mail issues, outward + inward code, plus GIR 0AA.
# Stricter per-position letter rules exist, but the data decides whether a postcode is
# real; the pattern only has to say whether something *looks* like one.
_COMPACT = re.compile(r"^(?:[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}|GIR0AA)$")
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_AREA = re.compile(r"^[A-Z]{1,2}(?=[0-9]|$)")

# Postcode areas that Royal Mail runs outside Great Britain. Code-Point Open covers
# Great Britain only, so none of these is ever in our data (ONSPD has a few, with no
# location); their area letters say where they are, without any data.
OUTSIDE_GREAT_BRITAIN = {
    "BT": "Northern Ireland",
    "GY": "the Bailiwick of Guernsey",  # Guernsey, Alderney and Sark
    "JE": "Jersey",
    "IM": "the Isle of Man",
}

# Characters people (and copy-paste) put inside postcodes that carry no meaning:
# invisible ones, and a dash where the space goes ("BS1-6AD").
_IGNORABLE = {
    # Direction marks and embeddings, which copying out of a contact card brings along.
    *"\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    *"-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63",
}


def canonical(text: str | None) -> str:
    """Return the compact upper-case key for whatever was typed.

    Does not check validity: use is_valid() on the result.

    >>> canonical(" bs1  1ad. ")
    'BS11AD'
    >>> canonical("BS1\\u00a01AD")
    'BS11AD'
    >>> canonical("bs1-6ad")
    'BS16AD'
    >>> canonical(None)
    ''
    >>> canonical("BS\u0661 \u0666AD")
    'BS16AD'
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    # Any script's digits as ASCII ones: "BS١ ٦AD" from an Arabic keyboard (a review).
    text = "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )
    kept = [ch for ch in text if ch not in _IGNORABLE and not ch.isspace()]
    return "".join(kept).strip(".,;:-").upper()


def is_valid(text: str | None) -> bool:
    """True when the text, normalised, has the shape of a UK postcode.

    >>> is_valid("ba4 6qn"), is_valid("BA4"), is_valid("12345")
    (True, False, False)
    """
    return bool(_COMPACT.match(canonical(text)))


def display(text: str | None) -> str:
    """Return the display form, one space before the inward code.

    Raises ValueError when the text is not a postcode.

    >>> display("ba46qn")
    'BA4 6QN'
    """
    key = canonical(text)
    if not _COMPACT.match(key):
        raise ValueError(f"{text!r} is not a postcode")
    return f"{key[:-3]} {key[-3:]}"


def outward(text: str | None) -> str:
    """The outward code ("BS1" of "BS1 1AD"). Raises ValueError when not a postcode.

    >>> outward("bs11ad")
    'BS1'
    """
    return display(text).split(" ")[0]


def is_outward_code(text: str | None) -> bool:
    """True for a district such as "BS1" or "SW1A".

    >>> is_outward_code("bs1"), is_outward_code("bs1 1a")
    (True, False)
    """
    return bool(_OUTWARD.match(canonical(text)))


def area(text: str | None) -> str:
    """The postcode area: the letters before the first digit ("BS" of "BS1 1AD").

    >>> area("bs1 1ad"), area("B1 1AA"), area("JE2"), area("je"), area("hello")
    ('BS', 'B', 'JE', 'JE', '')
    """
    found = _AREA.match(canonical(text))
    return found.group() if found else ""


def outside_great_britain(text: str | None) -> str | None:
    """Where a postcode or outward code is when it is not in Great Britain, else None.

    >>> outside_great_britain("BT1 1AA"), outside_great_britain("im1")
    ('Northern Ireland', 'the Isle of Man')
    >>> outside_great_britain("B1 1AA") is None
    True
    """
    return OUTSIDE_GREAT_BRITAIN.get(area(text))
