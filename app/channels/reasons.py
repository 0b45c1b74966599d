"""Why a provider refused a message, in words that name nobody. A mail server's reply
names its recipient in its own way ("user "zebedee.q" unknown", "mailbox of Zebedee
Quillfeather is full"), and Twilio's message for an error names the number; the ledger
keeps its reasons as long as the alert's figures, after the resident has gone (an
outside check found addresses there after "delete my details"). So a refusal is kept
as its codes and their standard meaning: SMTP's reply code and enhanced status code
(RFC 3463, RFC 7372's for sender authentication), Twilio's error code and its page.
The mail server's own log has its words, for whoever runs it."""

from __future__ import annotations

import re

import phonenumbers

# Twilio's error codes for a number it will never reach, in our words.
TWILIO_CODES = {
    21211: "invalid phone number",
    21214: "number cannot be reached",
    21610: "recipient has replied STOP (opted out)",
    21612: "number cannot receive this message",
    21614: "not a mobile number",
    13224: "invalid phone number for calls",
}
# RFC 3463's subjects (the middle number) and the details people meet most, with RFC
# 7372's e-mail authentication codes and RFC 4954's and RFC 7505's.
SMTP_SUBJECTS = {
    0: "other or undefined status",
    1: "addressing status",
    2: "mailbox status",
    3: "mail system status",
    4: "network and routing status",
    5: "mail delivery protocol status",
    6: "message content or media status",
    7: "security or policy status",
}
SMTP_DETAILS = {
    (1, 1): "bad destination mailbox address",
    (1, 2): "bad destination system address",
    (1, 3): "bad destination mailbox address syntax",
    (1, 4): "destination mailbox address ambiguous",
    (1, 6): "destination mailbox has moved, no forwarding address",
    (1, 7): "bad sender's mailbox address syntax",
    (1, 8): "bad sender's system address",
    (2, 1): "mailbox disabled, not accepting messages",
    (2, 2): "mailbox full",
    (2, 3): "message length exceeds administrative limit",
    (2, 4): "mailing list expansion problem",
    (3, 1): "mail system full",
    (3, 2): "system not accepting network messages",
    (3, 3): "system not capable of selected features",
    (3, 4): "message too big for system",
    (3, 5): "system incorrectly configured",
    (4, 1): "no answer from host",
    (4, 2): "bad connection",
    (4, 3): "directory server failure",
    (4, 4): "unable to route",
    (4, 5): "mail system congestion",
    (4, 6): "routing loop detected",
    (4, 7): "delivery time expired",
    (5, 1): "invalid command",
    (5, 2): "syntax error",
    (5, 3): "too many recipients",
    (5, 4): "invalid command arguments",
    (5, 5): "wrong protocol version",
    (6, 1): "media not supported",
    (6, 2): "conversion required and prohibited",
    (6, 3): "conversion required but not supported",
    (6, 5): "conversion failed",
    (7, 1): "delivery not authorised, message refused",
    (7, 2): "mailing list expansion prohibited",
    (7, 7): "message integrity failure",
    (7, 8): "authentication credentials invalid",
    (7, 9): "authentication mechanism is too weak",
    (7, 11): "encryption required for requested authentication mechanism",
    (7, 13): "user account disabled",
    (7, 20): "no passing DKIM signature found",
    (7, 21): "no acceptable DKIM signature found",
    (7, 22): "no valid author-matched DKIM signature found",
    (7, 23): "SPF validation failed",
    (7, 24): "SPF validation error",
    (7, 25): "reverse DNS validation failed",
    (7, 26): "multiple authentication checks failed",
    (7, 27): "sender address has null MX",
}
# An enhanced status code (class 2, 4 or 5; subject and detail up to three digits), at
# the start of the reply's text as RFC 2034 puts it, or anywhere in it; never part of a
# word or an address the server echoes ("<nosuch-5.7.1@example.com>: user unknown" was
# a 5.7.1, our server refused, and every e-mail waited: a review).
ENHANCED = re.compile(r"(?<![\w.@<-])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.@>-])")


