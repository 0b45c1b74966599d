"""Reach against population: loading the ward population file, the figures against
residents counted by hand, what each role may see, and that nothing under 5 (or
anything that would give it away) reaches the page or the map's JSON."""

from __future__ import annotations

import gzip
import re

import pytest
from sqlalchemy import text

from app.cli.data import SHIPPED_POPULATION
from app.extensions import db
from app.models import DataLoad, ResidentChannel
from app.services import penetration
from app.services.penetration import NO_POPULATION, load_population, penetration_report
from geo.population import AGE_COLUMNS
from tests.factories import signed_in

FORCE = "E23000036"
BRISTOL = "E06000023"
ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
)


def shipped_rows() -> list[list[str]]:
    with gzip.open(SHIPPED_POPULATION, "rt") as handle:
        return [line.rstrip("\n").split(",") for line in handle]


def write_csv(path, rows) -> None:
    path.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")


def adults_of(row: list[str]) -> int:
    return sum(int(v) for v in row[1 + 18 :])


@pytest.fixture
def old_year(app_ctx):
    """Rows loaded as mid-2020 in a test are removed after it (the reports use 2022)."""
    yield 2020
    db.session.rollback()
    db.session.execute(text("DELETE FROM ward_population WHERE year = 2020"))
    db.session.execute(text("DELETE FROM data_loads WHERE dataset LIKE 'population:%mid2020%'"))
    db.session.commit()


@pytest.fixture
def restore_shipped(app_ctx):
    yield
    db.session.rollback()
    load_population(SHIPPED_POPULATION, force=True)


def population(year: int) -> dict[str, tuple[int, int]]:
    rows = db.session.execute(
        text("SELECT ward_code, adults, all_ages FROM ward_population WHERE year = :y"),
        {"y": year},
    )
    return {code: (adults, everyone) for code, adults, everyone in rows}


# ------------------------------------------------------------------ loading --------


def test_a_good_file_loads_adults_and_all_ages_per_ward(runner, tmp_path, old_year):
    header = ["wd23cd", *AGE_COLUMNS]
    ages = list(range(91))  # age_0 = 0 people, age_1 = 1 ... age_90_plus = 90
    path = tmp_path / "wards_mid2020.csv"
    # E05011092 is on two lines in the ONS file: the counts are added.
    write_csv(path, [header, ["E05013038", *ages], ["E05011092", *ages], ["e05011092", *ages]])

    result = runner.invoke(args=["geo", "load-population", str(path)])

    assert result.exit_code == 0, result.output
    assert "mid-2020 estimates for 2 wards (3 lines) loaded" in result.output
    assert "E05011092 was on 2 lines" in result.output
    adults = sum(range(18, 91))
    assert population(2020) == {
        "E05013038": (adults, sum(ages)),
        "E05011092": (2 * adults, 2 * sum(ages)),
    }
    load = db.session.query(DataLoad).filter_by(dataset="population:wards_mid2020.csv").one()
    assert load.summary["year"] == 2020
    assert load.summary["attribution"] == ATTRIBUTION
    # Again: nothing to do.
    again = runner.invoke(args=["geo", "load-population", str(path)])
    assert "already loaded (mid-2020), unchanged" in again.output


def test_the_shipped_file_is_not_loaded_for_another_force(runner, app, monkeypatch):
    # Gloucestershire, following the guide, was given Avon and Somerset's 185 wards.
    # The force is the forces table's (FORCE_CODE made it once, and was read instead).
    from types import SimpleNamespace

    from app.services import forces

    monkeypatch.setattr(forces, "default_force", lambda: SimpleNamespace(code="E23000037"))
    result = runner.invoke(args=["geo", "load-population", "--force"])
    assert result.exit_code == 1
    assert "shipped are Avon and Somerset's wards only" in result.output
    assert "Nothing was loaded." in result.output


