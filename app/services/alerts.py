"""Preview who an alert reaches, write it, get it approved, schedule, send, follow up,
and follow its deliveries."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from shapely import wkb as shapely_wkb
from sqlalchemy import func, insert, literal, null, select, update

from app.dao import places as places_dao
from app.dao.audit import create_audit_event
from app.dao.targeting import (
    Audience,
    count_near_edge,
    count_targets,
    count_targets_by_group,
    find_target_cells,
    materialise_targets,
    suppressed,
    targeted_channels,
)
from app.extensions import db
from app.models import (
    ALERT_MODES,
    CATEGORIES,
    CHANNELS,
    MAX_ID,
    Alert,
    AlertRecording,
    Delivery,
    InterestGroup,
    Officer,
    Resident,
)
from app.services import message_text
from app.services.text import checked_field, clean_text
from geo.areas import AreaError, area_from_shapes, clean_shapes

log = logging.getLogger(__name__)

MAX_TITLE = 120
MAX_BODY = 1_000
FINISHED_STATUSES = ("possibly_sent", "sent", "delivered", "failed", "cancelled")
# Far enough ahead for any planned appeal; further is more likely a typo in the year.
MAX_SCHEDULE_DAYS = 30
# Roles that may approve other people's alerts.
APPROVERS = ("supervisor", "admin")


class AlertInvalid(ValueError):
    """The alert cannot be sent as it is; `errors` maps each field to what to fix."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class NotAllowed(PermissionError):
    """The officer may not do this to this alert; the message says why."""


@dataclass
class AlertDraft:
    """What the officer composed, before it is checked."""

    shapes: list = field(default_factory=list)
    title: str = ""
    body: str = ""
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


def draft_from_json(data: dict[str, Any]) -> AlertDraft:
    """An AlertDraft from the map page's JSON. Raises AlertInvalid for values of the
    wrong type (the page never sends them; a hand-made request might)."""
    errors: dict[str, str] = {}

    def strings(name: str) -> list[str]:
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors[name] = f"{name} must be a list of names."
            return []
        return value

    def whole_number(name: str) -> int | None:
        value = data.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
            errors[name] = f"{name} must be a whole number from 0 to {MAX_ID:,}."
            return None
        return value

    send_at = None
    if data.get("send_at"):
        try:
            send_at = datetime.fromisoformat(str(data["send_at"]))
        except ValueError:
            errors["send_at"] = "Give the time to send as a date and time, e.g. 2026-12-01 18:30."
        else:
            if send_at.tzinfo is None:
                errors["send_at"] = "Give the time to send with its time zone."
    shapes = data.get("shapes")
    draft = AlertDraft(
        shapes=shapes if isinstance(shapes, list) else [],
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        category=str(data.get("category") or "incident"),
        mode=str(data.get("mode") or "live"),
        groups=strings("groups"),
        channels=strings("channels"),
        parent_id=whole_number("parent_id"),
        audience=str(data.get("audience") or "area"),
        send_at=send_at,
        expected_residents=whole_number("expected_residents"),
        recording_id=whole_number("recording_id"),
    )
    if errors:
        raise AlertInvalid(errors)
    return draft


# --- who it reaches -----------------------------------------------------------------


def place_boundary(place_id: int):
    """A place's boundary (BNG) as a shapely geometry, or None."""
    boundary = places_dao.find_place_boundary_wkb(place_id)
    return None if boundary is None else shapely_wkb.loads(boundary)


@dataclass
class Target:
    audience: Audience
    area_wkb: bytes | None
    area_km2: float | None
    # What we changed in the drawn shapes to use them (e.g. closed an outline).
    notes: list[str] = field(default_factory=list)


