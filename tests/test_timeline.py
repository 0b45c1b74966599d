"""The analysts' time line: weekly counts against residents made with the factories
and counted again by independent SQL; UK weeks (Monday first) across the clock
changes; suppression tried by subtraction; message fatigue on a constructed case;
the events recorded where residents stop a channel or leave; bad periods; who may
see it; the CSV and the SVG."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from lxml import etree
from sqlalchemy import select, text

from app.dao import timeline as dao
from app.extensions import db
from app.models import Alert
from app.services import figures, optout
from app.services.residents import delete_resident
from app.services.spreadsheet import safe_cell
from app.services.timeline import (
    KINDS,
    Period,
    PeriodRefused,
    alerts_in,
    build_timeline,
    fatigue,
    parse_period,
    timeline_csv,
    timeline_svg,
    weekly_table,
)
from tests.factories import default_force_id, signed_in

_numbers = iter(range(100000, 999999))


def number() -> str:
    return f"+4477009{next(_numbers):05d}"


def at_utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def move(resident, created: datetime, confirmed: datetime | None = None) -> None:
    db.session.execute(
        text("UPDATE residents SET created_at = :c, confirmed_at = :f WHERE id = :id"),
        {"c": created, "f": confirmed, "id": resident.id},
    )
    db.session.commit()


def add_event(kind: str, at: datetime, *, channel: str = "sms", source: str = "self") -> None:
    db.session.execute(
        text(
            "INSERT INTO resident_events (kind, at, channels, groups, source, forces)"
            " VALUES (:k, :at, ARRAY[:c], '{}', :s, ARRAY[default_force_id()])"
        ),
        {"k": kind, "at": at, "c": channel, "s": source},
    )
    db.session.commit()


def add_alert(
    officer,
    sent_at: datetime | None,
    *,
    category="incident",
    mode="live",
    audience="area",
    status="sent",
):
    alert = Alert(
        created_by_id=officer.id,
        title="T",
        body="B",
        shapes=[],
        status=status,
        mode=mode,
        audience=audience,
        category=category,
        sent_at=sent_at,
    )
    db.session.add(alert)
    db.session.commit()
    return alert


# ----------------------------------------------------------------- periods ---------


def test_the_default_period_is_the_last_26_uk_weeks():
    period = parse_period(None, None, today=date(2026, 4, 1))  # a Wednesday
    assert period.end == date(2026, 4, 6)
    assert len(period.weeks) == 26 and period.start.weekday() == 0
    assert period.weeks[-1] == date(2026, 3, 30)


def test_a_period_ends_this_week_however_late_it_is_asked_to_end():
    period = parse_period("2026-03-04", "2199-01-01", today=date(2026, 4, 1))
    assert (period.start, period.end) == (date(2026, 3, 2), date(2026, 4, 6))


def test_a_period_snaps_to_mondays():
    period = parse_period("2026-03-04", "2026-03-29")  # a Wednesday, a Sunday
    assert (period.start, period.end) == (date(2026, 3, 2), date(2026, 3, 30))


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("yesterday", "", "must be a date like"),
        ("2026-02-30", "", "must be a date like"),
        ("2026-05-01", "2026-04-01", "is after"),
        ("2010-01-01", "2026-01-01", "at most 156 weeks"),
        ("0001-01-01", "0001-02-01", "year 2000"),
        # A week after the last Monday of 9999 is no date: refused before it is counted.
        ("", "9999-12-31", "year 2000"),
        ("9999-12-31", "", "year 2000"),
        ("0001-01-07", "", "year 2000"),
        # Weeks to come: nothing to count (they showed "fewer than 5").
        ("2199-01-01", "2199-02-01", "in the future"),
    ],
)
def test_a_bad_period_is_refused_with_what_to_do(start, end, words):
    with pytest.raises(PeriodRefused, match=words):
        parse_period(start, end)


def test_a_bad_period_on_the_page_and_downloads_is_a_clear_400(app, make_officer):
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    page = client.get("/analysts/timeline?from=2026-13-01")
    assert page.status_code == 400
    assert "must be a date like 2026-03-30" in page.text and 'role="alert"' in page.text
    for path in (
        "/analysts/timeline.csv",
        "/analysts/timeline.svg",
        "/analysts/timeline-fatigue.svg",
    ):
        answer = client.get(path + "?from=2026-05-01&to=2026-04-01")
        assert answer.status_code == 400 and "is after" in answer.text
        answer = client.get(path + "?to=9999-12-31")
        assert answer.status_code == 400 and "year 2000" in answer.text
    assert client.get("/analysts/timeline?by=postcode").status_code == 400
    assert client.get("/analysts/timeline?by=channel&kind=nonsense").status_code == 400


# ------------------------------------------------------------ counts -----------------


@pytest.fixture
def spread(app_ctx, make_resident):
    """Residents signed up over three UK weeks in March 2026, by web and by import,
    some in a group, some with e-mail too; some confirmed a week later."""
    made = []
    plan = [  # (created, n, import?, group, email?)
        (at_utc(2026, 3, 3, 10), 7, False, (), False),
        (at_utc(2026, 3, 4, 10), 6, True, ("farm-watch",), True),
        (at_utc(2026, 3, 10, 10), 3, False, ("farm-watch",), False),
        (at_utc(2026, 3, 11, 10), 9, False, (), True),
        (at_utc(2026, 3, 18, 10), 5, True, (), False),
    ]
    for created, n, imported, groups, email in plan:
        for i in range(n):
            resident = make_resident(
                sms=number(),
                groups=groups,
                email=f"r{number()[-6:]}@example.org" if email else None,
            )
            if imported:
                db.session.execute(
                    text("UPDATE residents SET source = 'import:list.csv' WHERE id = :id"),
                    {"id": resident.id},
                )
            move(resident, created, created + timedelta(days=7) if i % 2 == 0 else None)
            made.append(resident)
    db.session.commit()
    figures.refresh("timeline")  # registrations and confirmations are counted ahead
    return made


def independent_counts(column: str, start: date, end: date) -> dict[date, int]:
    """Counted another way: the timestamps read back, bucketed in Python."""
    from zoneinfo import ZoneInfo

    uk = ZoneInfo("Europe/London")
    counts: dict[date, int] = {}
    for (moment,) in db.session.execute(
        text(f"SELECT {column} FROM residents WHERE {column} IS NOT NULL")  # noqa: S608
    ):
        local = moment.astimezone(uk).date()
        monday = local - timedelta(days=local.weekday())
        if start <= monday < end:
            counts[monday] = counts.get(monday, 0) + 1
    return counts


def test_weekly_counts_match_an_independent_count(spread):
    period = Period(date(2026, 3, 2), date(2026, 3, 30))
    for kind, column in (("registered", "created_at"), ("confirmed", "confirmed_at")):
        raw = {
            w: n
            for w, _, n in dao.count_weekly(
                kind, None, period.start, period.end, force_id=default_force_id()
            )
        }
        assert raw == independent_counts(column, period.start, period.end)
    assert {
        w: n
        for w, _, n in dao.count_weekly(
            "registered", None, period.start, period.end, force_id=default_force_id()
        )
    } == {
        date(2026, 3, 2): 13,
        date(2026, 3, 9): 12,
        date(2026, 3, 16): 5,
    }
    table = weekly_table(period)
    assert [table.shown(w, "registered") for w in period.weeks] == [13, 12, 5, None]
    # Confirmations a week after sign-up, every other resident: 4+3, 2+5, 3.
    assert [table.shown(w, "confirmed") for w in period.weeks] == [None, 7, 7, None]


def test_the_breakdowns_by_source_channel_and_group(spread):
    period = Period(date(2026, 3, 2), date(2026, 3, 23))
    first, second, third = period.weeks
    raw = {
        (w, v): n
        for w, v, n in dao.count_weekly(
            "registered", "source", period.start, period.end, force_id=default_force_id()
        )
    }
    assert raw[(first, "self")] == 7 and raw[(first, "import")] == 6
    assert raw[(second, None)] == 12 and raw[(third, "import")] == 5
    raw = {
        (w, v): n
        for w, v, n in dao.count_weekly(
            "registered", "channel", period.start, period.end, force_id=default_force_id()
        )
    }
    assert raw[(first, "sms")] == 13 and raw[(first, "email")] == 6 and raw[(second, "email")] == 9
    raw = {
        (w, v): n
        for w, v, n in dao.count_weekly(
            "registered", "group", period.start, period.end, force_id=default_force_id()
        )
    }
    assert raw[(first, "farm-watch")] == 6 and raw[(first, "none")] == 7
    assert raw[(second, "farm-watch")] == 3 and raw[(second, "none")] == 9


def test_a_hidden_part_cannot_be_found_by_subtraction(spread):
    period = Period(date(2026, 3, 2), date(2026, 3, 30))
    overview = weekly_table(period)
    for by in ("source", "channel", "group"):
        table = weekly_table(period, "registered", by)
        parts = [c.key for c in table.columns if c.key != "all"]
        for week in period.weeks:
            total = table.shown(week, "all")
            # The same total in every view: none shown in one and hidden in another.
            assert total == overview.shown(week, "registered")
            shown = [table.shown(week, p) for p in parts]
            hidden = [p for p, v in zip(parts, shown, strict=True) if v is None]
            if total is not None and by == "source":
                # Try it: the total less the shown parts is never one hidden figure.
                assert len(hidden) != 1, (by, week, hidden)
            elif total is not None:
                # Channels and groups overlap: the total less any one shown part (those
                # without e-mail, those in a group) is never a small count either.
                assert all(total - v == 0 or total - v >= 5 for v in shown if v is not None)
            if by == "group" and total is not None and table.shown(week, "none") is not None:
                # Nor is everyone in some group (the total less "No group") less a group.
                in_some = total - table.shown(week, "none")
                for part, value in zip(parts, shown, strict=True):
                    if part != "none" and value is not None:
                        assert in_some - value == 0 or in_some - value >= 5, (week, part)
            if by == "source":
                assert sum(1 for v in [total, *shown] if v is None) != 1, (by, week)
            assert all(v is None or v >= 5 for v in [total, *shown])
    # Week two by group: farm-watch 3 is hidden and so is "no group" (9), else 12 - 9.
    table = weekly_table(period, "registered", "group")
    assert table.shown(date(2026, 3, 9), "farm-watch") is None
    assert table.shown(date(2026, 3, 9), "none") is None
    assert table.shown(date(2026, 3, 9), "all") == 12
    # Week two by channel: 12 all, 12 by text, 9 by e-mail: e-mail is hidden, else
    # 12 - 9 gives the 3 without one (an outside check).
    table = weekly_table(period, "registered", "channel")
    assert table.shown(date(2026, 3, 9), "sms") == 12
    assert table.shown(date(2026, 3, 9), "email") is None
    assert table.shown(date(2026, 3, 2), "email") == 6  # 13 - 6 = 7 may be shown
    from flask_babel import force_locale

    from app.cli.demo import ensure_interest_groups

    ensure_interest_groups()
    table = weekly_table(period, "registered", "group")
    assert "Business Watch" in [column.label for column in table.columns]
    with force_locale("cy"):  # named in Welsh on a Welsh page (an outside check)
        welsh = weekly_table(period, "registered", "group")
        assert "Gwarchod Busnesau" in [column.label for column in welsh.columns]


# --------------------------------------------------------- UK weeks and the clocks ----


@pytest.mark.parametrize(
    ("moment", "week"),
    [
        # Clocks go forward on 29 March 2026: 23:30 UTC that Sunday is 00:30 Monday BST.
        (at_utc(2026, 3, 29, 23, 30), date(2026, 3, 30)),
        (at_utc(2026, 3, 29, 22, 59), date(2026, 3, 23)),
        # A week before, still GMT: 23:30 UTC on Sunday is Sunday.
        (at_utc(2026, 3, 22, 23, 30), date(2026, 3, 16)),
        # Back on 25 October 2026: 23:30 UTC that Sunday is 23:30 GMT, still Sunday.
        (at_utc(2026, 10, 25, 23, 30), date(2026, 10, 19)),
        (at_utc(2026, 10, 26, 0, 0), date(2026, 10, 26)),
        # The Sunday before, in BST: 23:30 UTC is Monday 00:30.
        (at_utc(2026, 10, 18, 23, 30), date(2026, 10, 19)),
    ],
)
def test_weeks_are_uk_weeks_starting_monday_across_the_clock_change(app_ctx, moment, week):
    for _ in range(5):
        add_event("stopped", moment)
    start, end = week - timedelta(weeks=2), week + timedelta(weeks=2)
    counted = {
        w: n
        for w, _, n in dao.count_weekly("stopped", None, start, end, force_id=default_force_id())
    }
    assert counted == {week: 5}
    table = weekly_table(Period(start, end))
    assert table.shown(week, "stopped") == 5


def test_the_period_starts_at_uk_midnight(app_ctx):
    # 23:30 UTC on Sunday 29 March 2026 is already Monday 30 March in the UK.
    for _ in range(5):
        add_event("unsubscribed", at_utc(2026, 3, 29, 23, 30), channel="email")
    inside = dao.count_weekly(
        "unsubscribed", None, date(2026, 3, 30), date(2026, 4, 6), force_id=default_force_id()
    )
    before = dao.count_weekly(
        "unsubscribed", None, date(2026, 3, 23), date(2026, 3, 30), force_id=default_force_id()
    )
    assert [n for _, _, n in inside] == [5] and before == []


# ------------------------------------------------------------- recording -------------


def test_stop_unsubscribe_and_delete_are_recorded_without_personal_data(app_ctx, make_resident):
    shared = number()
    a = make_resident(sms=shared, email="a@example.org", groups=("farm-watch",))
    b = make_resident(sms=shared)
    c = make_resident(sms=number(), email="c@example.org")
    optout.stop_sms(shared)
    db.session.commit()
    optout.unsubscribe_channel(c.id, "email")
    figures.refresh("timeline")
    registered_before = dao.count_weekly(
        "registered", None, date(2000, 1, 3), date(2100, 1, 4), force_id=default_force_id()
    )
    delete_resident(a)
    rows = db.session.execute(
        text(
            "SELECT kind, channels, groups, source, registered_on IS NOT NULL"
            " FROM resident_events ORDER BY id"
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("stopped", ["sms"], ["farm-watch"], "self", False),
        ("stopped", ["sms"], [], "self", False),
        ("unsubscribed", ["email"], [], "self", False),
        (
            "deleted",
            ["email", "sms"] if rows[3][1][0] == "email" else ["sms", "email"],
            ["farm-watch"],
            "self",
            True,
        ),
    ]
    columns = {
        r[0]
        for r in db.session.execute(
            text(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'resident_events'"
            )
        )
    }
    assert columns == {
        "id",
        "kind",
        "at",
        "channels",
        "groups",
        "source",
        "registered_on",
        "confirmed_on",
        "forces",  # which police force areas held their places: whose time line
    }
    # A resident who leaves still counts as a sign-up in the week they signed up.
    figures.refresh("timeline")
    assert (
        dao.count_weekly(
            "registered", None, date(2000, 1, 3), date(2100, 1, 4), force_id=default_force_id()
        )
        == registered_before
    )
    assert b.id is not None


# ------------------------------------------------------------- fatigue --------------


def test_fatigue_against_the_usual_rate_on_a_constructed_case(app_ctx, make_officer):
    officer = make_officer(role="officer")
    period = Period(date(2026, 1, 5), date(2026, 2, 2))  # four weeks: 672 hours
    t0 = at_utc(2026, 1, 12, 9)
    add_alert(officer, t0, category="incident")
    add_alert(officer, t0 + timedelta(hours=24), category="incident")  # overlaps: 72 h
    add_alert(officer, at_utc(2026, 1, 26, 9), category="appeal")  # 48 h
    add_alert(officer, at_utc(2026, 1, 20, 9), mode="exercise")  # not counted
    add_alert(officer, at_utc(2026, 1, 21, 9), audience="self")  # a test: not counted
    for hours in (1, 2, 3, 30, 50, 60, 71):  # 7 after the incidents, inside 72 h
        add_event("stopped", t0 + timedelta(hours=hours))
    for hours in (1, 2, 5, 9, 20, 40):  # 6 after the appeal
        add_event("unsubscribed", at_utc(2026, 1, 26, 9) + timedelta(hours=hours), channel="email")
    usual_times = [at_utc(2026, 1, 5, 12) + timedelta(hours=12 * i) for i in range(11)]
    for moment in usual_times:  # 11 in the rest of the period, before the first alert
        assert not (t0 <= moment < t0 + timedelta(hours=72))
        add_event("stopped", moment)
    alerts = alerts_in(period)
    assert [a.category for a in alerts] == ["incident", "incident", "appeal"]
    result = fatigue(period, alerts, now=at_utc(2026, 6, 1))
    usual_hours = 672 - 72 - 48
    assert result.usual_hours == pytest.approx(usual_hours)
    assert result.usual_per_48h == pytest.approx(11 / (usual_hours / 48))
    rows = {r.category: r for r in result.rows}
    assert rows["incident"].alerts == 2 and rows["incident"].opt_outs == 7
    assert rows["incident"].per_48h == pytest.approx(7 / (72 / 48))
    assert rows["appeal"].per_48h == pytest.approx(6.0)
    assert rows["appeal"].ratio == pytest.approx(6.0 / (11 / (usual_hours / 48)))


def test_the_fatigue_charts_downloads_are_described_by_their_language_on_a_welsh_page(
    app, make_officer
):
    """Found by reading (field55): every download on a Welsh page was described by the
    hint that its file is in English but the message fatigue chart's two."""
    officer = make_officer(role="officer")
    t0 = at_utc(2026, 1, 12, 9)
    add_alert(officer, t0, category="incident")
    for hours in (1, 2, 3, 30, 50, 60, 71):
        add_event("stopped", t0 + timedelta(hours=hours))
    for day in range(6):
        add_event("stopped", at_utc(2026, 1, 20 + day, 10))
    db.session.commit()
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    page = client.get("/analysts/timeline?from=2026-01-05&to=2026-02-01&lang=cy").text
    assert 'id="fatigue-png"' in page
    for download in ("fatigue-png", "fatigue-svg"):
        tag = page.split(f'id="{download}"', 1)[1].split(">", 1)[0]
        assert 'aria-describedby="downloads-language"' in tag, download
    assert page.count('aria-describedby="downloads-language"') == 5


