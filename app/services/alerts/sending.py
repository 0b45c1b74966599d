"""Sending an alert: one delivery per resident, channel and address written in the
caller's transaction, queued once it is committed; a test to the officer alone; the
sweeper's release of scheduled alerts; and cancelling."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from sqlalchemy import (
    Integer,
    any_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from app.dao import forces as forces_dao
from app.dao import outbound as ledger_sql
from app.dao.audit import create_audit_event
from app.dao.locks import lock_until_commit
from app.dao.targeting import Audience, reaching_force, targeted_channels
from app.extensions import db
from app.models import CHANNELS, Alert, Delivery, Officer, Resident
from app.services.alerts.compose import check_own_recording, check_words
from app.services.alerts.drafts import AlertDraft, AlertInvalid
from app.services.alerts.lifecycle import (
    TEST_AUDIENCE,
    NotAllowed,
    audit,
    is_test,
    lock_alert,
    lock_original_of,
    require,
    transition,
)
from app.services.alerts.repeats import repeat_key, sent_moments_ago
from app.services.alerts.targeting import audience_of
from app.services.alerts.threads import is_urgent
from app.services.dispatch import enqueue_alert_range
from app.services.transaction import read_only, transaction

log = logging.getLogger(__name__)


@dataclass
class SentAlert:
    alert: Alert
    deliveries: int
    # The officer had sent this very alert moments before: this is that one, and
    # nothing was written or sent again.
    repeated: bool = False


def send_now_or_later(alert: Alert, actor: Officer | None, *, later: bool) -> int | None:
    """Schedule the alert (later) or write its deliveries now, in the caller's
    transaction. Returns the deliveries written, or None when scheduled: the caller
    queues them (enqueue_safely) once it has committed."""
    if later:
        send_at = alert.send_at.isoformat() if alert.send_at else None
        transition(alert, "schedule", actor, {"send_at": send_at})
        return None
    return write_deliveries(alert, actor)


def write_deliveries(alert: Alert, actor: Officer | None) -> int:
    """Write one delivery per resident, channel and address and mark the alert sending,
    in the caller's transaction: its own force's residents, then those of every force
    that approved sending it to theirs (migration 0038). Returns the deliveries
    written. Raises NotAllowed."""
    ledger_sql.hold_leavers_back()
    count, alert.recipient_count = _insert_deliveries(alert, audience_of(alert))
    alert.sent_at = func.now()
    details = {
        "title": alert.title,
        "mode": alert.mode,
        "deliveries": count,
        "residents": alert.recipient_count,
    }
    transition(alert, "send", actor, details)
    _record_follow_up_to_neighbours(alert, actor)
    count += write_force_parts(alert, actor)
    if alert.category == "all_clear" and alert.parent_id is not None:
        _drop_held_before_all_clear(alert, actor)
        _take_down_a_found_persons_appeal(alert, actor)
    elif alert.parent_id is not None:
        _kept_down_with_its_original(alert, actor)
    if not count:
        transition(alert, "finish", actor)
    return count


def _record_follow_up_to_neighbours(follow_up: Alert, actor: Officer | None) -> None:
    """A follow-up to the same people reaches a neighbouring force's residents the
    alert reached with its approval, without asking it again (whoever heard of the
    danger hears it is over): said in both forces' logs, in the caller's transaction.
    The neighbour's log had nothing of the updates its residents were sent (an
    outside check); its staff read them on the page of the alert they approved."""
    if follow_up.audience != "parent":
        return
    # Only an alert a neighbour approved reached anyone through it: the count is not
    # paid over a force-wide follow-up's own rows for nothing.
    if not any(ask.status == "approved" for ask in forces_dao.find_asks(follow_up.parent_id)):
        return
    for force_id, deliveries, residents in ledger_sql.count_via_forces(follow_up.id):
        details = {
            "force_id": force_id,
            "follow_up_of": follow_up.parent_id,
            "deliveries": deliveries,
            "residents": residents,
        }
        audit(follow_up, "alert.sent_to_force", actor, details)
        create_audit_event(
            "alert.sent_to_force",
            actor_id=None,
            subject_type="alert",
            subject_id=follow_up.id,
            details={**details, "from_force_id": follow_up.force_id},
            force_id=force_id,
        )


def _drop_held_before_all_clear(all_clear: Alert, actor: Officer | None) -> int:
    """The thread's earlier messages not sent yet are not sent: the all-clear goes
    instead (held as long, unless urgent). Held for quiet hours, a resident got the
    alert and its all-clear at once, in either order; tried again after a provider's
    outage, after it (reviews); not yet tried behind a slow provider, after it too (an
    outside check). Returns how many were stopped; the sweeper marks their alerts
    sent."""
    dropped = ledger_sql.cancel_unsent_before_all_clear(all_clear.parent_id, all_clear.id)
    if dropped:
        audit(all_clear, "alert.held_dropped_for_all_clear", actor, {"messages": dropped})
    return dropped


def _take_down_a_found_persons_appeal(all_clear: Alert, actor: Officer | None) -> None:
    """A missing person's appeal (their name, what they wore) is taken off the public
    pages, the feeds and CAP when its all-clear goes: it stayed there for good, and
    only the database could take it down (an outside check). The all-clear stays, as
    the officer wrote it."""
    root = db.session.get(Alert, all_clear.parent_id)
    if root is None or root.category != "missing_person":
        return
    # Taken down by no one (taken_down_by_id NULL, as migration 0069 has it): by its
    # all-clear. Its audit event names the officer who sent that.
    taken = _take_down([root.id], None)
    if taken:
        audit(root, "alert.taken_down", actor, {"pages": taken, "by": "its all-clear"})


def _kept_down_with_its_original(follow_up: Alert, actor: Officer | None) -> None:
    """An update to an alert whose public page was taken down has none either, as a
    take-down takes its updates' (not its all-clear's): an update to a missing person's
    appeal taken down will name them, and went on the pages, the feeds and CAP (an
    outside check). By no one; its audit event names the officer who sent it."""
    original = db.session.get(Alert, follow_up.parent_id)
    if original is None or original.taken_down_at is None:
        return
    follow_up.taken_down_at = func.now()
    audit(follow_up, "alert.taken_down", actor, {"pages": 1, "by": "its original's take-down"})


def _take_down(alert_ids: list[int], officer: Officer | None, *, follow_ups: bool = True) -> int:
    """Take down these alerts' public pages and (`follow_ups`) their follow-ups' but
    all-clears, in the caller's transaction; how many were up."""
    chosen = Alert.id.in_(alert_ids)
    if follow_ups:
        chosen |= Alert.id.in_(
            select(Alert.id).where(Alert.parent_id.in_(alert_ids), Alert.category != "all_clear")
        )
    return len(
        db.session.scalars(
            update(Alert)
            .where(chosen, Alert.taken_down_at.is_(None))
            .values(taken_down_at=func.now(), taken_down_by_id=officer.id if officer else None)
            .returning(Alert.id)
        ).all()
    )


