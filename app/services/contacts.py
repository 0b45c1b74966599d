"""Phone numbers and e-mail addresses as residents type them."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType

# The UK and the Crown Dependencies share +44.
UK_REGIONS = {"GB", "GG", "JE", "IM"}
# Ofcom sets these ranges aside for drama and examples: they never ring anyone. Demo
# and test data use them, so outside production they count as real numbers.
DRAMA_MOBILE = re.compile(r"^\+447700900\d{3}$")
DRAMA_LANDLINE = re.compile(
    r"^\+44(?:1134960|1144960|1154960|1164960|1174960|1184960|1214960|1314960|1414960"
    r"|1514960|1614960|2079460|1914980|2890180|2920180|1632960)\d{3}$"
)
EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)


class ContactRefused(ValueError):
    """A number or address we cannot use, with a message for the resident."""


def normalise_phone(text: str, *, need_mobile: bool, allow_drama: bool = False) -> str:
    """The number in E.164 ("+447700900123"). Raises ContactRefused.

    SMS needs a mobile; a voice call can ring a mobile or a landline.
    """
    text = (text or "").strip()
    if not text:
        raise ContactRefused("Enter a phone number, for example 07700 900123.")
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        raise ContactRefused(
            "Enter a UK phone number, like 07700 900123 or 0117 496 0123."
        ) from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if allow_drama and DRAMA_MOBILE.match(e164):
        return e164
    if allow_drama and DRAMA_LANDLINE.match(e164):
        if need_mobile:
            raise ContactRefused("Texts can only go to a mobile number, starting 07.")
        return e164
    valid = phonenumbers.is_valid_number(number)
    if valid and phonenumbers.region_code_for_number(number) not in UK_REGIONS:
        raise ContactRefused("We can only send to UK phone numbers.")
    if not valid:
        raise ContactRefused("That is not a complete UK phone number. Check the number of digits.")
    kind = phonenumbers.number_type(number)
    if kind in (
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.UAN,
        PhoneNumberType.PAGER,
    ):
        raise ContactRefused(
            "We can't send to premium-rate, personal or shared-cost numbers. "
            "Give a mobile or a home landline."
        )
    is_mobile = kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if need_mobile and not is_mobile:
        raise ContactRefused("Texts can only go to a mobile number, starting 07.")
    if not need_mobile and kind not in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ContactRefused("Calls can only go to a mobile or a landline number.")
    return e164


def normalise_email(text: str) -> str:
    """The address, trimmed, with its domain in lower case. Raises ContactRefused."""
    text = (text or "").strip()
    if not text:
        raise ContactRefused("Enter an e-mail address, like name@example.com.")
    if len(text) > 254 or not EMAIL.match(text):
        raise ContactRefused("Enter an e-mail address in the right format, like name@example.com.")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def mask_address(address: str) -> str:
    """Enough of an address to recognise it, not enough to use it.

    >>> mask_address("+447700900123"), mask_address("sam.jones@example.invalid")
    ('+447••••••123', 's•••@e•••.invalid')
    """
    if "@" in address:
        local, domain = address.split("@", 1)
        suffix = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}•••@{domain[:1]}•••.{suffix}"
    return address[:4] + "•" * max(len(address) - 7, 1) + address[-3:]
