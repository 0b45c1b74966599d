"""Bringing a force's subscriber list over from another system.

The CSV has a header row; columns (any order, any case): postcode, and at least one of
mobile, landline, email; optionally name, label (e.g. "Farm") and groups (names or
short names, separated by ";"). A mobile gets text messages, a landline calls, an
e-mail address e-mails.

Every row is checked (postcode known, in use and inside the force; numbers UK and not
premium-rate; addresses well formed; groups known; not already registered, not twice
in the file). A dry run reports every rejected row with its reasons, written for the
staff who run the import ("postcode outside the force area: Wiltshire"), and the
row's values with its mobile, landline and e-mail masked (the report is kept, so it
holds no usable contact details); the rejected rows download as CSV. An import writes
every accepted row in one transaction: all of them or, on any failure, none.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from flask import current_app
from flask_babel import format_date, gettext, lazy_gettext
from redis.exceptions import RedisError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import OperationalError

from app import jobs
from app.dao import places as places_dao
from app.dao.audit import create_audit_event
from app.dao.locks import lock_until_commit
from app.extensions import db, redis_store
from app.i18n import each_language, in_reader_language
from app.models import InterestGroup, Resident, ResidentChannel, ResidentImport, ResidentLocation
from app.models.resident import resident_groups
from app.services import forces
from app.services.contacts import ContactRefused, normalise_email, normalise_phone
from app.services.counters import count_one
from app.services.masking import mask_contact, mask_contacts
from app.services.notices import create_notice, queue_notices
from app.services.postcode_check import (
    POLICE_OUTSIDE_GREAT_BRITAIN,
    PostcodeRefused,
    check_postcodes,
    postcode_key,
)
from app.services.spreadsheet import csv_text
from app.services.text import TextRefused, checked_text, clean_text
from app.services.transaction import transaction
from geo import postcodes as postcode_rules
from geo.areas import N_

MAX_ROWS = 200_000
# A subscriber list has a few columns; a file of 100,002 held a worker 77 s (an
# outside check), every cell read.
MAX_COLUMNS = 200
COLUMN = {"sms": "mobile", "voice": "landline", "email": "email"}
# Headers as people and other systems write them: "E-mail", the service's own spelling,
# was not read, and rows with only an e-mail address were refused (an outside check).
ALIASES = {
    "e-mail": "email",
    "e-mail address": "email",
    "email address": "email",
    "mobile number": "mobile",
    "landline number": "landline",
}


# Dashes as spreadsheets and word processors write them, and underscores: "E‑mail"
# (a non-breaking hyphen) and "E–mail" looked the same as "E-mail" and were not read
# (an outside check).
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")


def _column(header: str) -> str:
    """The column a header names: as people see it (no characters of no width, its
    letters as a keyboard types them, any dash a hyphen), lower case, its known other
    spellings as ours. A zero-width space before "Mobile" and "Email" refused the file
    for want of the columns it showed (an outside check)."""
    seen = "".join(c for c in header if unicodedata.category(c) != "Cf")
    seen = unicodedata.normalize("NFKC", seen).translate(_DASHES).replace("_", " ")
    key = " ".join(seen.lower().split())
    return ALIASES.get(key, key)


def _headers_not_read(ignored: list[str]) -> str:
    """The headers not read, as written, for a refusal to name ("“Mоbile”, “Emаil”")."""
    return ", ".join(f"“{header}”" for header in ignored)


# The columns a rejected row's values are shown from, in this order; contact columns
# masked. Columns we do not read are not shown: they may hold anything.
SHOWN_COLUMNS = ("name", "postcode", "mobile", "landline", "email", "label", "groups")
CONTACT_COLUMNS = ("mobile", "landline", "email")
SHOWN_LENGTH = 100
# As long as a name and a place's label can be when a resident types them.
NAME_LENGTH = 100
LABEL_LENGTH = 40

# What is wrong with a number (contacts.normalise_phone's ContactRefused.problem), as
# the staff running an import need it: what is wrong with the cell, not what to type
# instead. (It was keyed by the resident's words, and a refusal whose words changed
# fell through to "not usable: ..." unnoticed.)
PHONE_PROBLEMS = {
    "too_long": N_("%(column)s is too long to be a phone number"),
    "characters": N_("%(column)s has a control or invisible character in it"),
    "missing": N_("%(column)s is missing"),
    "not_a_number": N_("%(column)s is not a phone number"),
    "extension": N_("%(column)s has an extension, which automated messages cannot dial"),
    "letters": N_("%(column)s has letters in it"),
    "not_uk": N_("%(column)s is not a UK number"),
    "incomplete": N_("%(column)s is not a complete UK number (wrong number of digits)"),
    "no_such_start": N_("%(column)s is not a UK number in use (no number starts like that)"),
    "premium": N_("%(column)s is a premium-rate, personal or shared-cost number"),
    "organisation": N_(
        "%(column)s reaches an organisation (an 03 or 055 number), not a home or a mobile"
    ),
    "pager": N_("%(column)s is a pager number, not a home or a mobile"),
    "not_mobile": N_("%(column)s is not a mobile number (texts need one starting 07)"),
    "voip": N_("%(column)s is an 056 internet phone number, not a home or a mobile"),
    "not_phone": N_("%(column)s is a kind of number we cannot call (not a mobile or a landline)"),
}
# A column as staff call it in a reason.
STAFF_NAME = {
    "mobile": lazy_gettext("mobile"),
    "landline": lazy_gettext("landline"),
    "email": lazy_gettext("e-mail address"),
}
CHUNK = 5_000  # rows written per statement


class ImportRefused(ValueError):
    """The file as a whole cannot be read (no header, no postcode column, too big).
    Its words are in the reader's language: `str()` in the page's, and stored for a
    page in either (each_language(refusal.words))."""

    def __init__(self, message: str, **values):
        super().__init__(message)
        self.message, self.values = message, values

    def __str__(self) -> str:
        return self.words()

    def words(self) -> str:
        return gettext(self.message, **self.values)


@dataclass
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    name: str | None
    label: str
    postcode_key: str
    location: object
    channels: dict[str, str]
    group_ids: list[int]
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    filename: str
    rows_read: int = 0
    accepted: int = 0
    imported: int = 0
    notified: int = 0
    dry_run: bool = True
    columns: list[str] = field(default_factory=list)  # those a rejected row shows
    # Columns of the file we do not read ("sms_phone"): said, not dropped without a word.
    ignored: list[str] = field(default_factory=list)
    # {"row": n, "reasons": [...], "values": {column: shown value}}
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "filename": self.filename,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "imported": self.imported,
            "notified": self.notified,
            "dry_run": self.dry_run,
            "columns": self.columns,
            "ignored": self.ignored,
            "rejected": self.rejected,
        }


def read_rows(
    content: str, progress: Callable[[int], None] | None = None
) -> tuple[list[Row], ImportReport]:
    """Check every row. Raises ImportRefused when the file cannot be read at all."""
    # newline="": rows may end as on any machine (\r\n, \n, or \r alone, as an old Mac
    # spreadsheet saves them), and a line break inside a quoted cell stays in the cell.
    content = content.lstrip("\ufeff")
    delimiter = ","
    first, _, rest = content.partition("\n")
    if first.strip().lower() in ("sep=;", "sep=,", "sep=\t"):
        # Excel's hint line: which character separates the columns, then the header.
        delimiter, content = first.strip()[4], rest
    elif ";" in first and "," not in first:
        delimiter = ";"  # a spreadsheet set to a European locale saves semicolons
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        return _read_rows(reader, progress)
    except csv.Error as error:
        # The reader counts the lines it has read whole; the error is in the next.
        raise ImportRefused(
            N_(
                "Line %(line)s of the file cannot be read as CSV (%(problem)s). Open the "
                "list in a spreadsheet, check that line, and save it again as “CSV UTF-8”."
            ),
            line=f"{reader.line_num + 1:,}",
            problem=_csv_problem(error),
        ) from None


def _csv_problem(error: csv.Error):
    """What the csv module found wrong, in staff's words (it quotes no cell)."""
    said = str(error)
    if "field larger than field limit" in said:
        return lazy_gettext(
            "a cell longer than %(most)s characters", most=f"{csv.field_size_limit():,}"
        )
    if "NUL" in said:
        return lazy_gettext("a NUL character")
    return said.rstrip(".")