def take_down_public_page(officer: Officer, alert_id: int) -> int:
    """Take an alert's public page down (its feed entries and CAP document with it):
    an original's takes its follow-ups' down too, but its all-clear's; a follow-up's
    is its own. Returns how many pages were up; 0 when none was (never sent, or
    taken down already). Residents keep what they were sent, and their own page of it;
    the message check still says it was ours."""
    with transaction():
        alert = lock_alert(alert_id)
        if alert.sent_at is None:
            return 0
        taken = _take_down([alert.id], officer, follow_ups=alert.parent_id is None)
        if taken:
            audit(alert, "alert.taken_down", officer, {"pages": taken})
    return taken


def write_force_parts(alert: Alert, actor: Officer | None, reached: list[int] | None = None) -> int:
    """Write the deliveries to the residents of each force that approved the alert and
    has not had them yet, in the caller's transaction (which holds the alert locked).
    Someone the alert already reaches at the same address (a resident with places in
    both forces, a number registered twice) is not sent it again. Returns the
    deliveries written; `reached` gets the residents they are for."""
    ledger_sql.hold_leavers_back()
    written = 0
    for part in forces_dao.find_approved_unsent(alert.id):
        audience = replace(audience_of(alert), force_id=part.force_id)
        count, residents = _insert_deliveries(
            alert, audience, skip_reached=True, reached=reached, released_now=True, via_force=True
        )
        part.sent_at = func.now()
        part.residents = residents
        alert.recipient_count = (alert.recipient_count or 0) + residents
        if count and alert.status == "sent":
            transition(alert, "send_to_force", actor)
        audit(
            alert,
            "alert.sent_to_force",
            actor,
            {"force_id": part.force_id, "deliveries": count, "residents": residents},
        )
        written += count
    return written


