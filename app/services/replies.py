"""Residents answer back: texts to our number, keys pressed in a call.

A text is matched to the latest alert message sent to its number (REPLY_WINDOW_HOURS).
STOP and START keep their meaning (services/optout.py); HELP is answered at once; an
option of the alert's quick question is counted; OK (or 1) confirms receipt when the
alert asks for it; anything else goes to the officers' inbox. Replies are personal
data: numbers are masked on every page, every view is audited, and they follow the
retention rules.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
import unicodedata
import uuid

from flask import current_app
from flask_babel import gettext
from phonenumbers import NumberParseException
from redis.exceptions import RedisError

from app.dao import replies as replies_dao
from app.dao.audit import create_audit_event
from app.dao.events import create_provider_event
from app.dao.locks import lock_until_commit
from app.dao.residents import find_heard_force_ids
from app.extensions import db
from app.i18n import current
from app.models import Alert, Reply, Resident
from app.services import authorisation, forces, message_text, notices, optout
from app.services.contacts import (
    ContactRefused,
    crown_dependency,
    mask_address,
    normalise_phone,
)
from app.services.suppression import Group, fewer_than_or_protecting, suppress
from app.services.text import (
    BLANK_GLYPHS,
    TextRefused,
    checked_text,
    clean_text,
    shows_something,
    whole_number,
)
from app.services.verification import allow_per_hour

# ASCII digits: a Unicode one was kept, and texted. No "+440": a UK number written
# with its 0 is no number a network sends from, and one was kept and texted as typed.
E164 = re.compile(r"\+(?!440)[1-9][0-9]{6,14}")
MAX_REPLY_LENGTH = 1600  # Twilio joins a long text into at most 1,600 characters
CONFIRM_WORDS = {"OK", "OKAY", "CONFIRM", "RECEIVED", "GOT IT"}
# Saved answers an officer can send with one tap, in English and Welsh: each goes in
# the language of whoever holds the number (in English alone, a Welsh speaker got
# English with a Welsh signature: an outside check). A force may add its own.
SAVED_ANSWERS = (
    (
        "Thank you. We have passed this to the local team.",
        "Diolch. Rydyn ni wedi rhoi hyn i'r tîm lleol.",
    ),
    (
        "Thank you for letting us know. If you see anything else, call 101.",
        "Diolch am roi gwybod i ni. Os gwelwch chi unrhyw beth arall, ffoniwch 101.",
    ),
    (
        "If someone is in danger or a crime is happening now, call 999.",
        "Os oes rhywun mewn perygl neu os oes trosedd yn digwydd nawr, ffoniwch 999.",
    ),
)
# What an officer may send in answer: two text parts at most.
MAX_ANSWER_LENGTH = 306
# The same words answered to a number again within this long are the answer sent.
ANSWER_REPEAT_SECONDS = 120


class ReplyRefused(ValueError):
    """A request we cannot act on, with a message a person can act on; `about_words`:
    what was written is at fault (the page shows it again to fix), not the reply."""

    def __init__(self, message: str, *, about_words: bool = False):
        super().__init__(message)
        self.about_words = about_words


def word_of(body: str) -> str:
    """The reply as one upper-case word or phrase, as phones and people vary it:
    ' ok. ' -> 'OK', '1)' -> '1', '“Stop” 🙏' -> 'STOP', full-width 'ＳＴＯＰ' -> 'STOP',
    and no invisible characters (a zero-width space after a word, a Hangul filler:
    "\u3164STOP" was a message to the inbox)."""
    text = unicodedata.normalize("NFKC", body or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ch not in BLANK_GLYPHS)
    return _ENDS.sub("", " ".join(text.upper().split()))


# What a reply may begin and end with around its words: punctuation, quotes, emoji.
_ENDS = re.compile(r"^[\W_]+|[\W_]+$")


def option_chosen(word: str, options: int) -> int | None:
    """The option a reply picks: its number alone, or first ("2 no"), 1..options."""
    match = re.fullmatch(r"(\d{1,2})(?:[\s.,:;)-].*)?", word)
    if match and 1 <= int(match.group(1)) <= options:
        return int(match.group(1))
    return None


def option_named(word: str, labels: list | None) -> int | None:
    """The option whose label a reply gives in words ("Yes" for "1 for Yes")."""
    named = [n for n, label in enumerate(labels or (), 1) if word_of(str(label)) == word]
    return named[0] if word and named else None


def receive_text(from_number: str, body: str, message_sid: str, media: int = 0) -> str:
    """Act on a text sent to our number, once however often it is delivered to us.
    `media`: how many pictures or files came with it (a picture message), which are not
    kept: the inbox says they came. Returns what was done: duplicate, empty, stopped,
    started, help, answer, confirmation or message."""
    if not E164.fullmatch(from_number or ""):
        raise ReplyRefused("From must be a phone number in international format.")
    if not create_provider_event(f"inbound:{message_sid}"):
        db.session.rollback()
        return "duplicate"
    # What a phone sent, without control characters (U+0001 and an escape sequence
    # reached the inbox as typed: an outside check); it cannot be refused to a phone.
    body = clean_text((body or "")[:MAX_REPLY_LENGTH], multiline=True)
    word = word_of(body)
    if not media and not shows_something(body):
        # An empty text (or one of nothing but control characters, blank glyphs such
        # as a Hangul filler or accents alone): nothing to read, nor to put in the
        # officers' inbox as a blank message, nor to thank (each was: an outside check).
        db.session.commit()
        return "empty"
    if media:
        # The words alone are read as STOP or an answer; the inbox also says what
        # else came, so that a picture sent with no words is not an empty message.
        came = "1 picture or file" if media == 1 else f"{media} pictures or files"
        body = f"{body}\n[{came} sent with this text, not kept here.]".strip()
    if optout.wants_stop(word):
        optout.stop_sms(from_number)
        db.session.commit()
        return "stopped"
    if optout.wants_start(word, from_number):
        optout.start_sms(from_number)
        db.session.commit()
        return "started"
    # Its holders as they are now, kept till it is filed: read before "Delete my
    # details" was done, the text was filed under a resident gone, refused, and lost
    # (an outside check, 6 times in 8).
    optout.holders_first([from_number], ("sms", "voice"))
    hours = current_app.config["REPLY_WINDOW_HOURS"]
    answered = replies_dao.find_answered(from_number, ("sms", "voice"), hours)
    kind, answer = "message", None
    if word in ("HELP", "INFO"):
        kind = "help"
    elif answered is not None and not answered.closed:
        answer = (
            option_chosen(word, answered.question_options)
            or option_named(word, answered.option_labels)
            # "Do" for "Atebwch 1 ar gyfer Do" (a Welsh speaker's question).
            or option_named(word, answered.welsh_labels)
        )
        if answer is not None:
            kind = "answer"
        elif answered.confirm_receipt and (word in CONFIRM_WORDS or word == "1"):
            kind = "confirmation"
    holders = replies_dao.holders_of(from_number, ("sms", "voice"))
    shared = {}
    if len(holders) > 1 and answered is None:
        # Theirs, when those who share it hear from one force: a text from a number two
        # Wiltshire residents share went to Avon and Somerset's inbox (the default
        # force's), and Wiltshire's never saw it.
        shared = {"force_id": _holders_force_and_language(holders)[0].id}
    replies_dao.create_reply(
        provider_ref=message_sid,
        alert_id=answered.alert_id if answered else None,
        delivery_id=answered.delivery_id if answered else None,
        # A number two residents share says nothing of which one wrote.
        resident_id=holders[0] if len(holders) == 1 else None,
        **shared,
        channel="sms",
        address=from_number,
        body=body if kind in ("message", "help") else word,
        kind=kind,
        answer=answer,
        after_close=bool(answered and answered.closed),
        # Texted STOP before, and not START since: a message from it takes no answer
        # either (one from a number nobody holds was answered: a re-check).
        number_stopped_at=optout.number_stopped_at(from_number),
    )
    # HELP, or a message that names stopping without asking it plainly: told how. Any
    # other message: told it came and where to go now, at most once a day a number.
    asks_how = kind == "message" and optout.MENTIONS_STOP.search(word) is not None
    answer_notice = None
    if kind == "help" or asks_how:
        answer_notice = _answer_automatically(from_number, holders, "help")
    elif kind == "message":
        answer_notice = _answer_automatically(from_number, holders, "thanks")
    db.session.commit()
    if answer_notice is not None:
        notices.queue_notices([answer_notice])
    return kind


def stop_answer(from_number: str, body: str) -> str | None:
    """What to answer a text that stopped texts, in the language of the number's
    resident (English if several who share it chose different ones), or None where
    Twilio answers it itself: the word alone as typed, in plain letters ("STOP\u200b"
    and a full-width "ＳＴＯＰ" stop texts here, but Twilio neither answers nor records
    them, so nobody was told: an outside check)."""
    if provider_reads(body) in optout.PROVIDER_ANSWERS:
        return None
    # As every automatic answer: a UK mobile, twice an hour at most (a paid number
    # abroad sending "STOP\u200b" again and again was answered each time: a review).
    try:
        allowed = allow_per_hour("stop-answer", from_number, 2)
    except RedisError:
        allowed = False
    holders = replies_dao.holders_of(from_number, ("sms",))
    if not uk_mobile(from_number, held=bool(holders)) or not allowed:
        db.session.rollback()
        return None
    language = _holders_force_and_language(holders)[1]
    answer = message_text.stopped_text(language or "en")
    db.session.rollback()
    return answer


def provider_reads(body: str) -> str:
    """The text as Twilio's own opt-out reads it: one word, trimmed of spaces and
    punctuation, in any case; nothing else taken away.

    >>> provider_reads(" stop. "), provider_reads("STOP\u200b"), provider_reads("ＳＴＯＰ")
    ('STOP', 'STOP\\u200b', 'ＳＴＯＰ')
    """
    return (body or "").strip(string.whitespace + string.punctuation).upper()


# The automatic answers: HELP's (who we are, how to stop) at most twice an hour a
# number; a message's thanks (it came; 101 and 999) at most once a day a number, and
# not to a number that texted STOP (the provider refuses it until START).
_ANSWER_LIMITS = {"help": ("help-answer", 2, 3600), "thanks": ("thanks-answer", 1, 86400)}


def answerable(number: str, holders: list[int]) -> bool:
    """Whether an automatic answer may go to a number that texted us: a UK mobile we
    could send texts to (its 101 and 999 are for it, and a text to any number that texts
    us is a cost anyone could run up with paid numbers abroad: HELP was answered in the
    US, France, China and Nigeria, the thanks on a premium-rate number), which has not
    texted STOP (HELP was answered after a STOP Twilio never saw: outside checks)."""
    return uk_mobile(number, held=bool(holders)) and not optout.number_stopped(number)


def _abroad(number: str) -> bool:
    """Whether an answer to this number is a text abroad: outside the UK, or Jersey's,
    Guernsey's or the Isle of Man's, which Twilio bills so (their +44 hid it: a
    review)."""
    if not number.startswith("+44"):
        return True
    try:
        return crown_dependency(number)
    except NumberParseException:
        return False


def uk_mobile(number: str, *, held: bool = False) -> bool:
    """Whether a number is a UK mobile we could send texts to (the sign-up's rules); a
    Jersey, Guernsey or Isle of Man one only when a registration holds it: Twilio bills
    those as texts abroad, and anyone could run up that cost with numbers of their own
    (an outside check)."""
    try:
        e164 = normalise_phone(
            number,
            need_mobile=True,
            allow_drama=current_app.config["ENV_NAME"] != "production",
        )
    except ContactRefused:
        return False
    return held or not crown_dependency(e164)


def _answer_automatically(number: str, holders: list[int], kind: str) -> int | None:
    """Answer HELP or a message to the police, by the resident's force, in their
    language (a number several share is answered as the installation)."""
    if not answerable(number, holders):
        return None
    limit_name, most, seconds = _ANSWER_LIMITS[kind]
    try:
        allowed = allow_per_hour(limit_name, number, most, seconds=seconds)
    except RedisError:
        allowed = False
    if not allowed:
        return None
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    force, language = _holders_force_and_language(holders)
    site = base if force.is_default else f"{base}/forces/{force.slug}"  # its own pages
    resident = db.session.get(Resident, holders[0]) if len(holders) == 1 else None
    with forces.speaking_for(force.id):
        if kind == "thanks":
            words = message_text.thanks_text(language=language)
        else:
            words = message_text.help_text(
                force=forces.display_name(force, "en"), site=site, language=language
            )
    notice = notices.create_notice(
        resident_id=resident.id if resident is not None else None,
        kind=kind,
        channel="sms",
        address=number,
        body=words,
    )
    db.session.flush()
    return notice.id


def _holders_force_and_language(holders: list[int]) -> tuple:
    """The force and language a number's holders hear in: the resident's when it is
    one resident's (an outside check: a Wiltshire resident was answered by Avon and
    Somerset, a Welsh one in English), those its holders share when several hold it,
    else the installation's (its default force, and English)."""
    firsts, languages = set(), set()
    for resident_id in holders:
        heard = find_heard_force_ids(resident_id)
        firsts.add(heard[0] if heard else None)
        resident = db.session.get(Resident, resident_id)
        languages.add(resident.language if resident is not None else None)
    (first,) = firsts if len(firsts) == 1 else {None}
    force = forces.force_by_id(first) if first is not None else forces.default_force()
    (language,) = languages if len(languages) == 1 else {None}
    return force, language


