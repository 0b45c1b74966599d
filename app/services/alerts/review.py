"""What a supervisor reviews before approving: each channel's words as residents will
get them, who the alert reaches on each channel counted now, what it costs and how
long until its last message goes."""

from __future__ import annotations

from flask import current_app
from flask_babel import ngettext

from app.dao.targeting import count_targets, suppressed
from app.extensions import db
from app.i18n import lazy_gettext
from app.models import CHANNELS, Alert
from app.services import forces
from app.services.alerts.approval_requests import URGENT_REQUESTS
from app.services.alerts.compose import compose_preview
from app.services.alerts.targeting import audience_of, count_label, hidden_label
from app.services.alerts.timing import duration_words, finish_estimate
from app.services.transaction import read_only

# In the page's language (English headings on a Welsh page: an outside check).
CHANNEL_NAMES = {
    "sms": lazy_gettext("Text message"),
    "voice": lazy_gettext("Phone call"),
    "email": lazy_gettext("E-mail"),
}


def channels_used(alert: Alert) -> list[str]:
    """The channels an alert goes by (none chosen: every channel), in CHANNELS order."""
    chosen = (alert.filters or {}).get("channels") or CHANNELS
    return [channel for channel in CHANNELS if channel in chosen]


def review_alert(alert: Alert) -> dict:
    """Each channel the alert uses, with the words residents will get on it (compose
    preview), how many it reaches now (under DENSITY_MIN_COUNT: hidden_label), the
    cost on it and when its last message would go; and the totals. A cost over a
    hidden count is taken at its most, marked `cost_at_most`, as the preview does: an
    exact cost would tell the hidden count. The words are signed by the alert's force,
    also for another force's supervisor asked to approve it."""
    with forces.speaking_for(alert.force_id):
        return _review(alert)


def _review(alert: Alert) -> dict:
    words = compose_preview(
        title=alert.title,
        body=alert.body,
        mode=alert.mode,
        recording_id=alert.recording_id,
        question=alert.question,
        answer_options=alert.answer_options,
        confirm_receipt=alert.confirm_receipt,
        reference=alert.reference,
        title_cy=alert.title_cy,
        body_cy=alert.body_cy,
        question_cy=alert.question_cy,
        answer_options_cy=alert.answer_options_cy,
    )
    used = channels_used(alert)
    with read_only():
        counts = count_targets(db.session, audience_of(alert))
    most_hidden = current_app.config["DENSITY_MIN_COUNT"] - 1
    shown = {channel: suppressed(counts["channels"][channel]) for channel in used}
    finish = finish_estimate(shown)
    channels = []
    for channel in used:
        count = shown[channel]
        each = words[channel]["cost"]
        seconds = finish["channels"].get(channel, {}).get("seconds")
        channels.append(
            {
                "channel": channel,
                "name": str(CHANNEL_NAMES[channel]),
                "count": count,
                "count_label": hidden_label() if count is None else f"{count:,}",
                # "fewer than 5 texts", "1 call", "1,234 e-mails"
                "count_phrase": _messages(channel, count),
                "cost": round((most_hidden if count is None else count) * each, 2),
                "cost_at_most": count is None and each > 0,
                "finish_words": duration_words(seconds),
                # text, parts and encoding; subject and text; script, recording, minutes
                "words": words[channel],
            }
        )
    return {
        # Marked URGENT, as in the message that asked for approval.
        "urgent": alert.category in URGENT_REQUESTS,
        "residents": count_label(counts["residents"]),
        # As the page shows it (0: hidden), for the approval to check against.
        "residents_seen": suppressed(counts["residents"]) or 0,
        "channels": channels,
        "cost": round(sum(c["cost"] for c in channels), 2),
        "cost_at_most": any(c["cost_at_most"] for c in channels),
        "finish": finish,
        "finish_words": duration_words(finish["slowest_seconds"]),
    }


def _messages(channel: str, count: int | None) -> str:
    """A count of messages in the page's language: 1 text, 1,234 e-mails, fewer than
    5 calls (they were English words on a Welsh page: an outside check)."""
    shown = hidden_label() if count is None else f"{count:,}"
    many = 5 if count is None else count  # "fewer than 5" takes the plural
    if channel == "sms":
        return ngettext("%(count)s text", "%(count)s texts", many, count=shown)
    if channel == "voice":
        return ngettext("%(count)s call", "%(count)s calls", many, count=shown)
    return ngettext("%(count)s e-mail", "%(count)s e-mails", many, count=shown)