def catch_up_follow_ups(
    alert: Alert, actor: Officer | None, newly_reached: list[int], force_id: int
) -> list[int]:
    """After force `force_id` approved an alert late: its updates already sent to the
    same people go to the residents that approval added (`newly_reached`, as
    write_force_parts found them) and to nobody else, each update as it went (its
    groups and channels; nobody twice), then the updates of those updates to whoever
    each reached anew, in the caller's transaction, which holds the alert locked
    (each update is locked after its original). Returns the ids of the updates with
    deliveries written, each after its original's, to queue once committed."""
    caught: list[int] = []
    if not newly_reached:
        return caught
    follow_ups = db.session.scalars(
        select(Alert)
        .where(
            Alert.parent_id == alert.id,
            Alert.audience == "parent",
            Alert.status.in_(("sending", "sent")),
        )
        .order_by(Alert.id)
        .with_for_update()
    )
    for follow_up in follow_ups:
        if is_test(follow_up):
            continue
        added: list[int] = []
        count, residents = _insert_deliveries(
            follow_up,
            audience_of(follow_up),
            skip_reached=True,
            only=newly_reached,
            reached=added,
            released_now=True,
        )
        if not count:
            continue
        follow_up.recipient_count = (follow_up.recipient_count or 0) + residents
        if follow_up.status == "sent":
            transition(follow_up, "send_to_force", actor)
        audit(
            follow_up,
            "alert.sent_to_force",
            actor,
            {
                "force_id": force_id,
                "follow_up_of": alert.id,
                "deliveries": count,
                "residents": residents,
            },
        )
        caught.append(follow_up.id)
        # An update of this update, to the same people, went to whoever this one
        # reached: those it reaches now get it too, and so on down the chain.
        caught.extend(catch_up_follow_ups(follow_up, actor, added, force_id))
    return caught


def _insert_deliveries(
    alert: Alert,
    audience: Audience,
    *,
    skip_reached: bool = False,
    only: list[int] | None = None,
    reached: list[int] | None = None,
    released_now: bool = False,
    via_force: bool = False,
) -> tuple[int, int]:
    """Insert the audience's deliveries of the alert; (deliveries, residents) written.
    skip_reached: not to a channel and address the alert already has a delivery to;
    only: to these residents of the audience and no others; reached: gets the
    residents written to; released_now: released to them now, later than the alert
    (a neighbouring force's late approval), which the report's speed counts from;
    via_force: through the audience's force, a neighbour's (its approval's part)."""
    targets = targeted_channels(audience).subquery()
    # Quiet hours hold routine alerts until the resident's morning; urgent ones go.
    urgent = is_urgent(alert)
    held_until = (
        null()
        if urgent or is_test(alert)
        else func.quiet_hours_release(Resident.quiet_from, Resident.quiet_until, func.now())
    )
    created_at = select(Alert.created_at).where(Alert.id == alert.id).scalar_subquery()
    via = (
        _via_force(audience, targets.c.resident_id) if not via_force else literal(audience.force_id)
    )
    rows = select(
        literal(alert.id),
        created_at,
        targets.c.resident_id,
        targets.c.channel,
        targets.c.address,
        held_until,
        *([func.now()] if released_now else []),
        via,
    ).join(Resident, Resident.id == targets.c.resident_id)
    if skip_reached:
        earlier = aliased(Delivery)
        rows = rows.where(
            ~exists().where(
                earlier.alert_id == alert.id,
                earlier.alert_created_at == created_at,
                earlier.channel == targets.c.channel,
                earlier.address == targets.c.address,
            )
        )
    if only is not None:
        rows = rows.where(targets.c.resident_id == any_(bindparam("only", only, ARRAY(Integer))))
    inserted = (
        insert(Delivery)
        .from_select(
            [
                "alert_id",
                "alert_created_at",
                "resident_id",
                "channel",
                "address",
                "next_attempt_at",
                *(["released_at"] if released_now else []),
                "via_force_id",
            ],
            rows,
        )
        .returning(Delivery.id, Delivery.resident_id)
        .cte("inserted")
    )
    count, residents, ids = db.session.execute(
        select(
            func.count(),
            func.count(func.distinct(inserted.c.resident_id)),
            # The residents themselves only when asked (a force's part, not a send).
            func.array_agg(func.distinct(inserted.c.resident_id))
            if reached is not None
            else null(),
        )
    ).one()
    if reached is not None:
        reached.extend(ids or ())
    return count, residents


def _via_force(audience, resident_id):
    """The force a delivery reaches its resident through: for a follow-up of an alert
    a neighbouring force approved, the one its original reached them through
    (targeting.reaching_force); else NULL, the alert's own. Asked row by row only
    then: a force-wide all-clear of 1.5 million would pay a lookup a row."""
    if audience.parent_alert_id is None:
        return null()
    parts = forces_dao.find_asks(audience.parent_alert_id)
    if not any(part.status == "approved" and part.sent_at is not None for part in parts):
        return null()
    return reaching_force(audience, resident_id)