def receive_keys(delivery_id: int, call_sid: str, digits: str) -> str:
    """Keys pressed at the end of an alert's call (Twilio's <Gather>): an option of its
    question, 1 to confirm receipt, or 9 to stop calls to the number. Returns what was
    recorded ("kept" when the alert has closed, or "ignored")."""
    digits = (digits or "").strip()
    answered = replies_dao.find_delivery_answered(delivery_id)
    # Keys are 0-9 only (\d would take "١" and "１" too).
    if answered is None or answered.channel != "voice" or not re.fullmatch(r"[0-9]{1,2}", digits):
        return "ignored"
    if digits == message_text.STOP_KEY:
        # Whoever answers that phone: every resident's calls to it stop, as STOP does
        # for a mobile's texts (each audited as an unsubscribe).
        key = optout.address_key(answered.address)
        holders = replies_dao.holders_of(answered.address, ("voice",), unproven_too=True)
        for resident_id in holders:
            optout.unsubscribe_channel(resident_id, "voice", key, how="pressed 9 on a call")
        return "stopped"
    answer = option_chosen(digits, answered.question_options)
    if answer is not None:
        kind = "answer"
    elif answered.confirm_receipt and digits == "1":
        kind = "confirmation"
    else:
        return "ignored"
    created = _record_answer(answered, f"{call_sid}:keys:{digits}", digits, kind, answer)
    if answered.closed:
        # Kept, not counted, as a text after it closed is: "Thank you for your answer"
        # was said of an answer to an alert taken down (an outside check).
        return "kept"
    return kind if created else "duplicate"