def _read_rows(reader: csv.DictReader, progress) -> tuple[list[Row], ImportReport]:
    if not reader.fieldnames:
        raise ImportRefused(N_("The file is empty. Export the list as CSV with a header row."))
    if len(reader.fieldnames) > MAX_COLUMNS:
        raise ImportRefused(
            N_(
                "The file has %(count)s columns; a list may have at most %(most)s. Keep "
                "the columns we read (postcode, mobile, landline, email, name, label, "
                "groups), delete the rest and export it again."
            ),
            count=f"{len(reader.fieldnames):,}",
            most=MAX_COLUMNS,
        )
    # (as written, as read): " Mobile " is the mobile column.
    headers = [(name, name.strip()) for name in reader.fieldnames if name and name.strip()]
    ignored = sorted({read for _, read in headers if _column(read) not in SHOWN_COLUMNS})
    columns = {_column(read): name for name, read in headers if _column(read) in SHOWN_COLUMNS}
    named = [_column(read) for _, read in headers]
    twice = sorted({n for n in named if named.count(n) > 1 and n in SHOWN_COLUMNS})
    if twice:
        # Which of the two holds the residents' details? Guessing would import the wrong.
        # Named as written: "two “email” columns" of a file with "E-mail" and "Email".
        written = [read for _, read in headers if _column(read) == twice[0]]
        raise ImportRefused(
            N_(
                "The file has two columns for “%(column)s”: %(headers)s. Keep the right "
                "one, delete the other and export the list again."
            ),
            column=twice[0],
            headers=_headers_not_read(written),
        )
    # A header that only looks like ours (a letter of another alphabet) is named, so
    # the file can be put right: "needs the columns" of one that shows them was not.
    not_read = {"headers": _headers_not_read(ignored)} if ignored else {}
    if "postcode" not in columns:
        raise ImportRefused(
            N_(
                "The file has no “postcode” column. The header row must name the columns: "
                "postcode, mobile, landline, email, name, label, groups. Headers not read: "
                "%(headers)s."
            )
            if ignored
            else N_(
                "The file has no “postcode” column. The header row must name the columns: "
                "postcode, mobile, landline, email, name, label, groups."
            ),
            **not_read,
        )
    if not {"mobile", "landline", "email"} & set(columns):
        raise ImportRefused(
            N_(
                "The file needs at least one of the columns mobile, landline, email. "
                "Headers not read: %(headers)s."
            )
            if ignored
            else N_("The file needs at least one of the columns mobile, landline, email."),
            **not_read,
        )
    allow_drama = current_app.config["ENV_NAME"] != "production"
    groups = {}
    for group in db.session.scalars(select(InterestGroup)):
        groups[group.slug.lower()] = group.id
        groups[group.name.lower()] = group.id
    # address (lower case: one mailbox, however it is written) -> row that has it
    seen: dict[str, int] = {}
    report = ImportReport(
        filename="", columns=[c for c in SHOWN_COLUMNS if c in columns], ignored=ignored
    )
    rows: list[Row] = []

    def cell(record, name):
        return clean_text(record.get(columns[name], "")) if name in columns else ""

    records = list(reader)
    if not records:
        raise ImportRefused(
            N_(
                "The file has a header row but no residents under it. Export the list "
                "again with its rows."
            )
        )
    if len(records) > MAX_ROWS:
        raise ImportRefused(
            N_("The file has more than %(most)s rows. Split it."), most=f"{MAX_ROWS:,}"
        )
    checked_postcodes = check_postcodes(cell(record, "postcode") for record in records)
    postcode_problems = _postcode_problems(
        {t: c for t, c in checked_postcodes.items() if isinstance(c, PostcodeRefused)}
    )
    for number, record in enumerate(records, start=2):
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue  # a row of empty cells (spreadsheets add them at the end)
        report.rows_read += 1
        if progress and report.rows_read % 1000 == 0:
            progress(report.rows_read)
        # Each reason is words to write (a function), written in every language when
        # the row is rejected: the report is read on a page in either.
        reasons: list[Callable[[], str]] = []
        unreadable: set[str] = set()
        for column, name in columns.items():
            try:
                checked_text(record.get(name, ""), column)
            except TextRefused:
                # A line break or NUL inside a cell: refuse the row, never store it
                # cleaned into something else.
                reasons.append(partial(_text_problem, record.get(name, ""), column))
                unreadable.add(column)
        extra = record.get(None) or ()
        if any(isinstance(v, str) and v.strip() for v in extra):
            # A value holding a comma, not in quotes, moves the row's cells along: its
            # last ones were dropped without a word (an outside check).
            reasons.append(
                _words(
                    N_(
                        "more cells than the header row has columns (%(count)s extra): a "
                        "value with a comma in it needs quotes around it"
                    ),
                    count=len(extra),
                )
            )
        checked = checked_postcodes[cell(record, "postcode")]
        if isinstance(checked, PostcodeRefused) and "postcode" not in unreadable:
            reasons.append(postcode_problems[cell(record, "postcode")])
        for column, most in (("name", NAME_LENGTH), ("label", LABEL_LENGTH)):
            if column not in unreadable and len(cell(record, column)) > most:
                # As the sign-up form refuses it: never cut short without saying.
                reasons.append(
                    _words(
                        N_("%(column)s longer than %(most)s characters"),
                        column=column,
                        most=most,
                    )
                )
        channels: dict[str, str] = {}
        contact_refused = False
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
            except ContactRefused:
                contact_refused = True
                if column not in unreadable:
                    reasons.append(partial(_contact_problem, column, value, allow_drama))
        if not channels and not contact_refused:
            reasons.append(
                _words(N_("no mobile, landline or e-mail address: no way to reach them"))
            )
        for channel, address in channels.items():
            if address.lower() in seen:
                reasons.append(
                    _words(
                        N_("%(column)s is the same as on row %(row)s"),
                        column=STAFF_NAME[COLUMN[channel]],
                        row=seen[address.lower()],
                    )
                )
        group_ids = []
        for name in filter(None, (g.strip().lower() for g in cell(record, "groups").split(";"))):
            if name in groups:
                group_ids.append(groups[name])
            else:
                reasons.append(_words(N_("group not known: “%(name)s”"), name=name[:SHOWN_LENGTH]))
        values = _shown_values(record, columns)
        if reasons:
            report.rejected.append({"row": number, "reasons": _written(reasons), "values": values})
            continue
        for address in channels.values():
            seen[address.lower()] = number
        rows.append(
            Row(
                number=number,
                name=cell(record, "name") or None,
                label=cell(record, "label") or "Home",
                postcode_key=checked.postcode,
                location=checked.location,
                channels=channels,
                group_ids=sorted(set(group_ids)),
                values=values,
            )
        )
    _reject_already_registered(rows, report)
    report.rejected.sort(key=lambda r: r["row"])
    report.accepted = len(rows)
    # No rollback here: the caller's transaction may hold its upload's record locked
    # (run_import), and ending it would let the sweeper take a live import for dead.
    return rows, report


