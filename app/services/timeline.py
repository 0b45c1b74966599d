"""The analysts' time line (issue 14, "Over time"): weekly registrations,
confirmations, unsubscribes, STOPs and deletions, broken down by channel, group or
source; each live alert marked; and message fatigue (opt-outs in the 48 hours after
an alert against the usual rate), per category. Safe to publish inside the force
(k = 5, app/services/suppression.py).

Where the facts come from:
- registrations: residents.created_at (living residents, with their current channels
  and groups) plus the residents who have left since resident_events began (their
  deletion event keeps the day they signed up);
- confirmations: residents.confirmed_at (the first confirmation, migration 0006) plus
  those who left, likewise;
- unsubscribes, STOPs, deletions: resident_events (migration 0021), recorded by the
  services from then on, backfilled from stopped channels and the audit log.

Weeks are UK weeks (Europe/London), Monday first, so a week follows the clocks.

Suppression: a week's figure under 5 reads "fewer than 5", in the table, the CSV and
the charts (a gap). Where a week's total is shown with its parts (a breakdown), each
week is a total-and-parts group: one hidden part takes a second with it, so none can
be found by subtraction. No column totals are shown, so weeks are independent.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel.dates import get_month_names
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app.dao import timeline as dao
from app.dao.audit import create_audit_event
from app.i18n import category_label, current, group_names, script_words
from app.services import figures, forces
from app.services.spreadsheet import safe_cell
from app.services.suppression import (
    FEWER_THAN,
    HIDDEN_WORDS,
    K_MIN,
    Group,
    fewer_than,
    fewer_than_or_protecting,
    suppress,
)
from app.services.transaction import read_only, replica_reads, transaction

UK = ZoneInfo("Europe/London")
# Words on the page, in its language (lazy: read when the page is made).
KINDS = {
    "registered": _l("Registrations"),
    "confirmed": _l("Confirmations"),
    "unsubscribed": _l("Unsubscribes"),
    "stopped": _l("STOPs"),
    "deleted": _l("Deletions"),
}
BREAKDOWNS = {
    "": _l("No breakdown"),
    "channel": _l("Channel"),
    "group": _l("Group"),
    "source": _l("Source"),
}
CHANNEL_LABELS = {"sms": _l("Text message"), "voice": _l("Voice call"), "email": _l("E-mail")}
SOURCE_LABELS = {"self": _l("Self sign-up"), "import": _l("Imported")}
UNKNOWN = _l("Not recorded")
NO_GROUP = _l("No group")
DEFAULT_WEEKS = 26
MAX_WEEKS = 156
WINDOW = timedelta(hours=48)
# Colour-blind-safe (Okabe-Ito) for up to eight series, then grey.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7a6a00")
ALERT_COLOUR = "#a3271a"


class PeriodRefused(ValueError):
    """A period the time line cannot show, with what to do instead."""


@dataclass(frozen=True)
class Period:
    start: date  # a Monday
    end: date  # the Monday after the last week shown

    @property
    def weeks(self) -> list[date]:
        return [self.start + timedelta(weeks=i) for i in range((self.end - self.start).days // 7)]


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def today_uk() -> date:
    return datetime.now(UK).date()


def parse_period(start: str | None, end: str | None, *, today: date | None = None) -> Period:
    """The UK weeks from the week holding `start` to the week holding `end`, both
    YYYY-MM-DD (either may be left out: the last 26 weeks up to this one).
    Raises PeriodRefused."""
    today = today or today_uk()

    def parse(value: str | None, label: str) -> date | None:
        value = (value or "").strip()
        if not value:
            return None
        try:
            day = date.fromisoformat(value[:10]) if len(value) == 10 else _bad(label)
        except ValueError:
            return _bad(label)
        # Before any arithmetic: a week either side of 9999-12-31 is no date at all.
        if not 2000 <= day.year <= 2200:
            raise PeriodRefused(gettext("Choose dates between the year 2000 and now."))
        return day

    # Named as the form names them.
    first = parse(start, gettext("From (week of)"))
    last = parse(end, gettext("To (week of)"))
    if last is None:
        last = first + timedelta(weeks=DEFAULT_WEEKS - 1) if first else today
    if first is None:
        first = last - timedelta(weeks=DEFAULT_WEEKS - 1)
    if first > last:
        raise PeriodRefused(
            gettext("“From” is after “To”. Choose a start date before the end date.")
        )
    if first > today:
        raise PeriodRefused(
            gettext(
                "“From” is in the future: nothing has happened then yet. Choose a start date "
                "no later than today."
            )
        )
    last = min(last, today)  # the weeks to come have nothing to count yet
    period = Period(monday_of(first), monday_of(last) + timedelta(weeks=1))
    if len(period.weeks) > MAX_WEEKS:
        raise PeriodRefused(
            gettext(
                "That is %(count)s weeks. Choose at most %(most)s weeks (3 years).",
                count=len(period.weeks),
                most=MAX_WEEKS,
            )
        )
    return period


def _bad(label: str):
    raise PeriodRefused(
        gettext("“%(label)s” must be a date like 2026-03-30 (year-month-day).", label=label)
    )


def default_period(today: date | None = None) -> Period:
    return parse_period(None, None, today=today)


# --------------------------------------------------------------- the weekly table ----


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    colour: str


@dataclass
class WeeklyTable:
    """Weeks (rows) by columns, as they may be shown: value None is hidden."""

    period: Period
    kind: str | None  # the kind broken down, or None: a column per kind
    by: str  # "", channel, group, source
    columns: list[Column]
    values: dict[tuple[date, str], int | None]
    total_key: str | None = None  # the column holding each week's total, if any
    hidden_count: int = 0
    k: int = K_MIN
    counted_at: datetime | None = None  # when registrations and confirmations were counted
    # Weeks with a figure hidden to protect another: each hidden one reads so (a week's
    # total of hundreds read "fewer than 5" when hidden to protect a part).
    protected: frozenset[date] = frozenset()

    def shown(self, week: date, column: str) -> int | None:
        return self.values.get((week, column))

    def label(self, week: date, column: str) -> str:
        value = self.shown(week, column)
        if value is not None:
            return f"{value:,}"
        return fewer_than_or_protecting(self.k) if week in self.protected else fewer_than(self.k)

    @property
    def title(self) -> str:
        if self.kind is None:
            return gettext("What residents did, week by week")
        return gettext(
            "%(kind)s by %(by)s, week by week",
            kind=str(KINDS[self.kind]),
            by=str(BREAKDOWNS[self.by]).lower(),
        )


def _value_label(by: str, value: str, groups: dict[str, str]) -> str:
    if value == "unknown":
        return str(UNKNOWN)
    if by == "channel":
        return str(CHANNEL_LABELS.get(value, value))
    if by == "source":
        return str(SOURCE_LABELS.get(value, value))
    if by == "group":
        return str(NO_GROUP) if value == "none" else groups.get(value, value)
    return value


def weekly_table(period: Period, kind: str | None = None, by: str = "") -> WeeklyTable:
    """The weekly counts, suppressed. Without `kind`: each kind's weekly total. With
    `kind` and `by`: that kind's weekly total and its parts by channel, group or
    source."""
    if kind is not None and kind not in KINDS:
        raise PeriodRefused(
            gettext(
                "Choose what to count: registrations, confirmations, unsubscribes, STOPs or "
                "deletions."
            )
        )
    if by not in BREAKDOWNS:
        raise PeriodRefused(gettext("Break down by channel, group or source, or not at all."))
    weeks = period.weeks
    force_id = forces.current_force().id
    counted_at = figures.fresh("timeline") if kind is None or kind in dao.LIVE_KINDS else None
    with replica_reads(figures.replica_has("timeline", counted_at)):
        if kind is None or not by:
            kinds = list(KINDS) if kind is None else [kind]
            counts = {
                k: {
                    row[0]: row[2]
                    for row in dao.count_weekly(
                        k, None, period.start, period.end, force_id=force_id
                    )
                }
                for k in kinds
            }
            groups_named = {}
        else:
            rows = dao.count_weekly(kind, by, period.start, period.end, force_id=force_id)
            groups_named = dict(group_names(dao.find_interest_groups())) if by == "group" else {}
    if kind is None or not by:
        columns = [Column(k, str(KINDS[k]), COLOURS[i % len(COLOURS)]) for i, k in enumerate(kinds)]
        raw = {(w, k): counts[k].get(w, 0) for w in weeks for k in kinds}
        # No total is shown with these, so only the small figures are hidden.
        result = suppress(raw, [])
        return WeeklyTable(
            period,
            kind,
            "",
            columns,
            {key: result.shown(key) for key in raw},
            None,
            len(result.hidden),
            counted_at=counted_at,
        )
    totals = {row[0]: row[2] for row in rows if row[1] is None}
    parts: dict[tuple[date, str], int] = {}
    found_values: set[str] = set()
    for week, value, count in rows:
        if value is not None:
            parts[(week, value)] = count
            found_values.add(value)
    # Every value the breakdown can take, so the columns do not change week to week.
    known = {
        "channel": list(CHANNEL_LABELS),
        "source": list(SOURCE_LABELS),
        "group": [*sorted(groups_named, key=lambda s: groups_named[s].lower()), "none"],
    }[by]
    values_order = known + sorted(v for v in found_values if v not in known)
    total_key = "all"
    every = gettext("All %(kind)s", kind=str(KINDS[kind]).lower())
    columns = [Column(total_key, every, "#0b0c0c")] + [
        Column(v, _value_label(by, v, groups_named), COLOURS[i % len(COLOURS)])
        for i, v in enumerate(values_order)
    ]
    shown: dict[tuple[date, str], int | None] = {}
    hidden = 0
    protected = set()
    for week in weeks:
        # Parts first: where a part ties with the total, the part is hidden, not the total.
        cells = {v: parts.get((week, v), 0) for v in values_order}
        cells[total_key] = totals.get(week, 0)
        if by == "source":  # one source each: the parts add up to the total
            result = suppress(cells, [Group(total_key, tuple(values_order))])
        else:
            result = _overlapping_parts_suppressed(
                cells, total_key, alone="none" if by == "group" else None
            )
        for key in cells:
            shown[(week, key)] = result.shown(key)
        hidden += len(result.hidden)
        if result.secondary:
            protected.add(week)
    return WeeklyTable(
        period,
        kind,
        by,
        columns,
        shown,
        total_key,
        hidden,
        counted_at=counted_at,
        protected=frozenset(protected),
    )


def _overlapping_parts_suppressed(cells: dict, total_key: str, *, alone: str | None = None):
    """A week's total and parts that overlap (a resident with a text and an e-mail is
    in both; one in two groups, in both), so do not add up to it: no linear check sees
    a part given away, but the total less a part is a count of residents too (7 all,
    6 by e-mail: 1 without e-mail, an outside check). A part is shown only when that
    count is 0 or at least k, as the density map's filtered figures are.

    `alone`: the part of those in none of the others ("No group"). The total less it
    is everyone in some group, and that less a group is a count too (14 all, 6 in no
    group, 7 in Neighbourhood Watch: 1 in another group only, a re-check): a group is
    shown only when that count is 0 or at least k as well."""
    result = suppress(cells, [])
    total = result.shown(total_key)
    if total is None:
        return result
    k = result.k
    result = result.hiding_too(
        key
        for key, count in cells.items()
        if key != total_key and result.shown(key) is not None and 0 < total - count < k
    )
    if alone is None or result.shown(alone) is None:
        return result
    in_some = total - cells[alone]
    return result.hiding_too(
        key
        for key, count in cells.items()
        if key not in (total_key, alone)
        and result.shown(key) is not None
        and 0 < in_some - count < k
    )


# --------------------------------------------------------------------- alerts ----------


@dataclass(frozen=True)
class AlertMark:
    reference: str
    category: str
    category_label: str
    sent_at: datetime
    title: str


def alerts_in(period: Period) -> list[AlertMark]:
    with read_only():
        rows = dao.find_alerts_sent(period.start, period.end, force_id=forces.current_force().id)
    # In the page's language (a Welsh page named them in English: an outside check).
    return [AlertMark(r, c, category_label(c, c), s, t) for r, c, s, t in rows]


# ------------------------------------------------------------------ fatigue ------------


@dataclass(frozen=True)
class FatigueRow:
    category: str
    label: str
    alerts: int
    opt_outs: int | None  # in the 48 hours after this category's alerts; None: hidden
    opt_outs_label: str
    hours: float  # how long those 48-hour windows cover together
    per_48h: float | None
    ratio: float | None  # against the usual rate

    @property
    def per_48h_label(self) -> str:
        return "not shown" if self.per_48h is None else f"{self.per_48h:.1f}"

    @property
    def ratio_label(self) -> str:
        return "not shown" if self.ratio is None else f"{self.ratio:.1f}×"


@dataclass
class Fatigue:
    rows: list[FatigueRow]
    usual_per_48h: float | None  # None: hidden or no time outside the windows
    usual_hours: float
    usual_label: str = field(default="not shown")
    # Alerts whose 48 hours have not yet passed: counted once they have.
    waiting: int = 0


def _union(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _count_inside(times: list[datetime], spans: list[tuple[datetime, datetime]]) -> int:
    """How many of the sorted times fall in the disjoint spans [start, end)."""
    return sum(bisect_left(times, end) - bisect_left(times, start) for start, end in spans)


def _hours(spans: list[tuple[datetime, datetime]]) -> float:
    return sum((end - start).total_seconds() for start, end in spans) / 3600


def _outside(
    spans: list[tuple[datetime, datetime]], since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """[since, until) less the disjoint sorted spans."""
    gaps, at = [], since
    for start, end in spans:
        if start > at:
            gaps.append((at, min(start, until)))
        at = max(at, end)
        if at >= until:
            break
    if at < until:
        gaps.append((at, until))
    return [(s, e) for s, e in gaps if e > s]


def fatigue(period: Period, alerts: list[AlertMark], *, now: datetime | None = None) -> Fatigue:
    """Opt-outs (unsubscribes and STOPs) in the 48 hours after each category's alerts,
    per 48 hours, against the usual rate: the opt-outs in the rest of the period (the
    time after no alert of any category) per 48 hours. Windows that overlap count
    their time and opt-outs once. An alert whose 48 hours have not passed is not
    counted yet, and the usual time ends where the first such one begins: its first
    minutes, taken as a rate per 48 hours, read as thousands of opt-outs (6 in the
    minutes after an alert gave 7,093 per 48 hours, an outside check), and most
    opt-outs come soon after an alert, so part of a window is no rate for a whole one."""
    now = now or datetime.now(UTC)
    waiting = [a for a in alerts if a.sent_at + WINDOW > now]
    alerts = [a for a in alerts if a.sent_at + WINDOW <= now]
    with read_only():
        since = dao.uk_midnight(period.start)
        end = min(dao.uk_midnight(period.end), now)
        # Usual time: up to the first alert still within its 48 hours (from there to
        # now is inside its window, so no time after it is usual).
        until = min([end, *(max(a.sent_at, since) for a in waiting)])
        times = (
            dao.find_opt_out_times(since, end, force_id=forces.current_force().id)
            if end > since
            else []
        )
    clip = [(max(a.sent_at, since), min(a.sent_at + WINDOW, end)) for a in alerts]
    after_any = _union([(s, e) for s, e in clip if e > s])
    usual_spans = _outside(after_any, since, until)
    outside_hours = _hours(usual_spans)
    counts: dict[str, int] = {"usual": 0, "after_any": 0, "all": 0}
    spans_of: dict[str, list] = {}
    for category in dict.fromkeys(a.category for a in alerts):
        spans = _union(
            [
                (s, e)
                for (s, e), a in zip(clip, alerts, strict=True)
                if a.category == category and e > s
            ]
        )
        spans_of[category] = spans
        counts[category] = _count_inside(times, spans)
    counts["after_any"] = _count_inside(times, after_any)
    counts["usual"] = _count_inside(times, usual_spans)
    counts["all"] = counts["usual"] + counts["after_any"]
    # The period's opt-outs are the usual ones plus those after any alert: hide both
    # when either is small (the weekly tables show the period's unsubscribes and STOPs).
    result = suppress(counts, [Group("all", ("usual", "after_any"))])
    # And every figure of the table with any: the period's opt-outs are shown anyway
    # (the weekly table's), the usual time follows from the alerts' times on the page,
    # and the categories' add up to those after any alert where their windows do not
    # overlap. A hidden category's 3 was 21 less the usual 11 less another's 7, and a
    # hidden usual 2 was 15 less the one category's 13 (an outside check).
    figures = ["usual", *spans_of]
    if any(result.shown(key) is None for key in figures):
        result = result.hiding_too(figures)
    usual_n = result.shown("usual")
    usual = usual_n / (outside_hours / 48) if usual_n is not None and outside_hours > 0 else None
    rows = []
    for category, spans in spans_of.items():
        hours = _hours(spans)
        n = result.shown(category)
        per = n / (hours / 48) if n is not None and hours > 0 else None
        rows.append(
            FatigueRow(
                category,
                category_label(category, category),
                sum(1 for a in alerts if a.category == category),
                n,
                result.label(category),
                hours,
                per,
                per / usual if per is not None and usual else None,
            )
        )
    return Fatigue(
        rows,
        usual,
        outside_hours,
        "not shown" if usual is None else f"{usual:.1f}",
        waiting=len(waiting),
    )


# ------------------------------------------------------------------ the page -----------


@dataclass
class Timeline:
    period: Period
    table: WeeklyTable
    alerts: list[AlertMark]
    fatigue: Fatigue

    def chart_data(self) -> dict:
        """What the browser draws: the same suppressed figures (None: a gap)."""
        t = self.table
        return {
            # The script's own words, and the dates, in the page's language (a Welsh
            # page's chart said "Week starting", "8 Jun": an outside check).
            "words": script_words("timeline.js"),
            "locale": "cy" if current() == "cy" else "en-GB",
            # Month names from us: the browser's own have no Welsh (Chromium's "cy"
            # dates read "8 Jun").
            "months": list(
                get_month_names(
                    "abbreviated", locale="cy" if current() == "cy" else "en_GB"
                ).values()
            ),
            "title": t.title,
            "k": t.k,
            "weeks": [_epoch(w) for w in t.period.weeks],
            "series": [
                {
                    "key": c.key,
                    "label": c.label,
                    "colour": c.colour,
                    "values": [t.shown(w, c.key) for w in t.period.weeks],
                }
                for c in t.columns
            ],
            "alerts": [
                {"t": int(a.sent_at.timestamp()), "label": f"{a.reference} {a.category_label}"}
                for a in self.alerts
            ],
            "fatigue": {
                "categories": [r.label for r in self.fatigue.rows],
                "after": [r.per_48h for r in self.fatigue.rows],
                "usual": self.fatigue.usual_per_48h,
            },
        }


def _epoch(week: date) -> int:
    return int(datetime(week.year, week.month, week.day, tzinfo=UK).timestamp())


def build_timeline(period: Period, kind: str | None = None, by: str = "") -> Timeline:
    table = weekly_table(period, kind, by)
    alerts = alerts_in(period)
    return Timeline(period, table, alerts, fatigue(period, alerts))


# --------------------------------------------------------------------- CSV ---------------


def timeline_csv(timeline: Timeline) -> str:
    t = timeline.table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(t.title)])
    writer.writerow(
        [f"UK weeks starting Monday; no figure under {t.k} is shown ({FEWER_THAN.format(k=t.k)})."]
    )
    writer.writerow(["Week starting"] + [safe_cell(c.label) for c in t.columns])
    for week in t.period.weeks:
        # Shown figures as numbers, as the sent report's file writes them: "3,001" was
        # text to a script summing the column (an outside check).
        writer.writerow(
            [week.isoformat()]
            + [
                str(t.shown(week, c.key))
                if t.shown(week, c.key) is not None
                else safe_cell(t.label(week, c.key))
                for c in t.columns
            ]
        )
    writer.writerow([])
    writer.writerow(["Alert", "Category", "Sent (UK time)"])
    for a in timeline.alerts:
        writer.writerow(
            [
                safe_cell(a.reference),
                safe_cell(a.category_label),
                a.sent_at.astimezone(UK).strftime("%Y-%m-%d %H:%M"),
            ]
        )
    writer.writerow([])
    f = timeline.fatigue
    writer.writerow(
        [
            "Category",
            "Alerts",
            "Opt-outs in the 48 hours after",
            "Per 48 hours",
            "Usual per 48 hours",
            "Against usual",
        ]
    )
    for r in f.rows:
        writer.writerow(
            [
                safe_cell(r.label),
                r.alerts,
                r.opt_outs_label,
                r.per_48h_label,
                f.usual_label,
                r.ratio_label,
            ]
        )
    return out.getvalue()


# --------------------------------------------------------------------- SVG ---------------


def timeline_svg(timeline: Timeline, *, width: int = 960, height: int = 480) -> str:
    """The weekly chart as a standalone SVG, drawn from the same suppressed figures:
    a hidden week is a gap in the line and a grey mark on the axis, never the value."""
    t = timeline.table
    weeks = t.period.weeks
    left, right, top, bottom = 64, 24, 56, 130
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max(
        [v for c in t.columns for w in weeks if (v := t.shown(w, c.key)) is not None] or [K_MIN]
    )
    step = _nice_step(top_value)
    y_max = step * max(1, -(-top_value // step))
    x0, x1 = _epoch(weeks[0]), _epoch(weeks[-1]) if len(weeks) > 1 else _epoch(weeks[0]) + 1

    def x(epoch: float) -> float:
        return left + (epoch - x0) / max(x1 - x0, 1) * plot_w

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="title desc">',
        f'<title id="title">{escape(t.title)}</title>',
        f'<desc id="desc">UK weeks from {weeks[0].isoformat()} to {weeks[-1].isoformat()}. '
        f"A gap or grey mark: {HIDDEN_WORDS.format(k=t.k)}. Red lines: alerts sent.</desc>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="28" font-family="sans-serif" font-size="18" font-weight="bold" '
        f'fill="#0b0c0c">{escape(t.title)}</text>',
    ]
    for i in range(0, int(y_max // step) + 1):
        value = i * step
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#dddddd"/>'
            f'<text x="{left - 8}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-family="sans-serif" font-size="12" fill="#0b0c0c">{value:,}</text>'
        )
    every = max(1, len(weeks) // 8)
    for i, week in enumerate(weeks):
        if i % every == 0:
            parts.append(
                f'<text x="{x(_epoch(week)):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
                f'font-family="sans-serif" font-size="12" fill="#0b0c0c">'
                f"{week.strftime('%d %b %y')}</text>"
            )
    for a in timeline.alerts:
        ax = x(a.sent_at.timestamp())
        if left <= ax <= left + plot_w:
            parts.append(
                f'<line x1="{ax:.1f}" x2="{ax:.1f}" y1="{top}" y2="{top + plot_h}" '
                f'stroke="{ALERT_COLOUR}" stroke-dasharray="4 3"><title>{escape(a.reference)} '
                f"{escape(a.category_label)}</title></line>"
            )
    for c in t.columns:
        runs, run = [], []
        for week in weeks:
            value = t.shown(week, c.key)
            if value is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append((x(_epoch(week)), y(value)))
        if run:
            runs.append(run)
        for run in runs:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{c.colour}" stroke-width="2"/>'
            )
            for px, py in run:
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{c.colour}"/>')
    hidden_weeks = [w for w in weeks if any(t.shown(w, c.key) is None for c in t.columns)]
    for week in hidden_weeks:
        parts.append(
            f'<rect x="{x(_epoch(week)) - 3:.1f}" y="{top + plot_h - 3}" width="6" height="6" '
            f'fill="#9ca3af"><title>{HIDDEN_WORDS.format(k=t.k)}</title></rect>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#0b0c0c"/>'
    )
    legend_y = top + plot_h + 44
    entries = [(c.label, c.colour) for c in t.columns] + [
        ("Alert sent", ALERT_COLOUR),
        (f"Grey mark: {HIDDEN_WORDS.format(k=t.k)}", "#9ca3af"),
    ]
    for i, (label, colour) in enumerate(entries):
        lx = left + (i % 3) * (plot_w / 3)
        ly = legend_y + (i // 3) * 20
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 18:.1f}" y="{ly}" font-family="sans-serif" font-size="13" '
            f'fill="#0b0c0c">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def fatigue_svg(timeline: Timeline, *, width: int = 720, height: int = 400) -> str:
    """The message-fatigue chart as a standalone SVG: opt-outs per 48 hours after each
    category's alerts (bars; a hidden figure is a short grey bar reading "fewer than
    5", never the value) and the usual rate (a dashed line)."""
    f = timeline.fatigue
    k = timeline.table.k
    left, right, top, bottom = 64, 24, 56, 90
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [r.per_48h for r in f.rows if r.per_48h is not None]
    if f.usual_per_48h is not None:
        values.append(f.usual_per_48h)
    top_value = max(values or [1.0])
    step = _nice_step(max(int(top_value + 0.999), 1))
    y_max = step * max(1, -(-int(top_value + 0.999) // step))

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    title = "Opt-outs per 48 hours after alerts, by category, against the usual rate"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="title">',
        f'<title id="title">{escape(title)}</title>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="28" font-family="sans-serif" font-size="16" font-weight="bold" '
        f'fill="#0b0c0c">{escape(title)}</text>',
    ]
    for i in range(0, int(y_max // step) + 1):
        value = i * step
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#dddddd"/>'
            f'<text x="{left - 8}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-family="sans-serif" font-size="12" fill="#0b0c0c">{value:,}</text>'
        )
    slot = plot_w / max(len(f.rows), 1)
    for i, r in enumerate(f.rows):
        cx = left + slot * (i + 0.5)
        if r.per_48h is None:
            parts.append(
                f'<rect x="{cx - slot * 0.3:.1f}" y="{top + plot_h - 4}" width="{slot * 0.6:.1f}" '
                f'height="4" fill="#9ca3af"><title>{HIDDEN_WORDS.format(k=k)}</title></rect>'
                f'<text x="{cx:.1f}" y="{top + plot_h - 10}" text-anchor="middle" '
                f'font-family="sans-serif" font-size="11" fill="#505a5f">'
                f"{HIDDEN_WORDS.format(k=k)}</text>"
            )
        else:
            parts.append(
                f'<rect x="{cx - slot * 0.3:.1f}" y="{y(r.per_48h):.1f}" width="{slot * 0.6:.1f}" '
                f'height="{top + plot_h - y(r.per_48h):.1f}" fill="{COLOURS[0]}">'
                f"<title>{escape(r.label)}: {r.per_48h_label}</title></rect>"
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="12" fill="#0b0c0c">{escape(r.label)}</text>'
        )
    if f.usual_per_48h is not None:
        uy = y(f.usual_per_48h)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{uy:.1f}" y2="{uy:.1f}" '
            f'stroke="{ALERT_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#0b0c0c"/>'
        f'<text x="{left}" y="{height - 24}" font-family="sans-serif" font-size="13" '
        f'fill="#0b0c0c">Bars: after alerts. Dashed line: usual rate ({escape(f.usual_label)}).'
        f" Grey: {HIDDEN_WORDS.format(k=k)}.</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_step(top: int) -> int:
    raw = max(top / 5, 1)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


# ------------------------------------------------------------------ recording ---------
# Called by the services where residents stop a channel or leave, inside their
# transaction (the caller commits): no personal data, only kind, time, channel(s),
# group(s) and source.


def record_unsubscribe(resident_id: int, channel: str) -> None:
    dao.create_channel_events("unsubscribed", resident_id, channel)


def record_stop(number: str) -> None:
    """After STOP has stopped the SMS channels on `number` in this transaction."""
    dao.create_stop_events(number)


def record_leaving(resident_ids: list[int], *, expired: bool = False) -> None:
    """Before residents are removed: deleted at their request, or (expired) removed
    because they never confirmed. Their sign-up and confirmation days are kept so
    the weekly counts of those do not change."""
    dao.create_leaving_events("expired" if expired else "deleted", resident_ids)


def record_download(officer, filename: str, period: Period) -> None:
    """A time line left the service as a file (its figures suppressed as on the page):
    who took which, as for the report of what was sent."""
    with transaction():
        create_audit_event(
            "report.timeline_downloaded",
            actor_id=officer.id,
            details={
                "file": filename,
                "from": period.start.isoformat(),
                "to": period.weeks[-1].isoformat(),
            },
        )