def test_an_alert_that_went_is_on_the_time_line_whatever_became_of_it_since(app_ctx, make_officer):
    """Found by an outside check: a live alert cancelled after six calls went, and one
    still redialling, were missing from the time line and its opt-out windows (only
    "sent" counted). An alert that never went is not on it."""
    officer = make_officer(role="officer")
    period = Period(date(2026, 1, 5), date(2026, 2, 2))
    add_alert(officer, at_utc(2026, 1, 12, 9), category="appeal")
    add_alert(officer, at_utc(2026, 1, 13, 9), category="crime_prevention", status="cancelled")
    add_alert(officer, at_utc(2026, 1, 14, 9), category="incident", status="sending")
    add_alert(officer, None, category="missing_person", status="cancelled")  # before it went
    add_alert(officer, None, category="missing_person", status="rejected")
    assert [a.category for a in alerts_in(period)] == ["appeal", "crime_prevention", "incident"]


def test_an_alert_whose_48_hours_have_not_passed_is_not_counted_yet(app_ctx, make_officer):
    """Six opt-outs in the minutes after an alert read 7,093 per 48 hours: its first
    minutes were taken as a rate for the whole window (an outside check). An alert is
    counted once its 48 hours have passed, and the usual time ends where it began."""
    officer = make_officer(role="officer")
    period = Period(date(2026, 1, 5), date(2026, 2, 2))
    now = at_utc(2026, 1, 26, 10)
    add_alert(officer, at_utc(2026, 1, 12, 9), category="appeal")  # its 48 h have passed
    add_alert(officer, now - timedelta(minutes=10), category="incident")
    for minute in range(6):
        add_event("stopped", now - timedelta(minutes=9 - minute))
    for day in range(7):
        add_event("stopped", at_utc(2026, 1, 15 + day, 10))  # usual
    for hours in (1, 2, 3, 4, 5):
        add_event("unsubscribed", at_utc(2026, 1, 12, 9) + timedelta(hours=hours))
    result = fatigue(period, alerts_in(period), now=now)
    assert [r.category for r in result.rows] == ["appeal"] and result.waiting == 1
    assert result.rows[0].per_48h == pytest.approx(5.0)
    # Usual: from the period's start to the waiting alert, less the appeal's 48 hours;
    # the six opt-outs after the waiting alert are in neither.
    usual_hours = (now - timedelta(minutes=10) - at_utc(2026, 1, 5)).total_seconds() / 3600 - 48
    assert result.usual_hours == pytest.approx(usual_hours)
    assert result.usual_per_48h == pytest.approx(7 / (usual_hours / 48))


