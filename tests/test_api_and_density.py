import json
import re

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditEvent
from app.services.density import resident_density
from tests.factories import default_force_id


def test_postcode_lookup_gives_the_point_and_places(client, app_ctx):
    response = client.get("/api/postcodes/ba46qn")
    assert response.status_code == 200
    body = response.json
    assert body["postcode"] == "BA4 6QN"
    assert body["longitude"] == pytest.approx(-2.5264, abs=1e-3)
    assert body["latitude"] == pytest.approx(51.1562, abs=1e-3)
    assert body["places"] == {"ward": "Mendip Central and East", "district": "Somerset"}
    assert body["in_force"] is True
    outside = client.get("/api/postcodes/BA12 9AA").json
    assert outside["in_force"] is False
    assert outside["places"] == {"district": "Wiltshire"}
    # Posted (the officer's map: the postcode stays out of the address), the same.
    assert client.post("/api/postcode", json={"postcode": "ba46qn"}).json == body
    refused = client.post("/api/postcode", json={"postcode": "XYZ"})
    assert refused.status_code == 400 and refused.json["reason"] == "invalid"
    for wrong in ({"postcode": 5}, ["BS1 6AD"], None):
        answer = client.post("/api/postcode", json=wrong)
        assert answer.status_code == 400 and "Send" in answer.json["error"]


@pytest.mark.parametrize(
    ("postcode", "status", "reason", "message"),
    [
        ("XYZ", 400, "invalid", "is not a postcode"),
        ("BS99 9ZZ", 404, "unknown", "find BS99 9ZZ"),
    ],
)
def test_postcode_lookup_errors_are_json_with_a_reason(
    client, app_ctx, postcode, status, reason, message
):
    response = client.get(f"/api/postcodes/{postcode}")
    assert response.status_code == status
    assert response.json["reason"] == reason
    assert message in response.json["error"]


@pytest.fixture
def terminated_postcode(make_postcode):
    return make_postcode(postcode="BS1 9ZZ", terminated_on="2019-06-01")


def test_a_terminated_postcode_is_gone_and_says_when(client, terminated_postcode):
    response = client.get("/api/postcodes/bs19zz")
    assert response.status_code == 410
    assert response.json["reason"] == "terminated"
    assert "stopped using it in June 2019" in response.json["error"]
    assert client.get("/api/autocomplete?q=BS1 9ZZ").json["results"] == []
    # Where it was is still said (an officer's old record may carry one), as postcodes.io's
    # terminated postcodes do; posted, as the officer's map asks, the same.
    gone = response.json["terminated"]
    assert (gone["postcode"], gone["terminated_on"]) == ("BS1 9ZZ", "2019-06-01")
    assert gone["latitude"] == pytest.approx(51.45, abs=0.05)
    assert gone["longitude"] == pytest.approx(-2.59, abs=0.05)
    posted = client.post("/api/postcode", json={"postcode": "bs1 9zz"})
    assert (posted.status_code, posted.json) == (410, response.json)
    # Other refusals carry nothing more.
    assert "terminated" not in client.get("/api/postcodes/BS99 9ZZ").json
    # Looked up with others, it is refused the same way (it came back as a live
    # postcode: an outside re-check).
    bulk = client.post("/api/postcodes", json={"postcodes": ["BS1 9ZZ", "BS1 6AD"]}).json
    gone, live = bulk["results"]
    assert gone == {"query": "BS1 9ZZ", "result": None} | response.json
    assert live["result"]["postcode"] == "BS1 6AD"


def test_bulk_lookup_answers_each_query_in_order(client, app_ctx):
    response = client.post(
        "/api/postcodes", json={"postcodes": ["bs16ad", "nonsense", "BS99 9ZZ", "TA1 1AA"]}
    )
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["query"] for r in results] == ["bs16ad", "nonsense", "BS99 9ZZ", "TA1 1AA"]
    assert [r["result"]["postcode"] if r["result"] else None for r in results] == [
        "BS1 6AD",
        None,
        None,
        "TA1 1AA",
    ]
    too_many = client.post("/api/postcodes", json={"postcodes": ["BS1 6AD"] * 101})
    assert too_many.status_code == 400
    assert too_many.json["reason"] == "too_many"
    assert client.post("/api/postcodes", json={"postcodes": "BS1 6AD"}).status_code == 400


