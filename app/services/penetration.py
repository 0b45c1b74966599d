"""Reach against population (penetration): confirmed residents per 1,000 adults for
each ward and district of the force, safe to publish inside the force.

Population figures are matched to wards by code: a ward whose code is not in the
population data says "no population figure for this ward code", never 0. Every count
of residents goes through the suppression rule (app/services/suppression.py): no
count under 5, none that could be worked out from a district's total and its other
wards, and no rate from a hidden count.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from flask_babel import gettext

from app.dao import penetration as dao
from app.dao import places as places_dao
from app.extensions import db
from app.models import DataLoad
from app.services import figures, forces
from app.services.population import (
    POPULATION_ATTRIBUTION,
    attribution_shown,
    standard_description,
)
from app.services.suppression import K_MIN, Group, suppress
from app.services.transaction import read_only, replica_reads, transaction
from geo.population import PopulationFileError, read_ward_population, year_from_name

NO_POPULATION = "no population figure for this ward code"
PER = 1000  # residents per 1,000 adults
SORTS = ("rate", "residents", "adults", "name", "district")
ORDERS = ("asc", "desc")
# Light to dark: the palest wards are those where a campaign is wanted.
COLOURS = ("#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d")
HIDDEN_COLOUR = "#9ca3af"
NO_FIGURE_COLOUR = "#ffffff"
UNKNOWN_WARD = "Ward not in the boundary file"
# A district none of whose wards' boundaries is loaded: its adults would be the sum of
# the wards that happen to hold a resident (Cornwall read 83,414 adults, not about
# 470,000, and its rate several times too high: an outside check of the install).
NO_WARDS = (
    "no ward boundaries loaded for this district, so no adults figure "
    "(flask geo load-places --kind ward)"
)


class PopulationLoadError(ValueError):
    """A population file that was not loaded, and why."""


# ---------------------------------------------------------------- loading -----------


@dataclass(frozen=True)
class PopulationLoad:
    dataset: str
    year: int
    wards: int
    lines: int
    merged: dict[str, int]
    force_wards_missing: list[str]
    skipped: bool = False
    # The force's districts none of whose ward boundaries is loaded (NO_WARDS).
    districts_without_wards: tuple[str, ...] = ()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_population(
    path: Path, *, year: int | None = None, force_code: str | None = None, force: bool = False
) -> PopulationLoad:
    """Load a ward population file (geo/population.py's format) in one transaction:
    every row checked first; a bad row names its line and nothing is written. The
    year's figures are replaced as a whole. A file loaded before (same name and
    contents, rows still in place) is skipped unless `force`."""
    year = year or year_from_name(path.name)
    if year is None:
        raise PopulationLoadError(
            f"Which year's estimates is {path.name}? Give --year (e.g. 2022); the file "
            "name does not say (as in ..._mid2022_...)."
        )
    if not 1900 <= year <= 2200:
        raise PopulationLoadError(f"{year} is not a year of population estimates")
    dataset = f"population:{path.name}"
    sha = _sha256(path)
    with transaction():
        existing = dao.find_data_load(db.session, dataset, sha)
        if (
            not force
            and existing is not None
            and (existing.summary or {}).get("year") == year
            and dao.count_population_rows_of_load(db.session, existing.id)
        ):
            summary = existing.summary
            return PopulationLoad(
                dataset, year, summary.get("wards", 0), summary.get("lines", 0), {}, [], True
            )
        try:
            read = read_ward_population(path)
        except PopulationFileError as error:
            raise PopulationLoadError(str(error)) from None
        summary = {
            "year": year,
            "file": path.name,
            "wards": len(read.rows),
            "lines": read.lines,
            "merged": read.merged,
            "description": standard_description(year),
            "attribution": POPULATION_ATTRIBUTION,
        }
        if existing is None:
            existing = DataLoad(dataset=dataset, sha256=sha, summary=summary)
            db.session.add(existing)
            db.session.flush()
        else:
            existing.summary = summary
        dao.replace_ward_population(
            db.session,
            year=year,
            data_load_id=existing.id,
            rows=[(r.ward_code, r.adults, r.all_ages) for r in read.rows],
        )
        missing = _force_wards_missing(force_code, {r.ward_code for r in read.rows})
        unbounded = _districts_without_wards(force_code)
    return PopulationLoad(
        dataset, year, len(read.rows), read.lines, read.merged, missing, False, unbounded
    )


def _districts_without_wards(force_code: str | None) -> tuple[str, ...]:
    if not force_code:
        return ()
    force = places_dao.find_force(force_code)
    districts = (force.properties.get("constituent_lad23cd") or []) if force else []
    bounded = {w.district_code for w in dao.find_wards_of_districts(db.session, districts)}
    return tuple(d for d in districts if d not in bounded)


def _force_wards_missing(force_code: str | None, codes: set[str]) -> list[str]:
    if not force_code:
        return []
    force = places_dao.find_force(force_code)
    districts = (force.properties.get("constituent_lad23cd") or []) if force else []
    wards = dao.find_wards_of_districts(db.session, districts)
    return sorted(w.code for w in wards if w.code not in codes)


# ---------------------------------------------------------------- the report -------


@dataclass(frozen=True)
class PenetrationRow:
    kind: str  # "ward", "district", "force"
    code: str
    name: str
    district_code: str | None
    district_name: str | None
    residents: int | None  # None: hidden
    residents_label: str  # "1,234" or "fewer than 5"
    adults: int | None  # None: no population figure
    rate: float | None  # per 1,000 adults; None: hidden or no figure
    rate_label: str
    note: str | None = None
    colour: str = HIDDEN_COLOUR

    @property
    def status(self) -> str:
        if self.adults is None:
            return "no_population"
        return "hidden" if self.rate is None else "shown"


@dataclass(frozen=True)
class LegendClass:
    colour: str
    label: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class PenetrationReport:
    year: int | None
    population_description: str | None
    attribution: str
    force_name: str | None
    force: PenetrationRow | None
    districts: list[PenetrationRow]
    wards: list[PenetrationRow]
    legend: list[LegendClass]
    outside_label: str  # confirmed residents the report places in no ward of the force
    k: int = K_MIN
    bounds: list | None = None
    missing_codes: list[str] = field(default_factory=list)
    counted_at: datetime | None = None  # when the residents per ward were counted

    @property
    def has_population(self) -> bool:
        return self.year is not None


def _no_population() -> str:
    return gettext("no population figure for this ward code")


def _rate_label(rate: float | None, adults: int | None, k: int) -> str:
    if adults is None:
        return _no_population()
    if rate is None:
        return gettext("not shown (fewer than %(k)s residents, or hidden to protect one)", k=k)
    return f"{rate:,.1f}"


def penetration_report(force_code: str, *, k: int = K_MIN) -> PenetrationReport:
    """Every ward and district of the force with its confirmed residents, adults and
    rate per 1,000 adults, suppressed for publication; wards ranked lowest first."""
    counted_at = figures.fresh("wards")
    with replica_reads(figures.replica_has("wards", counted_at)):
        force = places_dao.find_force(force_code)
        districts = (force.properties.get("constituent_lad23cd") or []) if force else []
        # Other forces' residents are theirs: neither this force's nor "outside" it.
        others = {
            d
            for area in forces.areas_of_every_force()
            if area.code != force_code
            for d in area.properties.get("constituent_lad23cd") or []
        }
        wards = {w.code: w for w in dao.find_wards_of_districts(db.session, districts)}
        counted = dao.count_confirmed_residents_by_ward(db.session)
        unknown = {code for code, _, _ in counted if code and code not in wards}
        known_elsewhere = dao.find_ward_places(db.session, unknown)
        edition, population = dao.find_latest_population(db.session)
        district_names = dao.find_district_names(db.session, districts)
        force_name = force.name if force else None
        bounds = places_dao.find_force_bounds_wgs84(force) if force else None

    # Residents per ward of the force. A ward code the boundaries do not list (a ward
    # created since) is still a row of its district, named by its code.
    per_ward: dict[str, int] = {code: 0 for code in wards}
    ward_district: dict[str, str | None] = {c: w.district_code for c, w in wards.items()}
    outside = 0
    for code, postcode_district, n in counted:
        district = wards[code].district_code if code in wards else None
        if district is None and code in known_elsewhere:
            district = known_elsewhere[code].district_code
        district = district or postcode_district
        if district in others:
            continue
        if code is None or district not in districts:
            outside += n
            continue
        per_ward[code] = per_ward.get(code, 0) + n
        ward_district.setdefault(code, district)

    force_key = ("force", force_code)
    values: dict = {force_key: sum(per_ward.values())}
    for d in districts:
        values[("district", d)] = sum(n for c, n in per_ward.items() if ward_district[c] == d)
    for code, n in per_ward.items():
        values[("ward", code)] = n
    groups = [Group(force_key, tuple(("district", d) for d in districts))]
    for d in districts:
        parts = tuple(("ward", c) for c in per_ward if ward_district[c] == d)
        groups.append(Group(("district", d), parts))
    table = suppress(values, groups, k=k)

    missing = sorted(c for c in per_ward if c not in population)

    def row(kind, code, name, district_code, adults, note=None) -> PenetrationRow:
        key = (kind, code)
        rate = table.rate(key, adults, scale=PER) if adults is not None else None
        return PenetrationRow(
            kind=kind,
            code=code,
            name=name,
            district_code=district_code,
            district_name=district_names.get(district_code) if district_code else None,
            residents=table.shown(key),
            residents_label=table.label(key),
            adults=adults,
            rate=rate,
            rate_label=_rate_label(rate, adults, k),
            note=note,
        )

    ward_rows = []
    for code in per_ward:
        adults = population.get(code, (None, None))[0]
        place = wards.get(code) or known_elsewhere.get(code)
        name = place.name if place else f"{UNKNOWN_WARD} ({code})"
        ward_rows.append(row("ward", code, name, ward_district[code], adults))

    unbounded = [d for d in districts if not any(w.district_code == d for w in wards.values())]

    def area_adults(codes: list[str], within: list[str]) -> tuple[int | None, str | None]:
        if any(d in unbounded for d in within):
            return None, NO_WARDS
        lacking = [c for c in codes if c not in population]
        if lacking:
            return None, (
                f"{NO_POPULATION}: {', '.join(lacking[:3])}"
                + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
                + " (so no rate for the whole area)"
            )
        return sum(population[c][0] for c in codes), None

    district_rows = []
    for d in districts:
        codes = [c for c in per_ward if ward_district[c] == d]
        adults, note = area_adults(codes, [d])
        district_rows.append(row("district", d, district_names.get(d, d), d, adults, note))
    force_row = None
    if force is not None:
        adults, note = area_adults(list(per_ward), districts)
        force_row = row("force", force_code, force_name, None, adults, note)

    legend = _legend([r.rate for r in ward_rows if r.rate is not None])
    ward_rows = [replace(r, colour=_colour(r, legend)) for r in ward_rows]
    district_rows = [replace(r, colour=_colour(r, legend)) for r in district_rows]
    # The force's total too: it kept the "not shown" grey beside a rate it showed (an
    # outside check).
    force_row = replace(force_row, colour=_colour(force_row, legend)) if force_row else None
    outside_shown = suppress({"outside": outside}, [], k=k)
    return PenetrationReport(
        year=edition.year if edition else None,
        # None for ONS's own: the page says it in its language.
        population_description=(
            edition.summary.get("description")
            if edition and edition.summary.get("description") != standard_description(edition.year)
            else None
        ),
        attribution=attribution_shown(
            (edition.summary.get("attribution") if edition else None) or POPULATION_ATTRIBUTION
        ),
        force_name=force_name,
        force=force_row,
        districts=sort_rows(district_rows),
        wards=sort_rows(ward_rows),
        legend=legend,
        outside_label=outside_shown.label("outside"),
        k=k,
        bounds=bounds,
        missing_codes=missing,
        counted_at=counted_at,
    )


def _legend(rates: list[float]) -> list[LegendClass]:
    """Up to five classes of the shown rates, split at their quantiles (rounded to a
    tenth per 1,000), then the grey and white of hidden and missing figures."""
    classes: list[LegendClass] = []
    if rates:
        ordered = sorted(rates)
        cuts = []
        for i in range(1, len(COLOURS)):
            cut = round(ordered[min(len(ordered) - 1, len(ordered) * i // len(COLOURS))], 1)
            if (not cuts or cut > cuts[-1]) and cut > round(ordered[0], 1):
                cuts.append(cut)
        bounds = [None, *cuts, None]
        for i in range(len(bounds) - 1):
            low, high = bounds[i], bounds[i + 1]
            if low is None and high is None:
                label = gettext("any rate shown")
            elif low is None:
                label = gettext("under %(high)s", high=f"{high:,.1f}")
            elif high is None:
                label = gettext("%(low)s or more", low=f"{low:,.1f}")
            else:
                label = gettext("%(low)s to under %(high)s", low=f"{low:,.1f}", high=f"{high:,.1f}")
            # Spread the colours over the classes there are.
            colour = COLOURS[round(i * (len(COLOURS) - 1) / max(1, len(bounds) - 2))]
            classes.append(LegendClass(colour, label, low, high))
    classes.append(
        # As each such ward's own label: some are hidden to protect another (one of
        # 20 read "fewer than 5": an outside check).
        LegendClass(
            HIDDEN_COLOUR,
            gettext("not shown (fewer than %(k)s residents, or hidden to protect one)", k=K_MIN),
        )
    )
    classes.append(LegendClass(NO_FIGURE_COLOUR, _no_population()))
    return classes


def _colour(row: PenetrationRow, legend: list[LegendClass]) -> str:
    if row.adults is None:
        return NO_FIGURE_COLOUR
    if row.rate is None:
        return HIDDEN_COLOUR
    for band in legend[:-2]:
        if (band.low is None or row.rate >= band.low) and (
            band.high is None or row.rate < band.high
        ):
            return band.colour
    return HIDDEN_COLOUR


def sort_rows(rows: list[PenetrationRow], sort: str = "rate", order: str = "asc") -> list:
    """Rows ordered by a shown figure. Rows without one (hidden or no population) come
    after the ranked rows in either order, by name: where a hidden figure would sit
    among the shown ones would tell roughly what it is."""
    sort = sort if sort in SORTS else "rate"
    descending = order == "desc"
    if sort in ("name", "district"):

        def text_key(r):
            return ((r.district_name or "") if sort == "district" else "", r.name.lower())

        return sorted(rows, key=text_key, reverse=descending)
    figure = {"rate": "rate", "residents": "residents", "adults": "adults"}[sort]
    ranked = [r for r in rows if getattr(r, figure) is not None]
    unranked = [r for r in rows if getattr(r, figure) is None]
    sign = -1 if descending else 1
    ranked.sort(key=lambda r: (sign * getattr(r, figure), r.name.lower()))
    unranked.sort(key=lambda r: r.name.lower())
    return ranked + unranked


def sorted_report(report: PenetrationReport, sort: str, order: str) -> PenetrationReport:
    return replace(
        report,
        wards=sort_rows(report.wards, sort, order),
        districts=sort_rows(report.districts, sort, order),
    )


def penetration_geojson(force_code: str, simplify_m: float = 40) -> dict:
    """The wards as a GeoJSON FeatureCollection (WGS84) with only what the page may
    show: suppressed counts and rates, the class colour, and the population year."""
    report = penetration_report(force_code)
    by_code = {r.code: r for r in report.wards}
    with read_only():
        outlines = places_dao.find_places_geojson("ward", simplify_m)
    features = []
    for outline in outlines:
        found = by_code.get(outline["code"])
        if found is None:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": found.code,
                    "name": found.name,
                    "district": found.district_name,
                    "residents": found.residents,
                    "residents_label": found.residents_label,
                    "adults": found.adults,
                    "rate": None if found.rate is None else round(found.rate, 1),
                    "rate_label": found.rate_label,
                    "status": found.status,
                    "colour": found.colour,
                },
                "geometry": json.loads(outline["geometry"]),
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "year": report.year,
        "attribution": report.attribution,
        "min_count": report.k,
        "legend": [{"colour": c.colour, "label": c.label} for c in report.legend],
    }


def describe_load(load: PopulationLoad) -> list[str]:
    """What a load did, for the command line."""
    if load.skipped:
        return [f"{load.dataset}: already loaded (mid-{load.year}), unchanged"]
    lines = [
        f"{load.dataset}: mid-{load.year} estimates for {load.wards:,} wards "
        f"({load.lines:,} lines) loaded"
    ]
    for code, times in sorted(load.merged.items()):
        lines.append(f"  {code} was on {times} lines: their counts were added together")
    if load.force_wards_missing:
        shown = ", ".join(load.force_wards_missing[:10])
        more = len(load.force_wards_missing) - 10
        lines.append(
            f"  {len(load.force_wards_missing)} of the force's wards have no figure in this "
            f"file ({shown}{f' and {more} more' if more > 0 else ''}): the reports will say so"
        )
    if load.districts_without_wards:
        lines.append(
            f"  {len(load.districts_without_wards)} of the force's districts have no ward "
            f"boundaries loaded ({', '.join(load.districts_without_wards[:10])}): their "
            "adults are not known until they are (flask geo load-places --kind ward)"
        )
    return lines
