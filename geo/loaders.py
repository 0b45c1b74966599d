"""Reading source files (Code-Point Open CSVs, GeoJSON boundaries) and loading places.

Loaders take an open psycopg 3 connection and never commit: the caller owns the
transaction, so a load that fails part-way changes nothing. Postcode directories are
loaded by geo.postcode_loader.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shapely import MultiPolygon, Polygon, make_valid
from shapely.geometry import shape

from geo.areas import as_multipolygon
from geo.projection import BNG, WGS84, transform_geometry

CODEPOINT_COLUMNS = [
    "postcode",
    "positional_quality",
    "eastings",
    "northings",
    "country_code",
    "nhs_regional_ha_code",
    "nhs_ha_code",
    "admin_county_code",
    "admin_district_code",
    "admin_ward_code",
]
# Code-Point Open's "no coordinates" quality: eastings/northings are 0, not a place.
NO_COORDINATES_QUALITY = 90
CHUNK_ROWS = 50_000


# What a postcode load says of the values it kept because a newer release set them.
KEPT_NEWER = {
    "position": "positions (and positional quality)",
    "codes": "country, district and ward codes",
    "introduced": "introduction dates",
    "status": "live/terminated statuses",
}


@dataclass
class LoadSummary:
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    repaired: int = 0
    terminated: int = 0
    rejected: Counter = field(default_factory=Counter)
    # Postcode loads: rows whose value of each field ("position", "admin_ward_code",
    # "terminated_on", ...) the load changed;
    fields: Counter = field(default_factory=Counter)
    # (field group, release) -> rows whose differing values the load did not apply,
    # because that newer release had set them;
    kept: Counter = field(default_factory=Counter)
    # and unchanged rows it confirmed, now recorded as of its release.
    redated: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def lines(self, release_names: dict | None = None) -> list[str]:
        """Headline counts, then indented details. release_names: what to call a
        release (a date) in the details, e.g. the dataset it came from."""
        out = [
            f"read {self.read:,}",
            f"new {self.new:,}",
            f"changed {self.changed:,}",
            f"unchanged {self.unchanged:,}",
            f"terminated {self.terminated:,}",
            f"repaired {self.repaired:,}",
            f"rejected {self.rejected_total:,}",
        ]
        out += [f"  {count:,} {reason}" for reason, count in self.rejected.most_common()]
        out += [f"  {name} changed: {count:,}" for name, count in self.fields.items() if count]
        order = list(KEPT_NEWER)
        for (group, release), count in sorted(
            self.kept.items(), key=lambda item: (order.index(item[0][0]), str(item[0][1]))
        ):
            line = (
                f"  kept the newer {KEPT_NEWER[group]} of {count:,} "
                f"postcode{'' if count == 1 else 's'}, from the {release} release"
            )
            if release_names and release in release_names:
                line += f" ({release_names[release]})"
            out.append(line)
        if self.redated:
            out.append(f"  {self.redated:,} unchanged, now recorded as of this release")
        return out


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def codepoint_files(path: Path) -> list[Path]:
    """A Code-Point Open folder (one CSV per postcode area, gzipped or not) or one file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
        if not files:
            raise FileNotFoundError(f"No .csv or .csv.gz files in {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


def iter_codepoint_rows(path: Path) -> Iterator[list[str]]:
    """Rows of one Code-Point Open CSV as lists in CODEPOINT_COLUMNS order.

    Works with or without the header row; extra columns after the ten standard ones
    (as in the Avon and Somerset extract) are ignored.
    """
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        for row in reader:
            if not row:
                continue
            if row[0].strip().lower() == "postcode":
                continue  # header
            yield (row + [""] * len(CODEPOINT_COLUMNS))[: len(CODEPOINT_COLUMNS)]


@dataclass
class PlaceFeature:
    code: str
    name: str
    boundary_bng: MultiPolygon
    properties: dict


def _property(props: dict, name: str):
    """A feature's property, in any case: the ONS's files name LAD23CD as lad23cd in
    one edition and LAD23CD in another."""
    if name in props:
        return props[name]
    folded = name.casefold()
    return next((value for key, value in props.items() if key.casefold() == folded), None)


def read_places_geojson(
    path: Path, *, code_property: str, name_property: str, summary: LoadSummary
) -> list[PlaceFeature]:
    """Features of a WGS84 GeoJSON FeatureCollection, projected to BNG and repaired.

    Invalid geometries are repaired with shapely.make_valid and counted; features with
    no code, no name or no area left after repair are rejected with a reason.
    """
    with _open_text(Path(path)) as handle:
        collection = json.load(handle)
    features = []
    for feature in collection.get("features", []):
        summary.read += 1
        props = feature.get("properties") or {}
        code, name = _property(props, code_property), _property(props, name_property)
        if not code or not name:
            summary.rejected[f"no {code_property} or {name_property}"] += 1
            continue
        try:
            geometry = shape(feature.get("geometry"))
        except (AttributeError, ValueError, TypeError):
            summary.rejected["unreadable geometry"] += 1
            continue
        if not geometry.is_valid:
            geometry = make_valid(geometry)
            summary.repaired += 1
        polygonal = as_multipolygon(geometry)
        if polygonal.is_empty or not isinstance(polygonal, MultiPolygon | Polygon):
            summary.rejected["no area"] += 1
            continue
        features.append(
            PlaceFeature(
                code=str(code),
                name=str(name),
                boundary_bng=as_multipolygon(transform_geometry(polygonal, WGS84, BNG)),
                properties=props,
            )
        )
    return features


def load_places(
    conn, features: list[PlaceFeature], *, kind: str, release: str, summary: LoadSummary
) -> LoadSummary:
    """Upsert places of one kind and release. Does not commit."""
    with conn.cursor() as cur:
        for feature in features:
            cur.execute(
                """
                INSERT INTO places (kind, code, name, release, properties, boundary)
                VALUES (%(kind)s, %(code)s, %(name)s, %(release)s, %(props)s,
                        ST_Multi(ST_GeomFromWKB(%(wkb)s, %(bng)s)))
                ON CONFLICT (kind, code, release) DO UPDATE SET
                    name = EXCLUDED.name, properties = EXCLUDED.properties,
                    boundary = EXCLUDED.boundary
                WHERE places.name IS DISTINCT FROM EXCLUDED.name
                   OR NOT ST_Equals(places.boundary, EXCLUDED.boundary)
                RETURNING (xmax = 0) AS inserted
                """,
                {
                    "kind": kind,
                    "code": feature.code,
                    "name": feature.name,
                    "release": release,
                    "props": json.dumps(feature.properties),
                    "wkb": feature.boundary_bng.wkb,
                    "bng": BNG,
                },
            )
            row = cur.fetchone()
            if row is None:
                summary.unchanged += 1
            elif row[0]:
                summary.new += 1
            else:
                summary.changed += 1
    return summary


# --------------------------------------------------------------------- fitting outlines

# The side of the square a postcode's point is given when its place's outline is
# fitted to it (metres): the point is where every resident of the postcode is placed,
# so any size holds them; a small one changes nothing a map shows.
FIT_SQUARE_M = 2.0

# A postcode's place of each kind, by its codes: a ward by its ward code, a district
# by its district code, a force by its districts (the force's constituent districts,
# as in law). (SQL: `p` is the place, `pc` the postcode.)
_OWN = {
    "ward": "pc.admin_ward_code = p.code",
    "district": "pc.admin_district_code = p.code",
    "force": "pc.admin_district_code IN "
    "(SELECT jsonb_array_elements_text(p.properties->'constituent_lad23cd'))",
}


def fit_places_to_postcodes(conn, *, square_m: float = FIT_SQUARE_M) -> dict[str, int]:
    """Fit each force's, district's and ward's outline to its postcodes. The shipped
    outlines are generalised (200 m and 500 m), and cut off postcodes on the coast
    and along borders: choosing "North Somerset" missed the residents of Weston-super-
    Mare's seafront, and a Wiltshire postcode lay 43 m inside Avon and Somerset (an
    outside check). A postcode of the place outside its outline is added to it (a
    small square round its point, where its residents are placed), and one known to be
    another place's inside it is cut out, so choosing a place reaches exactly the
    residents whose postcodes are in it. A force is fitted only where its districts
    are known (properties' constituent_lad23cd). Counts of squares added and cut, by
    kind; nothing to do, nothing changed (a second run finds none). Does not commit."""
    done: dict[str, int] = {}
    with conn.cursor() as cur:
        for kind in ("force", "district", "ward"):
            known = "p.properties ? 'constituent_lad23cd'" if kind == "force" else "true"
            # Places of a kind do not overlap: a postcode inside another's outline is
            # outside its own, so only those outside their own are looked for there.
            # The fragments put in are this module's constants, never input.
            cur.execute(
                f"""
                WITH outside AS (
                    SELECT p.id AS own_id, pc.location
                    FROM places p JOIN postcodes pc ON {_OWN[kind]}
                    WHERE p.kind = %(kind)s AND {known} AND pc.location IS NOT NULL
                      AND NOT ST_Covers(p.boundary, pc.location)
                ), added AS (
                    SELECT own_id AS id, ST_Union(ST_Expand(location, %(half)s)) AS geom,
                           count(*) AS n
                    FROM outside GROUP BY own_id
                ), cut AS (
                    SELECT p.id, ST_Union(ST_Expand(x.location, %(half)s)) AS geom,
                           count(*) AS n
                    FROM outside x JOIN places p
                      ON p.kind = %(kind)s AND p.id <> x.own_id
                     AND ST_Covers(p.boundary, x.location)
                    GROUP BY p.id
                ), changes AS (
                    SELECT coalesce(a.id, c.id) AS id, a.geom AS added, c.geom AS cut,
                           coalesce(a.n, 0) AS added_n, coalesce(c.n, 0) AS cut_n
                    FROM added a FULL JOIN cut c ON a.id = c.id
                ), fitted AS (
                    UPDATE places p SET boundary = ST_Multi(ST_CollectionExtract(ST_MakeValid(
                        ST_Union(
                            CASE WHEN ch.cut IS NULL THEN p.boundary
                                 ELSE ST_Difference(p.boundary, ch.cut) END,
                            coalesce(ch.added, ST_GeomFromText('POLYGON EMPTY', %(bng)s))
                        )), 3))
                    FROM changes ch WHERE p.id = ch.id
                    RETURNING ch.added_n, ch.cut_n
                )
                SELECT coalesce(sum(added_n), 0), coalesce(sum(cut_n), 0) FROM fitted
                """,  # noqa: S608
                {"kind": kind, "half": square_m / 2, "bng": BNG},
            )
            added, cut = cur.fetchone()
            done[f"{kind}_added"], done[f"{kind}_cut"] = int(added), int(cut)
    return done