def test_nearest_postcodes_are_in_distance_order_within_the_radius(client, app_ctx):
    response = client.get("/api/postcodes?longitude=-2.58823&latitude=51.45197&radius_m=150")
    results = response.json["results"]
    assert results[0]["postcode"] == "BS1 6AD"
    distances = [r["distance_m"] for r in results]
    assert distances == sorted(distances)
    assert all(d <= 150 for d in distances)
    assert client.get("/api/postcodes?longitude=2.35&latitude=48.85").status_code == 400
    assert client.get("/api/postcodes?longitude=x&latitude=1").status_code == 400
    assert (
        client.get("/api/postcodes?longitude=-2.5&latitude=51.4&radius_m=99999").status_code == 400
    )
    # Each value wrong is named: a limit of "1e3" was said to be a bad longitude.
    point = "/api/postcodes?longitude=-2.58&latitude=51.45"
    for asked, named in (("&limit=1e3", "limit"), ("&radius_m=far", "radius_m")):
        refused = client.get(point + asked)
        assert refused.status_code == 400 and refused.json["error"].startswith(named), asked


def test_autocomplete_offers_postcodes_that_start_with_what_was_typed(client, app_ctx):
    results = client.get("/api/autocomplete?q=bs1 6a").json["results"]
    assert "BS1 6AD" in results
    assert all(r.startswith("BS1 6A") for r in results)
    assert len(results) <= 10
    assert client.get("/api/autocomplete?q=b").json["results"] == []
    # Wildcards are no letters: "%%%" listed any postcodes (an outside check).
    for typed in ("%25%25%25", "B%25", "_%25_", "B%5C%5C"):
        assert client.get(f"/api/autocomplete?q={typed}").json["results"] == [], typed
    # The space says where the outward code ends: BS16 0BB came first for "BS1 6" (an
    # outside check).
    for typed in ("BS1 6", "bs1  6", "BS1 "):
        results = client.get(f"/api/autocomplete?q={typed}").json["results"]
        assert results and all(r.startswith("BS1 ") for r in results), typed
    assert any(
        r.startswith("BS16 ") for r in client.get("/api/autocomplete?q=BS16").json["results"]
    )


def test_outward_code_and_sector_centres(client, app_ctx):
    bs1 = client.get("/api/outcodes/bs1").json
    assert bs1["outcode"] == "BS1"
    assert bs1["longitude"] == pytest.approx(-2.59, abs=0.02)
    # BS1 only: BS10-BS16 are other districts and must not be counted in it.
    count_bs1 = db.session.scalar(
        text("SELECT count(*) FROM postcodes WHERE postcode ~ '^BS1[0-9][A-Z]{2}$'")
    )
    assert bs1["postcodes"] == count_bs1
    sector = client.get("/api/sectors/BS1 6").json
    assert sector["sector"] == "BS1 6"
    assert 0 < sector["postcodes"] < bs1["postcodes"]
    assert client.get("/api/outcodes/ZZ9").status_code == 404
    assert client.get("/api/outcodes/hello").status_code == 400
    assert client.get("/api/sectors/BS1").status_code == 400


def test_places_containing_a_postcode_and_postcodes_in_a_place(client, app_ctx):
    places = client.get("/api/places/containing?postcode=BS1 6AD").json["results"]
    assert [(p["kind"], p["name"]) for p in places] == [
        ("force", "Avon and Somerset"),
        ("district", "Bristol, City of"),
        ("ward", "Central"),
    ]
    ward = next(p for p in places if p["kind"] == "ward")
    inside = client.get(f"/api/places/{ward['id']}/postcodes").json
    assert inside["count"] > 100
    for unknown in (0, 2_000_000_000):  # not "0 postcodes" (an outside check)
        missing = client.get(f"/api/places/{unknown}/postcodes")
        assert missing.status_code == 404 and missing.json["reason"] == "not_found"
    assert "BS1 6AD" in inside["postcodes"]
    assert inside["count"] == len(inside["postcodes"]) or len(inside["postcodes"]) == 1000
    # Counted once an hour, not at every call: a whole force's took 2.5-5 s of the
    # database for anyone, and eight at once held every thread (an outside check).
    from app.extensions import redis_store
    from app.services.places import KEY

    assert 3500 < redis_store.client.ttl(f"{KEY}{ward['id']}") <= 3600
    assert client.get(f"/api/places/{ward['id']}/postcodes").json == inside
    assert not redis_store.client.exists(f"{KEY}0")  # no place, nothing kept
    by_point = client.get("/api/places/containing?longitude=-2.58823&latitude=51.45197").json
    assert [p["name"] for p in by_point["results"]] == [p["name"] for p in places]
    assert client.get("/api/places/containing").status_code == 400
    for point in (
        "longitude=nan&latitude=nan",
        "longitude=inf&latitude=51",
        "longitude=-75&latitude=40",
    ):
        refused = client.get(f"/api/places/containing?{point}")
        assert refused.status_code == 400 and refused.json["reason"] == "outside_gb", point


