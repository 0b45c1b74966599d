"""What was sent: for a period, the alerts released and their messages as the
delivery ledger records them, safe to publish inside the force (k = 5).

`sent_report(period)` is the one place the figures are made; the page
(/analysts/sent), the CSV download and `flask reports sent` all show its tables.

- Alerts by category and mode (exercises apart; an officer's test to themselves is
  not an alert and is left out). Counts of alerts are about the force's work, not
  about people, so they are shown whatever their size.
- Messages by channel and status, failure reasons, text parts, billed call minutes,
  e-mails and their cost at the configured prices. These are about residents'
  messages: every count goes through app/services/suppression.py (nothing under 5,
  and secondary suppression wherever a total and its parts are shown), and a cost or
  a unit total is shown only where the count it comes from is.
- Delivery speed: the time from an alert's release to its last message arriving
  (p50 and p95 across the period's alerts), and the share of messages that arrived
  within 10 seconds of release.
- Each alert: residents messaged against the adults living in the area it covered
  (ONS ward estimates, each ward weighted by the share of its live postcodes inside
  the alert's area: figures.WARD_SHARE_INSIDE), and how long its last message took.

A period is whole days in UK time; an alert belongs to the period its release
(alerts.sent_at) falls in, and all its messages with it, whenever they were settled.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext, lazy_gettext, ngettext

from app.dao import reports as dao
from app.dao.audit import create_audit_event
from app.extensions import db
from app.i18n import category_label, current, force_label, when
from app.models import CHANNELS, STATUS_RANK, Officer
from app.models.alert import CATEGORIES
from app.services import forces
from app.services.population import attribution_shown
from app.services.spreadsheet import csv_text
from app.services.suppression import (
    FEWER_THAN,
    HIDDEN_WORDS,
    K_MIN,
    Group,
    Suppressed,
    grid_groups,
    suppress,
)
from app.services.transaction import replica_reads, transaction

UK = ZoneInfo("Europe/London")
EARLIEST = date(2000, 1, 1)  # before the service, and before any ledger
# "Delivered within 10 s of release": the speed a force promises for an urgent alert.
WITHIN_SECONDS = 10
PER = 1000  # residents messaged per 1,000 adults
STATUSES = tuple(STATUS_RANK)  # the ledger's statuses, in the order a message moves
# The tables' words are in the page's language; the CSV is made in English (the view
# asks for it), the language of the spreadsheets that read its column names.
CHANNEL_LABELS = {
    "sms": lazy_gettext("Text (SMS)"),
    "voice": lazy_gettext("Voice call"),
    "email": lazy_gettext("E-mail"),
}
STATUS_LABELS = {
    "queued": lazy_gettext("Queued"),
    "sending": lazy_gettext("Sending"),
    "unknown": lazy_gettext("Unknown (being checked)"),
    "possibly_sent": lazy_gettext("Possibly sent"),
    "sent": lazy_gettext("Sent (no receipt)"),
    "delivered": lazy_gettext("Delivered"),
    "failed": lazy_gettext("Failed"),
    "cancelled": lazy_gettext("Cancelled"),
}
MODE_LABELS = {"live": lazy_gettext("Live"), "exercise": lazy_gettext("Exercise")}
ALL = "all"
NOT_SHOWN = lazy_gettext("not shown")
NO_REASON = "no reason recorded"


class PeriodError(ValueError):
    """Dates that do not make a period, and what to do about it."""


# ---------------------------------------------------------------- the period --------


def _long(day: date) -> str:
    return when(day, "date")  # "1 December 2026", "1 Rhagfyr 2026" on a Welsh page


@dataclass(frozen=True)
class Period:
    """Whole days, first to last inclusive, in UK time."""

    first: date
    last: date
    preset: str | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=UK)

    @property
    def end(self) -> datetime:
        """Midnight (UK) after the last day: the period is [start, end)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=UK)

    @property
    def label(self) -> str:
        return gettext("%(first)s to %(last)s", first=_long(self.first), last=_long(self.last))


def today_uk() -> date:
    return datetime.now(UK).date()


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def last_month(today: date) -> Period:
    last = today.replace(day=1) - timedelta(days=1)
    return Period(last.replace(day=1), last, "month")


def _months_before(day: date, months: int) -> date:
    """The same day `months` calendar months before (the month's last, if shorter).

    >>> _months_before(date(2026, 5, 31), 3), _months_before(date(2026, 2, 10), 3)
    (datetime.date(2026, 2, 28), datetime.date(2025, 11, 10))
    """
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    following = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (following - timedelta(days=1)).day))


def last_quarter(today: date) -> Period:
    """The last full calendar quarter before today's."""
    last = _quarter_start(today) - timedelta(days=1)
    return Period(_quarter_start(last), last, "quarter")


def last_year(today: date) -> Period:
    return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), "year")


def month_so_far(today: date) -> Period:
    """This calendar month, to today."""
    return Period(today.replace(day=1), today, "month_so_far")


def quarter_so_far(today: date) -> Period:
    """This calendar quarter, to today (a fresh installation's alerts are all in it)."""
    return Period(_quarter_start(today), today, "quarter_so_far")