def resolve_target(draft: AlertDraft, errors: dict[str, str]) -> Target | None:
    """The audience a draft describes, adding what is wrong to `errors`."""
    groups = tuple(sorted(set(draft.groups)))
    channels = tuple(sorted(set(draft.channels)))
    unknown_channels = set(channels) - set(CHANNELS)
    if unknown_channels:
        errors["channels"] = "Choose text, voice or e-mail."
    if groups:
        known = set(db.session.scalars(select(InterestGroup.slug)))
        if set(groups) - known:
            errors["groups"] = "One of the groups no longer exists. Reload the page."
    if draft.audience == "parent":
        parent = db.session.get(Alert, draft.parent_id) if draft.parent_id else None
        if (
            parent is None
            or parent.mode == "test"
            or parent.status
            not in (
                "sending",
                "sent",
                "cancelled",
            )
        ):
            errors["area"] = "The alert this follows up has not been sent. Choose an area."
            return None
        audience = Audience(parent_alert_id=parent.id, groups=groups, channels=channels)
        return Target(audience, _stored_area_wkb(parent.id), None)
    if draft.parent_id is not None and db.session.get(Alert, draft.parent_id) is None:
        errors["parent_id"] = "The alert this follows up no longer exists. Start a new alert."
        return None
    notes: list[str] = []
    try:
        area = area_from_shapes(draft.shapes, place_boundary=place_boundary, notes=notes)
    except AreaError as refusal:
        errors["area"] = str(refusal)
        return None
    audience = Audience(area_wkb=area.wkb, groups=groups, channels=channels)
    return Target(audience, area.wkb, round(area.area / 1e6, 3), notes)


def _stored_area_wkb(alert_id: int) -> bytes | None:
    found = db.session.scalar(select(func.ST_AsBinary(Alert.area)).where(Alert.id == alert_id))
    return bytes(found) if found is not None else None


def hidden_label() -> str:
    """What staff see instead of a count under DENSITY_MIN_COUNT."""
    return f"fewer than {current_app.config['DENSITY_MIN_COUNT']}"


def count_label(count: int) -> str:
    """A count of people as staff may read it: "1,234", or "fewer than 5"."""
    shown = suppressed(count)
    return hidden_label() if shown is None else f"{shown:,}"


def recipients_label(alert: Alert) -> str:
    """How many residents an alert is for, as staff may read it. Until it goes, the
    expected count of a pending or scheduled alert is a preview, small counts hidden;
    once sent, the real number (the delivery ledger is personal data under audit)."""
    count = alert.recipient_count or 0
    return f"{count:,}" if alert.sent_at is not None else count_label(count)


def preview_targets(draft: AlertDraft) -> dict:
    """Residents reached per channel and per group, residents near the edge, where they
    are (in squares, never a home), and how much of the area is outside the force.
    Every count under min_count is null and shown as hidden_label ("fewer than 5"):
    a tiny area round one postcode must not say that someone there is registered.
    Raises AlertInvalid."""
    errors: dict[str, str] = {}
    target = resolve_target(draft, errors)
    if errors or target is None:
        db.session.rollback()
        raise AlertInvalid(errors)
    config = current_app.config
    min_count = config["DENSITY_MIN_COUNT"]
    found = materialise_targets(db.session, target.audience)
    counts = count_targets(db.session, target.audience, found)
    residents = suppressed(counts["residents"])
    groups = count_targets_by_group(db.session, target.audience, found)
    edge = None
    if target.audience.area_wkb is not None:  # a follow-up to the same people has no edge
        edge = count_near_edge(db.session, target.audience)
        edge = {side: suppressed(n) for side, n in edge.items()}
    cells = find_target_cells(
        db.session,
        target.audience,
        cell_m=config["PREVIEW_CELL_M"],
        min_count=min_count,
        targets=found,
    )
    preview = {
        "residents": residents,
        "channels": {channel: suppressed(n) for channel, n in counts["channels"].items()},
        "groups": {slug: suppressed(n) for slug, n in groups.items()},
        "near_edge": edge,
        "cells": [{"residents": n, "geometry": geometry} for n, geometry in cells],
        "cell_m": config["PREVIEW_CELL_M"],
        "min_count": min_count,
        "hidden_label": hidden_label(),
        "area_km2": target.area_km2,
        "outside_force_km2": _outside_force_km2(target.area_wkb),
        # What we changed in the drawn shapes (an open outline closed), to show.
        "notes": target.notes,
        # From the count as shown: a threshold under min_count would otherwise tell which
        # side of it a hidden count lies. The send applies the rule to the real count.
        "needs_approval": needs_approval(draft.category, residents or 0),
    }
    db.session.rollback()  # read-only: end the transaction
    return preview


def _outside_force_km2(area_wkb: bytes | None) -> float:
    force = places_dao.find_force(current_app.config["FORCE_CODE"])
    if area_wkb is None or force is None:
        return 0.0
    return round(places_dao.area_outside_km2(force, area_wkb), 3)


def needs_approval(category: str, residents: int) -> bool:
    config = current_app.config
    return category in config["APPROVAL_CATEGORIES"] or residents > config["APPROVAL_THRESHOLD"]