def test_boundaries_are_served_as_geojson(client, app_ctx):
    wards = client.get("/api/places/ward.geojson").json
    assert len(wards["features"]) == 185
    force = client.get("/api/places/force.geojson").json
    assert force["features"][0]["properties"]["name"] == "Avon and Somerset"
    assert client.get("/api/places/county.geojson").status_code == 404


def test_density_counts_residents_per_cell_and_hides_small_cells(make_resident, app_ctx):
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+44770090010{n}")
    make_resident(postcode="TA1 1AA")  # alone in its cell: grey, never a number
    make_resident(postcode="TA1 1AA", sms="+447700900199", verified=False)  # not counted

    density = resident_density(1000, min_count=5)

    # The lone resident's square is grey; so is the 6, or the 1 would be the force's
    # total minus 6. Together they hold 7, which pins neither.
    assert density["suppressed_cells"] == 2
    assert density["shown_cells"] == 0
    assert density["hidden_residents"] == 7
    assert {f["properties"]["residents"] for f in density["features"]} == {None}
    assert {f["properties"]["label"] for f in density["features"]} == {
        "fewer than 5 residents, or hidden to protect one"
    }
    rings = [f["geometry"]["coordinates"][0] for f in density["features"]]
    inside = [
        db.session.scalar(
            text(
                "SELECT ST_Contains(ST_GeomFromGeoJSON(:g), location_wgs84) "
                "FROM postcodes WHERE postcode = 'BS16AD'"
            ),
            {"g": json.dumps({"type": "Polygon", "coordinates": [ring]})},
        )
        for ring in rings
    ]
    assert sorted(inside) == [False, True]


# ---------------------------------------------------------------- density, safely ------


def distinct_squares(n: int) -> list[str]:
    """Postcodes (as residents type them) in n different 1 km squares of the grid,
    far enough apart that no two share a square."""
    rows = db.session.execute(
        text(
            "SELECT DISTINCT ON (floor(ST_X(p.location) / 5000), floor(ST_Y(p.location) / 5000))"
            " p.display FROM postcodes p"
            " JOIN places w ON w.kind = 'ward' AND w.code = p.admin_ward_code"
            " WHERE p.location IS NOT NULL AND p.terminated_on IS NULL"
            " ORDER BY floor(ST_X(p.location) / 5000), floor(ST_Y(p.location) / 5000), p.postcode"
            " LIMIT :n"
        ),
        {"n": n},
    ).scalars()
    found = list(rows)
    assert len(found) == n
    return found


@pytest.fixture
def place_residents(make_resident):
    """Residents in squares: {postcode: [(channels, groups), ...]}; every one with a
    confirmed text number unless told, numbered so that none share one."""
    counter = iter(range(10_000))

    def place(layout: dict[str, list[dict]]):
        for postcode, people in layout.items():
            for person in people:
                i = next(counter)
                make_resident(
                    postcode=postcode,
                    sms=f"+4477009{i:05d}" if person.get("sms", True) else None,
                    email=f"d{i}@example.org" if person.get("email") else None,
                    groups=tuple(person.get("groups", ())),
                )

    return place


def square_of(feature) -> tuple:
    ring = feature["geometry"]["coordinates"][0]
    return (round(min(p[0] for p in ring), 4), round(min(p[1] for p in ring), 4))


