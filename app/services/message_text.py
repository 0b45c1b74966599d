"""The words each channel carries, and what an SMS costs in segments.

One module renders the text for the officer's preview and for the worker that sends
it, so what the officer reads is what residents get.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

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
    """
    try:
        units = len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        offending = []
        for character in text:
            if character not in offending and not _is_gsm(character):
                offending.append(character)
        units = len(text.encode("utf-16-le")) // 2
        return _length("UCS-2", units, UCS2_SINGLE, UCS2_PART, tuple(offending))
    return _length("GSM-7", units, GSM_SINGLE, GSM_PART, ())


def _is_gsm(character: str) -> bool:
    try:
        character.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


def _length(encoding: str, units: int, single: int, part: int, offending) -> SmsLength:
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsLength(encoding, units, segments, single if segments == 1 else part, offending)


def _marked(mode: str, text: str) -> str:
    if mode == "exercise":
        return EXERCISE_START + text
    if mode == "test":
        return TEST_START + text
    return text


def _closing(mode: str) -> str:
    return EXERCISE_END if mode == "exercise" else ""


def sms_text(*, title: str, body: str, force: str, mode: str = "live") -> str:
    return _marked(mode, f"{title}: {body}\n- {force} Police. Reply STOP to stop.") + _closing(mode)


def voice_script(*, title: str, body: str, force: str, mode: str = "live") -> str:
    return (
        f"This is a message from {force} Police. "
        + _marked(mode, f"{title}. {body}")
        + _closing(mode)
    )


def voice_introduction(*, force: str, mode: str = "live") -> str:
    """What is said before an officer's recording is played."""
    return f"This is a message from {force} Police." + (
        " " + EXERCISE_START.strip() if mode == "exercise" else ""
    )


def email_subject(*, title: str, force: str, mode: str = "live") -> str:
    return _marked(mode, f"{force} Police: {title}")


def email_text(*, body: str, force: str, mode: str = "live") -> str:
    return _marked(mode, f"{body}\n\n{force} Police") + _closing(mode)


def voice_minutes(script: str) -> int:
    """Whole minutes a call is billed for: the script said twice, plus the goodbye."""
    words = len(script.split()) * 2 + 12
    return max(1, math.ceil(words / WORDS_PER_MINUTE))