def test_alerts_only_waiting_for_their_48_hours_are_not_called_none(app, make_officer):
    """ "Alerts still within their first 48 hours: 8" stood beside "No live alerts
    were sent in this period" (an outside check)."""
    officer = make_officer(role="officer")
    add_alert(officer, datetime.now(UTC) - timedelta(minutes=10))
    page = signed_in(app, make_officer(role="analyst"), "analyst").get("/analysts/timeline")
    assert "Alerts still within their first 48 hours: 1" in page.text
    assert "No alert&#39;s first 48 hours have passed yet" in page.text or (
        "No alert's first 48 hours have passed yet" in page.text
    )
    assert "No live alerts were sent in this period, so" not in page.text


def test_fatigue_hides_a_small_count_and_the_usual_rate_that_gives_it_away(app_ctx, make_officer):
    officer = make_officer(role="officer")
    period = Period(date(2026, 1, 5), date(2026, 2, 2))
    add_alert(officer, at_utc(2026, 1, 12, 9))
    add_event("stopped", at_utc(2026, 1, 12, 10))  # 1 after the alert
    for day in range(6):
        add_event("stopped", at_utc(2026, 1, 20 + day, 10))  # 6 usual
    result = fatigue(period, alerts_in(period), now=at_utc(2026, 6, 1))
    row = result.rows[0]
    assert (
        row.opt_outs is None
        and row.opt_outs_label.startswith("fewer than 5")
        and row.per_48h is None
    )
    # The period's opt-outs (7) less the usual ones (6) would give the 1 away.
    assert result.usual_per_48h is None and result.usual_label == "not shown"


