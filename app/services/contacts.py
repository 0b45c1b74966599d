"""Phone numbers and e-mail addresses as residents type them."""

from __future__ import annotations

import re
import unicodedata

import idna
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from flask_babel import get_locale, gettext, lazy_gettext
from phonenumbers import PhoneNumberType

from app.services.text import TextRefused, checked_text, unseen_dropped

# The UK and the Crown Dependencies share +44.
UK_REGIONS = {"GB", "GG", "JE", "IM"}
# Ofcom sets these ranges aside for drama and examples: they never ring anyone. Demo
# and test data use them, so outside production they count as real numbers.
DRAMA_MOBILE = re.compile(r"^\+447700900\d{3}$")
DRAMA_LANDLINE = re.compile(
    r"^\+44(?:1134960|1144960|1154960|1164960|1174960|1184960|1214960|1314960|1414960"
    r"|1514960|1614960|2079460|1914980|2890180|2920180|1632960)\d{3}$"
)
# Domains that never receive mail (RFC 2606 / 6761): demo and test data use them, so
# outside production they count as real addresses.
RESERVED_MAIL_DOMAINS = ("invalid", "test")


class ContactRefused(ValueError):
    """A number or address we cannot use, with a message for the resident; for an
    e-mail address, `detail` is what is wrong with it without the advice around it;
    for a phone number, `problem` names what is wrong (PHONE_PROBLEMS), for words to
    staff (an import's reasons)."""

    detail: str = ""
    problem: str = ""

    def __init__(self, message: str, problem: str = ""):
        super().__init__(message)
        self.problem = problem


# What can be wrong with a phone number (ContactRefused.problem).
PHONE_PROBLEMS = (
    "too_long",
    "characters",
    "missing",
    "not_a_number",
    "extension",
    "letters",
    "not_uk",
    "no_such_start",
    "incomplete",
    "pager",
    "organisation",
    "premium",
    "not_mobile",
    "voip",
    "not_phone",
)


def _characters_checked(text: str | None, label: str, most: int) -> str:
    """The text trimmed, with the invisible formatting characters a paste brings along
    (zero-width spaces, a right-to-left mark) taken out, since a resident cannot see
    them to remove them (they were refused, and a zero-width space alone was asked for
    "some words": an outside check); or ContactRefused naming what is wrong as every
    other field does (checked_text): too long, or a control character such as NUL (the
    sign-up form said "a null character", the other forms "invalid characters:
    U+0000")."""
    # Trimmed first: checked_text refuses a tab anywhere, and a paste's is at an end.
    text = unseen_dropped(text or "").strip()
    try:
        return checked_text(text, label, max_length=most)
    except TextRefused as refusal:
        raise ContactRefused(
            str(refusal), "too_long" if refusal.too_long else "characters"
        ) from None


# The most a phone number or an e-mail address may be, on every form and in imports.
PHONE_LENGTH, EMAIL_LENGTH = 40, 254


# Digits in a UK number after its 0 (or +44): 07700 900123 is 7700 900123.
UK_DIGITS = 10


def normalise_phone(text: str, *, need_mobile: bool, allow_drama: bool = False) -> str:
    """The number in E.164 ("+447700900123"). Raises ContactRefused.

    SMS needs a mobile; a voice call can ring a mobile or a landline. Never one of the
    numbers our texts and calls come from: an officer's mobile or a resident's number
    given as ours sent a code or a test from the number to itself, which the provider
    refuses, with no reason anyone could see (an outside check).
    """
    number = _normalised_phone(text, need_mobile=need_mobile, allow_drama=allow_drama)
    if has_app_context() and number in _our_numbers():
        raise ContactRefused(
            gettext("That is the number our texts and calls come from: give your own number."),
            "ours",
        )
    return number


def crown_dependency(e164: str) -> bool:
    """Whether a +44 number is Jersey's, Guernsey's or the Isle of Man's: sign-up takes
    them, and Twilio bills a text to them as one abroad.

    >>> crown_dependency("+447797712345"), crown_dependency("+447911123456")
    (True, True)
    >>> crown_dependency("+447400123456"), crown_dependency("+447700900123")
    (False, False)
    """
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    return region in UK_REGIONS - {"GB"}