def enqueue_alert_deliveries(alert_id: int) -> int:
    """Queue every still-queued delivery of an alert in batches. Safe to repeat: a job
    only acts on deliveries still in the state it expects."""
    with read_only():
        by_channel = db.session.execute(
            select(Delivery.channel, func.min(Delivery.id), func.max(Delivery.id), func.count())
            .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
            .group_by(Delivery.channel)
            .order_by(Delivery.channel)
        ).all()
    count = sum(row[3] for row in by_channel)
    if count >= current_app.config["DELIVERY_ANALYZE_ROWS"]:
        try:
            with transaction():
                ledger_sql.analyze_alert_month(alert_id)
        except SQLAlchemyError:
            # The alert is recorded and must still be queued: statistics can wait for
            # autovacuum.
            log.exception("alert %s: its month's statistics not refreshed", alert_id)
    if count:
        enqueue_alert_range(
            alert_id, [(channel, first, last) for channel, first, last, _ in by_channel]
        )
    log.info("alert %s: queued %s deliveries", alert_id, count)
    return count


def enqueue_safely(alert_id: int) -> None:
    """Queue a committed alert's deliveries; with Redis down, leave them to the sweeper."""
    try:
        enqueue_alert_deliveries(alert_id)
    except RedisError:
        # The alert and its deliveries are safely recorded; the sweeper queues them
        # when Redis is back.
        log.exception("alert %s recorded but not queued: Redis unavailable", alert_id)


# How a test reaches the officer on each channel, in words for what they are told.
TEST_CHANNEL_WORDS = {"sms": _l("text"), "voice": _l("call"), "email": _l("e-mail")}


@dataclass
class SentTest:
    alert: Alert
    channels: list[str]  # the channels the test went by, in CHANNELS order
    unreachable: list[str]  # channels the alert uses that cannot reach the officer
    # The officer sent this very test moments before: this is that one, not sent again.
    repeated: bool = False

    def summary(self) -> str:
        """What the officer is told, e.g. "A test has gone to you only, by text, call
        and e-mail. ..." """
        words = [str(TEST_CHANNEL_WORDS[c]) for c in self.channels]
        said = (
            gettext("%(some)s and %(last)s", some=", ".join(words[:-1]), last=words[-1])
            if len(words) > 1
            else words[0]
        )
        if self.repeated:
            return gettext(
                "You sent yourself this test a moment ago, by %(channels)s. It was not sent "
                "again: check that one.",
                channels=said,
            )
        text = gettext("A test has gone to you only, by %(channels)s.", channels=said)
        if self.unreachable:
            missing = gettext(" or ").join(str(TEST_CHANNEL_WORDS[c]) for c in self.unreachable)
            text += " " + gettext(
                "Not by %(channels)s: your account has no mobile number.", channels=missing
            )
        return text + " " + gettext("Check it, then send for real.")


def _own_address(officer: Officer, channel: str) -> str | None:
    """Where a test reaches the officer: texts and calls to their mobile, e-mail to
    their e-mail address."""
    return officer.email if channel == "email" else officer.mobile