def published(density: dict) -> tuple[dict, set, int | None]:
    """What a reader gets from one map: shown counts by square, the grey squares,
    and the grey squares' total (None when not given)."""
    shown = {
        square_of(f): f["properties"]["residents"]
        for f in density["features"]
        if f["properties"]["status"] == "shown"
    }
    grey = {square_of(f) for f in density["features"] if f["properties"]["status"] == "hidden"}
    return shown, grey, density["hidden_residents"]


def sums_to(total: int, ranges: list[range]):
    """Every way to pick one value from each range so that they add up to total."""
    if not ranges:
        if total == 0:
            yield ()
        return
    for first in ranges[0]:
        if first > total:
            break
        for rest in sums_to(total - first, ranges[1:]):
            yield (first, *rest)


def what_subtraction_leaves(
    everyone: dict, filtered: dict | None = None, *, force_total: int, filter_total: int = 0
) -> dict:
    """Every value each hidden figure could take, for someone who has both maps and
    both force totals (from any other page): they subtract the shown squares from
    the totals and try every split of the rest. Unfiltered grey squares hold 1 or
    more each; a filtered count is at most its square's unfiltered count."""
    shown_u, grey_u, _ = published(everyone)
    grey_u = sorted(grey_u)
    left_u = force_total - sum(shown_u.values())
    possible: dict = {}
    if filtered is None:
        for values in sums_to(left_u, [range(1, left_u + 1)] * len(grey_u)):
            for key, v in zip(grey_u, values, strict=True):
                possible.setdefault(("all", key), set()).add(v)
        return possible
    shown_f, grey_f, _ = published(filtered)
    grey_f = sorted(grey_f)
    left_f = filter_total - sum(shown_f.values())
    for values in sums_to(left_u, [range(1, left_u + 1)] * len(grey_u)):
        unfiltered = dict(zip(grey_u, values, strict=True)) | shown_u
        if any(n > unfiltered[key] for key, n in shown_f.items()):
            continue  # a square cannot hold more of the filter's residents than in all
        ranges = [range(0, unfiltered[key] + 1) for key in grey_f]
        for split in sums_to(left_f, ranges):
            for key, v in zip(grey_u, values, strict=True):
                possible.setdefault(("all", key), set()).add(v)
            for key, v in zip(grey_f, split, strict=True):
                possible.setdefault(("filtered", key), set()).add(v)
                possible.setdefault(("left out", key), set()).add(unfiltered[key] - v)
    return possible


def test_density_legend_counts_squares_and_gives_the_grey_total(client, sign_in, place_residents):
    a, b, c, d = distinct_squares(4)
    place_residents({a: [{}] * 12, b: [{}] * 7, c: [{}] * 3, d: [{}] * 2})
    sign_in("analyst")

    density = client.get("/analysts/density.geojson").json

    assert density["shown_cells"] == 2 and density["shown_residents"] == 19
    # The squares are placed by Code-Point Open's postcodes: its licences' lines go
    # with the file, as on the page (an outside check).
    assert any("Royal Mail" in line for line in density["licences"])
    assert density["suppressed_cells"] == 2 and density["hidden_residents"] == 5
    legend = {row["label"]: (row["squares"], row["residents"]) for row in density["legend"]}
    assert legend["5 to 9"] == (1, 7)
    assert legend["10 to 24"] == (1, 12)
    assert legend["250 or more"] == (0, 0)
    assert legend["Fewer than 5 (or hidden to protect such a square)"] == (2, 5)
    # On a Welsh page, in Welsh (found by an outside probe).
    welsh = client.get("/analysts/density.geojson?lang=cy").json
    labels = [row["label"] for row in welsh["legend"]]
    assert "5 i 9" in labels and "250 neu fwy" in labels and labels[-1].startswith("Llai na 5")
    # The squares' own labels too (the map's tooltips said "12 residents").
    squares = {f["properties"]["label"] for f in welsh["features"]}
    assert squares == {
        "12 o breswylwyr",
        "7 o breswylwyr",
        "llai na 5 o breswylwyr, neu wedi’i guddio i ddiogelu un",
    }
    client.get("/analysts/density.geojson?lang=en")  # the switch is remembered: back
    greys = [f for f in density["features"] if f["properties"]["status"] == "hidden"]
    assert {f["properties"]["colour"] for f in greys} == {"#9ca3af"}
    # The force's total (24, as any other page may give it) minus what is shown is
    # the grey total: it says 5 between two squares, never which holds what.
    possible = what_subtraction_leaves(density, force_total=24)
    assert {key: len(values) for key, values in possible.items()} == {
        ("all", key): 4 for key in published(density)[1]
    }

    page = client.get("/analysts/density").text
    assert "2 squares showing 19 residents" in page
    assert "2 grey squares with fewer than 5 each (or hidden to protect one), holding 5" in page
    assert "Download briefing map" in page