def test_fatigue_hides_every_category_and_the_usual_rate_when_one_is_small(app_ctx, make_officer):
    """Found by an outside check: with the usual rate and one category shown, a hidden
    category's opt-outs were the period's (the weekly table's) less the usual ones less
    the other category's (21 - 11 - 7 = 3), and a hidden usual count was the period's
    less its one category's (15 - 13 = 2): the categories add up to those after any
    alert where their windows do not overlap."""
    officer = make_officer(role="officer")
    period = Period(date(2026, 1, 5), date(2026, 1, 12))
    add_alert(officer, at_utc(2026, 1, 6, 9), category="crime_prevention")
    add_alert(officer, at_utc(2026, 1, 8, 12), category="appeal")  # no overlap
    for hours in range(7):
        add_event("stopped", at_utc(2026, 1, 6, 10) + timedelta(hours=hours))
    for hours in range(3):
        add_event("stopped", at_utc(2026, 1, 8, 13) + timedelta(hours=hours))
    for hours in range(11):
        add_event("unsubscribed", at_utc(2026, 1, 10, 13) + timedelta(hours=hours), channel="email")
    result = fatigue(period, alerts_in(period), now=at_utc(2026, 6, 1))
    rows = {r.category: r for r in result.rows}
    assert rows["appeal"].opt_outs is None  # 3
    assert rows["crime_prevention"].opt_outs is None and rows["crime_prevention"].per_48h is None
    assert result.usual_per_48h is None and result.usual_label == "not shown"
    assert rows["crime_prevention"].opt_outs_label.startswith("fewer than 5")
    # None small: every figure shown.
    for hours in range(3):
        add_event("stopped", at_utc(2026, 1, 8, 20) + timedelta(hours=hours))
    result = fatigue(period, alerts_in(period), now=at_utc(2026, 6, 1))
    assert {r.category: r.opt_outs for r in result.rows} == {
        "crime_prevention": 7,
        "appeal": 6,
    }
    assert result.usual_per_48h == pytest.approx(11 / ((168 - 96) / 48))


