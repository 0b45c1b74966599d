"""When the last message of an alert would go, before it is sent: each channel's
provider limit and the queue already waiting."""

from __future__ import annotations

import math
import time

from flask import current_app
from flask_babel import gettext

from app.dao import outbound as outbound_dao

# The clock the queue's count is kept by (a test moves it).
_clock = time.monotonic

# Beyond this, a voice alert is offered as texts instead.
SLOW_VOICE_SECONDS = 3600


def per_second(channel: str) -> float:
    """The rate a channel goes at: our limit when one is set (SMS_PER_SECOND...), else
    what the provider takes by default (ESTIMATE_*_PER_SECOND: Twilio places 1 call a
    second unless the account is raised); for calls, no faster than the lines allow
    (VOICE_LINES calls at once, each lasting about ESTIMATE_CALL_SECONDS)."""
    config = current_app.config
    rate = config["RATE_LIMITS"].get(channel) or config["ESTIMATE_RATES"][channel]
    if channel == "voice" and config["VOICE_LINES"]:
        rate = min(rate, config["VOICE_LINES"] / config["ESTIMATE_CALL_SECONDS"])
    return rate if rate > 0 else 1.0


def finish_estimate(channels: dict[str, int | None]) -> dict:
    """Seconds until each channel's last message goes, for counts as staff see them (a
    hidden count is taken at its most, so the estimate tells no more than the count)."""
    most_hidden = current_app.config["DENSITY_MIN_COUNT"] - 1
    waiting = waiting_by_channel()
    found: dict[str, dict] = {}
    for channel, count in channels.items():
        messages = most_hidden if count is None else count
        if not messages:
            continue
        rate = per_second(channel)
        ahead = waiting.get(channel, 0)
        found[channel] = {
            "seconds": math.ceil((ahead + messages) / rate),
            "per_second": rate,
            "waiting": ahead,
        }
    slowest = max((c["seconds"] for c in found.values()), default=None)
    voice = found.get("voice")
    return {
        "channels": found,
        "slowest_seconds": slowest,
        "slow_voice": bool(voice and voice["seconds"] > SLOW_VOICE_SECONDS),
    }


def waiting_by_channel() -> dict[str, int]:
    """The messages waiting for a provider, by channel, as counted at most
    QUEUE_COUNT_SECONDS ago in this process. Every preview shows the queue; while a
    force-wide alert is going, counting a million waiting messages for each preview of
    each officer would cost the database far more than the preview itself, and the
    estimate does not need the last second's figure."""
    keep = current_app.config["QUEUE_COUNT_SECONDS"]
    counted_at, waiting = current_app.extensions.get("queue_waiting", (None, None))
    now = _clock()
    if counted_at is None or now - counted_at >= keep:
        waiting = outbound_dao.waiting_by_channel()
        current_app.extensions["queue_waiting"] = (now, waiting)
    return waiting


def duration_words(seconds: int | None) -> str:
    """
    >>> duration_words(10_000), duration_words(59), duration_words(600)
    ('2 h 47 min', 'under a minute', '10 min')
    """
    if seconds is None:
        return ""
    if seconds < 60:
        return gettext("under a minute")
    minutes = round(seconds / 60)
    if minutes < 60:
        return gettext("%(minutes)s min", minutes=minutes)
    return gettext("%(hours)s h %(minutes)s min", hours=minutes // 60, minutes=minutes % 60)