def _our_numbers() -> set[str]:
    config = current_app.config
    given = (
        f"{config.get('TWILIO_FROM_NUMBER') or ''},{config.get('TWILIO_VOICE_FROM_NUMBER') or ''}"
    )
    return {n.strip() for n in given.split(",")} - {""}


def _normalised_phone(text: str, *, need_mobile: bool, allow_drama: bool = False) -> str:
    text = _characters_checked(text, gettext("The phone number"), PHONE_LENGTH)
    if not text:
        raise ContactRefused(gettext("Enter a phone number, for example 07700 900123."), "missing")
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        raise ContactRefused(
            gettext("Enter a UK phone number, like 07700 900123 or 0117 496 0123."), "not_a_number"
        ) from None
    if number.extension or re.search(r"(?i)\bext|[x#;]", text):
        # A text or an automated call cannot dial an extension: dropping it would
        # reach a switchboard, not the resident.
        raise ContactRefused(
            gettext(
                "Give a direct number without an extension (such as 'ext 5', 'x5' or "
                "'#5'): texts and automated calls cannot dial extensions."
            ),
            "extension",
        )
    if re.search(r"[A-Za-z]", text):
        raise ContactRefused(
            gettext("Enter the phone number in digits, like 07700 900123."), "letters"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if allow_drama and DRAMA_MOBILE.match(e164):
        return e164
    if allow_drama and DRAMA_LANDLINE.match(e164):
        if need_mobile:
            raise ContactRefused(
                gettext("Texts can only go to a mobile number, starting 07."), "not_mobile"
            )
        return e164
    valid = phonenumbers.is_valid_number(number)
    # Another country's code, whole or not: "No UK number starts like that" or "not a
    # complete UK phone number" said of +1 268 555 0100 or +882 1234 5678 told the
    # resident to check digits (an outside check).
    abroad = number.country_code != phonenumbers.country_code_for_region("GB")
    if abroad or (valid and phonenumbers.region_code_for_number(number) not in UK_REGIONS):
        raise ContactRefused(gettext("We can only send to UK phone numbers."), "not_uk")
    if not valid and len(phonenumbers.national_significant_number(number)) == UK_DIGITS:
        # As many digits as a UK number has, but none is given out that starts so
        # (07911 9…): counting the digits again would not help.
        raise ContactRefused(
            gettext(
                "No UK phone number starts like that. Check each digit against the "
                "number as you would dial it, for example 07700 900123."
            ),
            "no_such_start",
        )
    if not valid:
        raise ContactRefused(
            gettext("That is not a complete UK phone number. Check the number of digits."),
            "incomplete",
        )
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.PAGER:
        raise ContactRefused(
            gettext("We can't send to pagers (076 numbers). Give a mobile or a home landline."),
            "pager",
        )
    if kind == PhoneNumberType.UAN:
        # 03 and 055 numbers cost what a landline does, but reach an organisation, not
        # a home (they were called "premium-rate, personal or shared-cost", and a 055
        # number "an 03 number or a pager": outside probes).
        start = "0" + phonenumbers.national_significant_number(number)[:2]
        raise ContactRefused(
            gettext(
                "We can't send to %(start)s numbers: they reach an organisation, not a "
                "home. Give a mobile or a home landline.",
                start="03" if start.startswith("03") else start,
            ),
            "organisation",
        )
    if kind in (
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.SHARED_COST,
    ):
        raise ContactRefused(
            gettext(
                "We can't send to premium-rate, personal or shared-cost numbers. "
                "Give a mobile or a home landline."
            ),
            "premium",
        )
    if kind == PhoneNumberType.VOIP:
        # Said as what it is: it read "Texts can only go to a mobile" or "Calls can only
        # go to a mobile or a landline" (an outside check).
        raise ContactRefused(
            gettext(
                "We can't send to 056 numbers: they are internet phones. Give a mobile or "
                "a home landline."
            ),
            "voip",
        )
    is_mobile = kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if need_mobile and not is_mobile:
        raise ContactRefused(
            gettext("Texts can only go to a mobile number, starting 07."), "not_mobile"
        )
    if not need_mobile and kind not in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ContactRefused(
            gettext("Calls can only go to a mobile or a landline number."), "not_phone"
        )
    return e164


JOINERS = "\u200c\u200d"


def _with_its_joiners(checked: str, typed: str | None) -> str:
    """The address with its domain's joiners as typed, where the name needs them
    (IDNA2008 allows a zero-width non-joiner in Persian words): one was dropped as a
    paste's, and the address became another domain's (a review). `email-validator`
    then refuses such a name as unsafe, saying why. A joiner the name cannot have
    (pasted into a Latin one) stays dropped.

    >>> _with_its_joiners("ali@\u0645\u06cc\u062e.ir", "ali@\u0645\u06cc\u200c\u062e.ir")
    'ali@\u0645\u06cc\u200c\u062e.ir'
    >>> _with_its_joiners("sam@example.com", "sam@exa\u200cmple.com")
    'sam@example.com'
    >>> _with_its_joiners("a@\u0645\u06cc\u062e.ir", "a@\u0645\u06cc\u200c\u062e.ir\u200c")
    'a@\u0645\u06cc\u200c\u062e.ir'
    """
    domain = (typed or "").strip().rpartition("@")[2]
    if "@" not in checked or not any(joiner in domain for joiner in JOINERS):
        return checked
    domain = "".join(c for c in domain if c in JOINERS or unicodedata.category(c) != "Cf")
    # None is needed at either end, nor the space a paste left before one there ("sam@
    # example.com " and a joiner was refused for the space: a review).
    while domain != (trimmed := domain.strip().strip(JOINERS)):
        domain = trimmed
    # Label by label: one stray joiner elsewhere dropped the one a name needed too (a
    # review).
    return checked.rpartition("@")[0] + "@" + ".".join(map(_label_as_needed, domain.split(".")))


def _label_as_needed(label: str) -> str:
    """A domain's label with its joiners when one of them is where a name may have one
    (IDNA2008's context rules: after a virama, or between joining letters), for
    email-validator to refuse, saying why; else without them (pasted into a name that
    cannot have one, an accented Latin one too). Dropped from a name that needs one,
    with a stray one beside it, the address became another domain's (a review); kept
    in "münchen" after its n, it was refused for a character nobody sees (a review).

    >>> _label_as_needed("exa\u200cmple"), _label_as_needed("m\u00fcn\u200cchen")
    ('example', 'm\u00fcnchen')
    >>> _label_as_needed("\u0645\u06cc\u200c\u062e\u200c")
    '\u0645\u06cc\u200c\u062e\u200c'
    >>> _label_as_needed("A\u0928\u092e\u0938\u094d\u200d\u0924\u0947")
    'A\u0928\u092e\u0938\u094d\u200d\u0924\u0947'
    """
    # Asked of the name as email-validator reads it (UTS46: lower case, narrow forms,
    # NFC): asked of the name as typed, a capital or a full-width digit beside the
    # joiner made it fail for that other character, the joiner was dropped, and the
    # address became another domain's (a review).
    try:
        mapped = idna.uts46_remap(label, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError):
        return label  # refused by email-validator for that other character
    if any(c in JOINERS and idna.valid_contextj(mapped, at) for at, c in enumerate(mapped)):
        return label
    return "".join(c for c in label if c not in JOINERS)


def normalise_email(text: str, *, allow_reserved: bool | None = None) -> str:
    """The one address, checked by `email-validator` (syntax only, no DNS): in lower
    case, and its domain in ASCII (IDNA), as it goes in the SMTP envelope. Lower case
    throughout: mail services take "Jo.Smith@" and "jo.smith@" for one mailbox, and a
    send makes one message per address (two residents typing it two ways had two of
    each alert; migration 0063 made those kept before so). Raises
    ContactRefused, naming the problem (a comma or semicolon before the @ would
    otherwise split one address into several recipients)."""
    typed = text
    text = _characters_checked(text, gettext("The e-mail address"), EMAIL_LENGTH)
    if not text:
        raise ContactRefused(gettext("Enter an e-mail address, like name@example.com."))
    text = _with_its_joiners(text, typed)
    if allow_reserved is None:
        allow_reserved = has_app_context() and current_app.config["ENV_NAME"] != "production"
    tld = text.rsplit(".", 1)[-1]
    reserved = allow_reserved and "@" in text and tld.lower() in RESERVED_MAIL_DOMAINS
    try:
        checked = validate_email(
            # email-validator refuses reserved names outright: check the same syntax
            # under a stand-in name, and keep the reserved one.
            text[: -len(tld)] + "example" if reserved else text,
            check_deliverability=False,
            allow_smtputf8=False,  # mail servers may not take UTF-8 local parts
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as error:
        why = _why_not(str(error))
        refusal = ContactRefused(
            gettext(
                "That e-mail address can't be used. %(why)s Enter it like name@example.com.",
                why=why,
            )
        )
        refusal.detail = why
        raise refusal from None
    address = checked.ascii_email or checked.normalized
    if reserved:
        address = address[: -len("example")] + tld
    return address.lower()


# email-validator's reasons (English) on pages in another language: the common ones by
# their words; any other is left out there.
_EMAIL_REASONS = (
    ("must have an @-sign", lazy_gettext("An e-mail address has an @ in it.")),
    ("something after the @-sign", lazy_gettext("There must be something after the @.")),
    ("something before the @-sign", lazy_gettext("There must be something before the @.")),
    ("It should have a period", lazy_gettext("The part after the @ needs a full stop.")),
    ("invalid characters", lazy_gettext("It has a character an e-mail address cannot have.")),
    ("two periods in a row", lazy_gettext("It has two full stops in a row.")),
    ("start with a period", lazy_gettext("It cannot start with a full stop.")),
    ("end with a period", lazy_gettext("It cannot end with a full stop.")),
    (
        "period immediately before the @-sign",
        lazy_gettext("It cannot have a full stop just before the @."),
    ),
    (
        "Internationalized characters before the @-sign",
        lazy_gettext("Before the @ it can only have letters a to z, digits and . _ + -"),
    ),
)


# A name that needs a joiner (a Persian or Indian one): the library's own words named
# a character the resident never saw, and asked for the address again (an outside
# check), which cannot help.
_JOINER_NEEDED = lazy_gettext(
    "The part after the @ needs an invisible joining character, as some Persian and "
    "Indian names do, and we cannot send to such a name. Give another e-mail address."
)


def _why_not(reason: str) -> str:
    if "unsafe characters" in reason and "JOINER" in reason:
        return str(_JOINER_NEEDED)
    locale = get_locale()
    if locale is None or locale.language == "en":
        # Its own words name the very character; in our spelling of "e-mail".
        return reason.replace("email", "e-mail").replace("Email", "E-mail")
    for words, said in _EMAIL_REASONS:
        if words in reason:
            return str(said)
    return ""


# The end of an address's domain as it is shown: a top-level domain (or its punycode).
_DOMAIN_END = re.compile(r"[A-Za-z0-9-]{1,24}")


def mask_address(address: str) -> str:
    """Enough of an address to recognise it, not enough to use it.

    >>> mask_address("+447700900123"), mask_address("sam.jones@example.invalid")
    ('+447••••••123', 's•••@e•••.invalid')
    """
    if "@" in address:
        local, domain = address.split("@", 1)
        suffix = domain.rsplit(".", 1)[-1]
        if not _DOMAIN_END.fullmatch(suffix):
            # Not an address's end: anything after a line break or a space, another
            # address even ("x@example.invalid\nBcc: y@z"), was shown whole (an
            # outside check, an import's rejected row).
            suffix = "•••"
        return f"{local[:1]}•••@{domain[:1]}•••.{suffix}"
    return address[:4] + "•" * max(len(address) - 7, 1) + address[-3:]