# ------------------------------------------------------- the pages and downloads ----


@pytest.mark.parametrize(
    ("role", "status"),
    [("officer", 403), ("analyst", 200), ("supervisor", 200), ("admin", 200)],
)
def test_who_may_see_the_time_line(app, make_officer, role, status):
    client = signed_in(app, make_officer(role=role), role)
    for path in (
        "/analysts/timeline",
        "/analysts/timeline.csv",
        "/analysts/timeline.svg",
        "/analysts/timeline-fatigue.svg",
    ):
        assert client.get(path).status_code == status, path
    # Each file taken is in the audit log: who, which file, which weeks (an outside
    # probe found the report of what was sent audited and these not).
    from app.models import AuditEvent

    files = db.session.scalars(
        select(AuditEvent.details["file"].astext).where(
            AuditEvent.action == "report.timeline_downloaded"
        )
    ).all()
    taken = [f.rsplit(".", 1)[1] for f in files]
    assert sorted(taken) == ([] if status == 403 else ["csv", "svg", "svg"])


def test_nobody_signed_in_is_sent_to_sign_in(client):
    answer = client.get("/analysts/timeline")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]


def test_page_csv_and_svg_show_only_suppressed_figures(app, make_officer, spread):
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    query = "?from=2026-03-02&to=2026-03-23&by=source&kind=registered"
    page = client.get("/analysts/timeline" + query)
    assert page.status_code == 200
    assert 'id="weekly-table"' in page.text and "fewer than 5" in page.text
    rows = list(
        csv.reader(io.StringIO(client.get("/analysts/timeline.csv" + query).text.lstrip("\ufeff")))
    )
    header = rows[2]
    assert (
        header
        == ["Week starting", "All registrations", "Self sign-up", "Imported", "Not recorded"][
            : len(header)
        ]
    )
    body = {r[0]: r[1:] for r in rows[3:7]}
    assert body["2026-03-02"][:3] == ["13", "7", "6"]
    # No self sign-ups (0, hidden) takes the 5 imported with it: else 5 - 0 = 5.
    hidden = "fewer than 5, or hidden to protect one"
    assert body["2026-03-16"][:3] == ["5", hidden, hidden]
    for row in rows[3:7]:
        for cell in row[1:]:
            assert cell.startswith("fewer than 5") or int(cell.replace(",", "")) >= 5
    svg = client.get("/analysts/timeline.svg" + query)
    assert svg.mimetype == "image/svg+xml" and "attachment" in svg.headers["Content-Disposition"]
    root = etree.fromstring(svg.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}title").text.startswith("Registrations by source")
    fatigue_svg = etree.fromstring(client.get("/analysts/timeline-fatigue.svg" + query).data)
    assert fatigue_svg.tag == "{http://www.w3.org/2000/svg}svg"


