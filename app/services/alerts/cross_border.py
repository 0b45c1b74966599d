"""Cross-border alerts (issue 16, migration 0038). An alert reaches its own force's
residents only (app/dao/targeting.Audience.force_id). When its area reaches into a
neighbouring force's area, a supervisor of the alert's force may ask that force to send
it to its residents there; a supervisor of the neighbouring force sees the alert,
how many of their own residents it would reach, and approves or refuses. Their
residents get it when the alert has been sent and they have approved, whichever comes
last (sending.write_force_parts); nobody it already reaches gets it twice.

The neighbour's staff never read the alert through the force scope (which hides other
forces' alerts): only what the AlertForce row of their force opens to them, here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flask import current_app, url_for
from flask_babel import gettext
from sqlalchemy import func

from app.dao import forces as forces_dao
from app.dao.audit import create_audit_event
from app.dao.targeting import count_targets, suppressed
from app.extensions import db
from app.i18n import police_of
from app.models import Alert, AlertForce, Force, Officer
from app.services import authorisation, forces, message_text
from app.services.accounts import find_active, find_on_duty
from app.services.alerts.approval import check_count_as_seen, count_unseen
from app.services.alerts.drafts import AlertInvalid
from app.services.alerts.lifecycle import (
    APPROVERS,
    NotAllowed,
    audit,
    checked_reason,
    is_test,
    lock_alert,
    nothing_to,
)
from app.services.alerts.sending import catch_up_follow_ups, enqueue_safely, write_force_parts
from app.services.alerts.targeting import audience_of, count_label, stored_area_geojson
from app.services.alerts.threads import all_clear_sent
from app.services.notices import create_notice, queue_notices
from app.services.transaction import read_only, transaction

NOTICE_KIND = "cross_border_request"
# An alert in these states can no longer go anywhere new.
CLOSED = ("rejected", "cancelled")


@dataclass
class Neighbour:
    """A force the alert's area reaches into, and what it was asked (None: not yet)."""

    force: Force
    ask: AlertForce | None

    @property
    def residents_sent(self) -> str | None:
        """How many of their residents it was sent to, as the asking force may read it:
        their residents are not its own, so a small number is hidden as any preview's."""
        if self.ask is None or self.ask.sent_at is None:
            return None
        return count_label(self.ask.residents or 0)


def neighbours_of(alert: Alert) -> list[Neighbour]:
    """The other forces whose area the alert's area reaches into, with what each was
    asked, for the alert's own page. None for a test or a follow-up to the same people
    (it has no area of its own)."""
    if alert.area is None or is_test(alert) or alert.audience != "area":
        return []
    asks = {ask.force_id: ask for ask in forces_dao.find_asks(alert.id)}
    reaching = forces_dao.find_forces_reaching(alert.id, alert.force_id)
    return [Neighbour(force, asks.get(force.id)) for force in reaching]


def may_ask(officer: Officer, alert: Alert) -> bool:
    return _ask_refusal(officer, alert) is None


def _ask_refusal(officer: Officer, alert: Alert) -> str | None:
    """Why this officer may not ask another force about this alert now, or None."""
    if not authorisation.may(officer, "alert.ask_force", alert):
        return gettext("Only a supervisor of this alert's team can ask another force to send it.")
    if is_test(alert) or alert.audience != "area" or alert.area is None:
        return gettext("Only an alert to an area drawn on the map can go across a border.")
    if alert.status in CLOSED:
        return nothing_to(alert, "ask")
    if all_clear_sent(alert):
        return gettext("The all-clear has gone for this alert: nothing to ask.")
    return None