def test_the_shipped_file_is_the_default_and_covers_every_ward_of_the_force(app_ctx):
    rows = shipped_rows()[1:]
    figures = population(2022)
    assert len(figures) == 185
    first = rows[0]
    assert figures[first[0]] == (adults_of(first), sum(int(v) for v in first[1:]))
    wards = db.session.execute(
        text("SELECT count(*) FROM places WHERE kind = 'ward' AND code <> ALL(:codes)"),
        {"codes": list(figures)},
    ).scalar()
    assert wards == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"value": "12x"}, "line 3 (E05013039): age_40 is '12x', not a count of people"),
        ({"value": "-4"}, "line 3 (E05013039): age_40 is '-4', not a count of people"),
        ({"code": "WARD 9"}, "line 3: 'WARD 9' is not a ward code"),
        ({"short": True}, "line 3: 91 values where the header has 92 columns"),
    ],
)
def test_a_bad_row_names_its_line_and_loads_nothing(runner, tmp_path, old_year, bad, message):
    header = ["wd23cd", *AGE_COLUMNS]
    good = ["E05013038", *([10] * 91)]
    broken = ["E05013039", *([10] * 91)]
    if "value" in bad:
        broken[1 + 40] = bad["value"]
    if "code" in bad:
        broken[0] = bad["code"]
    if bad.get("short"):
        broken = broken[:-1]
    path = tmp_path / "bad_mid2020.csv"
    write_csv(path, [header, good, broken])
    before = population(2022)

    result = runner.invoke(args=["geo", "load-population", str(path)])

    assert result.exit_code != 0
    assert f"bad_mid2020.csv {message}" in result.output
    assert "Nothing was loaded." in result.output
    assert population(2020) == {}  # not even the good line before it
    assert population(2022) == before
    assert db.session.query(DataLoad).filter(DataLoad.dataset.like("%bad_mid2020%")).count() == 0


def test_a_file_without_a_year_or_header_is_refused_clearly(runner, tmp_path, app_ctx):
    path = tmp_path / "wards.csv"
    write_csv(path, [["wd23cd", "age_0"], ["E05013038", 1]])
    result = runner.invoke(args=["geo", "load-population", str(path)])
    assert result.exit_code != 0 and "Give --year" in result.output
    result = runner.invoke(args=["geo", "load-population", "--year", "2020", str(path)])
    assert result.exit_code != 0
    assert "line 1: the header lacks age_1" in result.output


# ----------------------------------------------------------- the figures -----------


def postcode_in(ward: str, n: int = 1) -> list[str]:
    rows = db.session.execute(
        text(
            "SELECT display FROM postcodes WHERE admin_ward_code = :w AND location IS NOT NULL"
            " AND terminated_on IS NULL ORDER BY postcode LIMIT :n"
        ),
        {"w": ward, "n": n},
    )
    return [r[0] for r in rows]


def bristol_wards(n: int) -> list[str]:
    rows = db.session.execute(
        text(
            "SELECT code FROM places WHERE kind = 'ward' AND properties->>'lad23cd' = :d"
            " ORDER BY code LIMIT :n"
        ),
        {"d": BRISTOL, "n": n},
    )
    return [r[0] for r in rows]


@pytest.fixture
def counted_residents(make_resident):
    """Hand-counted: ward A 9 confirmed residents, ward B 6, ward C 2; plus some who
    do not count."""
    a, b, c = bristol_wards(3)
    phone = iter(range(1000, 2000))

    def add(ward, n, **options):
        for _ in range(n):
            make_resident(postcode=postcode_in(ward)[0], sms=f"+44770090{next(phone)}", **options)

    add(a, 9)
    add(b, 6)
    add(c, 2)
    add(c, 3, verified=False)  # never confirmed: not counted
    stopped = make_resident(postcode=postcode_in(c)[0], sms="+447700909999")
    db.session.query(ResidentChannel).filter_by(resident_id=stopped.id).update(
        {"unsubscribed_at": db.func.now()}
    )
    db.session.commit()  # stopped their only channel: not counted
    return a, b, c