def caller_language(delivery_id: int) -> str:
    """The language of the resident a call went to ("en" when not known)."""
    return replies_dao.language_of_delivery(delivery_id) or "en"


def question_for(delivery_id: int) -> dict | None:
    """What an e-mail's answer link shows: the alert's title, question and options."""
    answered = replies_dao.find_delivery_answered(delivery_id)
    if answered is None or answered.channel != "email":
        return None
    alert = db.session.get(Alert, answered.alert_id)
    # Its Welsh title on a Welsh page, when the officer wrote one; each marked with
    # its language (a Welsh resident's link opened in English, its title unmarked).
    welsh = current() == "cy" and alert.title_cy and alert.body_cy
    written = "cy" if alert.language == "cy" else "en-GB"
    # The Welsh question and answers on a Welsh page, when the officer wrote them.
    welsh_asked = welsh and alert.question_cy and alert.answer_options_cy
    question, options = (
        (alert.question_cy, alert.answer_options_cy)
        if welsh_asked
        else (alert.question, alert.answer_options)
    )
    return {
        "title": alert.title_cy if welsh else alert.title,
        "title_lang": "cy" if welsh else written,
        "lang": "cy" if welsh_asked else written,  # the question's and its answers'
        "question": question if options else None,
        "options": list(enumerate(options or [], start=1)),
        "confirm": alert.confirm_receipt,
        # What was given on this link before, said on the page: a reload of the thanks
        # showed the question again, as if the answer had not gone (an outside check).
        # Both, when both were given: after "I got this message" the answer given
        # before went unsaid, though it counts (an outside check).
        "given": replies_dao.web_answers_given(delivery_id),
        "closed": answered.closed,
        "force_id": alert.force_id,  # whose page it is
        # Its page taken down (a missing person found): the link names it no more.
        "taken_down": alert.taken_down_at is not None,
    }