# --- what it says -------------------------------------------------------------------


def compose_preview(
    *, title: str, body: str, mode: str = "live", recording_id: int | None = None
) -> dict:
    """Each channel's words as residents will get them, the SMS's encoding and
    segments, and what one message costs on each channel."""
    from app.channels.base import OutgoingMessage
    from app.channels.smtp import build_email

    config = current_app.config
    force = config["FORCE_NAME"]
    title, body = clean_text(title), clean_text(body, multiline=True)
    mode = mode if mode in ALERT_MODES else "live"
    sms = message_text.sms_text(title=title, body=body, force=force, mode=mode)
    length = message_text.sms_length(sms)
    script = message_text.voice_script(title=title, body=body, force=force, mode=mode)
    minutes = message_text.voice_minutes(script)
    recording = db.session.get(AlertRecording, recording_id) if recording_id else None
    if recording is not None:
        # Played twice, with the words before and after it.
        minutes = max(1, math.ceil((recording.seconds * 2 + 15) / 60))
        script = (
            f"This is a message from {force} Police. [Your recording, "
            f"{recording.seconds:.0f} seconds, played twice.] To stop these calls, call 101."
        )
    db.session.rollback()
    email = build_email(
        OutgoingMessage(
            delivery_id=0,
            alert_id=0,
            channel="email",
            recipient="resident@example.invalid",
            subject=message_text.email_subject(title=title, force=force, mode=mode),
            body=message_text.email_text(body=body, force=force, mode=mode),
            unsubscribe_url="https://example.invalid/unsubscribe",
        ),
        "alerts@example.invalid",
    )
    return {
        "sms": {
            "text": sms,
            **length.as_dict(),
            "max_segments": config["SMS_MAX_SEGMENTS"],
            "too_long": length.segments > config["SMS_MAX_SEGMENTS"],
            "cost": round(length.segments * config["SMS_PRICE_PER_SEGMENT"], 4),
        },
        "voice": {
            "script": script,
            "recording": recording is not None,
            "minutes": minutes,
            "cost": round(minutes * config["VOICE_PRICE_PER_MINUTE"], 4),
        },
        "email": {
            "subject": email["Subject"],
            "text": email.get_body(("plain",)).get_content(),
            "html": email.get_body(("html",)).get_content(),
            "cost": 0,
        },
    }


def _check_words(draft: AlertDraft, errors: dict[str, str]) -> tuple[str, str]:
    title = checked_field(errors, "title", draft.title, "The title")
    body = checked_field(errors, "body", draft.body, "The message", multiline=True)
    if "title" in errors:
        pass  # refused as text already
    elif not title:
        errors["title"] = "Give the alert a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title to {MAX_TITLE} characters (it is {len(title)})."
    if "body" in errors:
        pass  # refused as text already
    elif not body:
        errors["body"] = "Write the message."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Keep the message to {MAX_BODY:,} characters (it is {len(body):,})."
    elif not draft.channels or "sms" in draft.channels:
        force = current_app.config["FORCE_NAME"]
        sms = message_text.sms_text(title=title, body=body, force=force, mode=draft.mode)
        length = message_text.sms_length(sms)
        most = current_app.config["SMS_MAX_SEGMENTS"]
        if length.segments > most:
            over = max(1, length.units - most * length.per_segment)
            hint = (
                f" Replacing {''.join(length.ucs2_characters)} would fit far more in each."
                if length.ucs2_characters
                else ""
            )
            errors["body"] = (
                f"As a text message this is {length.segments} parts; at most {most} are "
                f"allowed. Shorten it by about {over} characters.{hint}"
            )
    if draft.category not in CATEGORIES:
        errors["category"] = "Choose what the alert is about."
    if (
        draft.recording_id is not None
        and db.session.get(AlertRecording, draft.recording_id) is None
    ):
        errors["recording"] = "That recording is no longer here. Upload it again."
    if draft.mode not in ("live", "exercise"):
        errors["mode"] = "Choose live or exercise."
    return title, body


def _check_schedule(draft: AlertDraft, errors: dict[str, str]) -> None:
    if draft.send_at is None:
        return
    now = datetime.now(UTC)
    if draft.send_at <= now:
        errors["send_at"] = "That time has passed. Choose a later time, or send now."
    elif draft.send_at > now + timedelta(days=MAX_SCHEDULE_DAYS):
        errors["send_at"] = f"Schedule at most {MAX_SCHEDULE_DAYS} days ahead."