def test_the_csv_writes_figures_as_numbers(app_ctx, spread):
    """Found by an outside check: the time line's file wrote "3,001", text to a script
    summing the column, where the sent report's writes 3001."""
    from app.services.timeline import build_timeline, timeline_csv

    timeline = build_timeline(Period(date(2026, 3, 2), date(2026, 3, 23)), "registered")
    week = timeline.table.period.weeks[0]
    column = timeline.table.columns[0].key
    timeline.table.values[(week, column)] = 3001
    rows = list(csv.reader(io.StringIO(timeline_csv(timeline))))
    assert rows[3][:2] == [week.isoformat(), "3001"]
    # Its channels named as the other analysts' pages name them ("Phone call" here).
    by_channel = build_timeline(
        Period(date(2026, 3, 2), date(2026, 3, 23)), "registered", "channel"
    )
    assert "Voice call" in [c.label for c in by_channel.table.columns]


def test_the_csv_is_safe_against_formula_injection(app, make_officer, make_resident):
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert safe_cell("+1") == "'+1" and safe_cell("-1") == "'-1" and safe_cell("@a") == "'@a"
    assert safe_cell("Farm Watch") == "Farm Watch"
    for _ in range(5):
        make_resident(sms=number(), groups=("evil",))
    db.session.execute(
        text("UPDATE interest_groups SET name = '=cmd|'' /C calc''!A0' WHERE slug = 'evil'")
    )
    db.session.commit()
    today = datetime.now(UTC).date().isoformat()
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    answer = client.get(f"/analysts/timeline.csv?by=group&kind=registered&to={today}")
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert "'=cmd|' /C calc'!A0" in rows[2]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_the_svg_draws_no_hidden_value(app_ctx, spread):
    timeline = build_timeline(Period(date(2026, 3, 2), date(2026, 3, 30)))
    svg = timeline_svg(timeline)
    root = etree.fromstring(svg.encode())
    # Four weeks, one kind per line; hidden weeks are grey marks and gaps.
    marks = root.findall(".//{http://www.w3.org/2000/svg}rect[@fill='#9ca3af']")
    assert marks, "the hidden weeks are marked"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "3" not in texts and "Registrations" in texts
    assert set(KINDS) == {c.key for c in timeline.table.columns}
    assert "fewer than 5" in timeline_csv(timeline)


