"""The audit log as administrators read it: filtered by person, event and UK days,
newest first, a page at a time, or as a CSV file a spreadsheet will not run.

Reading it is itself recorded ("audit.viewed", "audit.exported"). Nothing here
changes an event: the app has no way to edit or remove one. Contact details never
show: any phone number or e-mail address in an event is masked as the outbox masks
it (+447••••••001), and the network address of an event about a resident is left
out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.dao import audit as audit_dao
from app.dao.audit import AuditQuery, create_audit_event
from app.services.masking import mask_contacts
from app.services.spreadsheet import csv_text
from app.services.text import whole_number
from app.services.transaction import read_only, transaction

UK = ZoneInfo("Europe/London")
PAGE_SIZE = 50
MAX_EXPORT = 100_000
NOBODY = "nobody"

# What each kind of event means, in the words an administrator uses.
ACTION_LABELS = {
    "alert.approval_requested": _l("Alert sent for approval"),
    "alert.approved": _l("Alert approved"),
    "alert.cancelled": _l("Alert cancelled"),
    "alert.taken_down": _l("Alert's public page taken down"),
    "alert.drafted": _l("Alert drafted"),
    "alert.held_dropped_for_all_clear": _l(
        "Messages not sent yet stopped: the all-clear went instead"
    ),
    "alert.sent_again": _l("Alert sent again to those no provider took it for"),
    "alert.force_approved": _l("Another force's alert approved for our residents"),
    "alert.force_asked": _l("Another force asked to send an alert"),
    "alert.force_refused": _l("Another force's alert refused"),
    "alert.refused_nobody_inside": _l("Alert refused: nobody inside the area"),
    "alert.rejected": _l("Alert rejected"),
    "alert.scheduled": _l("Alert scheduled"),
    "alert.sent": _l("Alert sent"),
    "alert.sent_to_force": _l("Alert sent to another force's residents"),
    "alert.test_sent": _l("Test alert sent"),
    "audit.exported": _l("Audit log downloaded"),
    "audit.viewed": _l("Audit log viewed"),
    "briefing_map.downloaded": _l("Briefing map downloaded"),
    "force.added": _l("Force added"),
    "force.changed": _l("Force details changed"),
    "group.added": _l("Group added"),
    "officer.created": _l("Account created"),
    "officers.viewed": _l("Staff accounts viewed"),
    "officer.viewed": _l("Staff account viewed"),
    "officer.disabled": _l("Account disabled"),
    "officer.enabled": _l("Account enabled"),
    "officer.invited": _l("Invitation sent"),
    "officer.password_changed": _l("Password changed"),
    "officer.password_set": _l("Password set"),
    "officer.recovery_code_used": _l("Recovery code used"),
    "officer.reset_sent": _l("Reset link sent"),
    "officer.role_changed": _l("Role changed"),
    "officer.mobile_changed": _l("Staff mobile changed"),
    "officer.second_factor_failed": _l("Second factor failed"),
    "officer.second_factor_reset": _l("Second factor reset"),
    "officer.second_factor_set_up": _l("Second factor set up"),
    "officer.second_factor_throttled": _l("Second factor locked (too many tries)"),
    "officer.sign_in_refused": _l("Sign-in refused"),
    "officer.sign_in_throttled": _l("Sign-in locked (too many tries)"),
    "officer.previewed_many": _l("Many areas previewed in a day"),
    "officer.signed_in": _l("Signed in"),
    "officer.sso_linked": _l("Single sign-on linked"),
    "officer.sso_refused": _l("Single sign-on refused"),
    "outbox.viewed": _l("Outbox viewed"),
    "recording.uploaded": _l("Recording uploaded"),
    "replies.viewed": _l("Replies viewed"),
    "reply.answered": _l("Reply answered"),
    "report.postcode_review_viewed": _l("Postcode review viewed"),
    "report.sent_downloaded": _l("Sent report downloaded"),
    "report.timeline_downloaded": _l("Time line downloaded"),
    "resident.channel_removed": _l("Resident removed a contact"),
    "resident.channel_set": _l("Resident changed a contact"),
    "resident.channel_verified": _l("Resident confirmed a contact"),
    "resident.consent_given": _l("Resident agreed to another force's statement"),
    "resident.data_downloaded": _l("Resident downloaded their data"),
    "resident.data_viewed": _l("Resident viewed their data"),
    "resident.deleted": _l("Resident deleted their details"),
    "access.refused": _l("Page or action refused (beyond their role, or not their force's)"),
    "access.refusals_capped": _l("More refusals this hour, not each recorded"),
    "officer.session_used_elsewhere": _l(
        "Session ended: its cookie came from another browser (a stolen session?)"
    ),
    "resident.deleted_by_staff": _l("Resident's details deleted at their request, by staff"),
    "resident.deleted_by_neighbour": _l(
        "Resident's details deleted at their request, by another force's staff"
    ),
    "resident.looked_up": _l("Resident looked up by their number or e-mail"),
    "resident.forces_chosen": _l("Resident chose which forces alert them"),
    "resident.groups_set": _l("Resident changed their groups"),
    "resident.language_set": _l("Resident changed their language"),
    "resident.location_added": _l("Resident added a place"),
    "resident.location_removed": _l("Resident removed a place"),
    "resident.paused": _l("Resident paused alerts"),
    "resident.quiet_hours_set": _l("Resident changed quiet hours"),
    "resident.registered": _l("Resident registered"),
    "resident.resumed": _l("Resident resumed alerts"),
    "resident.sms_started": _l("Resident sent START"),
    "resident.sms_stopped": _l("Resident sent STOP"),
    "resident.sms_stopped_at_provider": _l("Texts stopped: the number opted out with Twilio"),
    "resident.unconfirmed_released": _l(
        "Unconfirmed sign-up gave its number or address to a new one"
    ),
    "resident.unsubscribed": _l("Resident unsubscribed"),
    "resident.unsubscribed_by_staff": _l("Resident's channel stopped at their request, by staff"),
    "resident.unsubscribed_by_neighbour": _l(
        "Resident's channel stopped at their request, by another force's staff"
    ),
    "residents.import_rejected_downloaded": _l("Refused import rows downloaded"),
    "residents.import_uploaded": _l("Import file uploaded"),
    "residents.imported": _l("Residents imported"),
    "residents.import_viewed": _l("Import report viewed"),
    "retention.ledger_month_dropped": _l("A month of the delivery ledger removed"),
    "retention.purged": _l("Old data removed"),
    "team.area_added": _l("Team area added"),
    "team.area_removed": _l("Team area removed"),
    "team.created": _l("Team created"),
    "team.members_changed": _l("Team members changed"),
    "team.renamed": _l("Team renamed"),
    "team.supervisors_changed": _l("Team supervisors changed"),
    "template.saved": _l("Template saved"),
}


def action_label(action: str) -> str:
    """What the event means, in the page's language where it has words of its own."""
    known = ACTION_LABELS.get(action)
    return str(known) if known else action.replace(".", ": ").replace("_", " ").capitalize()