def send_test_to_self(officer: Officer, draft: AlertDraft | None = None, **fields) -> SentTest:
    """The alert as residents will get it, to the officer alone: by every channel it
    uses (none chosen: every channel), to their own mobile (texts and calls) and
    e-mail, with its category, recording and question. A live alert's test is marked
    "TEST, only to you"; an exercise's carries the exercise marking residents will get
    instead. Raises AlertInvalid."""
    draft = draft or AlertDraft(**fields)
    key = repeat_key(officer, draft, "test")
    with transaction():
        earlier = sent_moments_ago(officer, key)
        if earlier is not None:
            return SentTest(
                alert=earlier,
                channels=list(earlier.filters["channels"]),
                unreachable=[],
                repeated=True,
            )
        _check_tests_this_hour(officer)
        errors: dict[str, str] = {}
        at: dict[str, int] = {}
        title, body = check_words(draft, errors, at)
        check_own_recording(officer, draft, errors)
        if set(draft.channels) - set(CHANNELS):
            errors["channels"] = gettext("Choose text, voice or e-mail.")
        used = [c for c in CHANNELS if not draft.channels or c in draft.channels]
        reached = [c for c in used if _own_address(officer, c)]
        if not errors and not reached:
            errors["channels"] = gettext(
                "Your account has no mobile number, so a test by text or call cannot reach "
                "you. Include e-mail, or ask an administrator to add your mobile."
            )
        if errors:
            raise AlertInvalid(errors, {"refused_answer": at})
        alert = Alert(
            created_by_id=officer.id,
            force_id=officer.force_id,
            title=title,
            body=body,
            title_cy=draft.title_cy,
            language=draft.language,
            body_cy=draft.body_cy,
            category=draft.category,
            mode="exercise" if draft.mode == "exercise" else "test",
            audience=TEST_AUDIENCE,
            shapes=[],
            filters={"channels": reached},
            recording_id=draft.recording_id,
            question=draft.question,
            answer_options=draft.answer_options,
            question_cy=draft.question_cy,
            answer_options_cy=draft.answer_options_cy,
            confirm_receipt=draft.confirm_receipt,
            recipient_count=1,
            status="draft",
            sent_at=func.now(),
            repeat_key=key,
        )
        db.session.add(alert)
        db.session.flush()
        alert_id = alert.id
        created_at = select(Alert.created_at).where(Alert.id == alert.id).scalar_subquery()
        for channel in reached:
            address = _own_address(officer, channel)
            db.session.add(
                Delivery(
                    alert_id=alert.id,
                    alert_created_at=created_at,
                    channel=channel,
                    address=address,
                )
            )
        details = {"channels": reached, "mode": alert.mode, "category": alert.category}
        transition(alert, "send_test", officer, details)
    enqueue_safely(alert_id)
    return SentTest(
        alert=alert, channels=reached, unreachable=[c for c in used if c not in reached]
    )


def _check_tests_this_hour(officer: Officer) -> None:
    """An officer's tests to themselves are limited to TESTS_PER_HOUR: each is a text,
    a call and an e-mail, paid for, and 15 taps in a second sent 15 (an outside check).
    Runs under the officer's submission lock (sent_moments_ago)."""
    most = current_app.config["TESTS_PER_HOUR"]
    lock_until_commit(db.session, f"alert-submit:{officer.id}")
    sent = db.session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(
            Alert.created_by_id == officer.id,
            Alert.audience == TEST_AUDIENCE,
            Alert.created_at > func.now() - func.make_interval(0, 0, 0, 0, 1),
        )
    )
    if sent >= most:
        raise AlertInvalid(
            {
                "form": gettext(
                    "You have sent yourself %(count)s tests in the last hour, as many as "
                    "you may. Send the alert, or test again later.",
                    count=most,
                )
            }
        )


def release_scheduled_alerts() -> int:
    """Send every scheduled alert whose time has come (the sweeper calls this).
    Safe to run twice at once: each alert is locked and rechecked."""
    with read_only():
        due = list(
            db.session.scalars(
                select(Alert.id).where(Alert.status == "scheduled", Alert.send_at <= func.now())
            )
        )
    released = 0
    for alert_id in due:
        with transaction():
            lock_original_of(alert_id)
            alert = db.session.scalar(
                select(Alert)
                .where(Alert.id == alert_id, Alert.status == "scheduled")
                .with_for_update(skip_locked=True)
            )
            if alert is not None and not alert.created_by.active:
                # Its author's account disabled since (by a change in the database, or
                # before this rule): cancelled, as disabling it now cancels it.
                alert.cancelled_at = func.now()
                transition(alert, "cancel", None, {"reason": "its author's account was disabled"})
                alert = None
            elif alert is not None:
                write_deliveries(alert, None)
        if alert is not None:
            enqueue_safely(alert_id)
            released += 1
    return released


def cancel_alert(officer: Officer, alert_id: int) -> int:
    """Stop an alert: nothing more goes out (a scheduled or unapproved one never does).
    Messages already handed to a provider cannot be recalled. Returns how many
    deliveries were cancelled, or -1 when the alert had already finished."""
    try:
        with transaction():
            # Locked, so that an approval or a scheduled release at the same moment
            # either happens first (and its deliveries are cancelled here) or finds it
            # cancelled.
            alert = lock_alert(alert_id)
            require(alert, "cancel")
            cancelled = _cancel_queued_deliveries(alert_id, f"alert cancelled by {officer.name}")
            alert.cancelled_at = func.now()
            alert.cancelled_by_id = officer.id
            transition(alert, "cancel", officer, {"deliveries_cancelled": cancelled})
    except NotAllowed:
        return -1
    return cancelled


def _cancel_queued_deliveries(alert_id: int, reason: str) -> int:
    cancelled = db.session.execute(
        update(Delivery)
        .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
        .values(
            status="cancelled",
            reason=reason,
            finished_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Delivery.id)
    ).all()
    return len(cancelled)