def test_counting_opt_outs_inside_windows_agrees_with_checking_each_one():
    import random

    from app.services.timeline import _count_inside, _union

    rng = random.Random(14)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(200):
        times = sorted(base + timedelta(minutes=rng.randrange(0, 20_000)) for _ in range(60))
        windows = []
        for _ in range(rng.randrange(0, 8)):
            start = base + timedelta(minutes=rng.randrange(0, 20_000))
            windows.append((start, start + timedelta(minutes=rng.randrange(1, 3_000))))
        spans = _union(windows)
        one_by_one = sum(1 for t in times if any(s <= t < e for s, e in spans))
        assert _count_inside(times, spans) == one_by_one


def test_the_time_line_is_in_welsh_on_a_welsh_page(app, make_officer):
    """Found by an outside probe: its heading, choices and dates were English on a
    Welsh page ("o 8 June 2026 i wythnos 30 November 2026")."""
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    page = client.get("/analysts/timeline?from=2026-06-08&to=2026-07-01&lang=cy").text
    assert "Beth wnaeth preswylwyr, wythnos wrth wythnos" in page
    assert "8 Mehefin 2026" in page and "June" not in page
    assert "Dim dadansoddiad" in page and "No breakdown" not in page
    # Said beside the links, as the sent report's file is (it was not: an outside check).
    assert "Mae ffeiliau'r siart a'r tabl yn Saesneg" in html.unescape(page)
    density = client.get("/analysts/density").text
    assert 'id="briefing-language">Mae\'n Saesneg.' in density  # not "Mae yn": field54
    # Each download says so to a screen reader too (field54).
    assert density.count('aria-describedby="briefing-language"') == 1
    assert page.count('aria-describedby="downloads-language"') == 3
    by_group = client.get("/analysts/timeline?from=2026-06-08&to=2026-07-01&by=group").text
    assert "Cofrestriadau fesul grŵp" in by_group and "Pob un: cofrestriadau" in by_group
    # The files are in English whatever the page's: scripts read the column names, and
    # a Welsh page's CSV mixed the two languages (an outside check).
    csv = client.get("/analysts/timeline.csv?from=2026-06-08&to=2026-07-01&by=group").text
    assert "Week starting,All registrations" in csv and "Cofrestriadau" not in csv
    assert "fewer than 5" in csv and "llai na" not in csv
    english = client.get("/analysts/timeline?from=2026-06-08&to=2026-07-01&lang=en").text
    assert 'id="downloads-language"' not in english


def test_everyone_in_some_group_less_a_group_is_not_a_small_count_either():
    """14 registered, 6 in no group, 7 in Neighbourhood Watch: 14 - 6 = 8 in some group,
    8 - 7 = 1 only in another (a re-check found it after channels were fixed)."""
    from app.services.timeline import _overlapping_parts_suppressed

    cells = {"neighbourhood-watch": 7, "farm-watch": 1, "none": 6, "all": 14}
    result = _overlapping_parts_suppressed(cells, "all", alone="none")
    assert result.shown("all") == 14 and result.shown("none") == 6
    assert result.shown("neighbourhood-watch") is None and result.shown("farm-watch") is None
    # Channels have no such part: 7 by text of 14 stays shown.
    channels = {"sms": 7, "voice": 1, "email": 6, "all": 14}
    assert _overlapping_parts_suppressed(channels, "all").shown("sms") == 7