# --- submitting ---------------------------------------------------------------------


@dataclass
class SentAlert:
    alert: Alert
    deliveries: int


def submit_alert(
    officer: Officer,
    draft: AlertDraft | None = None,
    **fields: Any,
) -> SentAlert:
    """Record the alert, then, as its rules say: send it now (every delivery written
    in this transaction, then queued), schedule it, or hold it for a supervisor's
    approval. Raises AlertInvalid."""
    draft = draft or AlertDraft(**fields)
    errors: dict[str, str] = {}
    title, body = _check_words(draft, errors)
    recording = db.session.get(AlertRecording, draft.recording_id) if draft.recording_id else None
    if recording is not None and recording.created_by_id != officer.id:
        errors["recording"] = "Use a recording you uploaded yourself."
    _check_schedule(draft, errors)
    target = resolve_target(draft, errors)
    if errors or target is None:
        db.session.rollback()
        raise AlertInvalid(errors)

    residents = count_targets(db.session, target.audience)["residents"]
    if residents == 0:
        db.session.rollback()
        # The preview said "fewer than 5"; this answer says "none". Tried on a tiny area
        # it would say whether anyone is registered there, so who asked is recorded.
        create_audit_event(
            "alert.refused_nobody_inside",
            actor_id=officer.id,
            details={"area_km2": target.area_km2, "audience": draft.audience},
        )
        db.session.commit()
        raise AlertInvalid(
            {"area": "Nobody registered is inside this area. Make it larger or move it."}
        )
    if draft.expected_residents is not None and suppressed(residents) != suppressed(
        draft.expected_residents
    ):
        # Someone registered or left since the officer saw the count: they must
        # confirm the number that will actually be sent. Compared as the officer saw
        # it: "fewer than 5" (the page sends 0) matches any count under the minimum.
        db.session.rollback()
        raise AlertInvalid(
            {
                "area": f"The area now reaches {count_label(residents)} residents, not "
                f"{count_label(draft.expected_residents)}. Check the new count and send again."
            }
        )
    alert = Alert(
        created_by_id=officer.id,
        title=title,
        body=body,
        category=draft.category,
        mode=draft.mode,
        shapes=clean_shapes(draft.shapes) if draft.audience == "area" else [],
        filters={
            "groups": list(target.audience.groups),
            "channels": list(target.audience.channels),
        },
        area=func.ST_GeomFromWKB(target.area_wkb, 27700) if target.area_wkb else None,
        parent_id=draft.parent_id,
        audience="parent" if draft.audience == "parent" else "area",
        send_at=draft.send_at,
        recording_id=draft.recording_id,
        recipient_count=residents,
        status="draft",
    )
    db.session.add(alert)
    db.session.flush()
    details = {
        "title": title,
        "category": draft.category,
        "mode": draft.mode,
        "residents": residents,
        "shapes": len(draft.shapes),
        "parent_id": draft.parent_id,
    }
    create_audit_event(
        "alert.drafted",
        actor_id=officer.id,
        subject_type="alert",
        subject_id=alert.id,
        details=details,
    )
    count = 0
    if needs_approval(draft.category, residents):
        alert.status = "pending_approval"
        create_audit_event(
            "alert.approval_requested",
            actor_id=officer.id,
            subject_type="alert",
            subject_id=alert.id,
        )
        db.session.commit()
    elif draft.send_at is not None:
        _schedule(alert, officer)
        db.session.commit()
    else:
        count = _fan_out(alert, officer)
    return SentAlert(alert=alert, deliveries=count)


def _schedule(alert: Alert, officer: Officer) -> None:
    alert.status = "scheduled"
    create_audit_event(
        "alert.scheduled",
        actor_id=officer.id,
        subject_type="alert",
        subject_id=alert.id,
        details={"send_at": alert.send_at.isoformat() if alert.send_at else None},
    )


