"""The words each channel carries, and what an SMS costs in segments.

One module renders the text for the officer's preview and for the worker that sends
it, so what the officer reads is what residents get.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

from app.i18n import gettext, in_language, lazy_gettext, police
from app.references import spoken

# Between the Welsh and the English of a message written in both, Welsh first (a staff
# member's link from a Welsh page): notices.render_notices marks each part's language.
WELSH_THEN_ENGLISH = "\n\n----------\n\n"

# GSM 03.38: 160 septets in one SMS, 153 in each part of a longer one (the rest is the
# header that joins the parts). Anything outside the GSM alphabet sends the whole
# message as UCS-2: 70 UTF-16 code units, 67 per part.
GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
# Voice: Twilio's voices speak about 150 words a minute, and the message is said twice.
WORDS_PER_MINUTE = 150

EXERCISE_START = "EXERCISE EXERCISE EXERCISE. "
EXERCISE_END = " This is an exercise. No action is needed."
TEST_START = "TEST, only to you: "


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int
    # The characters that force UCS-2, each once, in the order they first appear.
    ucs2_characters: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "units": self.units,
            "segments": self.segments,
            "per_segment": self.per_segment,
            "ucs2_characters": list(self.ucs2_characters),
        }


def sms_length(text: str) -> SmsLength:
    """How a text is encoded and how many segments it is billed as.

    >>> sms_length("a" * 160).segments, sms_length("a" * 161).segments
    (1, 2)
    >>> sms_length("Price: 5€").units  # € is one of GSM's two-septet escapes
    10
    >>> s = sms_length("Don’t go out")
    >>> s.encoding, s.segments, s.ucs2_characters
    ('UCS-2', 1, ('’',))
    >>> s = sms_length("a" * 152 + "€" + "a" * 152)  # € would straddle septets 153-154
    >>> s.units, s.segments  # so it starts part 2, and part 2 overflows into a third
    (306, 3)
    """
    septets = [_septets(character) for character in text]
    if None in septets:
        # The characters that force UCS-2, each once, in the order they first appear.
        offending = dict.fromkeys(c for c, size in zip(text, septets, strict=True) if size is None)
        # Outside the Basic Multilingual Plane (emoji) a character is a surrogate pair.
        code_units = [2 if ord(character) > 0xFFFF else 1 for character in text]
        return _length("UCS-2", code_units, UCS2_SINGLE, UCS2_PART, tuple(offending))
    return _length("GSM-7", septets, GSM_SINGLE, GSM_PART, ())


@functools.lru_cache(maxsize=4096)
def _septets(character: str) -> int | None:
    """Septets one character takes in GSM-7 (2 for an escape pair), None if it has none."""
    try:
        return len(character.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def _length(encoding: str, sizes: list[int], single: int, part: int, offending) -> SmsLength:
    units = sum(sizes)
    segments = 1 if units <= single else _parts(sizes, part)
    return SmsLength(encoding, units, segments, single if segments == 1 else part, offending)


# What phones type for you, and the plain character that fits a text's basic set.
PLAIN = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u201b": "'",  # ‛
    "\u2032": "'",  # ′
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',  # ‟
    "\u2033": '"',  # ″
    "\u2013": "-",  # –
    "\u2014": "-",  # —
    "\u2012": "-",  # ‒
    "\u2015": "-",  # ―
    "\u2212": "-",  # −
    "\u2026": "...",  # …
    "\u00a0": " ",  # no-break space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u200b": "",  # zero-width space
    "\u2022": "-",  # •
}
_NAMES = {
    "'": lazy_gettext("curly quote"),
    '"': lazy_gettext("curly double quote"),
    "-": lazy_gettext("long dash"),
    "...": lazy_gettext("three dots in one character"),
    " ": lazy_gettext("special space"),
    "": lazy_gettext("invisible space"),
}


def plain_punctuation(text: str) -> str:
    """The text with the punctuation phones type automatically made plain, so that
    it fits the basic character set of a text message.

    >>> print(plain_punctuation("Don’t – it’s “urgent”…"))
    Don't - it's "urgent"...
    """
    return "".join(PLAIN.get(character, character) for character in text)


# Welsh letters outside the texts' basic set (the to bach, the acute, the grave, the
# diaeresis): they cost parts, but they are the spelling, never to be "made plain".
WELSH_LETTERS = frozenset("âêîôûŵŷáíóúẃýìòẁỳëïẅÿÂÊÎÔÛŴŶÁÍÓÚẂÝÌÒẀỲËÏẄŸ")


def describe_character(character: str) -> str:
    """A character that makes texts take more parts, named as a person would know it.

    >>> describe_character("’"), describe_character("😀"), describe_character("é")
    ('curly quote', 'emoji', 'accented letter é')
    >>> describe_character("ŵ")
    'Welsh letter ŵ'
    """
    if character in PLAIN:
        return str(_NAMES[PLAIN[character]])
    if character in WELSH_LETTERS:
        return gettext("Welsh letter %(letter)s", letter=character)
    category = unicodedata.category(character)
    if category == "So" or ord(character) > 0xFFFF:
        return gettext("emoji") if ord(character) >= 0x2190 else gettext("symbol")
    if category.startswith("L") and unicodedata.decomposition(character):
        return gettext("accented letter %(letter)s", letter=character)
    if category.startswith("L"):
        return gettext("letter %(letter)s", letter=character)
    return gettext("character %(character)s", character=character)


def _parts(sizes: list[int], part: int) -> int:
    """Parts of `part` units each, filled as the networks do: a two-unit character (a
    GSM escape pair, a UTF-16 surrogate pair) is never split, so one that would
    straddle a boundary starts the next part and leaves a unit unused."""
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def _marked(mode: str, text: str, language: str = "en") -> str:
    """An exercise's or a test's words before the message, in `language` (a Welsh
    speaker's exercise began "EXERCISE EXERCISE EXERCISE")."""
    if mode not in ("exercise", "test"):
        return text
    if language != "cy":
        return (EXERCISE_START if mode == "exercise" else TEST_START) + text
    with in_language("cy"):
        if mode == "exercise":
            return gettext("EXERCISE EXERCISE EXERCISE. ") + text
        return gettext("TEST, only to you: ") + text


def _closing(mode: str, language: str = "en") -> str:
    if mode != "exercise":
        return ""
    if language != "cy":
        return EXERCISE_END
    with in_language("cy"):
        return gettext(" This is an exercise. No action is needed.")


def sms_text(
    *,
    title: str,
    body: str,
    force: str,
    mode: str = "live",
    ask: str | None = None,
    reference: str | None = None,
    welsh: tuple[str, str] | None = None,
    welsh_first: bool = False,
) -> str:
    """`ask`: a question or request to confirm receipt (sms_ask), after the message.
    `welsh`: the officer's Welsh title and message, when they wrote both: the text then
    carries both, Welsh first for a resident who chose Welsh (`welsh_first`).
    `reference`: the alert's public reference, when texts carry it (it costs
    characters: TEXTS_CARRY_REFERENCE)."""
    asked = f"\n{ask}" if ask else ""
    ref = f" Ref {reference}." if reference else ""
    language = "cy" if welsh_first else "en"
    if welsh_first and not welsh:
        # Written in English only, to a resident who chose Welsh: our words in Welsh.
        return _marked(
            mode, f"{title}: {body}{asked}\n{_sign_off('cy', reference, both=False)}", language
        ) + _closing(mode, language)
    if welsh:
        # Both languages, the resident's first, and the sign-off in it.
        english, cymraeg = f"{title}: {body}", f"{welsh[0]}: {welsh[1]}"
        first, second = (cymraeg, english) if welsh_first else (english, cymraeg)
        return _marked(
            mode, f"{first}\n{second}{asked}\n{_sign_off(language, reference)}", language
        ) + _closing(mode, language)
    return _marked(
        mode, f"{title}: {body}{asked}\n- {force} Police.{ref} Reply STOP to stop."
    ) + _closing(mode)


def _sign_off(language: str, reference: str | None, both: bool = True) -> str:
    """The end of a text: the force's name (both names when the text is in both
    languages), the reference and how to stop, in `language` (the catalogue's words,
    app/translations)."""
    names = [police("en"), police("cy")] if both else [police(language)]
    if language == "cy" and both:
        names.reverse()
    with in_language(language):
        ref = " " + gettext("Ref %(reference)s.", reference=reference) if reference else ""
        return f"- {' / '.join(names)}.{ref} " + gettext("Reply STOP to stop.")


# The key that stops the calls: no answer option is 9 (compose.MAX_OPTIONS is 4).
STOP_KEY = "9"


def voice_closing(language: str) -> str:
    """How to stop the calls, said at the end of every alert's call, in the resident's
    language: a key, as a resident with only a landline has no other way of their own."""
    with in_language(language):
        return gettext("To stop these calls, press 9 now, or call 101.")


def asked_for_closing(kind: str, language: str) -> str:
    """The end of an e-mail someone may have asked for with another's address."""
    with in_language(language):
        if kind in ("already_registered", "manage_link"):
            return gettext(
                "If you did not ask for this, you can ignore it. To stop the alerts this "
                "address gets, use the link at the end of any of them."
            )
        return gettext(
            "If you did not ask for this, you can ignore it: nothing more is sent to this "
            "address unless it is confirmed."
        )


def stopped_text(language: str) -> str:
    """The answer to a text that stopped texts in words Twilio does not answer itself."""
    with in_language(language):
        return gettext("You will get no more texts from us on this number. Reply START to restart.")


def calls_closing(language: str) -> str:
    """How a call that takes no key ends (a code, a notice): how to stop the calls."""
    with in_language(language):
        return gettext("To stop these calls, call 101.")


def key_answer(kind: str, language: str) -> str:
    """What a call says after a key is pressed (replies.receive_keys' kind), ending as
    every call ends, in the resident's language."""
    with in_language(language):
        words = {
            "answer": gettext("Thank you for your answer."),
            "confirmation": gettext("Thank you for confirming."),
            "duplicate": gettext("Thank you."),
            "kept": gettext(
                "Thank you. This alert has closed, so your answer is kept but not counted."
            ),
        }.get(kind)
        if kind == "stopped":
            return (
                gettext("You will get no more calls from us. To hear from us again, call 101.")
                + " "
                + gettext("Goodbye.")
            )
        if words is None:
            words = gettext("That key is not one of the choices, so nothing was recorded.")
        return f"{words} {gettext('To stop these calls, call 101.')} {gettext('Goodbye.')}"


def unspeakable_removed(words: str) -> str:
    """The words without emoji and other pictures (Unicode symbols "So", their joiners
    and variation selectors): a voice reads them out by name ("police car, police
    officer"), or stumbles. Texts and e-mails keep them.

    >>> unspeakable_removed("Van seen \\U0001f690\\U0001f46e\\u200d\\u2642\\ufe0f on Elm Road")
    'Van seen on Elm Road'
    """
    kept = "".join(
        ch
        for ch in words
        if unicodedata.category(ch) != "So"
        and ch not in "\u200d\ufe0f\ufe0e"
        and not 0x1F3FB <= ord(ch) <= 0x1F3FF  # skin tones
    )
    if kept == words:
        return words
    return re.sub(r" +([.,;:!?])", r"\1", re.sub(r" {2,}", " ", kept)).strip()


def welsh_voice_script(
    *, title: str, body: str, reference: str | None = None, mode: str = "live"
) -> str:
    """A call's words in Welsh, said by the Welsh voice (TWILIO_VOICE_CY); an exercise
    said as one in Welsh too (it was not: only the English said so)."""
    title, body = unspeakable_removed(title), unspeakable_removed(body)
    with in_language("cy"):
        said = gettext("This is a message from %(police)s.", police=police("cy")) + (
            " " + _marked(mode, f"{title}. {body}", "cy")
        )
        if reference:
            stop = "" if body.rstrip()[-1:] in (".", "!", "?") else "."
            said += (
                stop
                + " "
                + gettext(
                    "The reference for this message is %(reference)s.", reference=spoken(reference)
                )
            )
        return said + _closing(mode, "cy")


def _spoken_reference(reference: str | None, after: str = ".") -> str:
    """The reference as a sentence of its own after `after` (the words before it)."""
    if not reference:
        return ""
    stop = "" if after.rstrip()[-1:] in (".", "!", "?") else "."
    return f"{stop} The reference for this message is {spoken(reference)}."


def voice_script(
    *, title: str, body: str, force: str, mode: str = "live", reference: str | None = None
) -> str:
    title, body = unspeakable_removed(title), unspeakable_removed(body)
    return (
        f"This is a message from {force} Police. "
        + _marked(mode, f"{title}. {body}")
        + _spoken_reference(reference, after=body)
        + _closing(mode)
    )


def _options(options: list[str], language: str = "en") -> str:
    if language == "cy":
        with in_language("cy"):
            return ", ".join(
                gettext("%(number)s for %(answer)s", number=n, answer=label)
                for n, label in enumerate(options, start=1)
            )
    return ", ".join(f"{n} for {label}" for n, label in enumerate(options, start=1))


# Our words around a quick question, by how it is answered: (the question's template,
# the request to confirm), read in the resident's language when used (_asked).
SMS_ASK = (
    lazy_gettext("%(question)s Reply %(options)s."),
    lazy_gettext("Reply OK to confirm you got this."),
)
VOICE_ASK = (
    lazy_gettext("%(question)s Press %(options)s."),
    lazy_gettext("Press 1 to confirm you got this message."),
)


def _asked(question, options, confirm, language: str, words) -> str | None:
    """A question's or a request to confirm's words, ours in `language` (`words`: one
    of SMS_ASK and VOICE_ASK); the question and its answers as the officer wrote them."""
    if not (question and options or confirm):
        return None
    with in_language(language):
        asking, confirming = (str(w) for w in words)
        if question and options:
            return asking % {"question": question, "options": _options(options, language)}
        return confirming


def asked_in(
    question: str | None,
    options: list[str] | None,
    confirm: bool,
    welsh_question: str | None = None,
    welsh_options: list[str] | None = None,
    *,
    language: str,
) -> tuple:
    """The quick question as a resident of `language` is asked it: (question, options,
    confirm), the Welsh the officer wrote for a Welsh speaker when there is some (the
    Welsh voice read "Did you see anything?" between its Welsh words).

    >>> asked_in("Seen it?", ["Yes", "No"], False, "Welwch chi?", ["Do", "Naddo"], language="cy")
    ('Welwch chi?', ['Do', 'Naddo'], False)
    >>> asked_in("Seen it?", ["Yes", "No"], True, None, None, language="cy")
    ('Seen it?', ['Yes', 'No'], True)
    """
    if language == "cy" and welsh_question and welsh_options:
        return welsh_question, welsh_options, confirm
    return question, options, confirm


def sms_ask(
    question: str | None, options: list[str] | None, confirm: bool, language: str = "en"
) -> str | None:
    """What a text asks at its end: "Did you see anything? Reply 1 for Yes, 2 for No."
    or "Reply OK to confirm you got this." (None: it asks nothing). Our words in the
    resident's `language`; the question and its answers as the officer wrote them."""
    return _asked(question, options, confirm, language, SMS_ASK)


def voice_ask(
    question: str | None, options: list[str] | None, confirm: bool, language: str = "en"
) -> str | None:
    """What a call asks after the message, answered with the keypad: our words in the
    resident's `language` (a Welsh speaker's call asked "Press 1 for Yes" in English
    between its Welsh words and its Welsh ending)."""
    return _asked(question, options, confirm, language, VOICE_ASK)


def email_ask(
    question: str | None,
    options: list[str] | None,
    confirm: bool,
    *,
    link: str,
    language: str = "en",
) -> str:
    """An e-mail's question, or its request to confirm, and the link that answers it,
    our words in the resident's `language`."""
    if language == "cy":
        with in_language("cy"):
            if question and options:
                return gettext("%(question)s Answer here: %(link)s", question=question, link=link)
            return gettext("Please confirm you got this: %(link)s", link=link)
    if question and options:
        return f"{question} Answer here: {link}"
    return f"Please confirm you got this: {link}"


def help_text(*, force: str, site: str, language: str | None = None) -> str:
    """The automatic answer to HELP, in the resident's language (English unless said)."""
    if language == "cy":
        with in_language("cy"):
            return gettext(
                "%(police)s community alerts. Reply STOP to stop texts, START to restart. "
                "Manage your alerts at %(site)s/manage. To report a crime call 101; "
                "in an emergency call 999.",
                police=police(),
                site=site,
            )
    return (
        f"{force} Police community alerts. Reply STOP to stop texts, START to restart. "
        f"Manage your alerts at {site}/manage. To report a crime call 101; "
        "in an emergency call 999."
    )


def thanks_text(*, language: str | None = None) -> str:
    """The automatic answer to a message to the police: it came, it may not be read at
    once, and where to go now ("There is a man in my garden" had no answer of any kind:
    its sender could wait for one that was never coming)."""
    with in_language("cy" if language == "cy" else "en"):
        return gettext(
            "%(police)s community alerts: thank you, your message has reached our team. "
            "It may not be read straight away. To report a crime call 101; in an "
            "emergency call 999.",
            police=police(),
        )


def officer_answer_text(*, words: str, language: str = "en") -> str:
    """An officer's answer to a resident's text, signed by the current force in the
    resident's `language` (a Welsh speaker's ended "- Avon and Somerset Police. Reply
    STOP to stop.", every other text to them being Welsh: an outside check)."""
    return f"{words}\n{_sign_off(language, None, both=False)}"


def voice_introduction(
    *, force: str, mode: str = "live", reference: str | None = None, language: str = "en"
) -> str:
    """What is said before an officer's recording is played, in the resident's
    `language` (a Welsh speaker heard it, and an exercise's marking, in English)."""
    if language == "cy":
        with in_language("cy"):
            said = gettext("This is a message from %(police)s.", police=police("cy"))
            if mode == "exercise":
                said += " " + gettext("EXERCISE EXERCISE EXERCISE. ").strip()
            if reference:
                said += " " + gettext(
                    "The reference for this message is %(reference)s.", reference=spoken(reference)
                )
            return said
    return (
        f"This is a message from {force} Police."
        + (" " + EXERCISE_START.strip() if mode == "exercise" else "")
        + _spoken_reference(reference)
    )


def in_welsh(url: str) -> str:
    """A page's address as it opens in Welsh: a two-language e-mail's Welsh lines sent
    an English reader to the English page, its English lines a Welsh one to the Welsh
    (an outside re-check): each language's link opens its own.

    >>> in_welsh("https://x.example/check"), in_welsh("https://x.example/check?lang=cy")
    ('https://x.example/check?lang=cy', 'https://x.example/check?lang=cy')
    """
    if "lang=cy" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}lang=cy"