def test_figures_match_residents_counted_by_hand(counted_residents, app_ctx):
    a, b, c = counted_residents
    figures = population(2022)
    report = penetration_report(FORCE)
    wards = {row.code: row for row in report.wards}
    districts = {row.code: row for row in report.districts}

    assert report.year == 2022
    assert report.attribution == ATTRIBUTION
    assert wards[a].residents == 9
    assert wards[a].adults == figures[a][0]
    assert wards[a].rate == pytest.approx(9 / figures[a][0] * 1000)
    assert wards[a].rate_label == f"{9 / figures[a][0] * 1000:,.1f}"
    assert wards[b].residents == 6 and wards[b].rate == pytest.approx(6 / figures[b][0] * 1000)
    # C (2) is under 5. Bristol's 17 minus A's 9 and B's 6 leaves 2 for C and the 31
    # other wards, all hidden (0 each): C cannot be told apart from them.
    assert wards[c].residents is None and wards[c].residents_label == "fewer than 5"
    assert wards[c].rate is None
    hidden_in_bristol = [
        r for r in report.wards if r.district_code == BRISTOL and r.residents is None
    ]
    assert len(hidden_in_bristol) == 32
    assert districts[BRISTOL].residents == 17
    bristol_adults = sum(figures[code][0] for code in wards if wards[code].district_code == BRISTOL)
    assert districts[BRISTOL].adults == bristol_adults
    assert districts[BRISTOL].rate == pytest.approx(17 / bristol_adults * 1000)
    # The other four districts have nobody: hidden, and four hidden together do not
    # give one away, so the force's total is shown.
    others = [row for code, row in districts.items() if code != BRISTOL]
    assert all(row.residents is None for row in others)
    assert report.force.residents == 17
    # In its class's colour, as a district's is (it kept the "not shown" grey beside the
    # rate it showed: an outside check).
    assert report.force.rate is not None
    assert report.force.colour != penetration.HIDDEN_COLOUR
    assert report.force.colour in {band.colour for band in report.legend}
    # Ranked lowest first: shown rates in order, hidden ones after.
    shown = [row.rate for row in report.wards if row.rate is not None]
    assert shown == sorted(shown)
    assert [row.code for row in report.wards[:2]] == sorted(
        [a, b], key=lambda code: wards[code].rate
    )


def test_a_resident_with_two_places_counts_once_at_the_first(make_resident, app_ctx):
    from app.models import ResidentLocation
    from app.services.postcode_check import check_postcode

    a, b = bristol_wards(2)
    residents = [
        make_resident(postcode=postcode_in(a)[0], sms=f"+4477009030{n:02d}") for n in range(5)
    ]
    elsewhere = check_postcode(postcode_in(b)[0]).postcode
    for resident in residents:
        db.session.add(
            ResidentLocation(
                resident_id=resident.id,
                label="Work",
                postcode=elsewhere.postcode,
                location=elsewhere.location,
            )
        )
    db.session.commit()
    wards = {row.code: row for row in penetration_report(FORCE).wards}
    assert wards[a].residents == 5
    assert wards[b].residents is None  # 0 there: the work places do not count


def test_a_ward_missing_from_the_population_says_so(
    runner, tmp_path, counted_residents, restore_shipped
):
    a, b, c = counted_residents
    rows = [row for row in shipped_rows() if row[0] != a]
    path = tmp_path / "without_one_mid2022.csv"
    write_csv(path, rows)

    result = runner.invoke(args=["geo", "load-population", str(path)])

    assert result.exit_code == 0, result.output
    assert f"1 of the force's wards have no figure in this file ({a})" in result.output
    report = penetration_report(FORCE)
    wards = {row.code: row for row in report.wards}
    assert wards[a].adults is None
    assert wards[a].rate is None and wards[a].rate_label == NO_POPULATION
    assert wards[a].residents == 9  # the count is still there; only the rate is not
    assert wards[a].status == "no_population"
    bristol = next(row for row in report.districts if row.code == BRISTOL)
    assert bristol.rate is None and a in bristol.note
    assert report.missing_codes == [a]


def test_a_district_without_ward_boundaries_has_no_adults_figure(
    counted_residents, app_ctx, monkeypatch
):
    """With no ward boundaries loaded, a district's adults were the sum of the wards
    that happened to hold a resident: Cornwall read 83,414, and a rate several times
    too high, with nothing said (an outside check of the install)."""
    from app.services import penetration

    every = penetration.dao.find_wards_of_districts
    monkeypatch.setattr(
        penetration.dao,
        "find_wards_of_districts",
        lambda session, districts: [
            w for w in every(session, districts) if w.district_code != BRISTOL
        ],
    )
    report = penetration_report(FORCE)
    bristol = next(row for row in report.districts if row.code == BRISTOL)
    assert (bristol.adults, bristol.rate, bristol.note) == (None, None, penetration.NO_WARDS)
    assert report.force.adults is None and report.force.note == penetration.NO_WARDS
    others = [row for row in report.districts if row.code != BRISTOL]
    assert others and all(row.note != penetration.NO_WARDS for row in others)
    # And the load says so (it said "7,609 wards loaded", and nothing of it).
    said = penetration.describe_load(
        penetration.PopulationLoad(
            "f",
            2022,
            1,
            1,
            {},
            [],
            districts_without_wards=penetration._districts_without_wards(FORCE),
        )
    )
    assert f"1 of the force's districts have no ward boundaries loaded ({BRISTOL})" in said[-1]