def _taken_down(alert_id: int) -> bool:
    alert = db.session.get(Alert, alert_id)
    return alert is None or alert.taken_down_at is not None


def receive_web_answer(delivery_id: int, choice: str) -> str:
    """An answer (an option's number, or "confirm") from an e-mail's link; the latest
    answer counts."""
    answered = replies_dao.find_delivery_answered(delivery_id)
    if answered is None or answered.channel != "email" or _taken_down(answered.alert_id):
        raise ReplyRefused(gettext("This link is not valid any more."))
    # The button's own value: "1" and nothing else ("١", "１" and "1\n2" were answer 1:
    # an outside check).
    number = whole_number(choice)
    if number is not None and choice != str(number):
        number = None  # "01" is no button's value
    answer = number if number is not None and 1 <= number <= answered.question_options else None
    if answer is not None:
        kind = "answer"
    elif choice == "confirm" and answered.confirm_receipt:
        kind = "confirmation"
    else:
        raise ReplyRefused(gettext("Choose one of the answers shown."))
    # Each press is its own answer: the latest counts, so changing back counts too. The
    # same as the latest again adds nothing, and a link answers at most
    # WEB_ANSWERS_AN_HOUR times an hour (each post was a row, without end: the same).
    # One press at a time for a message: four at once made two rows (an outside check).
    lock_until_commit(db.session, f"web-answer:{delivery_id}")
    if replies_dao.latest_web_answer(delivery_id) == (kind, answer):
        db.session.rollback()
        return kind
    try:
        allowed = allow_per_hour("web-answer", str(delivery_id), WEB_ANSWERS_AN_HOUR)
    except RedisError:
        allowed = True  # an answer is not refused because Redis could not be asked
    if not allowed:
        db.session.rollback()
        raise ReplyRefused(
            gettext("You have answered many times in the last hour: your latest answer counts.")
        )
    _record_answer(answered, f"web:{delivery_id}:{uuid.uuid4().hex}", choice, kind, answer)
    return kind