def ask_force(supervisor: Officer, alert_id: int, force_id: int) -> AlertForce:
    """A supervisor of the alert's force asks a neighbouring force to send it to that
    force's residents in its area; that force's supervisors on duty are sent a text or
    e-mail with a link. Raises NotAllowed with what to do instead."""
    with transaction():
        alert = lock_alert(alert_id)
        refused = _ask_refusal(supervisor, alert)
        if refused is not None:
            raise NotAllowed(refused)
        force = next(
            (n.force for n in neighbours_of(alert) if n.force.id == force_id and n.ask is None),
            None,
        )
        if force is None:
            if forces_dao.find_ask(alert_id, force_id) is not None:
                raise NotAllowed(gettext("That force has already been asked."))
            if force_id == alert.force_id or forces_dao.find_force(force_id) is None:
                # No force, or its own: "does not reach into that force's area" misled.
                raise NotAllowed(gettext("Choose a neighbouring force from the list."))
            raise NotAllowed(gettext("This alert's area does not reach into that force's area."))
        ask = AlertForce(alert_id=alert.id, force_id=force.id, asked_by_id=supervisor.id)
        db.session.add(ask)
        db.session.flush()
        told = _tell_supervisors(alert, force)
        audit(
            alert,
            "alert.force_asked",
            supervisor,
            {"force_id": force.id, "force": force.name, "supervisors_told": len(told)},
        )
    queue_notices(told)
    return ask


def _tell_supervisors(alert: Alert, force: Force) -> list[int]:
    """A text (or e-mail) to each of the force's supervisors and administrators on duty
    (else every active one), in the caller's transaction; their ids, to queue."""
    config = current_app.config
    with current_app.test_request_context(base_url=config["PUBLIC_BASE_URL"].rstrip("/")):
        link = url_for("officers.asked", alert_id=alert.id, _external=True)
    asking = forces.force_by_id(alert.force_id).name
    text = message_text.cross_border_request_text(
        asking_force=asking,
        title=alert.title,
        category=alert.category_label,
        link=link,
        exercise=alert.mode == "exercise",
    )
    with forces.scoped(force.id):
        chosen = find_on_duty(APPROVERS) or find_active(APPROVERS)
    notices = []
    for officer in (o for o in chosen if o.force_id == force.id):
        if officer.mobile:
            by = {"channel": "sms", "address": officer.mobile, "body": text}
        else:
            subject = f"{asking} Police ask you to send an alert: {alert.title}"
            body = f"{text}\n\n{force.name} Police {config['SERVICE_NAME']}"
            by = {"channel": "email", "address": officer.email, "subject": subject, "body": body}
        notices.append(create_notice(resident_id=None, kind=NOTICE_KIND, force_id=force.id, **by))
    db.session.flush()
    return [notice.id for notice in notices]


@dataclass
class Asked:
    """Another force's alert as the force asked sees it: what it says, where, and how
    many of their own residents it reaches (small counts hidden)."""

    ask: AlertForce
    alert: Alert
    asking_force: Force
    # As staff may read it ("1,234", "fewer than 5"): counted now while it waits (and on
    # its own page), the number sent once sent; None when neither.
    residents: str | None
    area: str | None  # GeoJSON, WGS84
    # The count as the page shows it (0: hidden), for the approval to check against;
    # None when not counted now.
    residents_seen: int | None = None
    # Its follow-ups to the same people that reached the force's residents, and how
    # many of them each reached (on the alert's own page only).
    follow_ups: list[tuple[Alert, int]] = field(default_factory=list)


def find_asked(officer: Officer) -> list[Asked]:
    """What other forces asked of the officer's force: those waiting, then the newest
    decided (forces_dao.find_asks_of). Empty for a role that does not decide."""
    if officer.role not in APPROVERS:
        return []
    with read_only(), forces.unscoped():
        found = forces_dao.find_asks_of(officer.force_id)
        return [
            _asked(ask, alert, officer, with_area=False, count=ask.status == "asked")
            for ask, alert in found
        ]


def is_asked_of(officer: Officer, alert_id: int) -> bool:
    """Whether another force asked the officer's force about this alert (and the
    officer decides such things): anything else is not theirs to see (404)."""
    if officer.role not in APPROVERS:
        return False
    with read_only():
        return forces_dao.find_ask(alert_id, officer.force_id) is not None


def find_asked_alert(officer: Officer, alert_id: int) -> Asked | None:
    """One alert another force asked the officer's force about; None if it asked
    nothing of it (a 404 for the page: no other alert of theirs is shown)."""
    if officer.role not in APPROVERS:
        return None
    with read_only(), forces.unscoped():
        ask = forces_dao.find_ask(alert_id, officer.force_id)
        if ask is None:
            return None
        alert = db.session.get(Alert, alert_id)
        return _asked(ask, alert, officer, with_area=True, count=True)


