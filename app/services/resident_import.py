"""Bringing a force's subscriber list over from another system.

The CSV has a header row; columns (any order, any case): postcode, and at least one of
mobile, landline, email; optionally name, label (e.g. "Farm") and groups (names or
short names, separated by ";"). A mobile gets text messages, a landline calls, an
e-mail address e-mails.

Every row is checked (postcode known, in use and inside the force; numbers UK and not
premium-rate; addresses well formed; groups known; not already registered, not twice
in the file). A dry run reports every rejected row with its reasons. An import writes
every accepted row in one transaction: all of them or, on any failure, none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, insert, select, update

from app import jobs
from app.dao.audit import create_audit_event
from app.extensions import db, redis_store
from app.models import InterestGroup, Resident, ResidentChannel, ResidentImport, ResidentLocation
from app.models.resident import resident_groups
from app.services.contacts import ContactRefused, normalise_email, normalise_phone
from app.services.notices import create_notice, queue_notices
from app.services.postcode_check import PostcodeRefused, check_postcodes
from app.services.text import TextRefused, checked_text, clean_text

MAX_ROWS = 200_000
COLUMN = {"sms": "mobile", "voice": "landline", "email": "email"}
CHUNK = 5_000  # rows written per statement


class ImportRefused(ValueError):
    """The file as a whole cannot be read (no header, no postcode column, too big)."""


@dataclass
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    name: str | None
    label: str
    postcode_key: str
    location: object
    channels: dict[str, str]
    group_ids: list[int]


@dataclass
class ImportReport:
    filename: str
    rows_read: int = 0
    accepted: int = 0
    imported: int = 0
    notified: int = 0
    dry_run: bool = True
    rejected: list[dict] = field(default_factory=list)  # {"row": n, "reasons": [...]}

    def as_dict(self) -> dict:
        return {
            "filename": self.filename,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "imported": self.imported,
            "notified": self.notified,
            "dry_run": self.dry_run,
            "rejected": self.rejected,
        }


def read_rows(
    content: str, progress: Callable[[int], None] | None = None
) -> tuple[list[Row], ImportReport]:
    """Check every row. Raises ImportRefused when the file cannot be read at all."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise ImportRefused("The file is empty. Export the list as CSV with a header row.")
    columns = {name.strip().lower(): name for name in reader.fieldnames if name}
    if "postcode" not in columns:
        raise ImportRefused(
            "The file has no “postcode” column. The header row must name the columns: "
            "postcode, mobile, landline, email, name, label, groups."
        )
    if not {"mobile", "landline", "email"} & set(columns):
        raise ImportRefused("The file needs at least one of the columns mobile, landline, email.")
    allow_drama = current_app.config["ENV_NAME"] != "production"
    groups = {}
    for group in db.session.scalars(select(InterestGroup)):
        groups[group.slug.lower()] = group.id
        groups[group.name.lower()] = group.id
    seen: dict[str, int] = {}  # address -> row that has it
    report = ImportReport(filename="")
    rows: list[Row] = []

    def cell(record, name):
        return clean_text(record.get(columns[name], "")) if name in columns else ""

    records = list(reader)
    if len(records) > MAX_ROWS:
        raise ImportRefused(f"The file has more than {MAX_ROWS:,} rows. Split it.")
    checked_postcodes = check_postcodes(cell(record, "postcode") for record in records)
    for number, record in enumerate(records, start=2):
        report.rows_read += 1
        if progress and report.rows_read % 1000 == 0:
            progress(report.rows_read)
        reasons: list[str] = []
        for column, name in columns.items():
            try:
                checked_text(record.get(name, ""), "the value")
            except TextRefused as refusal:
                # A line break or NUL inside a cell: refuse the row, never store it
                # cleaned into something else.
                reasons.append(f"{column}: {refusal}")
        checked = checked_postcodes[cell(record, "postcode")]
        if isinstance(checked, PostcodeRefused):
            reasons.append(f"postcode: {checked}")
        channels: dict[str, str] = {}
        for column, channel in (("mobile", "sms"), ("landline", "voice"), ("email", "email")):
            value = cell(record, column)
            if not value:
                continue
            try:
                if channel == "email":
                    channels[channel] = normalise_email(value)
                else:
                    channels[channel] = normalise_phone(
                        value, need_mobile=channel == "sms", allow_drama=allow_drama
                    )
            except ContactRefused as refusal:
                reasons.append(f"{column}: {refusal}")
        contact_refused = any(r.split(":")[0] in ("mobile", "landline", "email") for r in reasons)
        if not channels and not contact_refused:
            reasons.append("no mobile, landline or e-mail address: there is no way to reach them")
        for channel, address in channels.items():
            if address in seen:
                reasons.append(f"{COLUMN[channel]}: the same as on row {seen[address]}")
        group_ids = []
        for name in filter(None, (g.strip().lower() for g in cell(record, "groups").split(";"))):
            if name in groups:
                group_ids.append(groups[name])
            else:
                reasons.append(f"groups: no group called “{name}”")
        if reasons:
            report.rejected.append({"row": number, "reasons": reasons})
            continue
        for address in channels.values():
            seen[address] = number
        rows.append(
            Row(
                number=number,
                name=cell(record, "name") or None,
                label=(cell(record, "label") or "Home")[:40],
                postcode_key=checked.postcode,
                location=checked.location,
                channels=channels,
                group_ids=sorted(set(group_ids)),
            )
        )
    _reject_already_registered(rows, report)
    report.rejected.sort(key=lambda r: r["row"])
    report.accepted = len(rows)
    db.session.rollback()
    return rows, report


