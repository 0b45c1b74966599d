"""A ward, a district or the whole force reaches exactly the residents whose postcodes
are in it. The shipped outlines are generalised (wards 200 m, districts and the force
500 m) and cut off the coast and parts of the borders: choosing North Somerset missed
the residents of Weston-super-Mare's seafront and Portishead (an outside check). Each
load fits the outlines to the postcodes (geo.loaders.fit_places_to_postcodes)."""

from __future__ import annotations

from sqlalchemy import select, text

from app.extensions import db
from app.models import Alert, Place, Postcode
from geo.loaders import fit_places_to_postcodes

# Where a postcode belongs, by its codes (the force: by its districts).
OWN = {
    "ward": "pc.admin_ward_code = p.code",
    "district": "pc.admin_district_code = p.code",
    "force": "p.properties->'constituent_lad23cd' ? pc.admin_district_code",
}
SEAFRONT = ("BS23 2AD", "BS20 7DR")  # outside the generalised outlines


def test_every_postcode_is_inside_its_own_places_and_no_others(app_ctx):
    for kind, own in OWN.items():
        outside = db.session.scalar(
            text(
                f"SELECT count(*) FROM places p JOIN postcodes pc ON {own} "  # noqa: S608
                "WHERE p.kind = :kind AND NOT ST_Covers(p.boundary, pc.location)"
            ),
            {"kind": kind},
        )
        inside_another = db.session.scalar(
            text(
                f"SELECT count(*) FROM places p JOIN postcodes pc ON {own} "  # noqa: S608
                "JOIN places q ON q.kind = p.kind AND q.id <> p.id "
                "AND ST_Covers(q.boundary, pc.location) WHERE p.kind = :kind"
            ),
            {"kind": kind},
        )
        assert (kind, outside, inside_another) == (kind, 0, 0)
    # A second fit finds nothing to do.
    connection = db.session.connection().connection.driver_connection
    assert not any(fit_places_to_postcodes(connection).values())
    db.session.rollback()


def place(kind: str, code: str) -> int:
    return db.session.scalar(select(Place.id).where(Place.kind == kind, Place.code == code))


def test_the_seafront_is_in_its_ward_its_district_and_the_force(
    app, officer_client, make_resident, monkeypatch
):
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 0)  # two residents, counted
    for n, postcode in enumerate(SEAFRONT):
        make_resident(postcode=postcode, sms=f"+44770090020{n}")
    codes = [db.session.get(Postcode, p.replace(" ", "")) for p in SEAFRONT]
    assert {c.admin_district_code for c in codes} == {"E06000024"}  # North Somerset
    force = db.session.scalar(
        select(Place.id).where(Place.kind == "force", Place.name.like("Avon%"))
    )
    for place_id in (
        force,
        place("district", "E06000024"),
        place("ward", codes[0].admin_ward_code),
    ):
        shapes = [{"kind": "place", "place_id": place_id}]
        preview = officer_client.post("/officers/preview", json={"shapes": shapes}).json
        ward = place("ward", codes[0].admin_ward_code)
        expected = (
            2
            if place_id != ward
            else sum(c.admin_ward_code == codes[0].admin_ward_code for c in codes)
        )
        assert preview["residents"] == expected, (place_id, preview)
    # What is sent is what the preview counted.
    sent = officer_client.post(
        "/officers/alerts",
        json={
            "shapes": [{"kind": "place", "place_id": place("district", "E06000024")}],
            "title": "Flooding on the seafront",
            "body": "Keep away from the beach road.",
        },
    )
    assert sent.status_code == 201, sent.json
    assert db.session.get(Alert, sent.json["alert_id"]).recipient_count == 2


def test_maps_draw_the_outlines_without_the_squares_that_fit_them(app_ctx):
    """The squares decide who a place reaches, not what a map shows: the base map's
    wards and districts, and the outlines the officer's map draws, have none."""
    from app.dao import basemap as basemap_dao
    from app.dao import places as places_dao

    force = db.session.scalar(select(Place).where(Place.kind == "force", Place.code == "E23000036"))
    tiny = text(
        "SELECT count(*) FROM places p, ST_Dump(p.boundary) d "
        "WHERE p.kind = 'ward' AND ST_Area(d.geom) < 10"
    )
    assert db.session.scalar(tiny) > 0  # the fitted outlines have squares
    drawn = basemap_dao.find_force_places(db.session, force, "ward")
    assert drawn and all(
        part.area > 10
        for place in drawn
        for part in getattr(place.boundary_bng, "geoms", [place.boundary_bng])
    )
    outline = places_dao.find_place_boundary_wkb(force.id, drawn=True)
    from shapely import wkb

    outline = wkb.loads(outline)
    assert all(part.area > 10 for part in getattr(outline, "geoms", [outline]))