def _asked(
    ask: AlertForce, alert: Alert, officer: Officer, *, with_area: bool, count: bool
) -> Asked:
    seen = None
    if ask.sent_at is not None:
        residents = f"{ask.residents or 0:,}"
    elif count:
        counted = _own_residents(alert, officer.force_id)
        residents, seen = count_label(counted), suppressed(counted) or 0
    else:
        residents = None
    return Asked(
        ask=ask,
        alert=alert,
        asking_force=forces.force_by_id(alert.force_id),
        residents=residents,
        area=stored_area_geojson(alert.id) if with_area else None,
        residents_seen=seen,
        follow_ups=(
            forces_dao.find_follow_ups_sent_via(alert.id, officer.force_id) if with_area else []
        ),
    )


def _own_residents(alert: Alert, force_id: int) -> int:
    """How many of the force's own residents the alert reaches now."""
    return count_targets(db.session, replace(audience_of(alert), force_id=force_id))["residents"]


def decide_for_force(
    officer: Officer,
    alert_id: int,
    *,
    approve: bool,
    reason: str = "",
    expected: int | None = None,
) -> AlertForce:
    """A supervisor of the force asked approves (their residents get the alert once it
    is sent, at once if it has been) or refuses with a reason the asking force can read.
    `expected`: the count of their residents the page showed (0 for a hidden one); an
    approval is refused without it, or when the count now differs from it, as the
    force's own approvals are (approval.approve_alert). Raises NotAllowed or
    AlertInvalid."""
    errors: dict[str, str] = {}
    reason = checked_reason(errors, reason)
    if officer.role not in APPROVERS:
        raise NotAllowed(gettext("Only a supervisor can decide what another force asks."))
    written, caught = 0, []
    with transaction(), forces.unscoped():
        # The alert first, as every decision on it and its send take it: an approval
        # here and the alert's own send or cancel happen one after the other.
        alert = lock_alert(alert_id)
        ask = forces_dao.find_ask(alert_id, officer.force_id, lock=True)
        if ask is None:
            raise NotAllowed(gettext("There is no such alert."))
        if ask.status != "asked":
            raise NotAllowed(
                gettext("This has already been approved.")
                if ask.status == "approved"
                else gettext("This has already been refused.")
            )
        if alert.status in CLOSED:
            raise NotAllowed(
                gettext(
                    "%(police)s have cancelled this alert: there is nothing to decide.",
                    police=police_of(forces.force_by_id(alert.force_id)),
                )
                if alert.status == "cancelled"
                else gettext(
                    "%(police)s have rejected this alert: there is nothing to decide.",
                    police=police_of(forces.force_by_id(alert.force_id)),
                )
            )
        if approve and all_clear_sent(alert):
            # Their residents would hear of the danger and never that it is over.
            raise NotAllowed(
                gettext(
                    "%(police)s have sent the all-clear for this alert: there is nothing left "
                    "to send your residents.",
                    police=police_of(forces.force_by_id(alert.force_id)),
                )
            )
        # The reason's mistakes after whether it can be decided at all: decided
        # meanwhile, its box is no longer drawn (an outside check, on rejecting).
        if errors:
            raise AlertInvalid(errors)
        if not approve and not reason:
            raise AlertInvalid(
                {"reason": gettext("Say why, so the other force knows what to do instead.")}
            )
        if approve:
            # Approved for 11, it must not go to 51 (an import in between): as the
            # force's own approvals are checked.
            if expected is None:
                raise NotAllowed(count_unseen())
            check_count_as_seen(_own_residents(alert, officer.force_id), expected)
        ask.status = "approved" if approve else "refused"
        ask.decided_by_id = officer.id
        ask.decided_at = func.now()
        ask.reason = reason or None
        create_audit_event(
            "alert.force_approved" if approve else "alert.force_refused",
            actor_id=officer.id,
            subject_type="alert",
            subject_id=alert.id,
            details={"title": alert.title, "asking_force_id": alert.force_id, "reason": ask.reason},
        )
        if approve and alert.status in ("sending", "sent"):
            db.session.flush()
            newly_reached: list[int] = []
            written = write_force_parts(alert, officer, newly_reached)
            # Its updates so far, to the same people, reach them too.
            caught = catch_up_follow_ups(alert, officer, newly_reached, officer.force_id)
    if written:
        enqueue_safely(alert_id)
    for follow_up_id in caught:
        enqueue_safely(follow_up_id)
    return ask
