"""The analysts' figures are counted ahead (app/services/figures.py): a page shows the
set as last counted and says when; the sweeper recounts a set once it is due; two
recounts at once neither fail nor count twice."""

import threading

from sqlalchemy import text

from app.extensions import db
from app.services import figures
from app.services.density import density_map


def _residents_in_squares():
    return db.session.scalar(
        text("SELECT coalesce(sum(residents), 0) FROM density_squares WHERE filter_kind = ''")
    )


def test_a_page_shows_the_figures_as_counted_and_says_when(
    app, client, sign_in, make_resident, monkeypatch
):
    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 3600)
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+44770090020{n}")
    sign_in("analyst")

    first = client.get("/analysts/density")
    assert first.status_code == 200
    assert 'id="figures-age"' in first.text
    assert "recounted every 10 minutes" in first.text
    assert "6 residents" in first.text

    # New residents wait for the next recount: the page is fast, and says how old it is.
    for n in range(4):
        make_resident(postcode="BS1 6AD", sms=f"+44770090030{n}")
    again = client.get("/analysts/density")
    assert "6 residents" in again.text
    assert "10 residents" not in again.text

    monkeypatch.setitem(app.config, "ANALYST_REFRESH_SECONDS", 0)
    assert "density" in figures.refresh_due()
    assert "10 residents" in client.get("/analysts/density").text


def test_a_page_recounts_a_set_older_than_the_longest_it_may_wait(app, make_resident, monkeypatch):
    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 3600)
    make_resident(postcode="BS1 6AD", sms="+447700900401")
    first = density_map(1000, 5).counted_at
    make_resident(postcode="BS1 6AD", sms="+447700900402")
    assert density_map(1000, 5).counted_at == first
    assert _residents_in_squares() == 1

    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 0)
    later = density_map(1000, 5).counted_at
    assert later > first
    assert _residents_in_squares() == 2


def test_the_sweeper_recounts_what_is_due_and_nothing_else(
    app, runner, make_resident, monkeypatch, caplog
):
    make_resident(postcode="BS1 6AD", sms="+447700900501")
    monkeypatch.setitem(app.config, "ANALYST_REFRESH_SECONDS", 600)
    caplog.set_level("INFO", logger="app.sweeper")
    result = runner.invoke(args=["sweeper", "--once"])
    assert result.exit_code == 0, result.output
    # In the log, as LOG_FORMAT writes it (plain text among JSON lines before).
    assert "recounted density" in caplog.text
    assert _residents_in_squares() == 1

    caplog.clear()
    make_resident(postcode="BS1 6AD", sms="+447700900502")
    result = runner.invoke(args=["sweeper", "--once"])
    assert "recounted" not in caplog.text  # counted a moment ago: not due
    assert _residents_in_squares() == 1

    result = runner.invoke(args=["reports", "recount", "--all"])
    assert result.exit_code == 0, result.output
    assert "density: recounted" in result.output
    assert _residents_in_squares() == 2


def test_two_recounts_at_once_neither_fail_nor_count_twice(app, make_resident):
    for n in range(3):
        make_resident(postcode="BS1 6AD", sms=f"+44770090060{n}")
    failures = []

    def recount():
        with app.app_context():
            try:
                figures.refresh("density")
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(error)

    threads = [threading.Thread(target=recount) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert _residents_in_squares() == 3
    duplicates = db.session.scalar(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM density_squares"
            " GROUP BY cell_m, filter_kind, filter_value, i, j HAVING count(*) > 1) d"
        )
    )
    assert duplicates == 0


def test_penetration_and_the_briefing_map_read_the_residents_per_ward_as_counted(
    app, client, sign_in, make_resident, monkeypatch
):
    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 3600)
    for n in range(5):
        make_resident(postcode="BS1 6AD", sms=f"+44770090070{n}")
    sign_in("analyst")
    page = client.get("/analysts/penetration")
    assert page.status_code == 200
    assert 'id="figures-age"' in page.text
    counted = db.session.execute(text("SELECT sum(residents) FROM ward_residents")).scalar()
    assert counted == 5

    make_resident(postcode="BS1 6AD", sms="+447700900799")
    client.get("/analysts/penetration")
    assert db.session.execute(text("SELECT sum(residents) FROM ward_residents")).scalar() == 5
    briefing = client.get("/analysts/briefing-map.html")
    assert briefing.status_code == 200
    assert "from residents counted" in briefing.text

    monkeypatch.setitem(app.config, "ANALYST_REFRESH_SECONDS", 0)
    assert set(figures.refresh_due()) >= {"wards"}
    assert db.session.execute(text("SELECT sum(residents) FROM ward_residents")).scalar() == 6


def test_the_time_line_reads_registrations_as_counted(
    app, client, sign_in, make_resident, monkeypatch
):
    from datetime import date, timedelta

    from app.services.timeline import Period, weekly_table

    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 3600)
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    period = Period(monday, monday + timedelta(days=7))
    for n in range(5):
        make_resident(postcode="BS1 6AD", sms=f"+44770090080{n}")
    table = weekly_table(period)
    assert table.shown(monday, "registered") == 5
    assert table.counted_at is not None

    make_resident(postcode="BS1 6AD", sms="+447700900899")
    assert weekly_table(period).shown(monday, "registered") == 5
    sign_in("analyst")
    assert 'id="figures-age"' in client.get("/analysts/timeline").text

    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 0)
    assert weekly_table(period).shown(monday, "registered") == 6