# How often an e-mail's answer link may change its answer in an hour.
WEB_ANSWERS_AN_HOUR = 20


def _record_answer(answered, provider_ref: str, body: str, kind: str, answer: int | None):
    """An answer given on the message itself (keys in its call, its e-mail's link),
    so from its resident; committed. Its id, or None when recorded before."""
    created = replies_dao.create_reply(
        provider_ref=provider_ref,
        alert_id=answered.alert_id,
        delivery_id=answered.delivery_id,
        resident_id=answered.resident_id,
        channel=answered.channel,
        address=answered.address,
        body=body,
        kind=kind,
        answer=answer,
        after_close=answered.closed,
    )
    db.session.commit()
    return created


# --- the officers' side -------------------------------------------------------------


def read_inbox(officer, *, alert_id: int | None = None, before_id: int | None = None) -> dict:
    """The newest messages (for one alert, or those of the alerts the officer may see,
    and texts to none), marked read by this view, and the view audited: who looked at
    which replies. A team's officer read and answered another team's residents here,
    whose replies its alert's page refused them (an outside check)."""
    visible = None if alert_id is not None else authorisation.list_filter(officer, "inbox")
    items = replies_dao.inbox(alert_id=alert_id, limit=50, before_id=before_id, visible=visible)
    unread = [reply.id for reply in items if reply.read_at is None]
    # The language an answer goes in: its number's holders', as answer_reply sends it
    # (the reply's own resident's showed Welsh buttons where English went to a number
    # two residents share, and English where its holders all chose Welsh: an outside
    # check).
    welsh = replies_dao.numbers_welsh_alone({r.address for r in items if r.channel == "sms"})
    shown = [
        {
            "id": reply.id,
            "received_at": reply.received_at,
            "from": mask_address(reply.address),
            "resident": reply.resident_id is not None,
            # Answered in their language if the officer can: our words around it are.
            "welsh": reply.address in welsh,
            # An answer to a number abroad costs more, and the masked number hid that
            # (an outside check): said beside it.
            "abroad": _abroad(reply.address),
            "body": reply.body or "",
            "alert_id": reply.alert_id,
            "after_close": reply.after_close,
            "new": reply.read_at is None,
            "channel": reply.channel,
        }
        for reply in items
    ]
    replies_dao.mark_read(unread, officer.id)
    create_audit_event(
        "replies.viewed",
        actor_id=officer.id,
        subject_type="alert" if alert_id else "inbox",
        subject_id=alert_id,
        details={"replies": [reply.id for reply in items]},
    )
    db.session.commit()
    return {"replies": shown, "more": len(items) == 50, "unread_now": len(unread)}


def unread_count(alert_id: int | None = None) -> int:
    count = replies_dao.unread_count(alert_id)
    db.session.rollback()
    return count


class Repeated(int):
    """The id of an answer already sent, returned for the same answer again: the page
    says so (it said "Your answer is on its way." of one not sent again: a re-check)."""