def _welsh_footer(reference: str | None, check_url: str | None) -> str:
    """An e-mail's closing lines in Welsh: the force, the reference, the check page."""
    with in_language("cy"):
        footer = police("cy")
        if reference:
            footer += "\n" + gettext("Reference: %(reference)s", reference=reference)
            if check_url:
                footer += "\n" + gettext(
                    "Check this message is genuine: %(link)s", link=in_welsh(check_url)
                )
        return footer


def email_subject(
    *,
    title: str,
    force: str,
    mode: str = "live",
    welsh_title: str | None = None,
    welsh_first: bool = False,
) -> str:
    """`welsh_title`: with both languages, both titles, the resident's first."""
    if welsh_title:
        titles = f"{welsh_title} / {title}" if welsh_first else f"{title} / {welsh_title}"
        language = "cy" if welsh_first else "en"
        return _marked(mode, f"{police(language)}: {titles}", language)
    if welsh_first:
        # Written in English only, to a resident who chose Welsh: our words in Welsh, as
        # the text's and the e-mail's sign-offs are (the subject alone was English: an
        # outside check).
        return _marked(mode, f"{police('cy')}: {title}", "cy")
    return _marked(mode, f"{force} Police: {title}")


def email_text(
    *,
    body: str,
    force: str,
    mode: str = "live",
    reference: str | None = None,
    check_url: str | None = None,
    welsh: str | None = None,
    welsh_first: bool = False,
) -> str:
    """`reference` and `check_url`: the alert's public reference and the page where
    anyone can check that the force sent it. `welsh`: the officer's Welsh message, when
    they wrote both: the e-mail carries both, Welsh first for a resident who chose it."""
    signed = f"{body}\n\n{force} Police"
    if reference:
        signed += f"\nReference: {reference}"
        if check_url:
            # The link last on its line: "(… at https://…/check)" opened "/check)", a 404,
            # in mail programs that take the bracket into the link (an outside check).
            signed += f"\nCheck this message is genuine: {check_url}"
    if welsh_first and not welsh:
        # Written in English only, to a resident who chose Welsh: our words in Welsh.
        signed = f"{body}\n\n" + _welsh_footer(reference, check_url)
    if welsh:
        cymraeg = f"{welsh}\n\n" + _welsh_footer(reference, check_url)
        signed = f"{cymraeg}\n\n---\n\n{signed}" if welsh_first else f"{signed}\n\n---\n\n{cymraeg}"
    language = "cy" if welsh_first else "en"
    # An exercise's closing words a paragraph of their own, in the resident's language:
    # at the end of the last, they sat in the other language's half (a re-check).
    closing = _closing(mode, language).strip()
    # So are its opening words ("YMARFER YMARFER YMARFER." sat in the English body's
    # paragraph, marked English: a review).
    opening = _marked(mode, "", language).strip()
    return (f"{opening}\n\n" if opening else "") + signed + (f"\n\n{closing}" if closing else "")


