"""Residents stopping a channel: an SMS STOP, a one-click e-mail unsubscribe."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from app.dao import channels as channels_dao
from app.dao.audit import create_audit_event
from app.dao.residents import find_heard_force_ids
from app.extensions import db
from app.models import Resident
from app.services.counters import key_digest
from app.services.text import without_accents
from app.services.timeline import record_stop, record_unsubscribe

# The words carriers and Twilio treat as opting out, and back in; and the Welsh verb
# our Welsh texts use ("Atebwch STOP i stopio": a Welsh STOPIO went to the inbox as a
# message, and texts went on, an outside check), and "opt out" written as two words.
STOP_WORDS = {
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOP ALL", "OPTOUT", "REVOKE",
    "STOPIO", "OPT OUT", "PLEASE STOP", "DIM MWY", "PLS STOP", "PLZ STOP", "STOP IT",
    "NO MORE", "STOPP", "STOPPP", "DIM MWY DIOLCH", "DIM DIOLCH",
    "СТОП",  # Russian, Ukrainian, Bulgarian and Serbian "stop", as it is written there
}  # fmt: skip
START_WORDS = {"START", "UNSTOP", "YES"}
# The words Twilio's own opt-out acts on and answers, the text being that word alone:
# any other way of asking to stop is ours to answer (a STOPIO was answered by nobody,
# and its sender could not tell it had worked: an outside check).
PROVIDER_ANSWERS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOP ALL"}
# Words that stop texts when all that follows them is FILLER ("Stop please",
# "Unsubscribe me", "Stop x", "Stopiwch os gwelwch yn dda"). Not CANCEL, END or QUIT:
# "End of my road is blocked" is a message to the police. "Stopiwch" is the Welsh
# "stop!" as people write it. "Stop! There is a man in my garden" is a message: it
# stopped five residents' texts, and never reached the inbox (a re-check).
STOP_FIRST_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "REVOKE", "STOPIO", "STOPIWCH"}
# Plain words that ask to leave, when all that follows them is FILLER: "Please stop
# sending me these" went to the inbox and the texts went on (an outside check), and
# "Can you stop texting my daughter, it's a scam" or "I don't want these kids hanging
# around" are messages to the police (a re-check: they stopped texts).
STOP_PHRASES = re.compile(
    r"^(?:(?:PLEASE|PLS|PLZ|CAN YOU|COULD YOU|CAN YOU PLEASE|COULD YOU PLEASE|I WANT TO|I WOULD"
    r" LIKE TO|I'D LIKE TO) )?"
    r"(?:STOP (?:SENDING|TEXTING|MESSAGING|CONTACTING)|REMOVE (?:ME|MY NUMBER)|TAKE ME OFF"
    r"|UNSUBSCRIBE|OPT ME OUT|OPT OUT|CANCEL MY (?:ALERTS|TEXTS|MESSAGES|SUBSCRIPTION))\b"
    # No more texts, in any words; I don't want these any more; don't text me again.
    r"|^(?:NO MORE|DIM MWY(?: O)?)"
    r" (?:TEXTS?|MESSAGES?|ALERTS?|NEGESEUON|NEGES|TECSTIAU|RHYBUDDION)\b"
    r"|^I (?:DON'?T|DO NOT) WANT (?:THESE|THEM|THIS|ANY MORE|ANYMORE|YOUR)\b"
    r"|^(?:PLEASE )?(?:DON'?T|DO NOT) (?:TEXT|MESSAGE|CONTACT) (?:ME|US)\b"
    # Welsh: take me off (the list), don't send (messages), unsubscribe.
    r"|^(?:PLIS |OS GWELWCH YN DDA )?(?:TYNNWCH (?:FI|FY RHIF)|PEIDIWCH (?:AG |Â |A )?ANFON"
    r"|PEIDIWCH (?:Â |A )?FY NHECSTIO|DAD ?DANYSGRIFIO)\b"
)
# What may follow a way of asking to stop: thanks, "me", "these texts", "from the
# list", a kiss; in English and Welsh.
FILLER = frozenset(
    """PLEASE PLS PLZ THANKS THANK YOU THX TA CHEERS ME MY NUMBER PHONE THESE THEM THIS IT
    ALL MESSAGES MESSAGE MSGS TEXTS TEXT TXTS ALERTS ALERT NOTIFICATIONS ANY MORE ANYMORE
    NOW AGAIN FROM FOR OFF ON OF TO THE A LIST YOUR SENDING X XX XXX
    OS GWELWCH YN DDA DIOLCH FI ODDI AR Y YR RHESTR NEGESEUON NEGES TECSTIAU RHYBUDDION
    PLIS NAWR ETO""".split()  # noqa: SIM905 (a list of words, read as one)
)
# A text that names stopping or leaving but does not ask it in those words is a
# message, answered with how to stop (replies._answer_help): "Pls stop", "I want to be
# off this", "Dim mwy o'r rhain" had no answer of any kind (an outside check).
MENTIONS_STOP = re.compile(
    r"\b(?:STOP|STOPP|STOPIO|STOPIWCH|UNSUBSCRIBE|OPT|REMOVE|NO MORE|DIM MWY|TYNNWCH"
    r"|PEIDIWCH|DANYSGRIFIO|WRONG NUMBER|NOT INTERESTED|LEAVE ME ALONE|I WANT OUT|NA DIOLCH"
    r"|CANCEL (?:MY |THE )?SUBSCRIPTION)\b"
)
# Capital letters of other alphabets drawn as Latin ones: a STOP typed with some of
# them (the Cyrillic "ЅТОР", a Greek "ΤΟ") reads as it shows.
_LOOK_ALIKES = str.maketrans("АВЕКМНОРСТХУЅІЈΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEKMHOPCTXYSIJABEZHIKMNOPTYX")
# A phone's signature after the words ("Stop\nSent from my iPhone").
_SIGNATURE = re.compile(r"\s*\bSENT FROM MY\b.*$")


def _words(text: str) -> str:
    """The text as words alone: a curly apostrophe is a straight one (an iPhone's "I
    don’t want these any more" was not read: a re-check), punctuation goes, and a
    phone's signature."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = _SIGNATURE.sub("", text)
    return " ".join(re.findall(r"[\w']+", text))


def wants_stop(word: str) -> bool:
    """Whether a text (as replies.word_of gives it) asks to stop texts: STOP and the
    other words alone, or a way of asking followed by nothing but FILLER. "S T O P" and
    "Sto p" are STOP (a short text, its letters alone), and so are "ŚTOP", "Stóp" and
    a Cyrillic "ЅТОР", as they show (an outside check: each was a message, its texts
    going on)."""
    words = _words(word)
    shown = without_accents(words).translate(_LOOK_ALIKES)
    letters = shown.replace(" ", "")
    if {words, word, shown} & STOP_WORDS:
        return True
    if len(words) <= 12 and letters in ("STOP", "STOPIO", "STOPP", "UNSUBSCRIBE"):
        return True
    first, _, rest = words.partition(" ")
    if first in STOP_FIRST_WORDS and set(rest.split()) <= FILLER:
        return True
    phrase = STOP_PHRASES.match(words)
    return phrase is not None and set(words[phrase.end() :].split()) <= FILLER


def wants_start(word: str, number: str) -> bool:
    """Whether a text asks for texts again. YES only from a number that stopped them:
    from anyone else it is an answer ("Seen it? Reply 1 for Yes") and goes on as one."""
    if word == "YES":
        return number_stopped(number)
    return word in START_WORDS


def number_key(number: str) -> str:
    """A number as its STOP is kept whoever holds it (stopped_numbers): keyed with
    SECRET_KEY, not the number itself, which may be nobody's we know."""
    return key_digest(f"stopped:{number}")


def number_stopped(number: str) -> bool:
    """Whether the number texted STOP (or its provider opted it out), and not START."""
    return channels_dao.number_stopped(number, key=number_key(number))


def number_stopped_at(number: str) -> datetime | None:
    """When the number texted STOP, if it has not texted START since."""
    return channels_dao.number_stopped_at(number, key=number_key(number))


def texts_wanted_again(number: str) -> None:
    """A code texted to the number was typed in: it wants texts, as after START (its
    messages take answers again). The caller commits."""
    channels_dao.forget_number_stopped(number, key=number_key(number))


def holders_first(numbers: Iterable[str], channels: tuple[str, ...] = ("sms",)) -> None:
    """Before a provider's opt-out of these numbers touches a message's row, or a text
    from one is filed: their holders' rows, as stop_sms takes them (the message's row
    first met "Delete my details", which takes them the other way round, in a deadlock:
    a review; a text filed under a resident deleted meanwhile was refused: an outside
    check)."""
    if numbers := sorted(set(numbers)):
        channels_dao.lock_holders(numbers, channels)


def stop_sms(from_number: str, *, by_provider: bool = False) -> None:
    """STOP: unsubscribe every SMS channel on that number and cancel what is still
    queued to it. The caller commits (services/replies.py acts on each text once).
    by_provider: the provider refused to text the number because it opted out there
    (a STOP we never saw, sent to another number of the account): the same stop, so
    that nothing more is sent to fail, and START brings texts back as after a STOP."""
    stopped, cancelled = channels_dao.stop_number(from_number, key=number_key(from_number))
    if not (stopped or cancelled):
        # Stopped already (the batch's other texts to it fail too; a STOP sent again,
        # or from a number we do not hold): one record of the stop that did something.
        return
    record_stop(from_number)
    # In the log of each force whose residents' texts it stopped, with that force's
    # own counts: one event in one force, counting another's residents, told its
    # administrator of them, and the other's log had none (an outside check).
    channels: dict[int | None, int] = {}
    for resident_id in stopped:
        for force_id in find_heard_force_ids(resident_id) or [None]:
            channels[force_id] = channels.get(force_id, 0) + 1
    cancelled_by = Counter(cancelled)
    for force_id in sorted(set(channels) | set(cancelled_by), key=lambda f: (f is None, f)):
        create_audit_event(
            "resident.sms_stopped_at_provider" if by_provider else "resident.sms_stopped",
            actor_id=None,
            details={
                "channels": channels.get(force_id, 0),
                "deliveries_cancelled": cancelled_by.get(force_id, 0),
            },
            force_id=force_id,
        )


def start_sms(from_number: str) -> None:
    """START: subscribe the number's SMS channels stopped by a text again (and one a
    link stopped, when the number is its resident's alone: channels_dao.start_number).
    The caller commits."""
    was_stopped = number_stopped(from_number)
    started = channels_dao.start_number(from_number, key=number_key(from_number))
    if started or was_stopped:
        # Not a START from a number that never stopped: it read as a resident taking
        # texts again, and anyone could write them (an outside check).
        create_audit_event("resident.sms_started", actor_id=None, details={"channels": started})


def address_key(address: str) -> str:
    """A short digest of an address, for a link to carry inside its sealed token."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def link_is_current(resident_id: int, channel: str, key: str | None) -> bool:
    """Whether a link carrying `key` (None: made before links carried one) was sent
    to the address the resident's channel has now."""
    return link_state(resident_id, channel, key) == "current"


def link_state(resident_id: int, channel: str, key: str | None) -> str:
    """ "current": the link stops the channel it was sent for; "changed": the channel's
    address is another now; "gone": the resident or the channel has been removed
    (told as "changed", a removed account's old link said its address had changed:
    an outside check)."""
    address = channels_dao.address_of(resident_id, channel)
    if address is None:
        return "gone"
    if key is not None and address_key(address) != key:
        return "changed"
    return "current"


def already_stopped(resident_id: int, channel: str) -> bool:
    """Whether this channel of the resident's is stopped already (a second tap of an
    unsubscribe link: it says so, rather than asking again)."""
    stopped = channels_dao.channel_stopped(resident_id, channel)
    db.session.rollback()
    return stopped


def unsubscribe_channel(
    resident_id: int, channel: str, key: str | None = None, *, how: str | None = None
) -> bool:
    """Stop one channel of one resident. Returns whether anything changed: nothing
    does when `key` is not the channel's address now (a link in a mail to an address
    the resident has since left). `how`, for the audit log, when not by a link."""
    if not link_is_current(resident_id, channel, key):
        return False
    changed = channels_dao.stop_channel(resident_id, channel)
    if changed:
        record_unsubscribe(resident_id, channel)
        # Named by reference, as every other resident event (it named no one).
        reference = db.session.scalar(select(Resident.reference).where(Resident.id == resident_id))
        create_audit_event(
            "resident.unsubscribed",
            actor_id=None,
            subject_type="resident",
            subject_id=str(reference),
            details={"channel": channel} | ({"how": how} if how else {}),
        )
    db.session.commit()
    return changed
