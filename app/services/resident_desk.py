"""A resident found by their number or e-mail address, for the force's staff who take
their call (101): stop a channel, or delete their details. A resident who hears only by
landline has no page of their own (the manage page sends its link by text or e-mail),
and was told to call 101, where nobody could do anything (an outside check).

Found only by the whole number or address (never browsed), only among the residents
with a place in the administrator's force, shown masked, and every look, stop and
deletion audited with who did it."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext
from sqlalchemy import exists, func, select

from app.dao import channels as channels_dao
from app.dao import residents as residents_dao
from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import CHANNELS, Officer, Resident, ResidentChannel, ResidentLocation
from app.services import forces
from app.services.audit_log import note_refused
from app.services.contacts import ContactRefused, mask_address, normalise_email, normalise_phone
from app.services.residents import delete_resident
from app.services.timeline import record_unsubscribe
from app.services.transaction import transaction


class DeskRefused(ValueError):
    """What the member of staff typed or chose cannot be acted on: the message says why.
    `not_ours`: no resident of their force has that reference (another force's, or
    none): recorded as a refusal, as a page of another force's is."""

    not_ours = False


@dataclass(frozen=True)
class FoundChannel:
    channel: str
    shown: str  # masked
    stopped: bool
    confirmed: bool


@dataclass(frozen=True)
class FoundResident:
    reference: str
    name: str
    channels: list[FoundChannel]


def _contact(typed: str) -> str:
    """The number (E.164) or e-mail address typed. Raises DeskRefused."""
    typed = (typed or "").strip()
    if not typed:
        raise DeskRefused(gettext("Enter the caller's phone number or e-mail address."))
    try:
        if "@" in typed:
            return normalise_email(typed, allow_reserved=True)
        # The made-up numbers of the demo and the tests, as sign-up takes them there.
        demo = current_app.config["ENV_NAME"] != "production"
        return normalise_phone(typed, need_mobile=False, allow_drama=demo)
    except ContactRefused as refusal:
        raise DeskRefused(str(refusal)) from None


def _in_force(officer: Officer):
    return exists().where(
        ResidentLocation.resident_id == Resident.id,
        ResidentLocation.force_id == officer.force_id,
    )


def find_residents(officer: Officer, typed: str) -> list[FoundResident]:
    """The force's residents who gave this number or address, each look audited as
    who looked at whom. Raises DeskRefused."""
    address = _contact(typed)
    with transaction():
        residents = db.session.scalars(
            select(Resident)
            .where(
                _in_force(officer),
                exists().where(
                    ResidentChannel.resident_id == Resident.id,
                    func.lower(ResidentChannel.address) == address.lower(),
                ),
            )
            .order_by(Resident.id)
        ).all()
        found = [
            FoundResident(
                reference=str(resident.reference),
                name=resident.name or "",
                channels=[
                    FoundChannel(
                        channel=channel.channel,
                        shown=mask_address(channel.address),
                        stopped=channel.unsubscribed_at is not None,
                        confirmed=channel.verified_at is not None,
                    )
                    for channel in sorted(
                        resident.channels, key=lambda c: CHANNELS.index(c.channel)
                    )
                ],
            )
            for resident in residents
        ]
        for resident in found:
            create_audit_event(
                "resident.looked_up",
                actor_id=officer.id,
                subject_type="resident",
                subject_id=resident.reference,
            )
        if not found:
            create_audit_event("resident.looked_up", actor_id=officer.id, details={"found": 0})
    return found


def _resident_of(officer: Officer, reference: str) -> Resident:
    """The force's resident with this reference, locked. Raises DeskRefused."""
    try:
        wanted = uuid.UUID(str(reference))
    except ValueError:
        wanted = None
    resident = (
        db.session.scalar(
            select(Resident)
            .where(Resident.reference == wanted, _in_force(officer))
            .with_for_update()
        )
        if wanted
        else None
    )
    if resident is None:
        refusal = DeskRefused(gettext("That resident is not registered with this force any more."))
        refusal.not_ours = True
        raise refusal
    return resident


@contextmanager
def _refusal_recorded(officer: Officer, route: str):
    """A stop or a deletion of a resident not of the officer's force is recorded as a
    refusal, after its transaction ends: another force's resident's reference, tried
    at the desk, left no trace (an outside check)."""
    try:
        yield
    except DeskRefused as refusal:
        if refusal.not_ours:
            note_refused(officer.id, route, 404)
        raise


def stop_channel(officer: Officer, reference: str, channel: str) -> bool:
    """Stop one channel of the resident, as their own unsubscribe does, audited with
    who did it. Whether it was on. Raises DeskRefused."""
    if channel not in CHANNELS:
        raise DeskRefused(gettext("Choose texts, calls or e-mails to stop."))
    with _refusal_recorded(officer, "/admin/residents/stop"), transaction():
        resident = _resident_of(officer, reference)
        changed = channels_dao.stop_channel(resident.id, channel)
        if changed:
            record_unsubscribe(resident.id, channel)
            create_audit_event(
                "resident.unsubscribed_by_staff",
                actor_id=officer.id,
                subject_type="resident",
                subject_id=str(resident.reference),
                details={"channel": channel},
            )
            _tell_other_forces(officer, resident, "resident.unsubscribed_by_neighbour", channel)
    return changed


def _tell_other_forces(
    officer: Officer, resident: Resident, action: str, channel: str | None = None
) -> None:
    """The same event in the log of each other force the resident hears from: a stop
    (or a deletion) at one force's desk reaches every force's messages to them, and the
    other force's log had nothing of it (an outside check). Which force's staff did it
    is said; who, that force's own log says."""
    by = forces.force_by_id(officer.force_id)
    for force_id in residents_dao.find_heard_force_ids(resident.id):
        if force_id != officer.force_id:
            # No actor and no subject for PostgreSQL to take a force from (migration
            # 0034's trigger): the event is that force's.
            create_audit_event(
                action,
                actor_id=None,
                details={"resident": str(resident.reference), "by_force": by.name}
                | ({"channel": channel} if channel else {}),
                force_id=force_id,
            )


def delete_details(officer: Officer, reference: str) -> None:
    """Delete the resident's details at their request, audited with who did it.
    Raises DeskRefused."""
    with _refusal_recorded(officer, "/admin/residents/delete"), transaction():
        resident = _resident_of(officer, reference)
        create_audit_event(
            "resident.deleted_by_staff",
            actor_id=officer.id,
            subject_type="resident",
            subject_id=str(resident.reference),
        )
        _tell_other_forces(officer, resident, "resident.deleted_by_neighbour")
    delete_resident(db.session.get(Resident, resident.id))