def _shown_values(record: dict, columns: dict[str, str]) -> dict[str, str]:
    """A rejected row's values as staff see them: the columns we read, each cut short,
    control characters shown as �, the mobile, landline and e-mail masked (and any
    number or address typed into another column too)."""
    values = {}
    for column in SHOWN_COLUMNS:
        if column not in columns:
            continue
        raw = record.get(columns[column])
        text = "" if raw is None else str(raw)
        text = "".join("\ufffd" if not (c.isprintable() or c == " ") else c for c in text)
        text = text.strip()
        if column in CONTACT_COLUMNS:
            values[column] = mask_contact(text)
        else:
            values[column] = mask_contacts(text[:SHOWN_LENGTH])
    return values


def _words(message: str, **values) -> Callable[[], str]:
    """Words of the catalogue (marked N_) to write in the language of the moment."""
    return partial(gettext, message, **values)


def _written(reasons: list[Callable[[], str]]) -> list[dict[str, str]]:
    """A rejected row's reasons, each in every language ({"en": ..., "cy": ...}), and
    masked: a reason may quote a cell, and a cell may hold a number or an address in
    the wrong column (masked as the row's values are)."""
    return [each_language(lambda words=words: mask_contacts(words())) for words in reasons]


def reason_in_english(reason: str | dict) -> str:
    """A stored reason's English words (a report from before reasons were written in
    every language holds them as a string)."""
    return reason.get("en", "") if isinstance(reason, dict) else reason