def smtp_policy(code: int, text: str | bytes | None) -> bool:
    """Whether a mail server refused for good on security or policy (enhanced code
    5.7.X: relay access denied, SPF or DKIM failed, authentication required): our
    configuration's, not the recipient's, wherever in the conversation it comes. (A
    4.7.X, such as greylisting, is for now anyway, and about this one message.)

    >>> smtp_policy(554, "5.7.1 Relay access denied"), smtp_policy(550, "5.1.1 unknown")
    (True, False)
    >>> smtp_policy(451, "4.7.1 greylisted, try again later")
    False

    Or said in words by a server that gives no such code, or of our sending quota
    (a review: each failed every e-mail of an alert for good at its first try, as if
    every address were wrong):

    >>> smtp_policy(554, "Relay access denied"), smtp_policy(550, b"Relaying not permitted")
    (True, True)
    >>> smtp_policy(550, "5.4.5 Daily user sending limit exceeded")
    True
    >>> smtp_policy(554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException")
    True
    >>> smtp_policy(550, "5.1.1 <zeb@example.org>: User unknown in relay recipient table")
    False
    >>> smtp_policy(552, "5.2.2 Over quota"), smtp_policy(550, "<relay-denied@example.org>")
    (False, False)
    >>> [smtp_policy(550, words) for words in ("Unable to relay", "We do not relay",
    ...     "Relay rejected for policy reasons", "Email address is not verified.")]
    [True, True, True, True]
    >>> smtp_policy(550, "5.1.1 <zeb@example.org>: relay access denied")  # the mailbox's
    False
    """
    if code < 500:
        return False
    reason = smtp_reason(code, text)
    if reason.startswith((f"SMTP {code} 5.7.", f"SMTP {code} 5.4.5:")):
        return True
    if smtp_quota(code, text):
        return True
    if reason != f"SMTP {code}: refused":
        return False  # a code naming another fault: the words do not overrule it
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return OURS_IN_WORDS.search(text or "") is not None


def smtp_quota(code: int, text: str | bytes | None) -> bool:
    """Whether a mail server refused us for our sending quota or rate (5.4.5, or said
    so in words): our account's, whichever address it names, never a mailbox's own.

    >>> smtp_quota(550, "5.7.1 Sending rate exceeded"), smtp_quota(550, "5.4.5 Daily limit")
    (True, True)
    >>> smtp_quota(552, "5.2.2 Mailbox quota exceeded"), smtp_quota(554, "Relay access denied")
    (False, False)
    """
    if code < 500:
        return False
    if smtp_reason(code, text).startswith(f"SMTP {code} 5.4.5:"):
        return True
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return QUOTA_WORDS.search(text or "") is not None


# Our sending quota or rate, whatever code comes with it; and a refusal of our server
# in words, read only from a server that gives no enhanced code. Never of one address
# ("relay recipient table" is Postfix's unknown user, "over quota" and "mailbox quota
# exceeded" a full mailbox).
QUOTA_WORDS = re.compile(
    r"\bsending (quota|limit|rate)|\bsubmissionquota|\brate limit", re.IGNORECASE
)
OURS_IN_WORDS = re.compile(
    r"\b(unable|not permitted|not allowed) to relay\b|\bdo(es)? not relay\b"
    r"|\brelay(ing)? (access )?(denied|not permitted|not allowed|prohibited|refused|rejected)\b"
    r"|\baddress is not verified\b",
    re.IGNORECASE,
)


def smtp_reason(code: int, text: str | bytes | None) -> str:
    """A mail server's refusal as its codes and their meaning, never its words.

    >>> smtp_reason(550, b"5.1.1 <zeb@example.org>: Recipient address rejected")
    'SMTP 550 5.1.1: bad destination mailbox address'
    >>> smtp_reason(452, "4.2.2 mailbox of Zebedee Quillfeather is full")
    'SMTP 452 4.2.2: mailbox full'
    >>> smtp_reason(550, "2.1.5 is fine, 5.7.23 is not")
    'SMTP 550 5.7.23: SPF validation failed'
    >>> smtp_reason(550, 'user "zebedee.q" unknown'), smtp_reason(421, None)
    ('SMTP 550: refused', 'SMTP 421: refused for now')
    >>> smtp_reason(550, "<nosuch-5.7.1@example.com>: Recipient address rejected")
    'SMTP 550: refused'
    >>> smtp_reason(550, "5.1.1 zeb-5.7.1@example.org unknown; user_5.7.1 too")
    'SMTP 550 5.1.1: bad destination mailbox address'
    """
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    # Its class is the reply's (a "550 2.1.5" names no refusal).
    found = next((m for m in ENHANCED.finditer(text or "") if m.group(1) == str(code)[0]), None)
    refused = "refused" if code >= 500 else "refused for now"
    if found is None:
        return f"SMTP {code}: {refused}"
    subject, detail = int(found.group(2)), int(found.group(3))
    meaning = SMTP_DETAILS.get((subject, detail)) or SMTP_SUBJECTS.get(subject) or refused
    return f"SMTP {code} {found.group(0)}: {meaning}"