def answer_language(address: str) -> str:
    """The language an answer to this number goes in: its holders' ("en" unless every
    one of them chose Welsh)."""
    holders = replies_dao.holders_of(address, ("sms", "voice"))
    return _holders_force_and_language(holders)[1] or "en"


def saved_answer_number(words: str) -> int | None:
    """Which saved answer (from 1) these are the words of, in either language: a page
    from before the saved answers were chosen by number sent the English words."""
    for number, pair in enumerate(SAVED_ANSWERS, start=1):
        if words in pair:
            return number
    return None


def answer_reply(officer, reply_id: int, words: str, *, saved: int | None = None) -> int:
    """Send an officer's answer to the number a reply came from, through the same
    engine and limits as everything else: `words`, or the saved answer numbered
    `saved` (from 1) in the language of whoever holds the number. Returns the
    notice's id."""
    reply = db.session.get(Reply, reply_id)
    if reply is None or reply.kind != "message":
        raise ReplyRefused(gettext("That reply cannot be answered."))
    if reply.alert_id is not None and not authorisation.may(
        officer, "inbox", db.session.get(Alert, reply.alert_id)
    ):
        raise ReplyRefused(gettext("That reply is to another team's alert: that team answers it."))
    if reply.channel != "sms":
        raise ReplyRefused(gettext("Only a text can be answered by text."))
    if reply.number_stopped_at is not None or optout.number_stopped(reply.address):
        # An answer went to a number that had texted STOP (an outside check).
        raise ReplyRefused(
            gettext(
                "This number has texted STOP since: it gets no texts from us, answers "
                "included, unless it texts START."
            )
        )
    # A text from a premium-rate or shared-cost number was kept and could be answered,
    # at its price (an outside check); no resident can register one (a resident's
    # number is theirs to answer, as it was taken).
    uk = reply.address.startswith("+44") and not _abroad(reply.address)
    if uk and reply.resident_id is None and not uk_mobile(reply.address, held=True):
        raise ReplyRefused(
            gettext(
                "We do not text this number: it is not a UK mobile (a premium-rate, "
                "shared-cost or personal number, or a landline)."
            )
        )
    # Signed by the force that answers, in the language of whoever holds the number.
    language = answer_language(reply.address)
    if saved is not None:
        if not 1 <= saved <= len(SAVED_ANSWERS):
            raise ReplyRefused(gettext("Write an answer, or choose a saved one."), about_words=True)
        words = SAVED_ANSWERS[saved - 1][1 if language == "cy" else 0]
    try:
        words = checked_text(
            words, gettext("Your answer"), max_length=MAX_ANSWER_LENGTH, multiline=True
        )
    except TextRefused as refusal:
        raise ReplyRefused(str(refusal), about_words=True) from None
    if not words:
        raise ReplyRefused(gettext("Write an answer, or choose a saved one."), about_words=True)
    with forces.speaking_for(reply.force_id):
        body = message_text.officer_answer_text(words=words, language=language)
    # The same answer again within moments (a double tap, the form sent twice) is the
    # one already sent: six went in five seconds (an outside check). Other words go.
    lock_until_commit(db.session, f"reply-answer:{reply.address}")
    # Known by a keyed digest of the number and words in the audit event: the notice's
    # own text is dropped once it is on its way (it may hold a code), and a second tap
    # after the first answer was delivered, a second later, sent it again (an outside
    # check). The digest says neither to anyone without the secret key.
    said = _answer_digest(reply.address, body)
    earlier = replies_dao.find_recent_answer(said, ANSWER_REPEAT_SECONDS)
    if earlier is not None:
        db.session.commit()
        return Repeated(earlier)
    notice = notices.create_notice(
        resident_id=reply.resident_id,
        kind="officer_answer",
        channel="sms",
        address=reply.address,
        body=body,
        force_id=reply.force_id,  # the force that answers, whoever holds the number
    )
    db.session.flush()
    create_audit_event(
        "reply.answered",
        actor_id=officer.id,
        subject_type="reply",
        subject_id=reply.id,
        details={"notice_id": notice.id, "characters": len(words), "answer": said},
    )
    db.session.commit()
    notices.queue_notices([notice.id])
    return notice.id


