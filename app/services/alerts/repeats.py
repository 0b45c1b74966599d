"""The same alert sent twice in moments (a double tap, a retry after the signal
dropped, a second tab) is sent once: each submission is keyed by what it sends, and
one with the key of an alert the officer sent moments ago is that alert. An alert is
keyed without who sends it: the same words to the same residents from two of a force's
staff in moments went twice (an outside check: an officer, then their supervisor);
the second is refused, saying who sent the first. A test is its officer's own."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata

from flask import current_app
from sqlalchemy import func, select

from app.dao.locks import lock_until_commit
from app.extensions import db
from app.models import CHANNELS, Alert, Officer
from app.services.alerts.drafts import AlertDraft
from geo.projection import BNG


def repeat_key(officer: Officer, draft: AlertDraft, kind: str = "alert") -> str:
    """What the officer is sending, as a key: everything in the draft but the count
    they were shown (a retry may carry a newer one). Lists whose order and repeats mean
    nothing (channels, groups, the shapes that make the area) are keyed as sets, so
    that ["sms", "email"] and ["email", "sms", "sms"] are the same alert, sent once.
    The answers' order is kept: it numbers them."""
    sent = {k: v for k, v in dataclasses.asdict(draft).items() if k != "expected_residents"}
    if kind == "test":
        # A test goes to the officer alone, now: who the alert would reach is no part
        # of it, and a test moved to another area was sent again (14 in 2 s, an
        # outside check, until the hourly limit stopped it).
        for unused in ("shapes", "groups", "parent_id", "audience", "send_at"):
            sent.pop(unused, None)
    # Words as they are kept (checked_text: trimmed, lines ended alike, composed): a
    # trailing space or line sent the same alert again (an outside re-check).
    for name, value in sent.items():
        if isinstance(value, str):
            value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
            sent[name] = unicodedata.normalize("NFC", value)
    for name in ("channels", "groups", "shapes"):
        items = sent.get(name) or []
        as_text = {json.dumps(item, sort_keys=True, default=str) for item in items}
        sent[name] = sorted(as_text)
    sender = officer.id if kind == "test" else f"force:{officer.force_id}"
    words = json.dumps([sender, kind, sent], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(words.encode("utf-8", "surrogatepass")).hexdigest()


def sent_moments_ago(officer: Officer, repeat_key: str) -> Alert | None:
    """The alert with these very contents sent within ALERT_REPEAT_SECONDS (by this
    officer, or for an alert by anyone of their force: the key says which), if any: a
    double tap, a retry after the signal dropped, a second tab or a colleague sends the
    same alert again, and residents must not get it twice. Submissions of one key take
    turns (a lock until the transaction ends), so two at once cannot both miss the
    other."""
    seconds = current_app.config["ALERT_REPEAT_SECONDS"]
    if seconds <= 0:
        return None
    lock_until_commit(db.session, f"alert-submit:{repeat_key}")
    return db.session.scalars(
        select(Alert)
        .where(
            Alert.force_id == officer.force_id,
            Alert.repeat_key == repeat_key,
            # A cancelled or rejected one is no reason not to send it now.
            Alert.status.not_in(("cancelled", "rejected")),
            Alert.created_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds),
        )
        .order_by(Alert.id.desc())
        .limit(1)
    ).first()


def words_as_read(text: str) -> str:
    """Words as a reader takes them: case, spacing and the punctuation at the end do
    not make another message (a double space, a full stop added or lower case sent the
    same words again: a re-check).

    >>> words_as_read("  Gas leak  on Queen St. ") == words_as_read("gas leak on queen st")
    True
    """
    folded = " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())
    return folded.rstrip(" .!?,;:")


def same_words_moments_ago(
    officer: Officer, title: str, body: str, area_wkb: bytes, channels: tuple[str, ...]
) -> Alert | None:
    """An alert of the officer's force with these words (as read: words_as_read), sent
    within ALERT_REPEAT_SECONDS to an area that overlaps `area_wkb`, if any. The same
    alert by a colleague with the circle drawn at 1,200 m, not 1,000, went again in
    full: every resident of the first got it twice, and its all-clear too (an outside
    check). Submissions of the same words take turns, as those of one key do."""
    seconds = current_app.config["ALERT_REPEAT_SECONDS"]
    if seconds <= 0:
        return None
    title, body = words_as_read(title), words_as_read(body)
    words = hashlib.sha256(f"{officer.force_id}\x00{title}\x00{body}".encode()).hexdigest()
    lock_until_commit(db.session, f"alert-words:{words}")
    found = db.session.scalars(
        select(Alert)
        .where(
            Alert.force_id == officer.force_id,
            Alert.mode != "test",
            Alert.status.not_in(("cancelled", "rejected", "draft")),
            Alert.created_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds),
            Alert.area.is_not(None),
            func.ST_Intersects(Alert.area, func.ST_GeomFromWKB(area_wkb, BNG)),
        )
        .order_by(Alert.id.desc())
    ).all()
    # Only by a channel the earlier one used (no channels: every one) is it twice.
    wanted = set(channels or CHANNELS)
    return next(
        (
            a
            for a in found
            if (words_as_read(a.title), words_as_read(a.body)) == (title, body)
            and wanted & set((a.filters or {}).get("channels") or CHANNELS)
        ),
        None,
    )
