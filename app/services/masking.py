"""Contact details shown to staff as the outbox shows them: enough to recognise a
number or address (+447••••••001, s•••@e•••.invalid), not enough to use it."""

from __future__ import annotations

import re

from app.services.contacts import mask_address

# A phone number (international, or UK national with its leading 0) or an e-mail
# address, wherever it appears in a text. Dates and ids do not look like either.
EMAIL = re.compile(r"[^\s@<>\"',;:()\[\]“”‘’]+@[^\s@<>\"',;:()\[\]“”‘’]+")
# Its digits together or apart (spaces, dots, dashes, slashes, brackets: "07700.900.123"
# was shown whole, an outside check), 9 to 15 of them.
PHONE = re.compile(r"(?<![\w+.])(?:\+\d|0\d)[\d ()./\u00a0-]{6,22}\d(?![\w])")
PHONE_DIGITS = range(9, 16)
CONTACT_KEYS = re.compile(r"address|email|e_mail|phone|mobile|landline|recipient|number")


def mask_contact(text: str) -> str:
    """A value that is meant to be a number or address (a CSV's mobile cell, valid or
    not), masked whatever it holds: short junk is hidden whole.

    >>> mask_contact("07700 900101"), mask_contact("ann@example.invalid"), mask_contact("12")
    ('0770••••101', 'a•••@e•••.invalid', '•••')
    """
    text = (text or "").strip()
    if not text:
        return ""
    if "@" in text:
        # Each word alone: a cell holding more than an address (after a line break,
        # "Bcc: x@y") showed the rest whole (an outside check).
        return " ".join(mask_address(word) if "@" in word else "•••" for word in text.split())
    compact = "".join(text.split())
    return mask_address(compact) if len(compact) >= 8 else "•••"


def mask_contacts(value):
    """The value with every phone number and e-mail address in it masked, however
    deep in lists and mappings; under a contact-like key, a text is masked whole.

    >>> mask_contacts({"recipient": "sam@example.invalid", "note": "rang +447700900001"})
    {'recipient': 's•••@e•••.invalid', 'note': 'rang +447••••••001'}
    """
    if isinstance(value, dict):
        return {
            key: (
                mask_contact(item)
                if isinstance(item, str) and CONTACT_KEYS.search(str(key).lower())
                else mask_contacts(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_contacts(item) for item in value]
    if isinstance(value, str):
        text = EMAIL.sub(lambda m: mask_address(m.group(0)), value)
        return PHONE.sub(_masked_number, text)
    return value


def _masked_number(found: re.Match) -> str:
    """A number found in a text, masked as the outbox shows one; a run of 0s and
    digits that is too short or long for a number (a date, an id), as it is.

    >>> mask_contacts("call 07700.900.123 or 0117-496-0000, on 2026-12-05")
    'call 0770••••123 or 0117••••000, on 2026-12-05'
    """
    run = found.group(0)
    digits = "".join(c for c in run if c.isdigit())
    if len(digits) not in PHONE_DIGITS:
        return run
    return mask_address(("+" if run.startswith("+") else "") + digits)