def _staff_words(message: str) -> str:
    """A refusal written for a resident, without what it asks them to do."""
    for advice in (gettext("Remove it and try again."), gettext("Type it again.")):
        message = message.removesuffix(" " + advice)
    return message.rstrip(".")


def _text_problem(raw: str, column: str) -> str:
    """Why a cell's text is refused (a line break, a NUL...), in the language of the
    moment: checked again here, as the refusal's words are written in it."""
    try:
        checked_text(raw, column)
    except TextRefused as refusal:
        reason = _staff_words(str(refusal))
    else:
        return ""
    if "\n" in raw and raw.count(",") > 1:
        # More lines, with commas: most likely a quote left open, and the rows after
        # it read into this cell.
        reason += " " + gettext(
            '(if that is not meant, a quote mark (") in this row is not closed, and the '
            "rows after it were read into this cell: close it and check those rows)"
        )
    return reason


# A number a spreadsheet showed in its scientific form (7.7009E+09) and saved so.
SPREADSHEET_NUMBER = re.compile(r"^\d+(\.\d+)?E\+\d+$", re.IGNORECASE)


def _contact_problem(column: str, value: str, allow_drama: bool) -> str:
    """Why a mobile, landline or e-mail address cell is refused, in the language of the
    moment: checked again here, as the refusal's words are written in it."""
    try:
        if column == "email":
            normalise_email(value)
        else:
            normalise_phone(value, need_mobile=column == "mobile", allow_drama=allow_drama)
    except ContactRefused as refusal:
        message, detail, problem = str(refusal), refusal.detail, refusal.problem
    else:
        return ""
    if column != "email" and SPREADSHEET_NUMBER.match(value.replace(" ", "")):
        return gettext(
            "%(column)s was changed by a spreadsheet into a number like 7.7E+09, and its "
            "digits are lost: format the column as text in the old system's export, and "
            "export it again",
            column=STAFF_NAME[column],
        )
    if column == "email":
        if detail:
            return gettext("e-mail address not valid: %(detail)s", detail=detail)
        return message
    if problem in PHONE_PROBLEMS:
        return gettext(PHONE_PROBLEMS[problem], column=STAFF_NAME[column])
    return gettext("%(column)s not usable: %(problem)s", column=STAFF_NAME[column], problem=message)