@pytest.mark.parametrize(
    ("counts", "grey_counts"),
    [
        # A lone small square: its total would be the force's minus the rest.
        ([12, 9, 1], [9, 1]),
        # Two squares of 4: their total 8 says both are 4.
        ([30, 12, 4, 4], [12, 4, 4]),
        # Five squares of 1: their total 5 says each holds one.
        ([20, 8, 1, 1, 1, 1, 1], [8, 1, 1, 1, 1, 1]),
        # Two small squares adding up to under 5.
        ([15, 11, 2, 1], [11, 2, 1]),
    ],
)
def test_density_hides_a_shown_square_when_subtraction_would_reveal_a_grey_one(
    app_ctx, place_residents, counts, grey_counts
):
    squares = distinct_squares(len(counts))
    place_residents({sq: [{}] * n for sq, n in zip(squares, counts, strict=True)})

    density = resident_density(1000, min_count=5)

    shown, grey, hidden_total = published(density)
    assert sorted(shown.values()) == sorted(set(counts) - set(grey_counts)) or sorted(
        shown.values()
    ) == sorted(n for n in counts if n not in grey_counts)
    assert len(grey) == len(grey_counts)
    assert hidden_total == sum(grey_counts)
    assert all(v is None or v >= 5 for v in shown.values())
    for key, values in what_subtraction_leaves(density, force_total=sum(counts)).items():
        assert len(values) >= 2, f"{key} is pinned to {values}"


def test_filtered_density_cannot_be_subtracted_from_the_whole(client, sign_in, place_residents):
    a, b, c, d, e = distinct_squares(5)
    farm = {"groups": ["farm-watch"]}
    place_residents(
        {
            a: [farm] * 7 + [{}] * 4,  # 11, of whom 7 in the group: 4 left out
            b: [farm] * 12,  # everyone in the group: nobody left out
            c: [farm] * 9,  # grey to protect d: shown filtered, it would give d away
            d: [farm] * 1,  # grey on every map
            e: [farm] * 5 + [{}] * 10,  # grey filtered: else a's 4 left out would show
        }
    )
    sign_in("analyst")

    everyone = client.get("/analysts/density.geojson").json
    filtered = client.get("/analysts/density.geojson?group=farm-watch").json

    shown_u, grey_u, total_u = published(everyone)
    shown_f, grey_f, total_f = published(filtered)
    assert sorted(shown_u.values()) == [11, 12, 15] and total_u == 10
    assert sorted(shown_f.values()) == [12] and total_f == 22
    assert filtered["filter"] == "In the group Farm-Watch"
    # A grey square stays grey on the filtered map, and the square where the filter
    # leaves out 4 is grey there too, though 7 are in the group.
    assert grey_u <= grey_f
    assert square_of_count(everyone, 11) in grey_f
    # Filtered minus unfiltered, square by square: 0 or 5 and more, never 1 to 4.
    for key, n in shown_f.items():
        assert shown_u[key] - n == 0 or shown_u[key] - n >= 5
    # And with both maps and both totals, every hidden figure keeps two values or more.
    possible = what_subtraction_leaves(everyone, filtered, force_total=48, filter_total=34)
    assert possible and all(len(v) >= 2 for v in possible.values()), possible

    by_text = client.get("/analysts/density.geojson?channel=sms").json
    assert by_text["filter"] == "On text message"
    assert published(by_text)[0] == shown_u  # everyone has a text number


