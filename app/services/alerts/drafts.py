"""What the officer composed, as the map page sends it, and the refusal that says what
to fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext

from app.models import MAX_ID


class AlertInvalid(ValueError):
    """The alert cannot be sent as it is; `errors` maps each field to what to fix, and
    `hints` carries what the page may offer instead (an area's part it may send to)."""

    def __init__(self, errors: dict[str, str], hints: dict | None = None):
        # Sentences, one after another ("Give the alert a title.; Write the message."
        # read oddly: an outside check).
        super().__init__(
            " ".join(
                said if said.rstrip().endswith((".", "?", "!", "”")) else said.rstrip() + "."
                for said in map(str, errors.values())
            )
        )
        self.errors = errors
        self.hints = hints or {}


@dataclass
class AlertDraft:
    """What the officer composed, before it is checked."""

    shapes: list = field(default_factory=list)
    title: str = ""
    body: str = ""
    # The same alert in Welsh, when the officer writes both (residents who chose Welsh
    # get it first): both or neither.
    title_cy: str | None = None
    body_cy: str | None = None
    # The language of title and body: "cy" when the officer wrote in Welsh only.
    language: str = "en"
    category: str = "incident"
    mode: str = "live"
    groups: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    parent_id: int | None = None
    # "area": residents in the shapes; "parent": whoever the parent alert reached.
    audience: str = "area"
    send_at: datetime | None = None
    expected_residents: int | None = None
    # Voice calls play this recording (an AlertRecording id) instead of the text.
    recording_id: int | None = None
    # A quick question ("Did you see anything?") and its options, answered by reply or
    # keypad; and whether residents are asked to confirm they got it.
    question: str | None = None
    answer_options: list[str] | None = None
    # The same in Welsh, for an alert written in both: Welsh speakers are asked them.
    question_cy: str | None = None
    answer_options_cy: list[str] | None = None
    confirm_receipt: bool = False


def json_text(data: dict[str, Any], name: str, errors: dict[str, str], default: str = "") -> str:
    """A text field of a JSON body: `default` when absent, null or empty; a number, a
    list or an object is a mistake (as text, ["x"] would have made "['x']" a title)."""
    value = data.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        errors[name] = gettext("%(name)s must be text.", name=name)
        return default
    return value


# The modes an officer sends in ("test" is the send-a-test-to-myself's own, never sent
# to residents: a review found the words' preview taking it).
SENT_MODES = ("live", "exercise")


def json_mode(data: dict[str, Any], errors: dict[str, str]) -> str:
    """Live or exercise. Sent empty or null, or as anything else, it is said: "" and
    null were sent as live, and "TEST" previewed as live (an outside check). Absent, it
    is live (the composer always sends it)."""
    value = data.get("mode", "live")
    mode = value if isinstance(value, str) else ""
    if mode not in SENT_MODES:
        errors["mode"] = gettext("Choose live or exercise.")
    return mode


# Answers read of a list given (at most 4 may be sent: more are refused as too many,
# and 50,000 held a server thread 2.7 s: a review).
ANSWERS_READ = 10


def json_strings(
    data: dict[str, Any], name: str, errors: dict[str, str], most: int | None = None
) -> list[str]:
    """A list of text items of a JSON body (answers, channels): [] when absent; its
    first `most` when given."""
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        # Answers and channels are not names (an outside check).
        errors[name] = gettext("%(name)s must be a list of words, each in quotes.", name=name)
        return []
    return value[:most] if most is not None else value


def json_whole_number(data: dict[str, Any], name: str, errors: dict[str, str]) -> int | None:
    """A record's id or a count of a JSON body: None when absent."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        # "7" was told it "must be a whole number", which it is (an outside check).
        errors[name] = gettext('%(name)s must be a number, not text: 7, not "7".', name=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        errors[name] = gettext(
            "%(name)s must be a whole number from 0 to %(most)s.", name=name, most=f"{MAX_ID:,}"
        )
        return None
    return value


def json_flag(data: dict[str, Any], name: str, errors: dict[str, str]) -> bool:
    """A tick of a JSON body: false when absent."""
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        errors[name] = gettext("%(name)s must be true or false.", name=name)
    return value is True


def draft_from_json(data: dict[str, Any]) -> AlertDraft:
    """An AlertDraft from the map page's JSON. Raises AlertInvalid for values of the
    wrong type (the page never sends them; a hand-made request might)."""
    errors: dict[str, str] = {}

    def strings(name: str, most: int | None = None) -> list[str]:
        return json_strings(data, name, errors, most)

    def whole_number(name: str) -> int | None:
        return json_whole_number(data, name, errors)

    def text(name: str, default: str = "") -> str:
        return json_text(data, name, errors, default)

    send_at = None
    if data.get("send_at"):
        try:
            send_at = datetime.fromisoformat(text("send_at"))
        except ValueError:
            errors["send_at"] = gettext(
                "Give the time to send as a date and time, e.g. 2026-12-01 18:30."
            )
        else:
            if send_at.tzinfo is None:
                errors["send_at"] = gettext("Give the time to send with its time zone.")
    mode = json_mode(data, errors)
    audience = text("audience", "area")
    if audience not in ("area", "parent"):
        errors["audience"] = gettext(
            "audience must be area (the shapes) or parent (the first alert's)."
        )
    confirm_receipt = json_flag(data, "confirm_receipt", errors)
    shapes = data.get("shapes")
    if shapes is not None and not isinstance(shapes, list):
        # Taken as no shapes, without a word (an outside check).
        errors["area"] = gettext("shapes must be a list of shapes.")
    draft = AlertDraft(
        shapes=shapes if isinstance(shapes, list) else [],
        title=text("title"),
        body=text("body"),
        title_cy=text("title_cy") or None,
        body_cy=text("body_cy") or None,
        category=text("category", "incident"),
        mode=mode,
        groups=strings("groups"),
        channels=strings("channels"),
        parent_id=whole_number("parent_id"),
        audience=audience,
        send_at=send_at,
        expected_residents=whole_number("expected_residents"),
        recording_id=whole_number("recording_id"),
        question=text("question") or None,
        answer_options=[o for o in strings("answer_options", ANSWERS_READ) if o.strip()] or None,
        question_cy=text("question_cy") or None,
        answer_options_cy=[o for o in strings("answer_options_cy", ANSWERS_READ) if o.strip()]
        or None,
        confirm_receipt=confirm_receipt,
    )
    if errors:
        raise AlertInvalid(errors)
    return draft


# Alerts that never went, which an officer may write again from: a supervisor's "add
# what he was wearing" meant typing it all again and redrawing the area on a phone (an
# outside check).
WRITTEN_AGAIN_FROM = ("rejected", "cancelled")


def written_again(alert) -> dict | None:
    """What the map page starts from to write this alert again (its words, its choices
    and its areas, as the page's own draft keeps them), or None for an alert that went
    or may still go. The caller has checked the officer may see it."""
    if alert.status not in WRITTEN_AGAIN_FROM or alert.sent_at is not None:
        return None  # (cancelled while sending: some residents have it already)
    options = list(alert.answer_options or [])
    fields = {
        "title": alert.title if alert.language != "cy" else "",
        "body": alert.body if alert.language != "cy" else "",
        "title-cy": alert.title_cy or (alert.title if alert.language == "cy" else ""),
        "body-cy": alert.body_cy or (alert.body if alert.language == "cy" else ""),
        "category": alert.category,
        "question": alert.question or "",
        "question-cy": alert.question_cy or "",
    }
    fields |= {f"answer-{n}": text for n, text in enumerate(options[:4], start=1)}
    welsh = list(alert.answer_options_cy or [])
    fields |= {f"answer-cy-{n}": text for n, text in enumerate(welsh[:4], start=1)}
    channels = list((alert.filters or {}).get("channels") or []) or ["sms", "voice", "email"]
    return {
        "fields": fields,
        "boxes": {"confirm-receipt": alert.confirm_receipt, "exercise": alert.mode == "exercise"},
        "checked": {
            "channels": channels,
            "groups": list((alert.filters or {}).get("groups") or []),
            "audience": [alert.audience or "area"],
        },
        "shapes": list(alert.shapes or []),
    }