def _postcode_problems(refused: dict[str, PostcodeRefused]) -> dict[str, Callable[[], str]]:
    """Each refused postcode's reason for staff ("postcode outside the force area:
    Wiltshire"), keyed by the text as given, as words to write (_written). A few
    queries however many rows."""
    keys: dict[str, str] = {}
    for text, refusal in refused.items():
        if refusal.reason in ("outside_force", "terminated"):
            with contextlib.suppress(PostcodeRefused):
                keys[text] = postcode_key(text)
    wanted = sorted(set(keys.values()))
    found = {}
    for start in range(0, len(wanted), CHUNK):
        found.update(places_dao.find_postcodes(wanted[start : start + CHUNK]))
    districts: dict[str, str | None] = {}
    for postcode in found.values():
        code = postcode.admin_district_code
        if code and code not in districts:
            district = places_dao.find_district(code)
            districts[code] = district.name if district else None
    return {
        text: partial(_postcode_problem, text, refusal, found.get(keys.get(text, "")), districts)
        for text, refusal in refused.items()
    }


def _postcode_problem(text: str, refusal: PostcodeRefused, postcode, districts) -> str:
    """Why a postcode was refused, in words that do not repeat it: the row's values
    (its postcode among them) are shown beside the reason, and go after
    IMPORT_REPORT_DAYS; the reasons stay (a reason quoting the postcode kept it)."""
    key = postcode_rules.canonical(text)
    shown = postcode_rules.display(key) if postcode_rules.is_valid(key) else text[:20]
    match refusal.reason:
        case "outside_force":
            district = districts.get(postcode.admin_district_code) if postcode else None
            if district:
                return gettext("postcode outside the force area: %(district)s", district=district)
            return gettext("postcode outside the force area")
        case "outside_great_britain":
            place = POLICE_OUTSIDE_GREAT_BRITAIN[postcode_rules.area(shown)]
            return gettext(
                "postcode outside Great Britain: %(where)s (%(police)s)",
                where=str(place.name).removeprefix("the "),
                police=str(place.police).removeprefix("the "),
            )
        case "unknown":
            return gettext("postcode not in the postcode data")
        case "terminated":
            if postcode and postcode.terminated_on:
                return gettext(
                    "postcode no longer in use, since %(month)s",
                    month=format_date(postcode.terminated_on, "MMMM yyyy"),
                )
            return gettext("postcode no longer in use")
        case "no_location":
            return gettext("postcode has no location in the postcode data")
        case "not_configured":
            return gettext("the force area is not loaded: run `flask geo load-places --kind force`")
    if not key:
        return gettext("postcode missing")
    if not postcode_rules.is_valid(key):
        return gettext("postcode not valid")
    return gettext("postcode: %(problem)s", problem=_staff_words(str(refusal)))