PRESETS = {
    "month_so_far": (lazy_gettext("This month so far"), month_so_far),
    "quarter_so_far": (lazy_gettext("This quarter so far"), quarter_so_far),
    "month": (lazy_gettext("Last month"), last_month),
    "quarter": (lazy_gettext("Last quarter"), last_quarter),
    "year": (lazy_gettext("Last year"), last_year),
}
DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_day(value: str, which: str) -> date:
    value = value.strip()
    try:
        if not DATE_FORM.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise PeriodError(
            gettext(
                "The start date is not a date we can read. Give it as year-month-day, "
                "for example 2026-01-31."
            )
            if which == "start"
            else gettext(
                "The end date is not a date we can read. Give it as year-month-day, "
                "for example 2026-01-31."
            )
        ) from None


def period_from(
    first: str | None, last: str | None, preset: str | None = None, *, today: date | None = None
) -> Period:
    """The period asked for: a preset ("month", "quarter", "year": the last full one;
    "month_so_far", "quarter_so_far": this one to today),
    or from and to dates (YYYY-MM-DD, inclusive); with neither, the last full quarter.
    Either date alone is enough, as on the timeline (this report refused one: an
    outside check): from that day to today, or the 3 months up to that day.
    Raises PeriodError saying what is wrong and what to give instead."""
    today = today or today_uk()
    first, last, preset = (first or "").strip(), (last or "").strip(), (preset or "").strip()
    if not first and not last:
        if not preset:
            return last_quarter(today)
        if preset not in PRESETS:
            raise PeriodError(
                gettext(
                    "Choose this month or quarter so far, last month, last quarter or last "
                    "year, or give dates."
                )
            )
        return PRESETS[preset][1](today)
    if first:
        start = _parse_day(first, "start")
        end = _parse_day(last, "end") if last else max(today, start)
    else:
        # The three months up to it, or to today when it is later; never before the
        # earliest date (a year-1 end date was a 500: an outside check).
        end = _parse_day(last, "end")
        if end < EARLIEST:
            raise PeriodError(gettext("Give dates from %(first)s onwards.", first=_long(EARLIEST)))
        start = max(_months_before(min(end, today), 3) + timedelta(days=1), EARLIEST)
    if end < start:
        raise PeriodError(
            gettext(
                "The end date (%(end)s) is before the start date (%(start)s). Give an end "
                "date on or after the start date.",
                end=_long(end),
                start=_long(start),
            )
        )
    if start < EARLIEST:
        raise PeriodError(gettext("Give dates from %(first)s onwards.", first=_long(EARLIEST)))
    if start > today:
        raise PeriodError(
            gettext(
                "The start date (%(start)s) is in the future. The report covers what has "
                "been sent: give a start date no later than today, %(today)s.",
                start=_long(start),
                today=_long(today),
            )
        )
    # "This month" as its first and last days: up to today (it was refused: an outside
    # check).
    return Period(start, min(end, today))


# ---------------------------------------------------------------- the tables --------


@dataclass(frozen=True)
class Cell:
    """A figure as shown (`label`) and as a spreadsheet wants it (`value`; None when
    it is not shown, so the CSV carries the same words as the page would in English)."""

    label: str
    value: int | float | str | None = None

    @property
    def csv(self) -> str:
        if self.value is None:
            return self.label
        if isinstance(self.value, float):
            return f"{self.value:.2f}".rstrip("0").rstrip(".")
        return str(self.value)


@dataclass(frozen=True)
class Row:
    header: str
    cells: tuple[Cell, ...]
    key: str = ""  # for the page's data-key (a channel, an alert's reference)


@dataclass(frozen=True)
class Table:
    key: str  # the page's id for it
    title: str
    caption: str
    columns: tuple[str, ...]  # the row headers' column first
    rows: list[Row]
    total: Row | None = None
    empty: str = lazy_gettext("Nothing in this period.")

    @property
    def all_rows(self) -> list[Row]:
        return [*self.rows, *([self.total] if self.total else [])]


@dataclass(frozen=True)
class SentReport:
    period: Period
    k: int
    alerts: int
    still_sending: int  # alerts of the period not finished yet: their figures may change
    sms_price: float
    voice_price: float
    population_year: int | None
    attribution: str | None
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    # The data licences' lines, with the population's: the areas' adults are weighted
    # by postcodes (Code-Point Open) and wards (OS boundaries) (an outside check).
    licences: tuple[str, ...] = ()
    # The "each alert" table holds one page of the period's alerts (the page's; the
    # CSV and the command have them all): page 1 of 1 when it holds them all.
    alerts_page: int = 1
    alerts_pages: int = 1
    alerts_first: int = 1  # the first alert on the page, counting from 1
    # With no alert in the period but some since: the calendar quarter (to today) that
    # holds the latest, for the page to offer (it opens on last quarter, often empty).
    holding_latest: Period | None = None

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def _count(table: Suppressed, key: Hashable) -> Cell:
    return Cell(table.label(key), table.shown(key))


def _status_hidden(table: Suppressed, channel: str) -> bool:
    """Whether any count of this channel's messages by status is hidden."""
    return any(table.shown((channel, status)) is None for status in STATUSES)


def _nearest_ten(units: int) -> int:
    """Rounded to the nearest 10, halves up: 5 -> 10, 14 -> 10."""
    return (units + 5) // 10 * 10


def _about(cell: Cell, rounded: bool) -> Cell:
    """The cell's words as "about ..." when its figure is rounded (in the spreadsheet
    too: not a bare number there)."""
    if not rounded:
        return cell
    return Cell(gettext("about %(figure)s", figure=cell.label))


def _money(pounds: float) -> Cell:
    return Cell(f"£{pounds:,.2f}", round(pounds, 2))


def _pounds(pounds: float) -> str:
    return f"£{pounds:,.4f}".rstrip("0").rstrip(".")