def _reject_already_registered(rows: list[Row], report: ImportReport) -> None:
    addresses = [a for row in rows for a in row.channels.values()]
    existing: set[str] = set()
    for start in range(0, len(addresses), CHUNK):
        existing.update(
            db.session.scalars(
                select(ResidentChannel.address).where(
                    ResidentChannel.address.in_(addresses[start : start + CHUNK])
                )
            )
        )
    if not existing:
        return
    kept = []
    for row in rows:
        taken = [c for c, a in row.channels.items() if a in existing]
        if taken:
            # The report names the column, not the address: it is kept, and must hold
            # no personal data.
            report.rejected.append(
                {
                    "row": row.number,
                    "reasons": [f"{COLUMN[c]}: already registered" for c in taken],
                }
            )
        else:
            kept.append(row)
    rows[:] = kept


def import_residents(
    content: str,
    *,
    filename: str,
    dry_run: bool,
    notify: bool = False,
    actor_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check the file and, unless dry_run, write every accepted row in one transaction.
    Raises ImportRefused."""
    rows, report = read_rows(content, progress)
    report.filename = filename
    report.dry_run = dry_run
    if dry_run or not rows:
        return report
    now = datetime.now(UTC)
    source = f"import:{filename}"[:80]
    consent = (
        f"Imported from {filename} on {now:%d %B %Y}: consent was given to the force's "
        "previous alert system."
    )
    try:
        notice_ids: list[int] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            ids = db.session.scalars(
                insert(Resident).returning(Resident.id, sort_by_parameter_order=True),
                [
                    {
                        "name": row.name,
                        "source": source,
                        "consent_version": "imported",
                        "consent_text": consent,
                        "consent_given_at": now,
                        "confirmed_at": now,
                    }
                    for row in chunk
                ],
            ).all()
            db.session.execute(
                insert(ResidentLocation),
                [
                    {
                        "resident_id": rid,
                        "label": row.label,
                        "postcode": row.postcode_key,
                        "location": row.location,
                    }
                    for rid, row in zip(ids, chunk, strict=True)
                ],
            )
            db.session.execute(
                insert(ResidentChannel),
                [
                    # Confirmed in the previous system: the force vouches for them.
                    {"resident_id": rid, "channel": c, "address": a, "verified_at": now}
                    for rid, row in zip(ids, chunk, strict=True)
                    for c, a in row.channels.items()
                ],
            )
            memberships = [
                {"resident_id": rid, "group_id": gid}
                for rid, row in zip(ids, chunk, strict=True)
                for gid in row.group_ids
            ]
            if memberships:
                db.session.execute(insert(resident_groups), memberships)
            if notify:
                notice_ids.extend(_notify(ids, chunk))
            report.imported += len(chunk)
            if progress:
                progress(report.rows_read + report.imported)
        report.notified = len(notice_ids)
        create_audit_event(
            "residents.imported",
            actor_id=actor_id,
            details={
                "filename": filename,
                "imported": report.imported,
                "rejected": len(report.rejected),
                "notified": report.notified,
            },
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    queue_notices(notice_ids)
    return report


def _notify(ids: list[int], rows: list[Row]) -> list[int]:
    """Tell each imported resident that the force now holds their details and how to
    change or remove them: by e-mail where we have one, else by text, else by call.
    The message points at the page that sends a sign-in link, rather than carrying one:
    people read such messages days later."""
    from app.services.verification import public_url

    force = current_app.config["FORCE_NAME"]
    manage = public_url("residents.manage")
    notices = []
    for rid, row in zip(ids, rows, strict=True):
        channel = next(c for c in ("email", "sms", "voice") if c in row.channels)
        if channel == "voice":
            body = (
                f"{force} Police now send your community alerts from a new system. To change "
                "or stop them, call 101 and ask for Community Alerts."
            )
        else:
            body = (
                f"{force} Police now send your community alerts from a new system, which "
                f"holds the details you gave us. To see, change or stop them: {manage}"
                + (" or reply STOP." if channel == "sms" else "")
            )
        notices.append(
            create_notice(
                resident_id=rid,
                kind="import_notice",
                channel=channel,
                address=row.channels[channel],
                subject=f"{force} Police: your community alerts" if channel == "email" else None,
                body=body,
            )
        )
    db.session.flush()
    return [n.id for n in notices]


def count_residents() -> int:
    return db.session.scalar(select(func.count()).select_from(Resident))


# --- the admin page's imports, run by a job ----------------------------------------


def progress_key(import_id: int) -> str:
    return f"import:{import_id}:progress"


def create_import(officer, *, filename: str, content: str, notify: bool):
    """Keep the uploaded file until it is imported (or purged); upload_import checks it."""
    record = ResidentImport(
        filename=clean_text(filename, max_length=200) or "upload.csv",
        content=content,
        notify=notify,
        created_by_id=officer.id,
        report={"total": max(content.count("\n") - 1, 1)},
    )
    db.session.add(record)
    create_audit_event(
        "residents.import_uploaded",
        actor_id=officer.id,
        subject_type="import",
        subject_id=None,
        details={"filename": record.filename},
    )
    db.session.commit()
    return record


def queue_import(import_id: int, *, dry_run: bool) -> None:
    jobs.enqueue("imports.run_import", import_id, dry_run)


def upload_import(officer, *, filename: str, content: str, notify: bool) -> ResidentImport:
    """Keep an uploaded file (create_import) and queue its check (a dry run)."""
    record = create_import(officer, filename=filename, content=content, notify=notify)
    queue_import(record.id, dry_run=True)
    return record


def start_import(record: ResidentImport) -> bool:
    """Queue the import of a checked upload. False when it is not waiting for one: it
    has been imported already (or is being), or has not been checked yet. (run_import
    claims it, so two clicks still import it once.)"""
    if record.status != "checked" or record.content is None:
        return False
    queue_import(record.id, dry_run=False)
    return True


def import_progress(import_id: int) -> int:
    """How many rows the running check or import has read so far."""
    return int(redis_store.client.get(progress_key(import_id)) or 0)


def run_import(import_id: int, *, dry_run: bool) -> None:
    """Check (dry run) or import a stored upload; the report is kept on the record.
    Safe to run twice: an import that is done is not run again."""
    if dry_run:
        record = db.session.get(ResidentImport, import_id)
        if record is None or record.content is None or record.status != "queued":
            db.session.rollback()
            return
    else:
        # Claimed in one statement, so two clicks (or two workers) import it once.
        claimed = db.session.execute(
            update(ResidentImport)
            .where(
                ResidentImport.id == import_id,
                ResidentImport.status == "checked",
                ResidentImport.content.is_not(None),
            )
            .values(status="running")
            .returning(ResidentImport.id)
        ).first()
        db.session.commit()
        if claimed is None:
            return
        record = db.session.get(ResidentImport, import_id)
    content, filename, notify = record.content, record.filename, record.notify
    actor_id, total = record.created_by_id, record.report.get("total", 1)
    key = progress_key(import_id)

    def progress(done: int) -> None:
        redis_store.client.set(key, done, ex=3600)

    try:
        report = import_residents(
            content,
            filename=filename,
            dry_run=dry_run,
            notify=notify,
            actor_id=actor_id,
            progress=progress,
        ).as_dict()
        status = "checked" if dry_run else "done"
    except ImportRefused as refusal:
        report, status = {"error": str(refusal)}, "failed"
    except Exception:
        db.session.rollback()
        report, status = (
            {"error": "The import failed and nothing was written. Try again."},
            "failed",
        )
    record = db.session.get(ResidentImport, import_id)
    record.status = status
    record.report = report | {"total": total}
    record.finished_at = func.now()
    if status in ("done", "failed"):
        record.content = None  # the list is in the database now, or was refused
    db.session.commit()
    redis_store.client.delete(key)