# Refusals that are the address's own, whoever gives it (not in use, not a mobile, no
# such mailbox): Twilio's codes when it refuses the request, and in a status callback
# (30005 unknown handset, 30006 a landline or an unreachable network), and a mail
# server's bad mailbox or domain. The confirm page says them (a code text refused so
# left a resident waiting for it: an outside check).
ADDRESS_CODES = {
    21211: "not_in_use",
    21214: "not_in_use",
    13224: "not_in_use",
    30005: "not_in_use",
    21614: "not_a_mobile",
    # "Landline or unreachable carrier": perhaps for now only (a review).
    30006: "landline_or_unreachable",
    # A region our account may not reach, said only of a number that is that region's
    # (Jersey, Guernsey, the Isle of Man): a UK number's is held, never failed so.
    21408: "region",
    21215: "region",
    21606: "region",
}
_TWILIO_CODE = re.compile(r"^Twilio (\d+):|\(Twilio error (\d+)")
_BAD_MAILBOX = re.compile(r"^SMTP 5\d\d 5\.1\.[13]:")
_BAD_DOMAIN = re.compile(r"^SMTP 5\d\d 5\.1\.2:")


def address_refusal(reason: str | None) -> str | None:
    """Whether a refusal is the address's own: "not_in_use", "not_a_mobile",
    "landline_or_unreachable", "region", "no_mailbox", "no_domain", or None.

    >>> address_refusal("Twilio 21614: not a mobile number")
    'not_a_mobile'
    >>> address_refusal("undelivered (Twilio error 30005)")
    'not_in_use'
    >>> address_refusal("SMTP 550 5.1.1: bad destination mailbox address")
    'no_mailbox'
    >>> address_refusal("SMTP 550 5.1.2: bad destination system address")
    'no_domain'
    >>> address_refusal("Twilio 21610: recipient has replied STOP (opted out)") is None
    True
    >>> address_refusal("SMTP 552 5.2.2: mailbox full") is None
    True
    """
    if not reason:
        return None
    if _BAD_MAILBOX.match(reason):
        return "no_mailbox"
    if _BAD_DOMAIN.match(reason):
        return "no_domain"  # said as no such mailbox, it was the name after the @
    found = _TWILIO_CODE.search(reason)
    code = found and (found.group(1) or found.group(2))
    return ADDRESS_CODES.get(int(code)) if code else None


def twilio_reason(code: int | None, status: int, to: str | None = None) -> str:
    """A refusal by Twilio as its error code and our words for it, or the page that
    explains the code: Twilio's own message names the number ("The 'To' number
    +447700900001 is not a valid phone number"). `to`: the number it was sent to.

    >>> twilio_reason(21211, 400)
    'Twilio 21211: invalid phone number'
    >>> twilio_reason(21617, 400), twilio_reason(None, 404)
    ('Twilio 21617: refused (twilio.com/docs/api/errors/21617)', 'Twilio 404: refused')
    >>> twilio_reason(21408, 400, "+447624123456")
    'Twilio 21408: a number of Jersey, Guernsey or the Isle of Man, which we may not text'
    >>> twilio_reason(21606, 400, "+447797123462")
    'Twilio 21606: a number of Jersey, Guernsey or the Isle of Man, which we may not text'
    """
    if code is None:
        return f"Twilio {status}: refused"
    if code in REGION_CODES and to and not twilio_fault_of_ours(code, status, to):
        # The number's region, not our account's permissions: read as ours in the sent
        # report (a review).
        what = "call" if code == 21215 else "text"
        return (
            f"Twilio {code}: a number of Jersey, Guernsey or the Isle of Man,"
            f" which we may not {what}"
        )
    known = TWILIO_CODES.get(code) or TWILIO_ACCOUNT_CODES.get(code)
    return f"Twilio {code}: " + (known or f"refused (twilio.com/docs/api/errors/{code})")