def _answer_digest(address: str, body: str) -> str:
    """These words to this number, as a digest keyed by the installation's secret."""
    key = current_app.config["SECRET_KEY"].encode()
    # Spaces as they fall: the same words typed again with one more were sent again (a
    # re-check).
    words = " ".join(body.split())
    return hmac.new(key, f"{address}\n{words}".encode(), hashlib.sha256).hexdigest()[:32]


def answers_of(alert) -> dict:
    """The alert's quick-question answers, by option and by ward, with small counts
    hidden in the ward rows; and confirmation of receipt per channel."""
    options = alert.answer_options or []
    totals = {n: 0 for n in range(1, len(options) + 1)}
    wards: dict[str, dict] = {}
    for ward_code, ward_name, option, count in replies_dao.answer_counts(alert.id):
        totals[option] = totals.get(option, 0) + count
        ward = wards.setdefault(
            ward_code or "", {"name": ward_name or "Ward not known", "counts": {}}
        )
        ward["counts"][option] = count
    k = current_app.config["DENSITY_MIN_COUNT"]
    # A ward is named only beside a count of k or more: named, its answers were at
    # least one, and 2 Yes over two named wards, each hidden, was 1 each (an outside
    # check). The wards not named are one cell per option, never shown.
    named = [code for code, ward in wards.items() if max(ward["counts"].values()) >= k]
    # Each option's total is shown: a ward's small count is hidden with another beside
    # it, so that it cannot be worked out by subtraction (7 said Yes, 5 of them in
    # Central: Ashley's hidden 2 was 7 - 5, an outside check).
    values = {("total", n): total for n, total in totals.items()}
    values |= {(code, n): wards[code]["counts"].get(n, 0) for code in named for n in totals}
    values |= {
        ("unnamed", n): sum(w["counts"].get(n, 0) for c, w in wards.items() if c not in named)
        for n in totals
    }
    # (The wards not named, when some of them chose it: their sum is a cell to keep
    # from being worked out too, as the alert's area may hold one other ward alone.)
    unnamed = {n: (("unnamed", n),) if values[("unnamed", n)] else () for n in totals}
    groups = [Group(("total", n), (*((code, n) for code in named), *unnamed[n])) for n in totals]
    table = suppress(values, groups, k=k)
    # Each total is shown whatever the table would hide: where it would hide one, the
    # option's wards are all hidden with it, as protecting others (its total 1 beside
    # one ward's hidden cell was that cell, and 8 over two hidden wards was 4 and 4: an
    # outside check); with one ward alone, its row would be the totals, and there is no
    # row.
    exposed = [n for n in totals if totals[n] and ("total", n) in table.hidden]
    if exposed and len(wards) == 1:
        named = []
    table = table.hiding_too((code, n) for code in named for n in exposed)
    # What an option's hidden cells hold together is its total less its counts shown:
    # 1 to k - 1 of them, and the wards they are in answered that few (6 Yes, 5 of them
    # in Central: 1 elsewhere, an outside check). Its wards are all hidden then.
    table = table.hiding_too(
        (code, n)
        for n in totals
        if 0 < totals[n] - sum(table.shown((code, n)) or 0 for code in named) < k
        for code in named
    )
    # And a ward left with no count shown of k or more is not named after all (its
    # cells join the wards not named: the sums above are unchanged, as none was shown
    # but a 0).
    named = [code for code in named if any((table.shown((code, n)) or 0) >= k for n in totals)]
    # An option nobody chose is 0 in every ward (its 0 total, shown, says so: each
    # read "fewer than 5": an outside check).
    ward_rows = [
        {
            "name": wards[code]["name"],
            "counts": {n: 0 if not totals[n] else table.shown((code, n)) for n in totals},
        }
        for code in named
    ]
    receipt: dict[str, dict[str, int]] = {}
    if alert.confirm_receipt:
        for channel, state, count in replies_dao.receipt_counts(alert.id):
            receipt.setdefault(channel, {"confirmed": 0, "not_confirmed": 0, "unreachable": 0})[
                state
            ] = count
    return {
        "question": alert.question,
        "options": [{"number": n, "label": options[n - 1], "count": totals[n]} for n in totals],
        "wards": ward_rows,
        # A ward's hidden cell always says it may be one hidden to protect another:
        # "fewer than 5" twice under a total of 8 was 4 each; and said only where no
        # cell protected another, it told that the wards not named had answered (the
        # plain words beside Lawrence Hill's hidden Yes: it was 0, the others 1).
        "hidden_label": fewer_than_or_protecting(k),
        "receipt": receipt,
    }