def _flat(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_flat(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_flat(item) for item in value)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


def mentions_resident(event) -> bool:
    return event.subject_type == "resident" or event.action.startswith("resident")


def residents_network(event) -> bool:
    """Whether the event's IP address is a resident's (their own doing: left out of the
    page and the CSV), not a member of staff's: the admin who looked a resident up,
    stopped or deleted them had theirs left out too, where it matters most (an
    outside check)."""
    return mentions_resident(event) and event.actor_id is None


@dataclass
class EventRow:
    """One event as the page and the CSV show it."""

    id: int
    at: datetime
    who: str
    action: str
    label: str
    subject: str
    details: str
    ip_address: str

    @property
    def at_uk(self) -> str:
        return self.at.astimezone(UK).strftime("%Y-%m-%d %H:%M:%S")


def event_rows(found: list) -> list[EventRow]:
    """Events with their actors' names, as rows; an officer an event is about is
    named too."""
    about = {
        whole_number(event.subject_id) for event, _ in found if event.subject_type == "officer"
    } - {None}
    names = audit_dao.find_officer_names(about)
    return [event_row(event, name, names) for event, name in found]


def event_row(event, name: str | None, officer_names: dict[int, str] | None = None) -> EventRow:
    subject = " ".join(filter(None, (event.subject_type, event.subject_id)))
    if event.subject_type == "officer" and whole_number(event.subject_id) is not None:
        named = (officer_names or {}).get(whole_number(event.subject_id))
        subject = f"{named} (officer {event.subject_id})" if named else subject
    return EventRow(
        id=event.id,
        at=event.at,
        who=name
        or (gettext("Nobody signed in") if event.actor_id is None else f"Officer {event.actor_id}"),
        action=event.action,
        label=action_label(event.action),
        subject=mask_contacts(subject),
        details=_flat(mask_contacts(event.details or {})),
        ip_address="" if residents_network(event) else (event.ip_address or ""),
    )


# --- the filter -----------------------------------------------------------------------


class AuditFilterRefused(ValueError):
    """A filter we cannot apply, with what to do; `field` names the input."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class AuditFilter:
    person: str = ""  # an officer's id, NOBODY, or "" for everyone
    event: str = ""
    first: date | None = None
    last: date | None = None

    def query(self, upto_id: int | None = None) -> AuditQuery:
        return AuditQuery(
            actor_id=whole_number(self.person),
            nobody=self.person == NOBODY,
            action=self.event or None,
            since=_uk_midnight(self.first) if self.first else None,
            before=_uk_midnight(self.last + timedelta(days=1)) if self.last else None,
            upto_id=upto_id,
        )

    def args(self) -> dict[str, str]:
        """The filter as query-string values, for links to other pages and the CSV."""
        found = {
            "person": self.person,
            "event": self.event,
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
        }
        return {key: value for key, value in found.items() if value}


def _uk_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UK)


def _day(text: str | None, field_name: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text[:10]) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is not None and not 2000 <= day.year <= 2999:
        raise AuditFilterRefused(
            gettext("Give a date between 1 January 2000 and 31 December 2999."), field_name
        )
    if day is None:
        refusal = (
            gettext("Enter the first date as a real date, like 2026-03-31.")
            if field_name == "from"
            else gettext("Enter the last date as a real date, like 2026-03-31.")
        )
        raise AuditFilterRefused(refusal, field_name)
    return day


def parse_filter(
    person: str | None, event: str | None, first: str | None, last: str | None
) -> AuditFilter:
    """The filter from the page's form. Raises AuditFilterRefused."""
    with read_only():
        people = {str(officer_id) for officer_id, _ in audit_dao.find_audit_actors()}
        actions = set(audit_dao.find_audit_actions())
    person = (person or "").strip()
    event = (event or "").strip()
    if person and person != NOBODY and person not in people:
        raise AuditFilterRefused(gettext("Choose a person from the list."), "person")
    if event and event not in actions and event not in ACTION_LABELS:
        raise AuditFilterRefused(gettext("Choose an event from the list."), "event")
    chosen = AuditFilter(
        person=person,
        event=event,
        first=_day(first, "from"),
        last=_day(last, "to"),
    )
    if chosen.first and chosen.last and chosen.first > chosen.last:
        raise AuditFilterRefused(
            gettext("The “from” date is after the “to” date. Swap them."), "from"
        )
    return chosen


# Refusals recorded an hour for one member of staff: enough to see someone working
# through another force's ids or trying pages beyond their role, and no more, so that a
# script of theirs cannot fill the log. Per route too: forty refusals of one page used
# up the hour, and the cross-force attempts after them went unrecorded (an outside
# check). Reaching either limit is itself recorded, once, so that silence is never
# mistaken for nothing tried.
REFUSALS_AUDITED_AN_HOUR = 60
REFUSALS_AUDITED_A_ROUTE_AN_HOUR = 5


def note_refused(officer_id: int, route: str, status: int) -> None:
    """A page or action refused to a signed-in member of staff (403: beyond their role;
    404: none of theirs, such as another force's record), as the route's pattern, never
    the ids tried. 516 refusals left no trace anyone could attribute (an outside check).
    Best effort: the refusal stands whether or not it could be recorded."""
    from app.services.counters import count_one, key_digest

    def counted(kind: str) -> int:
        digest = key_digest(f"{kind}:{officer_id}:{route if kind == 'route' else ''}")
        return count_one(f"ratelimit:refused-audit-{kind}:{digest}", keep_seconds=3600)

    try:
        this_route = counted("route")
        if this_route > REFUSALS_AUDITED_A_ROUTE_AN_HOUR + 1:
            return  # not counted against the hour's others: those stay recorded
        everything = counted("all")
        if everything > REFUSALS_AUDITED_AN_HOUR + 1:
            return
        details: dict = {"route": route, "status": status}
        action = "access.refused"
        if everything == REFUSALS_AUDITED_AN_HOUR + 1:
            action, details["not_recorded"] = "access.refusals_capped", "more this hour"
        elif this_route == REFUSALS_AUDITED_A_ROUTE_AN_HOUR + 1:
            action = "access.refusals_capped"
            details["not_recorded"] = "more of this route this hour"
        with transaction():
            create_audit_event(action, actor_id=officer_id, details=details)
    except Exception:  # noqa: BLE001 - never in the way of the refusal's own page
        logging.getLogger(__name__).warning("a refusal could not be audited")


def log_can_be_wiped_here() -> bool:
    """Whether the application's own login could still wipe the log (its owner, or a
    member of its owner's role: the hardening not done). The page said nobody could
    change an event while the login could (an outside check)."""
    with read_only():
        return audit_dao.log_owned_by_this_login()


def filter_choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The form's lists: (value, label) of people, then of events."""
    with read_only():
        actors = audit_dao.find_audit_actors()
        actions = audit_dao.find_audit_actions()
    people = [(str(officer_id), name) for officer_id, name in actors]
    people.append((NOBODY, gettext("Nobody signed in (residents, the system)")))
    events = sorted(((a, action_label(a)) for a in actions), key=lambda pair: pair[1])
    return people, events


# --- the page and the download -------------------------------------------------------


@dataclass
class AuditPage:
    chosen: AuditFilter
    rows: list[EventRow] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1
    upto: int = 0


def _audit_reading(admin, action: str, chosen: AuditFilter, **extra) -> None:
    person = chosen.person or None
    create_audit_event(
        action,
        actor_id=admin.id,
        subject_type="audit_log",
        details={
            "person": person,
            "event": chosen.event or None,
            "from": chosen.first.isoformat() if chosen.first else None,
            "to": chosen.last.isoformat() if chosen.last else None,
            **extra,
        },
    )


def page_number(text: str | None) -> int:
    """A page asked for in the URL: 1 unless it is a sensible whole number."""
    number = whole_number((text or "").strip(), most=10**6)
    return number if number else 1


def snapshot_id(text: str | None) -> int | None:
    """The newest event a first page showed, so later pages do not shift as events
    (this reading among them) are added."""
    return whole_number((text or "").strip(), most=2**63 - 1)


def audit_page(admin, chosen: AuditFilter, *, page: int = 1, upto: int | None = None):
    """One page of events, newest first; the reading is recorded."""
    with transaction():
        if upto is None:
            upto = audit_dao.latest_audit_event_id()
        query = chosen.query(upto)
        total = audit_dao.count_audit_events(query)
        pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        page = min(max(page, 1), pages)
        rows = event_rows(
            audit_dao.find_audit_events(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        )
        _audit_reading(admin, "audit.viewed", chosen, page=page, shown=len(rows))
    return AuditPage(chosen=chosen, rows=rows, total=total, page=page, pages=pages, upto=upto)


CSV_HEADER = ("When (UK time)", "Who", "Event", "Event code", "About", "Details", "IP address")


def export_audit_csv(admin, chosen: AuditFilter) -> tuple[str, str]:
    """Every event the filter finds, as CSV, and the file's name; the download is
    recorded. Raises AuditFilterRefused when there are too many for one file."""
    with transaction():
        query = chosen.query(audit_dao.latest_audit_event_id())
        total = audit_dao.count_audit_events(query)
        if total > MAX_EXPORT:
            raise AuditFilterRefused(
                gettext(
                    "That is %(total)s events, more than the %(most)s one file can hold. "
                    "Choose a shorter date range, one person or one event.",
                    total=f"{total:,}",
                    most=f"{MAX_EXPORT:,}",
                ),
                "from",
            )
        rows = event_rows(audit_dao.find_audit_events(query, limit=MAX_EXPORT))
        _audit_reading(admin, "audit.exported", chosen, rows=len(rows))
    body = csv_text(
        CSV_HEADER,
        ((r.at_uk, r.who, r.label, r.action, r.subject, r.details, r.ip_address) for r in rows),
    )
    return body, f"audit-log-{datetime.now(UK):%Y-%m-%d}.csv"