# ------------------------------------------------------------- the pages -----------


@pytest.mark.parametrize(
    ("role", "status"),
    [("officer", 403), ("analyst", 200), ("supervisor", 200), ("admin", 200)],
)
def test_who_may_see_the_report(app, make_officer, role, status):
    client = signed_in(app, make_officer(role=role), role)
    assert client.get("/analysts/penetration").status_code == status
    assert client.get("/analysts/penetration.geojson").status_code == status


def test_nobody_signed_in_is_sent_to_sign_in(client):
    answer = client.get("/analysts/penetration")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]


def test_the_page_and_the_map_show_only_suppressed_figures(app, make_officer, counted_residents):
    a, b, c = counted_residents
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    page = client.get("/analysts/penetration?wards=all").text
    row_of = {
        code: re.search(rf'<tr data-code="{code}">(.*?)</tr>', page, re.S).group(1)
        for code in (a, b, c)
    }
    assert '<td data-label="Confirmed residents" class="num">9</td>' in row_of[a]
    assert '<td data-label="Confirmed residents" class="num">6</td>' in row_of[b]
    assert "fewer than 5" in row_of[c]
    assert '<td data-label="Confirmed residents" class="num">2</td>' not in row_of[c]
    assert "mid-2022" in page and ATTRIBUTION in page
    assert 'aria-sort="ascending"' in page  # by rate, lowest first
    assert 'href="/analysts/penetration">Reach</a>' in page

    data = client.get("/analysts/penetration.geojson").json
    assert data["year"] == 2022 and data["attribution"] == ATTRIBUTION
    # The data licences' lines go with the file, as on the page (an outside check).
    assert (
        "Boundaries: Contains OS data © Crown copyright and database right 2023"
        in (data["licences"])
    )
    props = {f["properties"]["code"]: f["properties"] for f in data["features"]}
    assert len(props) == 185
    assert props[a]["residents"] == 9 and props[b]["residents"] == 6
    assert props[c]["residents"] is None and props[c]["rate"] is None
    assert props[c]["residents_label"] == "fewer than 5"
    assert props[c]["status"] == "hidden"
    shown = [p["residents"] for p in props.values() if p["residents"] is not None]
    assert all(n >= 5 for n in shown)
    # In Welsh, the hidden figures and the legend are Welsh too (they were English).
    welsh = client.get("/analysts/penetration?lang=cy&wards=all").text
    welsh_row = re.search(rf'<tr data-code="{c}">(.*?)</tr>', welsh, re.S).group(1)
    assert "llai na 5" in welsh_row and "fewer than" not in welsh
    assert "heb ei ddangos (llai na 5 o breswylwyr, neu wedi&#39;i guddio i ddiogelu un)" in welsh
    geo = client.get("/analysts/penetration.geojson?lang=cy").json
    assert {f["properties"]["code"]: f for f in geo["features"]}[c]["properties"][
        "residents_label"
    ] == "llai na 5"


def test_the_tables_sort_on_the_server(app, make_officer, counted_residents):
    client = signed_in(app, make_officer(role="supervisor"), "supervisor")
    page = client.get("/analysts/penetration?sort=name&order=desc&wards=all").text
    names = re.findall(r'<th scope="row" data-label="Ward">([^<]+?) <span', page)
    assert len(names) == 185
    assert names == sorted(names, key=str.lower, reverse=True)
    assert 'aria-sort="descending"' in page
    # Something it does not know: the default, not an error.
    page = client.get("/analysts/penetration?sort=%00&order=sideways").text
    assert 'aria-sort="ascending"' in page