def _reject_already_registered(rows: list[Row], report: ImportReport) -> None:
    # As a sign-up does (address_taken): an address registered in other letters' case
    # is the same mailbox.
    addresses = [a.lower() for row in rows for a in row.channels.values()]
    # address -> whether anyone has confirmed it (else a sign-up waits for its code).
    # This force's residents only: another force's are not this force's to know of (an
    # outside check: a file of 100,000 rows told Avon and Somerset which numbers
    # Wiltshire held, confirmed or not). A row whose address another force's resident
    # holds is imported, this force's own registration of it, as a sign-up for the
    # other force would be.
    ours = select(ResidentLocation.resident_id).where(
        ResidentLocation.force_id == forces.current_force().id
    )
    existing: dict[str, bool] = {}
    for start in range(0, len(addresses), CHUNK):
        existing.update(
            db.session.execute(
                select(
                    func.lower(ResidentChannel.address),
                    func.bool_or(ResidentChannel.verified_at.is_not(None)),
                )
                .where(
                    func.lower(ResidentChannel.address).in_(addresses[start : start + CHUNK]),
                    ResidentChannel.resident_id.in_(ours),
                )
                .group_by(func.lower(ResidentChannel.address))
            ).all()
        )
    if not existing:
        return
    kept = []
    for row in rows:
        taken = [c for c, a in row.channels.items() if a.lower() in existing]
        if taken:
            # The report names the column, not the address: it is kept, and must hold
            # no personal data. One only signed up, not confirmed, is said so ("already
            # registered" read as a resident's: an outside check).
            report.rejected.append(
                {
                    "row": row.number,
                    "reasons": _written(
                        [
                            _words(
                                N_("%(column)s already registered")
                                if existing[row.channels[c].lower()]
                                else N_(
                                    "%(column)s already registered (signed up, not yet confirmed)"
                                ),
                                column=STAFF_NAME[COLUMN[c]],
                            )
                            for c in taken
                        ]
                    ),
                    "values": row.values,
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
    before_commit: Callable[[ImportReport], None] | None = None,
    import_id: int | None = None,
) -> ImportReport:
    """Check the file and, unless dry_run, write every accepted row in one transaction;
    `before_commit` may add to that transaction (the upload's own record: done with
    its rows, or not at all). Raises ImportRefused.

    Imports take turns (an advisory lock held until the rows commit): a second import
    checks whom the first registered only once the first has committed, so two
    uploads of one list, imported at once, register each address once."""
    if not dry_run:
        lock_until_commit(db.session, "resident-import")
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
            # Each a single statement of many rows (not one statement a row): PostgreSQL
            # keeps the targets in step once per statement (migrations 0022, 0031).
            db.session.execute(
                insert(ResidentLocation).values(
                    [
                        {
                            "resident_id": rid,
                            "label": row.label,
                            "postcode": row.postcode_key,
                            "location": row.location,
                        }
                        for rid, row in zip(ids, chunk, strict=True)
                    ]
                )
            )
            db.session.execute(
                insert(ResidentChannel).values(
                    [
                        # Confirmed in the previous system: the force vouches for them.
                        {"resident_id": rid, "channel": c, "address": a, "verified_at": now}
                        for rid, row in zip(ids, chunk, strict=True)
                        for c, a in row.channels.items()
                    ]
                )
            )
            memberships = [
                {"resident_id": rid, "group_id": gid}
                for rid, row in zip(ids, chunk, strict=True)
                for gid in row.group_ids
            ]
            if memberships:
                db.session.execute(insert(resident_groups).values(memberships))
            if notify:
                notice_ids.extend(_notify(ids, chunk))
            report.imported += len(chunk)
            if progress:
                progress(report.rows_read + report.imported)
        report.notified = len(notice_ids)
        create_audit_event(
            "residents.imported",
            actor_id=actor_id,
            subject_type="import" if import_id is not None else None,
            subject_id=import_id,
            details={
                "filename": filename,
                "imported": report.imported,
                "rejected": len(report.rejected),
                "notified": report.notified,
            },
        )
        if before_commit is not None:
            before_commit(report)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    queue_notices(notice_ids, bulk=True)  # behind any alert
    return report


def _notify(ids: list[int], rows: list[Row]) -> list[int]:
    """Tell each imported resident that the force now holds their details and how to
    change or remove them: by e-mail where we have one, else by text, else by call.
    The message points at the page that sends a sign-in link, rather than carrying one:
    people read such messages days later."""
    from app.services.verification import public_url

    force = forces.current_force().name
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


REJECTED_HEADER = {
    "name": lazy_gettext("Name"),
    "postcode": lazy_gettext("Postcode"),
    "mobile": lazy_gettext("Mobile (masked)"),
    "landline": lazy_gettext("Landline (masked)"),
    "email": lazy_gettext("E-mail (masked)"),
    "label": lazy_gettext("Label"),
    "groups": lazy_gettext("Groups"),
}


def rejected_rows_csv(report: dict) -> str:
    """A report's rejected rows as CSV, in the reader's language (it is read by the
    person who fixes the file): the row's number in the file, why, and its values as
    the page shows them (contact details masked). No cell runs as a formula."""
    columns = [c for c in report.get("columns") or [] if c in REJECTED_HEADER]
    return csv_text(
        [gettext("Row"), gettext("Why"), *(str(REJECTED_HEADER[c]) for c in columns)],
        (
            [
                rejected["row"],
                "; ".join(map(in_reader_language, rejected["reasons"])),
                *(rejected.get("values", {}).get(c, "") for c in columns),
            ]
            for rejected in report.get("rejected") or []
        ),
    )


def download_rejected_rows(officer, record: ResidentImport) -> tuple[str, str] | None:
    """The rejected rows of a checked (or imported) file as CSV, and the file's name;
    None when it has no report of rows yet. The download is audited."""
    if record.status not in ("checked", "done") or not record.report.get("rejected"):
        return None
    body = rejected_rows_csv(record.report)
    with transaction():
        create_audit_event(
            "residents.import_rejected_downloaded",
            actor_id=officer.id,
            subject_type="import",
            subject_id=record.id,
            details={"rows": len(record.report["rejected"])},
        )
    stem = "".join(
        c if c.isalnum() or c in "-_" else "-" for c in record.filename.rsplit(".", 1)[0]
    )
    return body, f"rejected-rows-{stem[:60] or 'import'}.csv"


def view_import_report(officer, record: ResidentImport) -> None:
    """An administrator opened an upload's page: its rejected rows show names and
    postcodes, so who looked is recorded, as for their download."""
    rejected = record.report.get("rejected") or []
    # What the page tells of this force's residents already registered is told to
    # whoever reads it: how many is recorded.
    registered = sum(
        any("already registered" in reason_in_english(reason) for reason in row.get("reasons", []))
        for row in rejected
    )
    with transaction():
        create_audit_event(
            "residents.import_viewed",
            actor_id=officer.id,
            subject_type="import",
            subject_id=record.id,
            details={"rejected_rows_shown": len(rejected), "already_registered": registered},
        )


# A run claimed this long ago that holds no lock on its record has died.
CLAIM_GRACE_SECONDS = 60


# How many times a run cut off by the database is left for the sweeper to run again.
DROPPED_RUNS = 3


def _dropped_key(import_id: int) -> str:
    return f"import:{import_id}:dropped"


def _runs_again(import_id: int) -> bool:
    """Whether a run cut off by the database may be run again (DROPPED_RUNS times; a
    database failing it every time fails it for good, as any other error)."""
    try:
        return count_one(_dropped_key(import_id), keep_seconds=24 * 3600) <= DROPPED_RUNS
    except RedisError:
        return False


def recover_imports() -> dict[str, int]:
    """Uploads whose worker died (kill -9, a lost machine) or whose job Redis lost: a
    check still "queued" is queued again; an import still "running" is handed back as
    checked (its rows were one transaction, never committed), to be imported again.
    A live run holds its record locked (run_import), so only the dead are found. The
    sweeper runs this every round."""
    found = db.session.scalars(
        select(ResidentImport)
        .where(
            ResidentImport.status.in_(("queued", "running")),
            ResidentImport.content.is_not(None),
            ResidentImport.created_at < func.now() - timedelta(seconds=CLAIM_GRACE_SECONDS),
        )
        .with_for_update(skip_locked=True)
    ).all()
    now = time.time()
    checks, handed_back = [], 0
    for record in found:
        if record.status == "queued":
            checks.append(record.id)
        elif now - float(record.report.get("claimed_at") or 0) > CLAIM_GRACE_SECONDS:
            record.status = "checked"
            record.report = {k: v for k, v in record.report.items() if k != "claimed_at"} | {
                "interrupted": "The import stopped before it finished (its worker stopped). "
                "Nothing from it was written: import it again."
            }
            handed_back += 1
    db.session.commit()
    if checks and jobs.waiting(jobs.BULK) == 0:  # a check waiting its turn is not lost
        for import_id in checks:
            queue_import(import_id, dry_run=True)
    else:
        checks = []
    return {"imports_handed_back": handed_back, "import_checks_requeued": len(checks)}


def count_residents() -> int:
    return db.session.scalar(select(func.count()).select_from(Resident))


# --- the admin page's imports, run by a job ----------------------------------------


def progress_key(import_id: int) -> str:
    return f"import:{import_id}:progress"


def create_import(officer, *, filename: str, content: str, notify: bool):
    """Keep the uploaded file until it is imported (or purged); upload_import checks it."""
    if "\x00" in content:
        # PostgreSQL keeps no NUL in text, and no spreadsheet writes one into a CSV.
        # Lines as a spreadsheet ends them, old Macs' lone CR too (counted by LF alone,
        # a file of CRs had its NUL on "line 1": an outside check).
        line = len((content[: content.index("\x00")] + ".").splitlines())
        raise ImportRefused(
            N_(
                "Line %(line)s of the file holds a NUL character, which a list saved from "
                "a spreadsheet never has. Save the list again as “CSV UTF-8” and upload "
                "that."
            ),
            line=f"{line:,}",
        )
    record = ResidentImport(
        filename=clean_text(filename, max_length=200) or "upload.csv",
        content=content,
        notify=notify,
        created_by_id=officer.id,
        force_id=officer.force_id,
        report={"total": max(len(content.splitlines()) - 1, 1)},
    )
    db.session.add(record)
    db.session.flush()  # its id, for the audit event
    create_audit_event(
        "residents.import_uploaded",
        actor_id=officer.id,
        subject_type="import",
        subject_id=record.id,
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


# Set when an import is queued, until a worker claims it (its status then says; the
# worker deletes it): a second press meanwhile is told it has started, not
# "Importing" again. It lapses, so an import whose job Redis lost can be started again.
STARTED_KEY = "import:{id}:started"
STARTED_SECONDS = 600


def start_import(record: ResidentImport) -> bool:
    """Queue the import of a checked upload. False when it is not waiting for one: it
    has been imported already (or is being), has not been checked yet, or was queued
    moments ago (import_started). (run_import claims it, so two jobs still import it
    once.)"""
    if record.status != "checked" or record.content is None or nothing_to_import(record):
        return False
    key = STARTED_KEY.format(id=record.id)
    if not redis_store.client.set(key, 1, nx=True, ex=STARTED_SECONDS):
        return False
    queue_import(record.id, dry_run=False)
    return True


def import_started(record: ResidentImport) -> bool:
    """Queued for importing, and no worker has claimed it yet."""
    return record.status == "checked" and bool(
        redis_store.client.exists(STARTED_KEY.format(id=record.id))
    )


def nothing_to_import(record: ResidentImport) -> bool:
    """A checked upload none of whose rows can be imported: running it would mark it
    "done" with nothing written (an outside probe posted the form its page no longer
    shows)."""
    return record.status == "checked" and not (record.report or {}).get("accepted")


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
            .values(
                status="running",
                report=ResidentImport.report.op("||")(
                    func.jsonb_build_object("claimed_at", func.extract("epoch", func.now()))
                ),
            )
            .returning(ResidentImport.id)
        ).first()
        db.session.commit()
        if claimed is None:
            return
        # Its status says it runs now; should this worker die, recover_imports hands
        # it back, and its page offers the button again (not "it starts as soon as...").
        redis_store.client.delete(STARTED_KEY.format(id=import_id))
    # The record stays locked until this run's last commit: a run whose worker dies
    # lets go of it with its connection, and recover_imports tells it from a live one.
    record = db.session.scalars(
        select(ResidentImport).where(ResidentImport.id == import_id).with_for_update()
    ).first()
    if record is None or record.status != ("queued" if dry_run else "running"):
        db.session.rollback()  # done meanwhile, or handed back by recover_imports
        return
    content, filename, notify = record.content, record.filename, record.notify
    actor_id, total = record.created_by_id, record.report.get("total", 1)
    key = progress_key(import_id)
    finished = False

    def progress(done: int) -> None:
        redis_store.client.set(key, done, ex=3600)

    def done(report: ImportReport) -> None:
        # In the rows' own transaction: imported and marked done together, or neither
        # (a run that died between the two would otherwise be imported again).
        nonlocal finished
        record.status = "done"
        record.report = report.as_dict() | {"total": total}
        record.finished_at = func.now()
        record.content = None
        finished = True

    try:
        # Its administrator's force: postcodes are checked against its area.
        with forces.scoped(record.force_id):
            report = import_residents(
                content,
                filename=filename,
                dry_run=dry_run,
                notify=notify,
                actor_id=actor_id,
                progress=progress,
                before_commit=None if dry_run else done,
                import_id=import_id,
            ).as_dict()
        if finished:
            redis_store.client.delete(key, _dropped_key(import_id))
            return
        status = "checked" if dry_run else "done"
    except ImportRefused as refusal:
        report, status = {"error": each_language(refusal.words)}, "failed"
    except Exception as error:
        db.session.rollback()
        dropped = isinstance(error, OperationalError) and error.connection_invalidated
        if dropped and _runs_again(import_id):
            # The database dropped the connection (a restart, a failover): nothing was
            # written, and the record is left as it was, for the sweeper's
            # recover_imports: a check is queued again, an import handed back to be
            # started again. It was failed for good, the file to be uploaded again (an
            # outside check cut the connections mid-check).
            current_app.logger.warning("import %s: the database connection dropped", import_id)
            return
        # Its kind only: the message of an error may quote a row.
        current_app.logger.error(
            "import %s failed: %s", import_id, type(error).__name__, exc_info=False
        )
        failed = partial(
            gettext,
            N_(
                "The import failed and nothing was written. If it fails again, tell your IT "
                "team: import %(number)s (the server's log says why)."
            ),
            number=import_id,
        )
        report, status = {"error": each_language(failed)}, "failed"
    record = db.session.get(ResidentImport, import_id)
    record.status = status
    record.report = report | {"total": total}
    record.finished_at = func.now()
    if status in ("done", "failed"):
        record.content = None  # the list is in the database now, or was refused
    db.session.commit()
    redis_store.client.delete(key, _dropped_key(import_id))  # a run finished: counted anew