def _seconds(seconds: float | None) -> Cell:
    if seconds is None:
        return Cell(gettext("no message arrived"))
    seconds = round(seconds, 1)
    if seconds < 60:
        return Cell(gettext("%(seconds)s s", seconds=f"{seconds:.1f}"), seconds)
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    words = (
        gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)
        if hours
        else gettext("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=rest)
    )
    return Cell(words, seconds)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks,
    as PostgreSQL's percentile_cont; None for no values.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([2, 4, 6, 8, 100], 95)
    81.6
    >>> percentile([], 50) is None
    True
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 6)


# What a failure reason is grouped by: the ledger's words without what can differ
# from one resident to the next (an address in a mail server's refusal, a number in
# a provider's) and without the engine's "gave up after 3 attempts: ".
_GAVE_UP = re.compile(r"^gave up after \d+ attempts?: ", re.IGNORECASE)
_EMAIL_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")
# Digits run together or apart, with dots and slashes too ("07700.900.123" was shown
# whole: an outside check): a number when it starts with + or has 9 digits or more, so
# "451 4.3.0" (a mail server's code) and a date stay.
_PHONE_NUMBER = re.compile(r"\(?\+?\d[\d ()./\u00a0-]{5,}\d")
REASON_LENGTH = 120


def _number_out(found: re.Match) -> str:
    run = found.group(0)
    if "+" in run or sum(c.isdigit() for c in run) >= 9:
        return "[number]"
    return run


def reason_group(reason: str | None) -> str:
    """A failure reason as it is grouped and shown: never an address or number.

    >>> reason_group("gave up after 3 attempts: SMTP 550: 5.1.1 <sam@example.org> unknown")
    'SMTP 550: 5.1.1 [address] unknown'
    >>> reason_group("Twilio 21211: The 'To' number +447700900123 is not valid")
    "Twilio 21211: The 'To' number [number] is not valid"
    >>> reason_group("call 07700.900.123 failed, SMTP 451 4.3.0")
    'call [number] failed, SMTP 451 4.3.0'
    >>> reason_group(None)
    'no reason recorded'
    """
    words = _GAVE_UP.sub("", (reason or "").strip())
    words = _EMAIL_ADDRESS.sub("[address]", words)
    words = _PHONE_NUMBER.sub(_number_out, words)
    words = " ".join(words.split())
    if len(words) > REASON_LENGTH:
        words = words[: REASON_LENGTH - 1].rstrip() + "…"
    return words or NO_REASON


# ---------------------------------------------------------------- the report --------


ALERTS_PER_PAGE = 100