def email_languages(
    *,
    body: str,
    welsh: str | None = None,
    welsh_first: bool = False,
    mode: str = "live",
    written_in: str = "en",
) -> tuple[str | None, ...]:
    """The language of each paragraph of email_text's words for these arguments (None:
    the resident's, as an exercise's or a test's opening words, or the line between the
    two languages), for marking each in the e-mail's HTML. `written_in`: the language
    of `body` ("cy": an alert written in Welsh only, whose words were marked English,
    or not at all in an English resident's e-mail: found by reading)."""
    opening: tuple[str | None, ...] = (None,) if mode in ("exercise", "test") else ()
    return opening + _paragraph_languages(
        body=body, welsh=welsh, welsh_first=welsh_first, written_in=written_in
    )


def _paragraph_languages(
    *, body: str, welsh: str | None, welsh_first: bool, written_in: str
) -> tuple[str | None, ...]:

    def each(words: str, language: str) -> list[str | None]:
        return [language] * (len(words.split("\n\n")) + 1)  # and its sign-off

    if welsh:
        first, second = each(welsh, "cy"), each(body, "en-GB")
        if not welsh_first:
            first, second = second, first
        return (*first, None, *second)
    if welsh_first or written_in == "cy":
        # Its words in their language, ours (the sign-off) in the resident's.
        return (*each(body, "cy" if written_in == "cy" else "en-GB")[:-1], None)
    return ()