def test_a_hidden_district_cannot_be_worked_out_from_the_force_total(make_resident, app_ctx):
    """Bristol has 2; without more hidden, the force's total minus the other four
    districts would give those 2 away. The next smallest district goes too."""
    counts = {"E06000022": 6, BRISTOL: 2, "E06000024": 7, "E06000025": 8, "E06000066": 9}
    phone = iter(range(5000, 6000))
    for district, n in counts.items():
        ward = db.session.execute(
            text(
                "SELECT code FROM places WHERE kind = 'ward' AND properties->>'lad23cd' = :d"
                " ORDER BY code LIMIT 1"
            ),
            {"d": district},
        ).scalar()
        for postcode in postcode_in(ward) * n:
            make_resident(postcode=postcode, sms=f"+44770091{next(phone)}")

    report = penetration_report(FORCE)
    districts = {row.code: row for row in report.districts}

    assert districts[BRISTOL].residents is None  # 2: under 5
    assert districts["E06000022"].residents is None  # 6: the next smallest
    assert districts["E06000022"].rate is None
    assert [districts[d].residents for d in ("E06000024", "E06000025", "E06000066")] == [7, 8, 9]
    assert report.force.residents == 32
    # Trying the subtraction: it gives the two hidden districts together, not Bristol.
    left = report.force.residents - sum(r.residents for r in report.districts if r.residents)
    assert left == 8 != counts[BRISTOL]


def test_the_ward_table_shows_the_first_wards_or_a_districts(app, make_officer, counted_residents):
    """185 wards, each a block on a phone, made the page 38,852 px tall (an outside
    check): the first 25 in the order chosen, all of them when asked, or a district's
    wards, chosen from the form or the district's own row."""
    a, b, c = counted_residents
    client = signed_in(app, make_officer(role="analyst"), "analyst")
    ward_rows = r'<tr data-code="(E05\d+)"><th scope="row" data-label="Ward">'

    page = client.get("/analysts/penetration").text
    first = re.findall(ward_rows, page)
    assert len(first) == 25
    assert "The first 25 of 185 wards, in the order chosen above." in page
    assert 'href="/analysts/penetration?sort=rate&amp;order=asc&amp;wards=all#wards"' in page
    # Lowest rate first: the two wards with a rate lead, as in the whole table.
    everything = re.findall(ward_rows, client.get("/analysts/penetration?wards=all").text)
    assert len(everything) == 185 and first == everything[:25]
    assert first[:2] == sorted([a, b], key=first.index)[:2] and {a, b} <= set(first[:2])
    # A district's wards, every one of them and nothing else; the sort links keep it.
    bristol = client.get(f"/analysts/penetration?district={BRISTOL}&sort=name").text
    codes = re.findall(ward_rows, bristol)
    in_bristol = db.session.execute(
        text(
            "SELECT count(*) FROM places WHERE kind = 'ward' AND properties->>'lad23cd' = :district"
        ),
        {"district": BRISTOL},
    ).scalar()
    assert len(codes) == in_bristol > 25
    assert a in codes and "Wards of Bristol, City of" in bristol
    assert f"district={BRISTOL}" in bristol.split('id="ward-table"')[1].split("</thead>")[0]
    assert f'<option value="{BRISTOL}" selected>' in bristol
    # Typed in lower case, it is the same district (an outside re-check).
    lower = client.get(f"/analysts/penetration?district={BRISTOL.lower()}&sort=name").text
    assert re.findall(ward_rows, lower) == codes and 'id="unknown-district"' not in lower
    # The district's row opens its wards.
    assert f'href="/analysts/penetration?sort=rate&amp;order=asc&amp;district={BRISTOL}#wards"' in (
        page
    )
    # A district that is not the force's: every district's, said so; never an error.
    for odd in ("E99999999", "%00", "%3Cb%3Ex%3C/b%3E", "E06000023X"):
        answer = client.get(f"/analysts/penetration?district={odd}")
        assert answer.status_code == 200, odd
        assert 'id="unknown-district"' in answer.text, odd
        # Not "every district's wards are shown": 25 are (a review).
        assert "the wards below are every district&#39;s" in answer.text or (
            "the wards below are every district's" in answer.text
        )
        assert len(re.findall(ward_rows, answer.text)) == 25