def sent_report(period: Period, *, k: int = K_MIN, alerts_page: int | None = None) -> SentReport:
    """The figures for the period, as every output shows them. With `alerts_page`, the
    "each alert" table holds only that page of ALERTS_PER_PAGE alerts (a page past the
    last is the last); the other tables always count every alert."""
    force = forces.current_force()
    sms_price, voice_price = forces.prices(force)
    with replica_reads():
        alerts = dao.find_sent_alerts(db.session, period.start, period.end, force_id=force.id)
        # An alert with fewer than k messages is in no total: hidden beside the others'
        # in its row alone, it needed another hidden with it, which the period chose,
        # and the period next to it showed (this month's 162 less 93 shown, less 68
        # shown this quarter, left 1: one resident in an alert's public 100 m circle;
        # an outside check). Left out of every sum, an alert's figures are its own.
        kinds, per_alert_rows = dao.count_messages(
            db.session,
            period.start,
            period.end,
            within_s=WITHIN_SECONDS,
            force_id=force.id,
            min_messages=k,
        )
        sent_by_alert = {a.id: 0 for a in alerts}
        for row in per_alert_rows:
            sent_by_alert[row.alert_id] += row.messages
        uncounted = {a for a, n in sent_by_alert.items() if n < k}
        failures = dao.count_failure_reasons(
            db.session,
            period.start,
            period.end,
            within_s=WITHIN_SECONDS,
            force_id=force.id,
            leaving_out=sorted(uncounted),
        )
        approved = dao.find_approved_from_other_forces(
            db.session, period.start, period.end, force_id=force.id
        )
        year, load_summary = dao.find_population_edition(db.session)
        # None in the period, but some since: say so, or the page reads "nothing sent".
        since = (
            None
            if alerts
            else dao.find_last_release_after(db.session, period.end, force_id=force.id)
        )
        pages = max(1, -(-len(alerts) // ALERTS_PER_PAGE))
        page = 1 if alerts_page is None else min(max(1, alerts_page), pages)
        listed = (
            alerts
            if alerts_page is None
            else alerts[(page - 1) * ALERTS_PER_PAGE : page * ALERTS_PER_PAGE]
        )
        population = (
            {
                row.alert_id: row
                for row in dao.find_area_population(
                    db.session,
                    period.start,
                    period.end,
                    year,
                    [a.id for a in listed],
                    force_id=force.id,
                )
            }
            if year is not None and any(a.has_area for a in listed)
            else {}
        )

    # -- every count about messages or residents, in one table for suppression ------
    values: dict[Hashable, int] = {}
    for channel in (*CHANNELS, ALL):
        for status in (*STATUSES, ALL):
            values[(channel, status)] = 0
    by_mode = {"live": 0, "exercise": 0}
    within = 0
    segments = minutes = 0
    for g in kinds:
        for key in ((g.channel, g.status), (g.channel, ALL), (ALL, g.status), (ALL, ALL)):
            values[key] += g.messages
        by_mode[g.mode] = by_mode.get(g.mode, 0) + g.messages
        within += g.within
        if g.channel == "sms":
            segments += g.segments
        if g.channel == "voice":
            minutes += g.billed_minutes
    last_arrival: dict[int, float] = {}
    for row in per_alert_rows:
        if row.last_arrived_s is not None:
            last_arrival[row.alert_id] = row.last_arrived_s
    total = values[(ALL, ALL)]
    rules = grid_groups(CHANNELS, STATUSES, row_total=ALL, column_total=ALL)

    # Live and exercise messages apart, when both kinds of alert went out: with only
    # one kind, the alert counts (shown) already say the other sent nothing.
    modes_used = {a.mode for a in alerts}
    split_modes = {"live", "exercise"} <= modes_used
    if split_modes:
        for mode in ("live", "exercise"):
            values[("mode", mode)] = by_mode[mode]
        rules.append(Group((ALL, ALL), (("mode", "live"), ("mode", "exercise"))))

    # Over the messages not cancelled: a cancelled one never went, and counted as late,
    # an alert cancelled mid-send read 28% on time when every message sent was (an
    # outside check).
    # Left out only when at least k were cancelled: fewer could be worked out from the
    # share, and would hide it (counted in, as before, they read as not arrived).
    cancelled = values[(ALL, "cancelled")] if values[(ALL, "cancelled")] >= k else 0
    values[("speed", "within")] = within
    values[("speed", "later")] = total - cancelled - within
    speed_parts = (("speed", "within"), ("speed", "later"))
    rules.append(Group((ALL, ALL), speed_parts + (((ALL, "cancelled"),) if cancelled else ())))

    for alert in alerts:
        values[("alert", alert.id)] = sent_by_alert[alert.id]
    counted = [a for a in alerts if a.id not in uncounted]
    if counted:
        rules.append(Group((ALL, ALL), tuple(("alert", a.id) for a in counted)))
    if split_modes:
        # Each mode's messages are its alerts' (the "each alert" table names their
        # mode): live 48 less the one live alert shown, 47, gave the other's hidden 1,
        # and the one exercise's hidden count was the exercises' 25 (an outside check).
        for mode in ("live", "exercise"):
            parts = tuple(("alert", a.id) for a in counted if a.mode == mode)
            rules.append(Group(("mode", mode), parts))
    for alert in alerts:
        if alert.recipient_count is not None:
            # This force's residents: the rate is against this force's wards' adults.
            own = alert.recipient_count - alert.others_residents
            if alert.reached_before_cancel is not None:
                own = min(own, alert.reached_before_cancel)
            values[("residents", alert.id)] = max(own, 0)

    reasons: dict[tuple[str, str], int] = {}
    for other in approved:
        values[("approved", other.id)] = other.residents

    for channel, reason, n in failures:
        key = (channel, reason_group(reason))
        reasons[key] = reasons.get(key, 0) + n
    for (channel, reason), n in reasons.items():
        values[("reason", channel, reason)] = n
    for channel in CHANNELS:
        parts = tuple(("reason", c, r) for c, r in reasons if c == channel)
        if parts:
            rules.append(Group((channel, "failed"), parts))

    table = residents_hidden_with_messages(
        suppress(values, _without_zeros(values, rules), k=k), [a.id for a in alerts]
    )
    # Residents reached of an alert with fewer than k of its messages stopped: beside
    # its messages, they gave the stopped away (8 calls, 6 residents reached: 2
    # cancelled, hidden everywhere else; an outside check).
    table = table.hiding_too(
        ("residents", a.id)
        for a in alerts
        if a.reached_before_cancel is not None and 0 < a.cancelled_messages < k
    ).with_zeros_given_away(rules)
    if not alerts:
        # No alert released: every count is 0, and known to be (it read "fewer than 5"
        # beside "0 alerts released": an outside check).
        table = dataclasses.replace(
            table, given_away=frozenset(key for key, value in values.items() if not value)
        )

    # -- the tables ----------------------------------------------------------------
    tables = [
        _alerts_table(alerts),
        _messages_table(table),
    ]
    if split_modes:
        tables.append(_modes_table(table))
    tables.append(_reasons_table(table, reasons))
    tables.append(_cost_table(table, segments, minutes, sms_price, voice_price, k))
    tables.append(_speed_table(table, alerts, last_arrival, total - cancelled, bool(cancelled)))
    tables.append(_alert_table(table, listed, last_arrival, population, year))
    if approved:
        tables.append(_approved_table(table, approved))

    notes = []
    holding_latest = None
    if since is not None:
        day = since.astimezone(UK).date()
        following = _quarter_start(_quarter_start(day) + timedelta(days=93))
        holding_latest = Period(_quarter_start(day), min(following - timedelta(days=1), today_uk()))
        notes.append(
            gettext(
                "No alert was released in this period. The latest was released on "
                "%(day)s: give dates that hold it, up to today.",
                day=_long(since.astimezone(UK).date()),
            )
        )
    if uncounted:
        notes.append(
            ngettext(
                "%(count)s alert had fewer than %(k)s messages: it is listed, and its "
                "messages are in no other figure here, so that they cannot be worked out.",
                "%(count)s alerts had fewer than %(k)s messages each: they are listed, and "
                "their messages are in no other figure here, so that they cannot be "
                "worked out.",
                len(uncounted),
                count=f"{len(uncounted):,}",
                k=k,
            )
        )
    still_sending = sum(1 for a in alerts if a.status == "sending")
    if still_sending:
        notes.append(
            ngettext(
                "%(count)s of these alerts is still sending: its figures will change "
                "until it finishes.",
                "%(count)s of these alerts are still sending: their figures will change "
                "until they finish.",
                still_sending,
                count=f"{still_sending:,}",
            )
        )
    attribution = load_summary.get("attribution") if year is not None else None
    attribution = attribution_shown(attribution) if attribution else None
    from app import DATA_ATTRIBUTION  # the licences' lines, as on every map page

    return SentReport(
        period=period,
        k=k,
        alerts=len(alerts),
        still_sending=still_sending,
        sms_price=sms_price,
        voice_price=voice_price,
        population_year=year,
        attribution=attribution,
        licences=DATA_ATTRIBUTION if year is not None else (),
        tables=tables,
        notes=notes,
        holding_latest=holding_latest,
        alerts_page=page if alerts_page is not None else 1,
        alerts_pages=pages if alerts_page is not None else 1,
        alerts_first=(page - 1) * ALERTS_PER_PAGE + 1 if alerts_page is not None else 1,
    )


def _without_zeros(values: dict[Hashable, int], groups: Iterable[Group]) -> list[Group]:
    """The groups without their parts that are 0. A 0 reads "fewer than 5" like any
    small count, but it protects nothing: a row whose other hidden cells are all 0
    would leave its one small count to be found by subtraction (and non-negativity).
    So the suppression does not count on zeros; they stay hidden all the same."""
    kept = []
    for group in groups:
        parts = tuple(p for p in group.parts if values[p])
        if parts and values[group.total]:
            kept.append(Group(group.total, parts))
    return kept


def _alerts_table(alerts: Sequence[dao.SentAlertRow]) -> Table:
    counts: dict[tuple[str, str], int] = {}
    for alert in alerts:
        counts[(alert.category, alert.mode)] = counts.get((alert.category, alert.mode), 0) + 1

    def row(header: str, key: str, categories: Iterable[str]) -> Row:
        live = sum(counts.get((c, "live"), 0) for c in categories)
        exercise = sum(counts.get((c, "exercise"), 0) for c in categories)
        return Row(
            header,
            (Cell(f"{live:,}", live), Cell(f"{exercise:,}", exercise)),
            key,
        )

    return Table(
        key="alerts",
        title=gettext("Alerts sent"),
        caption=gettext(
            "Alerts released in the period by category: live alerts and exercises "
            "apart. Tests officers sent to themselves are not counted."
        ),
        columns=(gettext("Category"), str(MODE_LABELS["live"]), str(MODE_LABELS["exercise"])),
        rows=[row(category_label(code, label), code, [code]) for code, label in CATEGORIES.items()],
        total=row(gettext("All categories"), ALL, list(CATEGORIES)),
    )


def _messages_table(table: Suppressed) -> Table:
    def row(channel: str, header: str) -> Row:
        return Row(header, tuple(_count(table, (channel, s)) for s in (*STATUSES, ALL)), channel)

    return Table(
        key="messages",
        title=gettext("Messages by channel and status"),
        caption=gettext(
            "One message is one text, call or e-mail to one resident, in the status "
            "the delivery ledger has for it now."
        ),
        columns=(
            gettext("Channel"),
            *(str(STATUS_LABELS[s]) for s in STATUSES),
            gettext("All statuses"),
        ),
        rows=[row(c, str(CHANNEL_LABELS[c])) for c in CHANNELS],
        total=row(ALL, gettext("All channels")),
    )


def _modes_table(table: Suppressed) -> Table:
    return Table(
        key="modes",
        title=gettext("Messages of live alerts and of exercises"),
        caption=gettext("Every message of the period, by the kind of alert it belonged to."),
        columns=(gettext("Kind of alert"), gettext("Messages")),
        rows=[
            Row(str(MODE_LABELS[m]), (_count(table, ("mode", m)),), m) for m in ("live", "exercise")
        ],
        total=Row(gettext("All alerts"), (_count(table, (ALL, ALL)),), ALL),
    )


def _reasons_table(table: Suppressed, reasons: dict[tuple[str, str], int]) -> Table:
    rows = []
    for channel in CHANNELS:
        mine = [r for c, r in reasons if c == channel]
        # Shown reasons largest first; hidden ones after, by name: where a hidden
        # figure sat among the shown ones would say roughly what it is.
        shown = [r for r in mine if table.shown(("reason", channel, r)) is not None]
        hidden = sorted(r for r in mine if r not in shown)
        shown.sort(key=lambda r: (-table.values[("reason", channel, r)], r))
        for reason in (*shown, *hidden):
            channel_label = str(CHANNEL_LABELS[channel])
            rows.append(
                Row(
                    # The provider's words are English as it gave them; ours follow the page.
                    gettext("no reason recorded") if reason == NO_REASON else reason,
                    (
                        Cell(channel_label, channel_label),
                        _count(table, ("reason", channel, reason)),
                    ),
                    channel,
                )
            )
    return Table(
        key="reasons",
        title=gettext("Why messages failed"),
        caption=gettext(
            "Failed messages by the reason the provider or the sending engine gave, "
            "grouped without addresses or numbers. Each channel's reasons add up to its "
            "failed messages above."
        ),
        columns=(gettext("Reason"), gettext("Channel"), gettext("Failed messages")),
        rows=rows,
        empty=gettext("No message failed in this period."),
    )


def _cost_table(
    table: Suppressed, segments: int, minutes: int, sms_price: float, voice_price: float, k: int
) -> Table:
    """Units and cost per channel. A unit total or cost is shown only where the
    channel's count of messages is, and is itself at least k: else it would say what
    the hidden count is, or be a figure under k about messages itself."""
    hidden = Cell(str(NOT_SHOWN))
    sms_shown = table.shown(("sms", ALL)) is not None and segments >= k
    voice_shown = table.shown(("voice", ALL)) is not None and minutes >= k
    # Units are about one a message taken (a short call is a minute, a text as many
    # parts as the next): exact, beside a status hidden, they gave it away (12 calls,
    # 10 minutes: 2 unanswered; an outside check). Then rounded to the nearest 10.
    about = {channel: _status_hidden(table, channel) for channel in ("sms", "voice")}
    if about["sms"]:
        segments = _nearest_ten(segments)
    if about["voice"]:
        minutes = _nearest_ten(minutes)
    sms_cost = segments * sms_price
    voice_cost = minutes * voice_price
    rows = [
        Row(
            str(CHANNEL_LABELS["sms"]),
            (
                _count(table, ("sms", ALL)),
                _about(
                    Cell(
                        ngettext(
                            "%(count)s text part",
                            "%(count)s text parts",
                            segments,
                            count=f"{segments:,}",
                        ),
                        segments,
                    ),
                    about["sms"],
                )
                if sms_shown
                else hidden,
                Cell(gettext("%(price)s per text part", price=_pounds(sms_price)), sms_price),
                _about(_money(sms_cost), about["sms"]) if sms_shown else hidden,
            ),
            "sms",
        ),
        Row(
            str(CHANNEL_LABELS["voice"]),
            (
                _count(table, ("voice", ALL)),
                _about(
                    Cell(
                        ngettext(
                            "%(count)s minute", "%(count)s minutes", minutes, count=f"{minutes:,}"
                        ),
                        minutes,
                    ),
                    about["voice"],
                )
                if voice_shown
                else hidden,
                Cell(gettext("%(price)s per minute", price=_pounds(voice_price)), voice_price),
                _about(_money(voice_cost), about["voice"]) if voice_shown else hidden,
            ),
            "voice",
        ),
        Row(
            str(CHANNEL_LABELS["email"]),
            (
                _count(table, ("email", ALL)),
                Cell(gettext("no charge per e-mail")),
                Cell(gettext("no price configured")),
                Cell("£0.00", 0.0),
            ),
            "email",
        ),
    ]
    total = Row(
        gettext("All channels"),
        (
            _count(table, (ALL, ALL)),
            Cell(""),
            Cell(""),
            _about(_money(sms_cost + voice_cost), about["sms"] or about["voice"])
            if sms_shown and voice_shown
            else hidden,
        ),
        ALL,
    )
    return Table(
        key="cost",
        title=gettext("Text parts, call minutes, e-mails and cost"),
        caption=gettext(
            "Cost at the configured prices: £%(sms_price)s per text part "
            "(SMS_PRICE_PER_SEGMENT) and £%(voice_price)s per call minute "
            "(VOICE_PRICE_PER_MINUTE). Text parts are those the provider reported; each call "
            "is rounded up to the whole minute, as it is billed. A cost is not shown where "
            "its count is not, or where it rests on fewer than %(k)s parts or minutes.",
            sms_price=f"{sms_price:g}",
            voice_price=f"{voice_price:g}",
            k=k,
        )
        + " "
        + gettext(
            "Where a status of a channel's messages is hidden, its units and cost are "
            "rounded to the nearest 10 (“about”): exact, they could give the hidden "
            "count away."
        ),
        columns=(
            gettext("Channel"),
            gettext("Messages"),
            gettext("Units billed"),
            gettext("Price"),
            gettext("Cost"),
        ),
        rows=rows,
        total=total,
    )


def _speed_table(
    table: Suppressed,
    alerts: Sequence[dao.SentAlertRow],
    last_arrival: dict[int, float],
    total: int,
    cancelled_apart: bool,
) -> Table:
    timed = [a for a in alerts if a.id in last_arrival]
    # Across the alerts whose own time is shown: with three alerts, the median was the
    # one whose time was "not shown (few messages)" (an outside check).
    times = [last_arrival[a.id] for a in timed if table.shown(("alert", a.id)) is not None]
    left_out = len(timed) - len(times)

    def across(q: int) -> Cell:
        if not times and left_out:
            return Cell(gettext("not shown (few messages)"))
        return _seconds(percentile(times, q))

    within, later = table.shown(("speed", "within")), table.shown(("speed", "later"))
    if within is None or later is None or not total:
        share = Cell(gettext("not shown (it would reveal a figure under %(k)s)", k=table.k))
    else:
        share = Cell(
            gettext(
                "%(share)s (%(within)s of %(total)s)",
                share=f"{within / total:.1%}",
                within=f"{within:,}",
                total=f"{total:,}",
            ),
            round(100 * within / total, 1),
        )
    return Table(
        key="speed",
        title=gettext("Delivery speed"),
        caption=gettext(
            "From each alert's release to the last of its messages to arrive: a text "
            "or call when the provider reported it delivered, an e-mail when the mail server "
            "accepted it. Messages held for residents' quiet hours count from the release "
            "too; a neighbouring force's residents, from when that force approved it."
        ),
        columns=(gettext("Measure"), gettext("Figure")),
        rows=[
            Row(
                # All of them, those left out of the times below included (it read 2
                # of 4, 2 of which "left out": an outside check).
                gettext("Alerts with a message that arrived"),
                (Cell(f"{len(timed):,}", len(timed)),),
                "timed",
            ),
            *(
                [
                    Row(
                        gettext(
                            "Alerts with a message that arrived, left out of the times "
                            "below: too few messages to show their own"
                        ),
                        (Cell(f"{left_out:,}", left_out),),
                        "untimed",
                    )
                ]
                if left_out
                else []
            ),
            Row(
                gettext("Release to last message arrived: median (p50) across alerts"),
                (across(50),),
                "p50",
            ),
            Row(
                gettext("Release to last message arrived: 95th percentile (p95) across alerts"),
                (across(95),),
                "p95",
            ),
            Row(
                gettext(
                    "Messages that arrived within %(seconds)s s of release (%%; cancelled "
                    "ones, never sent, left out)",
                    seconds=WITHIN_SECONDS,
                )
                if cancelled_apart
                else gettext(
                    "Messages that arrived within %(seconds)s s of release (%%)",
                    seconds=WITHIN_SECONDS,
                ),
                (share,),
                "within",
            ),
        ],
    )


def residents_hidden_with_messages(table: Suppressed, alert_ids: Sequence[int]) -> Suppressed:
    """The table with each alert's residents hidden where its messages are. An alert
    reaches each of its residents with one message or more: a residents' count shown
    beside its hidden messages bounded the other alerts' hidden messages from the
    period's total (4,566 messages, one alert's 4,564 residents: the other alert's
    messages were at most 2, an outside check)."""
    return table.hiding_too(
        ("residents", alert_id)
        for alert_id in alert_ids
        if ("residents", alert_id) in table.values and table.shown(("alert", alert_id)) is None
    )


def _theirs_apart(cell: Cell, alert: dao.SentAlertRow) -> Cell:
    """The force's own residents messaged, saying so when the alert also reached other
    forces' residents with their approval (their number is theirs to report)."""
    if alert.reached_before_cancel is not None and alert.status == "cancelled":
        cell = Cell(
            gettext("%(count)s (reached before it was cancelled)", count=cell.label), cell.value
        )
    if not alert.others_residents:
        return cell
    return Cell(
        gettext("%(count)s (this force's; other forces' residents not counted)", count=cell.label),
        cell.value,
    )


def _alert_table(
    table: Suppressed,
    alerts: Sequence[dao.SentAlertRow],
    last_arrival: dict[int, float],
    population: dict[int, dao.AreaPopulationRow],
    year: int | None,
) -> Table:
    year_words = gettext("mid-%(year)s", year=year) if year else gettext("no estimates loaded")
    rows = []
    for alert in alerts:
        residents = ("residents", alert.id)
        area = population.get(alert.id)
        if area is None:
            adults = Cell(
                gettext("no population estimates loaded")
                if year is None
                else gettext("no area drawn (sent to an earlier alert's residents)")
                if not alert.has_area
                # Also where the force has no ward boundaries loaded: "outside every
                # ward" of an area inside its wards misled (an outside check).
                else gettext("in no ward with its boundary loaded")
            )
            rate = Cell(str(NOT_SHOWN))
        elif area.adults is None:
            adults = Cell(
                gettext(
                    "no population figure for ward %(wards)s", wards=", ".join(area.missing[:3])
                )
            )
            rate = Cell(str(NOT_SHOWN))
        else:
            estimate = round(area.adults)
            note = (
                " "
                + gettext(
                    "(%(share)s of the area is in the force's wards)",
                    share=f"{area.covered:.0%}",
                )
                if (area.covered < 0.99)
                else ""
            )
            per = (
                table.rate(residents, area.adults, scale=PER) if residents in table.values else None
            )
            if per is not None and per > PER:
                # More messaged than adults estimated (an analyst took it for an error):
                # a ward's adults are spread evenly over its postcodes, and an area's
                # postcodes can hold more homes than most.
                note += " " + gettext(
                    "(fewer than were messaged: each ward's estimate is spread evenly over "
                    "its postcodes, and an area's can hold more people than most)"
                )
            adults = Cell(f"{estimate:,}{note}", estimate)
            rate = Cell(f"{per:,.1f}", round(per, 1)) if per is not None else Cell(str(NOT_SHOWN))
        messages = ("alert", alert.id)
        if table.shown(messages) is None:
            speed = Cell(gettext("not shown (few messages)"))
        else:
            speed = _seconds(last_arrival.get(alert.id))
        released = alert.sent_at.astimezone(UK)
        # Its Welsh title on a Welsh page, when it has one (it was English: an outside
        # check).
        title = alert.title_cy if current() == "cy" and alert.title_cy else alert.title
        rows.append(
            Row(
                f"{alert.reference} {title}",
                (
                    Cell(f"{released:%Y-%m-%d %H:%M}"),
                    Cell(category_label(alert.category, alert.category)),
                    Cell(str(MODE_LABELS.get(alert.mode, alert.mode))),
                    _theirs_apart(_count(table, residents), alert)
                    if residents in table.values
                    else Cell(gettext("not recorded")),
                    _count(table, messages),
                    adults,
                    rate,
                    speed,
                ),
                alert.reference,
            )
        )
    return Table(
        key="each-alert",
        title=gettext("Each alert: reach and speed"),
        caption=gettext(
            "Residents messaged against the adults (18 and over) living in the area "
            "the alert covered (%(year)s ONS ward estimates, each ward weighted by the "
            "share of its postcodes inside the alert's area), and how long its last message took "
            "to arrive.",
            year=year_words,
        ),
        columns=(
            gettext("Alert"),
            gettext("Released (UK time)"),
            gettext("Category"),
            gettext("Mode"),
            gettext("Residents messaged"),
            gettext("Messages"),
            gettext("Adults in the area (%(year)s, estimated)", year=year_words),
            gettext("Messaged per 1,000 adults"),
            gettext("Release to last message arrived"),
        ),
        rows=rows,
        empty=gettext("No alert was released in this period."),
    )


def _approved_table(table: Suppressed, approved: Sequence[dao.OtherForcesAlertRow]) -> Table:
    """Other forces' alerts this force approved for its residents: they are the other
    force's (sent from its account, in its figures above), but this force's residents
    heard them, and its analysts should know of them."""
    rows = []
    for other in approved:
        went = other.sent_at.astimezone(UK)
        rows.append(
            Row(
                f"{other.reference} {other.title}",
                (
                    Cell(force_label(forces.force_by_id(other.from_force_id))),
                    Cell(f"{went:%Y-%m-%d %H:%M}"),
                    Cell(category_label(other.category, other.category)),
                    Cell(str(MODE_LABELS.get(other.mode, other.mode))),
                    _count(table, ("approved", other.id)),
                ),
                other.reference,
            )
        )
    return Table(
        key="from-other-forces",
        title=gettext("Other forces' alerts sent to this force's residents"),
        caption=gettext(
            "Alerts of neighbouring forces whose area reached into this force's, sent "
            "to this force's residents there with its approval. Their messages and costs are "
            "the sending force's and are not in the tables above."
        )
        + " "
        + gettext(
            "Their follow-ups to the same people are here too: those go to everyone the "
            "alert reached, without asking this force again."
        ),
        columns=(
            gettext("Alert"),
            gettext("From"),
            gettext("Sent to this force's residents (UK time)"),
            gettext("Category"),
            gettext("Mode"),
            gettext("This force's residents messaged"),
        ),
        rows=rows,
    )


# ---------------------------------------------------------------- outputs -----------

CSV_HEADER = ("Section", "Row", "Column", "Value")


def csv_rows(report: SentReport) -> list[tuple[str, str, str, str]]:
    """Every figure of the report as (section, row, column, value): the same cells the
    page shows, numbers without separators, hidden ones in the page's words."""
    rows = [
        ("Period", "From", "", report.period.first.isoformat()),
        ("Period", "To", "", report.period.last.isoformat()),
        ("Period", "Time zone", "", "UK time (Europe/London)"),
        ("Suppression", f"No figure under {report.k}", "", FEWER_THAN.format(k=report.k)),
        # The cells say so too, in a table with some (the note said only "fewer than 5").
        ("Suppression", "Hidden to protect another", "", HIDDEN_WORDS.format(k=report.k)),
    ]
    if report.population_year:
        rows.append(("Population", "Estimates", "", f"ONS mid-{report.population_year}"))
    if report.attribution:
        rows.append(("Population", "Attribution", "", report.attribution))
    rows += [("Data", "Attribution", "", line) for line in report.licences]
    # What the page says beside its figures: how many alerts are in no total, which
    # are still sending (the file said neither: an outside check).
    rows += [("Notes", "Note", "", str(note)) for note in report.notes]
    for table in report.tables:
        for row in table.all_rows:
            for column, cell in zip(table.columns[1:], row.cells, strict=True):
                rows.append((table.title, row.header, column, cell.csv))
    return rows


def sent_report_csv(report: SentReport) -> str:
    """The report as a CSV file that Excel reads as UTF-8 (a Welsh or curly title was
    garbled without the byte-order mark the other downloads have), every cell text."""
    return csv_text(CSV_HEADER, csv_rows(report))


def download_sent_report(officer: Officer | None, report: SentReport) -> tuple[str, str]:
    """The report as CSV and its file name, with an audit event saying who took it
    (no actor: the command line)."""
    body = sent_report_csv(report)
    period = report.period
    with transaction():
        create_audit_event(
            "report.sent_downloaded",
            actor_id=officer.id if officer is not None else None,
            details={
                "from": period.first.isoformat(),
                "to": period.last.isoformat(),
                "via": "web" if officer is not None else "command line",
            },
        )
    name = f"sent-{period.first.isoformat()}-to-{period.last.isoformat()}.csv"
    return body, name


def report_lines(report: SentReport) -> list[str]:
    """The report as text for the command line: the same cells as the page."""
    lines = [
        f"What was sent: {report.period.label} (UK time)",
        f"Alerts released: {report.alerts:,}. No figure under {report.k} about residents "
        f"or messages is shown ({FEWER_THAN.format(k=report.k)}; in a table with some "
        f"hidden to protect others, {HIDDEN_WORDS.format(k=report.k)}).",
        *report.notes,
    ]
    for table in report.tables:
        lines += ["", table.title, "-" * len(table.title)]
        if not table.all_rows:
            lines.append(str(table.empty))

        for row in table.all_rows:
            figures = "; ".join(
                f"{column}: {cell.label}"
                for column, cell in zip(table.columns[1:], row.cells, strict=True)
                if cell.label
            )
            lines.append(f"{row.header}: {figures}")
    if report.attribution or report.licences:
        lines += ["", *([report.attribution] if report.attribution else []), *report.licences]
    return lines