def _fan_out(alert: Alert, officer: Officer | None) -> int:
    """Write one delivery per resident, channel and address in this transaction, mark
    the alert sending, commit, then queue the work. Returns the deliveries written."""
    filters = alert.filters or {}
    audience = Audience(
        area_wkb=_stored_area_wkb(alert.id),
        parent_alert_id=alert.parent_id if alert.audience == "parent" else None,
        groups=tuple(filters.get("groups") or ()),
        channels=tuple(filters.get("channels") or ()),
    )
    try:
        targets = targeted_channels(audience).subquery()
        # Quiet hours hold routine alerts until the resident's morning; urgent ones go.
        urgent = alert.category in current_app.config["URGENT_CATEGORIES"]
        held_until = (
            null()
            if urgent or alert.mode == "test"
            else func.quiet_hours_release(Resident.quiet_from, Resident.quiet_until, func.now())
        )
        inserted = (
            insert(Delivery)
            .from_select(
                ["alert_id", "resident_id", "channel", "address", "next_attempt_at"],
                select(
                    literal(alert.id),
                    targets.c.resident_id,
                    targets.c.channel,
                    targets.c.address,
                    held_until,
                ).join(Resident, Resident.id == targets.c.resident_id),
            )
            .returning(Delivery.id)
            .cte("inserted")
        )
        count = db.session.scalar(select(func.count()).select_from(inserted))
        alert.recipient_count = db.session.scalar(
            select(func.count(func.distinct(Delivery.resident_id))).where(
                Delivery.alert_id == alert.id
            )
        )
        alert.status = "sending" if count else "sent"
        alert.sent_at = func.now()
        create_audit_event(
            "alert.sent",
            actor_id=officer.id if officer else None,
            subject_type="alert",
            subject_id=alert.id,
            details={
                "title": alert.title,
                "mode": alert.mode,
                "deliveries": count,
                "residents": alert.recipient_count,
            },
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    _enqueue_safely(alert.id)
    return count


def _enqueue_safely(alert_id: int) -> None:
    try:
        enqueue_alert_deliveries(alert_id)
    except RedisError:
        # The alert and its deliveries are safely recorded; the sweeper queues them
        # when Redis is back.
        log.exception("alert %s recorded but not queued: Redis unavailable", alert_id)


def send_test_to_self(officer: Officer, *, title: str, body: str) -> SentAlert:
    """The message, marked as a test, to the officer's own e-mail (and mobile, if
    they gave one): nobody else. Raises AlertInvalid."""
    errors: dict[str, str] = {}
    title, body = _check_words(AlertDraft(title=title, body=body), errors)
    if errors:
        raise AlertInvalid(errors)
    alert = Alert(
        created_by_id=officer.id,
        title=title,
        body=body,
        mode="test",
        shapes=[],
        recipient_count=1,
        status="sending",
        sent_at=func.now(),
    )
    db.session.add(alert)
    db.session.flush()
    addresses = [("email", officer.email)] + ([("sms", officer.mobile)] if officer.mobile else [])
    for channel, address in addresses:
        db.session.add(Delivery(alert_id=alert.id, channel=channel, address=address))
    create_audit_event(
        "alert.test_sent",
        actor_id=officer.id,
        subject_type="alert",
        subject_id=alert.id,
        details={"channels": [c for c, _ in addresses]},
    )
    db.session.commit()
    _enqueue_safely(alert.id)
    return SentAlert(alert=alert, deliveries=len(addresses))


# --- approving, scheduling, cancelling ----------------------------------------------


def _alert_for_update(alert_id: int) -> Alert:
    alert = db.session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None:
        db.session.rollback()
        raise NotAllowed("There is no such alert.")
    return alert


def _pending_alert_to_decide(supervisor: Officer, alert_id: int, verb: str) -> Alert:
    """The alert, locked, if it waits for approval and this officer may decide on it;
    the decision is stamped with who and when. Raises NotAllowed."""
    alert = _alert_for_update(alert_id)
    if supervisor.role not in APPROVERS:
        db.session.rollback()
        raise NotAllowed(f"Only a supervisor can {verb} alerts.")
    if alert.status != "pending_approval":
        db.session.rollback()
        raise NotAllowed(f"This alert is {alert.status.replace('_', ' ')}: nothing to {verb}.")
    alert.decided_by_id = supervisor.id
    alert.decided_at = func.now()
    return alert


def approve_alert(supervisor: Officer, alert_id: int) -> Alert:
    """A supervisor approves someone else's alert: it goes now, or at its time.
    Raises NotAllowed."""
    alert = _pending_alert_to_decide(supervisor, alert_id, "approve")
    if alert.created_by_id == supervisor.id:
        db.session.rollback()
        raise NotAllowed("You wrote this alert: another supervisor must approve it.")
    create_audit_event(
        "alert.approved", actor_id=supervisor.id, subject_type="alert", subject_id=alert.id
    )
    if alert.send_at is not None and alert.send_at > datetime.now(UTC):
        _schedule(alert, supervisor)
        db.session.commit()
    else:
        _fan_out(alert, supervisor)
    return alert


def reject_alert(supervisor: Officer, alert_id: int, reason: str) -> Alert:
    """Send it back with a reason the author can act on. Raises NotAllowed or
    AlertInvalid."""
    errors: dict[str, str] = {}
    reason = checked_field(errors, "reason", reason, "The reason", multiline=True)
    if errors:
        raise AlertInvalid(errors)
    if not reason:
        raise AlertInvalid({"reason": "Say why, so the officer can put it right."})
    alert = _pending_alert_to_decide(supervisor, alert_id, "reject")
    alert.status = "rejected"
    alert.rejection_reason = reason[:1000]
    create_audit_event(
        "alert.rejected",
        actor_id=supervisor.id,
        subject_type="alert",
        subject_id=alert.id,
        details={"reason": reason[:1000]},
    )
    db.session.commit()
    return alert


def release_scheduled_alerts() -> int:
    """Send every scheduled alert whose time has come (the sweeper calls this).
    Safe to run twice at once: each alert is locked and rechecked."""
    due = list(
        db.session.scalars(
            select(Alert.id).where(Alert.status == "scheduled", Alert.send_at <= func.now())
        )
    )
    db.session.rollback()
    released = 0
    for alert_id in due:
        alert = db.session.scalar(
            select(Alert)
            .where(Alert.id == alert_id, Alert.status == "scheduled")
            .with_for_update(skip_locked=True)
        )
        if alert is None:
            db.session.rollback()
            continue
        _fan_out(alert, None)
        released += 1
    return released


def find_pending_approval() -> list[Alert]:
    return list(
        db.session.scalars(
            select(Alert).where(Alert.status == "pending_approval").order_by(Alert.created_at)
        )
    )


def enqueue_alert_deliveries(alert_id: int) -> int:
    """Queue every still-queued delivery of an alert in batches. Safe to repeat: a job
    only acts on deliveries still in the state it expects."""
    from app.services.dispatch import enqueue

    ids = list(
        db.session.scalars(
            select(Delivery.id)
            .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
            .order_by(Delivery.id)
        )
    )
    db.session.rollback()
    enqueue(ids)
    log.info("alert %s: queued %s deliveries", alert_id, len(ids))
    return len(ids)


def cancel_alert(officer: Officer, alert_id: int) -> int:
    """Stop an alert: nothing more goes out (a scheduled or unapproved one never does).
    Messages already handed to a provider cannot be recalled. Returns how many
    deliveries were cancelled, or -1 when the alert had already finished."""
    # Locked, so that an approval or a scheduled release at the same moment either
    # happens first (and its deliveries are cancelled here) or finds it cancelled.
    alert = db.session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None or alert.status not in ("sending", "draft", "pending_approval", "scheduled"):
        db.session.rollback()
        return -1
    cancelled = db.session.execute(
        update(Delivery)
        .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
        .values(
            status="cancelled",
            reason=f"alert cancelled by {officer.name}",
            finished_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Delivery.id)
    ).all()
    alert.status = "cancelled"
    alert.cancelled_at = func.now()
    alert.cancelled_by_id = officer.id
    create_audit_event(
        "alert.cancelled",
        actor_id=officer.id,
        subject_type="alert",
        subject_id=alert_id,
        details={"deliveries_cancelled": len(cancelled)},
    )
    db.session.commit()
    return len(cancelled)


def find_thread(alert: Alert) -> list[Alert]:
    """The original alert and every follow-up of it, oldest first."""
    root = alert
    while root.parent is not None:
        root = root.parent
    return [root] + list(
        db.session.scalars(
            select(Alert).where(Alert.parent_id == root.id).order_by(Alert.created_at)
        )
    )


def alert_progress(alert_id: int) -> dict:
    """Counts of deliveries per channel and status, and whether the alert is finished."""
    rows = db.session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.alert_id == alert_id)
        .group_by(Delivery.channel, Delivery.status)
    ).all()
    by_channel: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for channel, status, count in rows:
        by_channel.setdefault(channel, {})[status] = count
        totals[status] = totals.get(status, 0) + count
    total = sum(totals.values())
    done = sum(totals.get(status, 0) for status in FINISHED_STATUSES)
    db.session.rollback()
    return {
        "total": total,
        "by_status": totals,
        "by_channel": by_channel,
        "finished": done == total,
    }
