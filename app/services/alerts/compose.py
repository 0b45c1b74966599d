"""What an alert says: each channel's words as residents will get them, and the checks
on the title, message, category, recording and time to send."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext

from app import references
from app.channels.base import OutgoingMessage
from app.channels.smtp import build_email
from app.extensions import db
from app.models import ALERT_MODES, CATEGORIES, AlertRecording, Officer
from app.services import forces, message_text, optout, replies
from app.services.alerts.drafts import AlertDraft
from app.services.dispatch import sms_reference
from app.services.text import checked_field, clean_text
from app.services.transaction import read_only
from app.services.verification import public_url

MAX_TITLE = 120
MAX_BODY = 1_000
# Far enough ahead for any planned appeal; further is more likely a typo in the year.
MAX_SCHEDULE_DAYS = 30
# A quick question: short enough to fit a text with the alert.
MAX_QUESTION = 100
MAX_OPTIONS = 4
MAX_OPTION = 30


def compose_preview(
    *,
    title: str,
    body: str,
    mode: str = "live",
    recording_id: int | None = None,
    question: str | None = None,
    answer_options: list[str] | None = None,
    confirm_receipt: bool = False,
    reference: str | None = None,
    title_cy: str | None = None,
    body_cy: str | None = None,
    question_cy: str | None = None,
    answer_options_cy: list[str] | None = None,
) -> dict:
    """Each channel's words as residents will get them, the SMS's encoding and
    segments, and what one message costs on each channel. `reference`: the alert's
    public reference; before the alert has one, a stand-in of the same length."""
    config = current_app.config
    reference = reference or references.SAMPLE
    # Words far beyond what an alert may hold are cut before anything is built from
    # them (the send refuses them and says so): folding a 900 KB title into an e-mail
    # subject took a server thread a minute. Cut at four times the limit, so the
    # counters still show by how much a long message is over.
    title, title_cy = title[: 4 * MAX_TITLE], (title_cy or "")[: 4 * MAX_TITLE]
    body, body_cy = body[: 4 * MAX_BODY], (body_cy or "")[: 4 * MAX_BODY]
    question = (question or "")[: 4 * MAX_QUESTION]
    answer_options = [o[: 4 * MAX_OPTION] for o in (answer_options or []) if o.strip()]
    question_cy = (question_cy or "")[: 4 * MAX_QUESTION]
    answer_options_cy = [o[: 4 * MAX_OPTION] for o in (answer_options_cy or []) if o.strip()]
    # The answers as typed too (an invisible character, one too long, two the same, too
    # many): only "Send now" refused them (an outside check).
    refused: dict[str, str] = {}
    refused_answer: dict[str, int] = {}
    if _asks_in_welsh_alone(title, body, title_cy, body_cy, question_cy, answer_options_cy):
        # Its question is the Welsh boxes', and the send drops the English boxes': their
        # answers were refused here (two the same, one too long), and the send went (an
        # outside check).
        question, answer_options = "", []
    _answers_as_typed(refused, answer_options, welsh=False, at=refused_answer)
    _answers_as_typed(refused, answer_options_cy, welsh=True, at=refused_answer)
    # And what the send refuses of a question not finished (one answer, answers with
    # no question, the Welsh short of the English), said at "Send…" but not as it is
    # typed: "Send … now? It asks “Welaist ti?”, with 1 answers." was asked, and only
    # "Send now" refused it (an outside check).
    unfinished = _ask_unfinished(
        AlertDraft(
            title=title,
            body=body,
            title_cy=title_cy or None,
            body_cy=body_cy or None,
            question=question or None,
            answer_options=answer_options or None,
            question_cy=question_cy or None,
            answer_options_cy=answer_options_cy or None,
            confirm_receipt=confirm_receipt,
        )
    )
    answer_options = answer_options[:MAX_OPTIONS]
    answer_options_cy = answer_options_cy[:MAX_OPTIONS]
    force_row = forces.current_force()
    force = force_row.name
    sms_price, voice_price = forces.prices(force_row)
    # What the send will refuse in the words (a tab, a line separator, a right-to-left
    # override), said as they are typed: the preview cleaned them quietly and showed
    # the words as fine, and only "Send now" refused them (an outside check).
    checked_field(refused, "title", title, gettext("The title"))
    checked_field(refused, "body", body, gettext("The message"), multiline=True)
    checked_field(refused, "title_cy", title_cy, gettext("The Welsh title"))
    checked_field(refused, "body_cy", body_cy, gettext("The Welsh message"), multiline=True)
    checked_field(refused, "question", question, gettext("The question"))
    checked_field(refused, "question_cy", question_cy, gettext("The Welsh question"))
    title, body = clean_text(title), clean_text(body, multiline=True)
    mode = mode if mode in ALERT_MODES else "live"
    question = clean_text(question or "") or None
    options = [clean_text(o) for o in answer_options or [] if clean_text(o)] or None
    question_cy = clean_text(question_cy or "") or None
    options_cy = [clean_text(o) for o in answer_options_cy or [] if clean_text(o)] or None
    title_cy, body_cy = clean_text(title_cy or ""), clean_text(body_cy or "", multiline=True)
    written_in = "en"
    if not title and not body and title_cy and body_cy:  # written in Welsh only
        title, body, title_cy, body_cy = title_cy, body_cy, "", ""
        written_in = "cy"
        if question_cy or options_cy:  # its question in the Welsh boxes: everyone's
            question, options = question_cy, options_cy
        elif question or options:
            refused.setdefault("question", _english_ask_of_welsh_only())
    elif question_cy or options_cy:
        # What the send refuses of a Welsh question, said as it is typed: the preview
        # dropped it quietly, and only "Send now" refused it (an outside check).
        if not (title_cy and body_cy):
            refused.setdefault("question_cy", _welsh_ask_without_welsh_words())
        elif not question and not options:
            refused.setdefault("question_cy", _welsh_ask_without_english())
    if not (title_cy and body_cy and question):
        question_cy = options_cy = None
    ask = (question, options if question else None, confirm_receipt)
    welsh_ask = (question_cy, options_cy if question_cy else None)
    # Written in both languages: everyone gets both, their own first. A resident who
    # chose Welsh gets our words in Welsh even when it is in English only ("cy").
    welsh = (title_cy, body_cy) if title_cy and body_cy else None
    texts = {
        first: message_text.sms_text(
            title=title,
            body=body,
            force=force,
            mode=mode,
            ask=message_text.sms_ask(
                *message_text.asked_in(*ask, *welsh_ask, language=first), first
            ),
            reference=sms_reference(reference),
            welsh=welsh,
            welsh_first=first == "cy",
        )
        for first in ("en", "cy")
    }
    sms = texts["en"]
    length = message_text.sms_length(sms)
    # What a resident who chose Welsh gets: our words in Welsh are longer ("ar gyfer"
    # for "for"), and the send refuses by the longer of the two. The counter showed the
    # English alone, within the limit, and "Send now" refused it (a review).
    welsh_speakers = message_text.sms_length(texts["cy"])
    longest = max(length, welsh_speakers, key=lambda measured: (measured.segments, measured.units))
    english_only = length
    if welsh:  # what the Welsh costs, on its own line of the counter
        english_only = message_text.sms_length(
            message_text.sms_text(
                title=title,
                body=body,
                force=force,
                mode=mode,
                ask=message_text.sms_ask(*ask),
                reference=sms_reference(reference),
            )
        )
    # What the phone typed that costs parts, and how many parts plain punctuation takes.
    plain = message_text.plain_punctuation
    plain_sms = plain(sms)
    plain_length = message_text.sms_length(plain_sms) if plain_sms != sms else length
    # And the longer of the two texts made plain, by which the send refuses: the button
    # was pointed at when it brought the English text within the limit and not the
    # Welsh speakers' (a review).
    plain_welsh_first = plain(texts["cy"])
    plain_longest = max(
        plain_length.segments,
        message_text.sms_length(plain_welsh_first).segments
        if plain_welsh_first != texts["cy"]
        else welsh_speakers.segments,
    )
    script = (
        # Written in Welsh only: said by the Welsh voice, whoever it calls (dispatch).
        message_text.welsh_voice_script(title=title, body=body, reference=reference, mode=mode)
        if written_in == "cy"
        else message_text.voice_script(
            title=title, body=body, force=force, mode=mode, reference=reference
        )
    )
    if welsh:
        script += " [Then in Welsh:] " + message_text.welsh_voice_script(
            title=title_cy, body=body_cy, reference=reference, mode=mode
        )
    # Its question is Welsh to everyone too (a request to confirm alone is ours).
    voice_ask = message_text.voice_ask(*ask, "cy" if written_in == "cy" and ask[0] else "en")
    minutes = message_text.voice_minutes(script + (" " + voice_ask if voice_ask else ""))
    with read_only():
        recording = db.session.get(AlertRecording, recording_id) if recording_id else None
        if recording is not None:
            # Played twice, with the words before and after it.
            minutes = max(1, math.ceil((recording.seconds * 2 + 15) / 60))
            script = (
                message_text.voice_introduction(force=force, mode=mode, reference=reference)
                + f" [Your recording, {recording.seconds:.0f} seconds, played twice.]"
            )
    if voice_ask:
        script += f" [Then asks, for one key:] {voice_ask}"
    if welsh_ask[0] and voice_ask:
        welsh_voice_ask = message_text.voice_ask(
            *message_text.asked_in(*ask, *welsh_ask, language="cy"), "cy"
        )
        script += f" [Residents who chose Welsh are asked:] {welsh_voice_ask}"
    if recording is not None:
        script += " To stop these calls, press 9 now, or call 101."
    # The links each resident gets are theirs alone: shown as this site's, not an
    # example's (the preview showed "https://example.invalid/unsubscribe": an outside
    # check).
    site = config["PUBLIC_BASE_URL"].rstrip("/")
    email = build_email(
        OutgoingMessage(
            delivery_id=0,
            alert_id=0,
            channel="email",
            recipient="resident@example.invalid",
            subject=message_text.email_subject(
                title=title, force=force, mode=mode, welsh_title=title_cy or None
            ),
            body=message_text.email_text(
                body=body,
                force=force,
                mode=mode,
                reference=reference,
                check_url=public_url(
                    "public.check", force_slug=None if force_row.is_default else force_row.slug
                ),
                welsh=body_cy if welsh else None,
            )
            + (
                "\n\n" + message_text.email_ask(*ask, link=f"{site}/answer/…")
                if message_text.sms_ask(*ask)
                else ""
            ),
            unsubscribe_url=f"{site}/unsubscribe/each-residents-own-link",
            paragraph_languages=message_text.email_languages(
                body=body, welsh=body_cy if welsh else None, mode=mode, written_in=written_in
            ),
        ),
        config.get("MAIL_FROM") or "alerts@example.invalid",
    )
    return {
        "refused": refused,
        "refused_answer": refused_answer,
        # (What the preview refuses of those boxes as typed is said instead.)
        "unfinished": {key: said for key, said in unfinished.items() if key not in refused},
        "sms": {
            "text": sms,
            **length.as_dict(),
            "max_segments": config["SMS_MAX_SEGMENTS"],
            "too_long": longest.segments > config["SMS_MAX_SEGMENTS"],
            # Parts of the longer of the English and the Welsh speakers' texts, and
            # of the Welsh speakers' alone.
            "longest_segments": longest.segments,
            "welsh_speakers_segments": welsh_speakers.segments,
            # The most one text costs: a Welsh speaker's may take more parts (a review).
            "cost": round(longest.segments * sms_price, 4),
            "characters": [
                {
                    "character": character,
                    "name": message_text.describe_character(character),
                    "plain": message_text.PLAIN.get(character),
                    "welsh": character in message_text.WELSH_LETTERS,
                }
                for character in length.ucs2_characters
            ],
            "plain_segments": plain_length.segments,
            "plain_longest_segments": plain_longest,
            # With Welsh: the text Welsh speakers get, and what the Welsh adds.
            "text_welsh_first": texts["cy"] if welsh else None,
            "welsh_segments": length.segments - english_only.segments if welsh else None,
            "english_segments": english_only.segments,
        },
        "voice": {
            "script": script,
            "recording": recording is not None,
            "minutes": minutes,
            "cost": round(minutes * voice_price, 4),
        },
        "email": {
            "subject": email["Subject"],
            "text": email.get_body(("plain",)).get_content(),
            "html": email.get_body(("html",)).get_content(),
            "cost": 0,
            # What the Welsh speakers' e-mails ask, when its question is in Welsh too
            # (the preview showed the English alone: an outside check).
            "welsh_ask": message_text.email_ask(
                *message_text.asked_in(*ask, *welsh_ask, language="cy"),
                link=f"{site}/answer/…",
                language="cy",
            )
            if welsh_ask[0] and message_text.sms_ask(*ask)
            else None,
        },
    }


ASK_FIELDS = ("question", "answer_options", "question_cy", "answer_options_cy")


def _ask_unfinished(draft: AlertDraft) -> dict[str, str]:
    """What the send's checks refuse in the draft's question and answers, by box (the
    text's length left out: the preview measures it itself)."""
    errors: dict[str, str] = {}
    draft.channels = ["email"]
    check_words(draft, errors, {})
    return {key: errors[key] for key in ASK_FIELDS if key in errors}


def check_words(
    draft: AlertDraft, errors: dict[str, str], at: dict[str, int] | None = None
) -> tuple[str, str]:
    """The title and message cleaned, adding what is wrong with them, the question, the
    category, the recording or the mode to `errors`, and in `at` which answer (from 1,
    of those typed) an answers' refusal is about, as the preview says it. The question
    and its answers are left cleaned in the draft. Written in Welsh only, what is wrong
    is said at the Welsh boxes it was typed in."""
    at = {} if at is None else at
    # A question in the English boxes alone of an alert written in Welsh alone went to
    # everyone, in English after the Welsh words (an outside check): refused, at them.
    english_ask = _typed(draft.question, draft.answer_options)
    welsh_ask = _typed(draft.question_cy, draft.answer_options_cy)
    # (It was said at the empty English boxes, in their names: a review.)
    in_welsh = welsh_only(draft)
    mixed = in_welsh and english_ask and not welsh_ask
    title = checked_field(
        errors,
        "title",
        draft.title,
        gettext("The Welsh title") if in_welsh else gettext("The title"),
    )
    body = checked_field(
        errors,
        "body",
        draft.body,
        gettext("The Welsh message") if in_welsh else gettext("The message"),
        multiline=True,
    )
    if "title" in errors:
        pass  # refused as text already
    elif not title:
        errors["title"] = gettext("Give the alert a title.")
    elif len(title) > MAX_TITLE:
        errors["title"] = gettext(
            "Keep the title to %(most)s characters (it is %(count)s).",
            most=MAX_TITLE,
            count=f"{len(title):,}",
        )
    if "body" in errors:
        pass  # refused as text already
    elif not body:
        errors["body"] = gettext("Write the message.")
    elif len(body) > MAX_BODY:
        errors["body"] = gettext(
            "Keep the message to %(most)s characters (it is %(count)s).",
            most=f"{MAX_BODY:,}",
            count=f"{len(body):,}",
        )
    draft.title_cy, draft.body_cy = check_welsh(draft, errors)
    if mixed:
        # Said first, whatever else is wrong with that question: "Give at least two
        # answers" was said, and once they were given, this (a re-check).
        errors["question"] = _english_ask_of_welsh_only()
        question = options = draft.question = draft.answer_options = None
    else:
        question, options = draft.question, draft.answer_options = _checked_ask(
            draft.question, draft.answer_options, errors, at, welsh=in_welsh
        )
    draft.question_cy, draft.answer_options_cy = check_welsh_ask(draft, errors, at)
    if "body" not in errors and body and (not draft.channels or "sms" in draft.channels):
        asked = (question, options, draft.confirm_receipt)
        _check_sms_length(title, body, draft.mode, errors, asked=asked)
        if draft.title_cy and "body" not in errors:
            welsh = (draft.title_cy, draft.body_cy)
            _check_sms_length(
                title,
                body,
                draft.mode,
                errors,
                asked=asked,
                welsh=welsh,
                welsh_asked=(draft.question_cy, draft.answer_options_cy),
            )
    if draft.category not in CATEGORIES:
        errors["category"] = gettext("Choose what the alert is about.")
    if (
        draft.recording_id is not None
        and db.session.get(AlertRecording, draft.recording_id) is None
    ):
        errors["recording"] = gettext("That recording is no longer here. Upload it again.")
    if draft.mode not in ("live", "exercise"):
        errors["mode"] = gettext("Choose live or exercise.")
    for key in ("title", "body") if in_welsh else ():
        if key in errors:
            errors[f"{key}_cy"] = errors.pop(key)
    return title, body


def _welsh_ask_without_welsh_words() -> str:
    return gettext(
        "A Welsh question goes with a Welsh title and message: write them too, or "
        "leave the Welsh question and answers empty."
    )


def _welsh_ask_without_english() -> str:
    return gettext(
        "Write the question and its answers in English too, or leave the Welsh "
        "question and answers empty."
    )


def _english_ask_of_welsh_only() -> str:
    return gettext(
        "The alert is written in Welsh only: write its question and answers in the "
        "Welsh boxes too, or write the alert in English too."
    )


def _asks_in_welsh_alone(
    title: str, body: str, title_cy: str, body_cy: str, question_cy: str, answers_cy: list[str]
) -> bool:
    """Whether an alert is written in Welsh only and asks its question in the Welsh
    boxes (welsh_only's test): the English question and answers are not its."""
    draft = AlertDraft(title=title, body=body, title_cy=title_cy, body_cy=body_cy)
    return welsh_only(draft) and _typed(question_cy, answers_cy)


def _typed(question: object, answers: object) -> bool:
    """Whether a question or an answer is typed (not blank) in these boxes."""
    return any(
        isinstance(each, str) and each.strip()
        for each in [question, *(answers if isinstance(answers, list) else [])]
    )


def welsh_only(draft: AlertDraft) -> bool:
    """An alert written in Welsh only (no English title or message): the Welsh becomes
    its words, and its language "cy". Whether it was."""
    english = (draft.title or "").strip() or (draft.body or "").strip()
    if not english and (draft.title_cy or "").strip() and (draft.body_cy or "").strip():
        draft.title, draft.body = draft.title_cy, draft.body_cy
        draft.title_cy = draft.body_cy = None
        draft.language = "cy"
        if (draft.question_cy or "").strip() or draft.answer_options_cy:
            # Its question written in the Welsh boxes: everyone is asked the Welsh.
            draft.question, draft.answer_options = draft.question_cy, draft.answer_options_cy
        draft.question_cy = draft.answer_options_cy = None
        return True
    return False


def check_welsh(draft: AlertDraft, errors: dict[str, str]) -> tuple[str | None, str | None]:
    """The Welsh title and message cleaned (both, or neither), adding what is wrong
    with them to `errors`."""
    title = checked_field(errors, "title_cy", draft.title_cy or "", gettext("The Welsh title"))
    body = checked_field(
        errors, "body_cy", draft.body_cy or "", gettext("The Welsh message"), multiline=True
    )
    if not title and not body:
        return None, None
    if "title_cy" not in errors:
        if not title:
            errors["title_cy"] = gettext(
                "Give the Welsh title too, or leave both Welsh boxes empty."
            )
        elif len(title) > MAX_TITLE:
            errors["title_cy"] = gettext(
                "Keep the Welsh title to %(most)s characters.", most=MAX_TITLE
            )
    if "body_cy" not in errors:
        if not body:
            errors["body_cy"] = gettext(
                "Write the Welsh message too, or leave both Welsh boxes empty."
            )
        elif len(body) > MAX_BODY:
            errors["body_cy"] = gettext(
                "Keep the Welsh message to %(most)s characters.", most=f"{MAX_BODY:,}"
            )
    return (title, body) if title and body else (None, None)


def check_ask(
    draft: AlertDraft, errors: dict[str, str], at: dict[str, int] | None = None
) -> tuple[str | None, list[str] | None]:
    """The quick question and its options, cleaned, adding what is wrong to `errors`
    (and which answer to `at`): both or neither, 2 to MAX_OPTIONS options of at most
    MAX_OPTION characters."""
    return _checked_ask(
        draft.question, draft.answer_options, errors, {} if at is None else at, welsh=False
    )


def check_welsh_ask(
    draft: AlertDraft, errors: dict[str, str], at: dict[str, int]
) -> tuple[str | None, list[str] | None]:
    """The question and its answers in Welsh, cleaned (for an alert written in both
    languages, with a question in English: as many answers, in the same order), adding
    what is wrong to `errors` (and which answer to `at`). Call it after check_welsh and
    check_ask."""
    question, options = _checked_ask(
        draft.question_cy, draft.answer_options_cy, errors, at, welsh=True
    )
    if question is None:
        return None, None
    if not draft.title_cy:
        errors["question_cy"] = _welsh_ask_without_welsh_words()
    elif not draft.question:
        # Given, but refused (its own error says why): not "write it in English too" (an
        # outside check).
        if "question" not in errors and "answer_options" not in errors:
            errors["question_cy"] = _welsh_ask_without_english()
    elif len(options) != len(draft.answer_options or ()):
        errors["answer_options_cy"] = gettext(
            "Give each of the %(count)s English answers in Welsh, in the same order.",
            count=len(draft.answer_options or ()),
        )
    if "question_cy" in errors or "answer_options_cy" in errors:
        return None, None
    return question, options


def _checked_ask(
    question: str | None,
    options: list[str] | None,
    errors: dict[str, str],
    at: dict[str, int],
    *,
    welsh: bool,
) -> tuple[str | None, list[str] | None]:
    """A question and its options, cleaned, adding what is wrong to `errors` under
    "question" and "answer_options" (with "_cy" for the Welsh ones), and to `at` which
    answer (from 1) a refusal of one answer is about: the send's refusal named none, and
    the page asked the preview which to mark (a review)."""
    asked, answers = (
        ("question_cy", "answer_options_cy") if welsh else ("question", "answer_options")
    )
    question = checked_field(
        errors,
        asked,
        question or "",
        gettext("The Welsh question") if welsh else gettext("The question"),
    )
    options = _checked_answers(errors, options or [], welsh=welsh)
    if not all(options):
        # (The last refused: each refusal replaces the one before in `errors`.)
        at[answers] = max(n for n, option in enumerate(options, start=1) if not option)
    options = [option for option in options if option]
    if asked in errors or answers in errors:
        return None, None
    if not question and not options:
        return None, None
    if not question:
        errors[asked] = (
            gettext("Write the Welsh question the Welsh answers are for, or remove them.")
            if welsh
            else gettext("Write the question the answers are for, or remove the answers.")
        )
    elif len(question) > MAX_QUESTION:
        errors[asked] = (
            gettext("Keep the Welsh question to %(most)s characters.", most=MAX_QUESTION)
            if welsh
            else gettext("Keep the question to %(most)s characters.", most=MAX_QUESTION)
        )
    if len(options) < 2:
        errors[answers] = gettext("Give at least two answers to choose from.")
    elif found := _answer_at_fault(options):
        errors[answers], at[answers] = found
    if asked in errors or answers in errors:
        return None, None
    return question, options


def _answer_at_fault(options: list[str]) -> tuple[str, int] | None:
    """What is wrong with these answers (cleaned) whatever else is typed, and which
    answer (from 1) it is about: more than MAX_OPTIONS, one over MAX_OPTION
    characters, two the same, one a resident cannot text back as meant."""
    if len(options) > MAX_OPTIONS:
        return gettext("Give at most %(most)s answers.", most=MAX_OPTIONS), MAX_OPTIONS + 1
    # As a reply is read: "Ｙｅｓ" (full width) is "Yes" (an outside check); an answer
    # of no letters (👍, 👎) as it is written.
    read = [
        replies.word_of(option) or " ".join(unicodedata.normalize("NFKC", option).split())
        for option in options
    ]
    checks = (
        (
            lambda n: len(options[n]) > MAX_OPTION,
            gettext("Keep each answer to %(most)s characters.", most=MAX_OPTION),
        ),
        # "Reply 1 for Yes, 2 for yes" (an outside check): one of them means nothing.
        (
            lambda n: read[n] in read[:n],
            gettext("Two answers are the same. Give each answer once, in different words."),
        ),
        # Texted back as the word, not its number, it stops every text from us (an
        # outside check offered "STOP" as an answer).
        (
            lambda n: optout.wants_stop(read[n]),
            gettext(
                "An answer cannot be STOP or another way of asking to stop: a resident who "
                "texts it back stops every text from us."
            ),
        ),
        # HELP is answered with who we are, START takes texts again, and "2" is read as
        # answer 2: texted back, none counts as this answer (an outside check).
        (
            lambda n: read[n] in ACTED_ON or read[n].isdigit(),
            gettext(
                "An answer cannot be HELP, INFO, START or a number: a resident who texts it "
                "back is not counted as choosing it."
            ),
        ),
    )
    for at_fault, refusal in checks:
        for n in range(len(options)):
            if at_fault(n):
                return refusal, n + 1
    return None


# Replies that mean something of their own, whatever was asked.
ACTED_ON = frozenset({"HELP", "INFO", *(optout.START_WORDS - {"YES"})})


def _checked_answers(errors: dict[str, str], options: list[str], *, welsh: bool) -> list[str]:
    """Each answer cleaned (checked_field), what is wrong added to `errors` under
    "answer_options" (or "answer_options_cy")."""
    return [
        checked_field(
            errors,
            "answer_options_cy" if welsh else "answer_options",
            option,
            gettext("Welsh answer %(number)s", number=n)
            if welsh
            else gettext("Answer %(number)s", number=n),
        )
        for n, option in enumerate(options, start=1)
    ]


def _answers_as_typed(
    refused: dict[str, str], options: list[str], *, welsh: bool, at: dict[str, int]
) -> None:
    """What the send would refuse in these answers whatever else is typed, added to
    `refused` (the send's own words): a character it refuses, more than MAX_OPTIONS,
    one over MAX_OPTION characters, two the same; and in `at`, which answer (from 1,
    of those typed) it is about, so the page can mark that box (it marked the first:
    a re-check)."""
    key = "answer_options_cy" if welsh else "answer_options"
    cleaned = _checked_answers(refused, options, welsh=welsh)
    if key in refused:
        # (The last refused: each refusal replaces the one before in `refused`.)
        at[key] = max(n for n, option in enumerate(cleaned, start=1) if not option)
        return
    if found := _answer_at_fault(cleaned):
        refused[key], at[key] = found


def _check_sms_length(
    title: str,
    body: str,
    mode: str,
    errors: dict[str, str],
    *,
    asked: tuple = (None, None, False),
    welsh: tuple[str, str] | None = None,
    welsh_asked: tuple = (None, None),
) -> None:
    force = forces.current_force().name
    # The longer of what an English and a Welsh resident gets: our words in Welsh are
    # longer ("ar gyfer" for "for"), and a Welsh resident's text went past the limit
    # the English one kept to (a review).
    length = max(
        (
            message_text.sms_length(
                message_text.sms_text(
                    title=title,
                    body=body,
                    force=force,
                    mode=mode,
                    ask=message_text.sms_ask(
                        *message_text.asked_in(
                            *asked, *welsh_asked, language="cy" if first else "en"
                        ),
                        "cy" if first else "en",
                    ),
                    reference=sms_reference(references.SAMPLE),
                    welsh=welsh,
                    welsh_first=first,
                )
            )
            for first in (False, True)
        ),
        key=lambda measured: (measured.segments, measured.units),
    )
    most = current_app.config["SMS_MAX_SEGMENTS"]
    if length.segments > most:
        over = max(1, length.units - most * length.per_segment)
        values = {"parts": length.segments, "most": most, "over": over}
        field, words = (
            (
                "body_cy",
                gettext(
                    "With the Welsh, the text message is %(parts)s parts; at most %(most)s "
                    "are allowed. Shorten it by about %(over)s characters.",
                    **values,
                ),
            )
            if welsh
            else (
                "body",
                gettext(
                    "As a text message this is %(parts)s parts; at most %(most)s are "
                    "allowed. Shorten it by about %(over)s characters.",
                    **values,
                ),
            )
        )
        # Not while Welsh letters, the spelling, keep to the larger set whatever else goes.
        if length.ucs2_characters and message_text.WELSH_LETTERS.isdisjoint(length.ucs2_characters):
            words += " " + gettext(
                "Replacing %(characters)s would fit far more in each.",
                characters="".join(length.ucs2_characters),
            )
        errors[field] = words


def own_recording(officer: Officer, recording_id: int | None) -> int | None:
    """The recording's id when it is this officer's upload, else None: the preview of
    the words says a recording's length, which is no one else's to learn (another
    force's officer read it by trying ids: an outside probe)."""
    if recording_id is None:
        return None
    with read_only():
        recording = db.session.get(AlertRecording, recording_id)
        return recording_id if recording and recording.created_by_id == officer.id else None


def check_own_recording(officer: Officer, draft: AlertDraft, errors: dict[str, str]) -> None:
    """Adds to `errors` a recording that is someone else's: an officer plays only their
    own on calls (and in their tests)."""
    recording = db.session.get(AlertRecording, draft.recording_id) if draft.recording_id else None
    if recording is not None and recording.created_by_id != officer.id:
        errors["recording"] = gettext("Use a recording you uploaded yourself.")


def check_schedule(draft: AlertDraft, errors: dict[str, str]) -> None:
    """Adds to `errors` what is wrong with the time to send, if one is given."""
    if draft.send_at is None:
        return
    now = datetime.now(UTC)
    if draft.send_at <= now:
        errors["send_at"] = gettext("That time has passed. Choose a later time, or send now.")
    elif draft.send_at > now + timedelta(days=MAX_SCHEDULE_DAYS):
        errors["send_at"] = gettext("Schedule at most %(most)s days ahead.", most=MAX_SCHEDULE_DAYS)