def voice_minutes(script: str) -> int:
    """Whole minutes a call is billed for: the script said twice, plus the goodbye."""
    words = len(script.split()) * 2 + 12
    return max(1, math.ceil(words / WORDS_PER_MINUTE))


def approval_request_text(
    *,
    title: str,
    category: str,
    author: str,
    residents: str,
    link: str,
    urgent: bool = False,
    exercise: bool = False,
) -> str:
    """What a supervisor is sent when an alert waits for their approval: by text or
    e-mail, so plain characters only (a curly quote would double the parts).
    `residents`: the count as staff may read it ("1,234", "fewer than 5").

    >>> text = approval_request_text(title="Sam", category="Missing person",
    ...     author="PC Lee", residents="1,234", link="https://x/a/7", urgent=True)
    >>> print(text.replace(". ", ".\\n"))
    URGENT - Missing person alert waiting for your approval: "Sam" by PC Lee, to 1,234 residents.
    Approve or reject: https://x/a/7
    """
    title = plain_punctuation(title)
    what = f"{category} alert waiting for your approval"
    text = (
        f'{"URGENT - " if urgent else ""}{what}: "{title}" by {plain_punctuation(author)}, '
        f"to {residents} residents. Approve or reject: {link}"
    )
    return ("EXERCISE. " if exercise else "") + text


def approval_request_subject(*, title: str, category: str, urgent: bool = False) -> str:
    """The e-mail's subject for approval_request_text."""
    return f"{'URGENT: ' if urgent else ''}{category} alert waiting for your approval: {title}"


def cross_border_request_text(
    *, asking_force: str, title: str, category: str, link: str, exercise: bool = False
) -> str:
    """What a neighbouring force's supervisors are sent when an alert's area reaches
    into their force and its own force asks them to send it to their residents there.

    >>> text = cross_border_request_text(asking_force="Avon and Somerset",
    ...     title="Sheds", category="Crime", link="https://x/o/asked/7")
    >>> print(text.replace(". ", ".\n").replace("alert ", "alert\n"))
    Avon and Somerset Police ask you to send their Crime alert
    "Sheds" to your residents in its area.
    Approve or refuse: https://x/o/asked/7
    """
    text = (
        f"{plain_punctuation(asking_force)} Police ask you to send their {category} alert "
        f'"{plain_punctuation(title)}" to your residents in its area. '
        f"Approve or refuse: {link}"
    )
    return ("EXERCISE. " if exercise else "") + text