# Twilio's error codes for a fault of our account or sender, not of the recipient: the
# message is refused for now, tried again within the retry window, and may be sent
# again once the account is put right (an outside check: a 401 failed every call of an
# alert for good at its first attempt).
TWILIO_ACCOUNT_CODES = {
    10001: "our account is not active",
    20003: "our account's credentials were refused (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)",
    20005: "our account is not active",
    21212: "our sender number is not valid (TWILIO_FROM_NUMBER)",
    21606: "our sender number cannot send this message (TWILIO_FROM_NUMBER)",
    21659: "our sender is not a Twilio number (TWILIO_FROM_NUMBER)",
    21660: "our sender number is not our account's (TWILIO_FROM_NUMBER)",
    21210: "our caller ID is not verified (TWILIO_FROM_NUMBER)",
    # A region refused for a UK number is our account's geographic permissions, for
    # every resident alike; for a number of Jersey, Guernsey or the Isle of Man (+44,
    # but regions of their own there), that number's alone (twilio_fault_of_ours).
    21408: "our account may not text this region (Twilio's geographic permissions)",
    21215: "our account may not call this region (Twilio's geographic permissions)",
}
# How long every send through a provider waits after it refuses our account or server
# (the worker's hold, as after a Retry-After): a wrong password is not tried once a
# message, a million times in the retry window, which reads as an attack on the mail
# relay and gets the account locked (a review).
OUR_FAULT_HOLD_SECONDS = 60.0


def _region_of(number: str) -> str | None:
    """The region a number is of ("GB", "JE", "GG", "IM"...), or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return None


# Twilio's codes for a region our account may not text or call, and for a destination
# our sender number may not text (21606: Jersey, Guernsey and the Isle of Man are
# destinations of their own there; taken for our sender's fault, one such sign-up held
# every text for minutes: an outside check).
REGION_CODES = frozenset({21408, 21215, 21606})


def twilio_fault_of_ours(code: int | None, status: int, to: str | None = None) -> bool:
    """Whether Twilio refused because of our account or sender (its credentials, its
    standing, its numbers), not the recipient `to`. A region refused for a number of
    Jersey, Guernsey or the Isle of Man is that number's: taken for our account's, one
    sign-up of such a number held every text, an incident's too (an outside check).

    >>> twilio_fault_of_ours(20003, 401), twilio_fault_of_ours(None, 403)
    (True, True)
    >>> twilio_fault_of_ours(21211, 400), twilio_fault_of_ours(21614, 400)
    (False, False)
    >>> twilio_fault_of_ours(21408, 400, "+447700900123")
    True
    >>> twilio_fault_of_ours(21408, 400, "+447624123456")  # the Isle of Man
    False
    >>> twilio_fault_of_ours(21606, 400, "+447797123462"), twilio_fault_of_ours(21606, 400)
    (False, True)
    """
    if code in REGION_CODES and to and _region_of(to) not in (None, "GB"):
        return False
    if code in TWILIO_ACCOUNT_CODES:
        return True
    return status in (401, 403) and code not in TWILIO_CODES


# A reason the ledger kept before this module: the provider's words after its code,
# perhaps after the engine's "gave up after 12 attempts: " (a refusal for now, to the end).
_KEPT = re.compile(r"(gave up after \d+ attempts?: )?(SMTP|Twilio) (\d+): (.*)", re.DOTALL)
# What the engine itself wrote after a Twilio HTTP status with no error code.
_TWILIO_OWN_WORDS = ("try again", "it may have taken it; asking Twilio", "refused")


def rewritten(reason: str) -> str:
    """A reason as the ledger keeps it now, from one it kept before (migration 0057):
    an SMTP or Twilio refusal loses the provider's words; any other is as it was.

    >>> rewritten("SMTP 550: 5.2.2 <ann@example.invalid> mailbox full")
    'SMTP 550 5.2.2: mailbox full'
    >>> rewritten("gave up after 12 attempts: SMTP 450: 4.1.1 <zeb@example.org>: unknown")
    'gave up after 12 attempts: SMTP 450 4.1.1: bad destination mailbox address'
    >>> rewritten("Twilio 21614: The number +447700900001 is not a mobile")
    'Twilio 21614: not a mobile number'
    >>> rewritten("Twilio 404: The requested resource /2010-04-01/Accounts/AC1/+4477 was not found")
    'Twilio 404: refused'
    >>> rewritten("Twilio 503: try again"), rewritten("not sent in time")
    ('Twilio 503: try again', 'not sent in time')
    """
    found = _KEPT.fullmatch(reason)
    if found is None:
        return reason
    gave_up, provider, code, words = (
        found.group(1) or "",
        found.group(2),
        int(found.group(3)),
        found.group(4),
    )
    if provider == "SMTP":
        return gave_up + smtp_reason(code, words)
    if code < 1000:  # an HTTP status: only the engine's own words are kept
        return gave_up + f"Twilio {code}: " + (words if words in _TWILIO_OWN_WORDS else "refused")
    return gave_up + twilio_reason(code, 400)