def square_of_count(density: dict, n: int) -> tuple:
    return next(square_of(f) for f in density["features"] if f["properties"]["residents"] == n)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("group=farm-watch&channel=sms", "Choose a group or a channel, not both"),
        ("group=nobody-has-this", "There is no interest group by that name"),
        ("channel=pigeon", "There is no channel by that name"),
    ],
)
def test_a_density_filter_that_cannot_be_applied_says_why(client, sign_in, query, message):
    sign_in("analyst")
    answer = client.get(f"/analysts/density.geojson?{query}")
    assert answer.status_code == 400
    assert message in answer.json["error"]
    page = client.get(f"/analysts/density?{query}")
    assert page.status_code == 400
    assert message in page.text and "The map below shows everyone" in page.text


def test_density_has_one_cell_size_so_hidden_cells_cannot_be_derived(client, sign_in):
    sign_in("analyst")
    default = client.get("/analysts/density.geojson").json
    asked_for_smaller = client.get("/analysts/density.geojson?cell_m=250").json
    assert default["cell_m"] == asked_for_smaller["cell_m"] == 1000


def test_map_pages_show_the_data_attribution(client, sign_in):
    sign_in("supervisor")
    for path in ("/officers/", "/analysts/density"):
        page = client.get(path).text
        assert "Contains OS data © Crown copyright and database right 2025" in page
        assert "Contains Royal Mail data © Royal Mail copyright and database right 2025" in page
        assert "Open Government Licence v.3.0" in page


def test_residents_on_ended_or_moved_postcodes_are_listed_and_still_reached(
    client, sign_in, make_resident, make_officer
):
    from tests.factories import signed_in

    make_resident(postcode="BS1 6AD", sms="+447700900301")
    make_resident(postcode="BS8 1TH", sms="+447700900302")
    make_resident(postcode="TA1 1AA", sms="+447700900303")
    # Unit postcodes where one to four residents live: for the administrators who
    # contact residents, not for analysts (found by an outside probe).
    for role in ("analyst", "supervisor"):
        other = signed_in(client.application, make_officer(role=role), role)
        assert other.get("/analysts/postcode-review").status_code == 403
        assert "Postcode review" not in other.get("/analysts/density").text
    sign_in("admin")
    assert "Nothing to review" in client.get("/analysts/postcode-review").text
    original = db.session.execute(
        text(
            "SELECT postcode, terminated_on, location FROM postcodes "
            "WHERE postcode IN ('BS16AD', 'BS81TH')"
        )
    ).all()
    try:
        db.session.execute(
            text("UPDATE postcodes SET terminated_on = '2025-03-01' WHERE postcode = 'BS16AD'")
        )
        db.session.execute(
            text(
                "UPDATE postcodes SET location = ST_Translate(location, 300, 0) "
                "WHERE postcode = 'BS81TH'"
            )
        )
        db.session.commit()
        page = client.get("/analysts/postcode-review").text
        assert "BS1 6AD" in page and "Terminated in March 2025" in page
        assert "BS8 1TH" in page and "Centre moved 300 m since they registered" in page
        assert "TA1 1AA" not in page
        # One resident at a postcode is a household: counted as every figure is.
        rows = re.findall(r"<tr data-reason=[^>]*>(.*?)</tr>", page)
        assert rows and all("<td>fewer than 5</td>" in row for row in rows)
        welsh = client.get("/analysts/postcode-review?lang=cy").text
        assert "Daeth i ben ym mis Mawrth 2025" in welsh and "llai na 5" in welsh
        looks = db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "report.postcode_review_viewed")
        ).all()
        assert [d["postcodes_shown"] for d in looks] == [0, 2, 2]

        from app.dao.targeting import Audience, count_targets
        from geo.areas import area_from_shapes

        around = area_from_shapes(
            [{"kind": "circle", "center": [-2.5882, 51.4520], "radius_m": 2000}]
        )
        assert (
            count_targets(db.session, Audience(force_id=default_force_id(), area_wkb=around.wkb))[
                "residents"
            ]
            == 2
        )
    finally:
        for key, terminated_on, location in original:
            db.session.execute(
                text("UPDATE postcodes SET terminated_on = :t, location = :l WHERE postcode = :k"),
                {"t": terminated_on, "l": location, "k": key},
            )
        db.session.commit()
