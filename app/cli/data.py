"""flask geo ...: load postcodes and boundaries."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from tqdm import tqdm

from app.cli.basemap import build_basemap
from app.extensions import db
from app.models import DataLoad
from app.services.penetration import PopulationLoadError, describe_load, load_population
from geo.loaders import LoadSummary, fit_places_to_postcodes, load_places, read_places_geojson
from geo.names import NamesSummary, load_named_places, read_named_places_file
from geo.postcode_loader import (
    PostcodeFileError,
    load_codepoint,
    load_onspd,
    parse_release,
    release_from_name,
)

geo_cli = AppGroup("geo", help="Load postcodes, boundaries and street names; build the base map.")
geo_cli.add_command(build_basemap)

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "postcodes"


@dataclass(frozen=True)
class PlacesFile:
    path: str
    kind: str
    code_property: str
    name_property: str
    release: str


# What the product ships (see data/postcodes/README.md): Code-Point Open for the
# postcode areas that touch the demo force, and the ONS boundaries.
SHIPPED_CODEPOINT = "codepoint_open"
# Which edition it is decides what a later ONSPD or Code-Point load may overwrite. The
# source does not name the edition; it was taken in October 2025 and holds codes from
# 2024-25, so it is taken to be the edition current then.
SHIPPED_CODEPOINT_RELEASE = date(2025, 10, 1)
SHIPPED_PLACES = (
    PlacesFile("lad_may2023_uk_buc.geojson", "district", "lad23cd", "lad23nm", "2023-05"),
    PlacesFile(
        "wards_dec2023_avon_and_somerset_bsc.geojson", "ward", "wd23cd", "wd23nm", "2023-12"
    ),
    PlacesFile(
        "pfa_avon_and_somerset_from_lad_may2023_buc.geojson",
        "force",
        "pfa_code",
        "pfa_name",
        "2023-05",
    ),
    # The demo's second force, beside the first (`flask forces add` makes it one).
    PlacesFile(
        "pfa_wiltshire_from_lad_may2023_buc.geojson", "force", "pfa_code", "pfa_name", "2023-05"
    ),
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _already_loaded(dataset: str, sha: str, release: date | None = None) -> bool:
    query = select(DataLoad.id).where(DataLoad.dataset == dataset, DataLoad.sha256 == sha)
    if release is not None:
        # Loaded as another release, or before releases were recorded: load it again,
        # so the table records the release its fields came from (unchanged values are
        # only re-dated).
        query = query.where(DataLoad.summary["release"].astext == release.isoformat())
    return db.session.scalar(query) is not None


def _record_load(dataset: str, sha: str, summary: LoadSummary, release: date | None = None) -> None:
    recorded = _as_dict(summary, release)
    existing = db.session.scalar(
        select(DataLoad).where(DataLoad.dataset == dataset, DataLoad.sha256 == sha)
    )
    if existing is None:
        db.session.add(DataLoad(dataset=dataset, sha256=sha, summary=recorded))
    else:  # a forced reload of the same file
        existing.summary = recorded
        existing.loaded_at = func.now()


def _raw_connection():
    """The psycopg connection under the session's, in the session's transaction."""
    return db.session.connection().connection.driver_connection


def _release_names() -> dict[date, str]:
    """The datasets loaded of each release, to name the releases a load gave way to."""
    names: dict[date, list[str]] = {}
    for dataset, summary in db.session.execute(
        select(DataLoad.dataset, DataLoad.summary).order_by(DataLoad.loaded_at)
    ):
        if (summary or {}).get("release"):
            names.setdefault(parse_release(summary["release"]), []).append(dataset)
    return {release: ", ".join(dict.fromkeys(found)) for release, found in names.items()}


def _report(title: str, summary: LoadSummary) -> None:
    lines = summary.lines(_release_names() if summary.kept else None)
    headline = [line for line in lines if not line.startswith(" ")]
    click.echo(f"{title}: " + ", ".join(headline))
    for line in lines:
        if line.startswith(" "):
            click.echo(line)


@contextmanager
def _nothing_loaded_unless_read(path: Path) -> Iterator[None]:
    """A file that cannot be read says so in a line, with its name, and leaves nothing
    written: a file not in UTF-8, a line too long for CSV or GeoJSON cut short gave a
    Python traceback (an outside check)."""
    try:
        yield
    except (
        UnicodeDecodeError,
        csv.Error,
        json.JSONDecodeError,
        PostcodeFileError,
        EOFError,
        gzip.BadGzipFile,
    ) as error:
        db.session.rollback()
        raise click.ClickException(f"{_why_unreadable(path, error)} Nothing was loaded.") from None


def _why_unreadable(path: Path, error: Exception) -> str:
    name = path.name
    if isinstance(error, UnicodeDecodeError):
        saved_as = "UTF-8 (CSV UTF-8)" if path.suffix.lower() in (".csv", ".gz") else "UTF-8"
        return (
            f"{name} is not UTF-8 text (it holds the byte 0x{error.object[error.start]:02x}"
            f", another encoding's): save it as {saved_as} and load it again."
        )
    if isinstance(error, csv.Error):
        return f"{name} cannot be read as CSV ({error})."
    if isinstance(error, json.JSONDecodeError):
        return (
            f"{name} is not GeoJSON, or is cut short ({error.msg}, line {error.lineno} "
            f"column {error.colno})."
        )
    if isinstance(error, (EOFError, gzip.BadGzipFile)):
        return f"{name} is cut short or not the gzip file its name says ({error})."
    said = str(error)
    return said if said.endswith((".", "?", "!")) else f"{said}."


def _refuse_when_nothing_taken(path: Path, summary: LoadSummary) -> None:
    """A file none of whose rows was taken is neither loaded nor recorded as loaded, and
    the command fails: --code-property LAD23CD read nothing of a file whose properties
    are lad23cd, exited 0, and the load with the right option was then skipped as
    "already loaded" (an outside check of the install)."""
    if summary.read and summary.rejected_total < summary.read:
        return
    db.session.rollback()
    if not summary.read:
        raise click.ClickException(f"{path.name} holds nothing to load. Nothing was loaded.")
    reasons = "; ".join(f"{count:,} {why}" for why, count in summary.rejected.most_common(3))
    raise click.ClickException(
        f"{path.name} holds nothing the load could take: all {summary.read:,} were refused "
        f"({reasons}). Give the right options and load it again. Nothing was loaded."
    )


def run_postcode_load(
    path: Path, *, dataset: str, loader, release: date, force: bool = False, **options
) -> LoadSummary | None:
    """Run a postcode loader with a progress bar, record it, print its summary.

    release: the date of the edition loaded; a field is replaced only by a release at
    least as new as the one that set it.
    """
    sha = _sha256(path)
    if not force and _already_loaded(dataset, sha, release):
        click.echo(f"{dataset}: already loaded, unchanged")
        return None
    disable = not os.isatty(2)
    with (
        _nothing_loaded_unless_read(path),
        tqdm(desc=f"Loading {path.name}", unit=" rows", unit_scale=True, disable=disable) as bar,
    ):
        summary = loader(
            _raw_connection(),
            path,
            source=dataset,
            release=release,
            progress=bar.update,
            **options,
        )
    _refuse_when_nothing_taken(path, summary)
    _record_load(dataset, sha, summary, release)
    db.session.commit()
    _report(f"{dataset} (release {release.isoformat()})", summary)
    return summary


def run_codepoint_load(
    path: Path, *, dataset: str, release: date = SHIPPED_CODEPOINT_RELEASE, force: bool = False
) -> LoadSummary | None:
    return run_postcode_load(
        path, dataset=dataset, loader=load_codepoint, release=release, force=force
    )


def _release(path: Path, given: str | None, product: str) -> date:
    """The --release given, else the month in the file or folder name."""
    if given:
        try:
            return parse_release(given)
        except ValueError:
            raise click.BadParameter(
                f"{given!r} is not YYYY-MM or YYYY-MM-DD", param_hint="--release"
            ) from None
    found = release_from_name(path.name)
    if found is None:
        raise click.UsageError(
            f"Which {product} edition is {path.name}? Give --release YYYY-MM: a field is only "
            "replaced by a release at least as new as the one that set it."
        )
    return found


RELEASE_OPTION = click.option(
    "--release",
    help="Release date of the edition, YYYY-MM or YYYY-MM-DD (default: the month in the "
    "file name, as in ONSPD_AUG_2024_UK.csv). Newer releases win, field by field.",
)


def run_places_load(path: Path, spec: PlacesFile, *, force: bool = False) -> LoadSummary | None:
    dataset = f"places:{spec.kind}:{path.name}"
    sha = _sha256(path)
    if not force and _already_loaded(dataset, sha):
        click.echo(f"{dataset}: already loaded, unchanged")
        return None
    summary = LoadSummary()
    with _nothing_loaded_unless_read(path):
        features = read_places_geojson(
            path,
            code_property=spec.code_property,
            name_property=spec.name_property,
            summary=summary,
        )
        load_places(
            _raw_connection(), features, kind=spec.kind, release=spec.release, summary=summary
        )
    _refuse_when_nothing_taken(path, summary)
    _record_load(dataset, sha, summary)
    db.session.commit()
    _report(dataset, summary)
    if spec.kind == "force":
        # A force's area changed: every resident place is given its force again.
        from app.services.forces import ForceRefused, reassign_places

        try:
            moved = reassign_places()
        except ForceRefused as refusal:
            raise click.ClickException(f"The boundary is loaded. {refusal}") from None
        if moved:
            click.echo(f"{moved:,} residents' places now belong to another force.")
    return summary


def _as_dict(summary: LoadSummary, release: date | None = None) -> dict:
    recorded = {
        "read": summary.read,
        "new": summary.new,
        "changed": summary.changed,
        "unchanged": summary.unchanged,
        "repaired": summary.repaired,
        "terminated": summary.terminated,
        "rejected": dict(summary.rejected),
    }
    if release is not None:  # a postcode load
        recorded |= {
            "release": release.isoformat(),
            "fields": dict(summary.fields),
            "kept_newer": {
                f"{group} {newer.isoformat() if newer else 'undated'}": count
                for (group, newer), count in summary.kept.items()
            },
            "redated": summary.redated,
        }
    return recorded


@geo_cli.command("load-shipped")
@click.option("--force", is_flag=True, help="Load even files that were loaded before.")
def load_shipped(force: bool) -> None:
    """Load the postcodes and boundaries in data/postcodes/ (skips loaded files)."""
    for spec in SHIPPED_PLACES:
        run_places_load(DATA_DIR / spec.path, spec, force=force)
    run_codepoint_load(
        DATA_DIR / SHIPPED_CODEPOINT,
        dataset="codepoint:shipped",
        release=SHIPPED_CODEPOINT_RELEASE,
        force=force,
    )
    fit_places()


def fit_places() -> dict[str, int]:
    """Fit the forces', districts' and wards' outlines to their postcodes (geo.loaders.
    fit_places_to_postcodes), after any load of either, and say what changed."""
    done = fit_places_to_postcodes(_raw_connection())
    db.session.commit()
    if any(done.values()):
        click.echo(
            "Outlines fitted to their postcodes (the shipped ones are generalised): "
            + ", ".join(
                f"{kind} {done[f'{kind}_added']:,} added and {done[f'{kind}_cut']:,} cut out"
                for kind in ("force", "district", "ward")
            )
        )
    return done


@geo_cli.command("fit-places")
def fit_places_command() -> None:
    """Fit the outlines of forces, districts and wards to their postcodes (run after
    every load; a second run changes nothing)."""
    fit_places()


@geo_cli.command("load-codepoint")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--terminate-missing/--keep-missing",
    default=None,
    help="Mark live postcodes of the loaded areas that the files no longer list as "
    "terminated (default: yes for a folder of area files, no for a single file).",
)
@RELEASE_OPTION
def load_codepoint_command(path: Path, terminate_missing: bool | None, release: str | None) -> None:
    """Load OS Code-Point Open: a folder of per-area CSVs (gzipped or not) or one file."""
    run_postcode_load(
        path,
        dataset=f"codepoint:{path.name}",
        loader=load_codepoint,
        release=_release(path, release, "Code-Point Open"),
        terminate_missing=terminate_missing,
    )
    fit_places()


@geo_cli.command("load-onspd")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@RELEASE_OPTION
def load_onspd_command(path: Path, release: str | None) -> None:
    """Load an ONS Postcode Directory CSV (adds terminated postcodes and their dates)."""
    run_postcode_load(
        path,
        dataset=f"onspd:{path.name}",
        loader=load_onspd,
        release=_release(path, release, "ONSPD"),
    )
    fit_places()


@geo_cli.command("load-places")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", required=True, type=click.Choice(["force", "district", "ward"]))
@click.option("--code-property", required=True, help="GeoJSON property holding the code.")
@click.option("--name-property", required=True, help="GeoJSON property holding the name.")
@click.option("--release", required=True, help="Which release, e.g. 2023-12.")
def load_places_command(path: Path, kind, code_property, name_property, release) -> None:
    """Load named areas from a WGS84 GeoJSON FeatureCollection."""
    spec = PlacesFile(str(path), kind, code_property, name_property, release)
    run_places_load(path, spec)
    fit_places()


@geo_cli.command("load-names")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    help='What every feature is, e.g. "street" (default "place"); with --kind-property, '
    "what those without one are.",
)
@click.option("--kind-property", help="GeoJSON property holding each feature's kind.")
@click.option(
    "--name-property", help="GeoJSON property holding the name (default: name, then NAME1)."
)
@click.option(
    "--area-property",
    "area_properties",
    multiple=True,
    help="GeoJSON property holding the locality it is in; repeat it, the first found wins "
    "(default: area, then OS Open Names' POPULATED_PLACE, DISTRICT_BOROUGH, COUNTY_UNITARY).",
)
@click.option("--release", required=True, help="Which release, e.g. 2025-10.")
def load_names_command(
    path: Path,
    kind: str | None,
    kind_property: str | None,
    name_property: str | None,
    area_properties: tuple[str, ...],
    release: str,
) -> None:
    """Load street and place names (e.g. OS Open Names) for the map's search box, from
    a GeoJSON FeatureCollection in WGS84 or EPSG:27700. Lines and areas become one
    point on them. Loading replaces the names loaded from a file of this name and
    release, in one transaction."""
    release = release.strip()
    if not release or len(release) > 40:
        raise click.BadParameter("give the release, e.g. 2025-10", param_hint="--release")
    summary = NamesSummary()
    try:
        places = read_named_places_file(
            path,
            name_property=name_property,
            kind=kind,
            kind_property=kind_property,
            area_properties=area_properties,
            summary=summary,
        )
    except ValueError as error:  # not GeoJSON, or a kind too long
        raise click.ClickException(str(error)) from None
    if places:
        load_named_places(
            _raw_connection(), places, source=path.name, release=release, summary=summary
        )
        db.session.commit()
    headline, *reasons = summary.lines()
    click.echo(f"names:{path.name} (release {release}): {headline}")
    for line in reasons:
        click.echo(line)
    if not places:
        raise click.ClickException(
            "No names to load: every feature was rejected. The names loaded before are kept."
        )


POPULATION_DIR = Path(__file__).resolve().parents[2] / "data" / "population"
SHIPPED_POPULATION = POPULATION_DIR / "ward_population_mid2022_wards2023_avon_and_somerset.csv.gz"
SHIPPED_FORCE_CODE = "E23000036"  # the demo force, whose wards the shipped estimates are


@geo_cli.command("load-population")
@click.argument(
    "path",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--year",
    type=int,
    help="Year of the mid-year estimates (default: the year in the file name, as in mid2022).",
)
@click.option("--force", is_flag=True, help="Load it even if this file was loaded before.")
def load_population_command(path: Path | None, year: int | None, force: bool) -> None:
    """Load ONS ward population estimates (single year of age; wd23cd, age_0 ... age_89,
    age_90_plus), by default the force's wards shipped in data/population/. Stores
    adults (18+) and all ages per ward code; the year's figures are replaced whole, in
    one transaction, and a bad row loads nothing."""
    from app.services.forces import default_force

    # The force as the forces table holds it (FORCE_CODE makes it, once, at the first
    # migration, and may be gone or changed since: an outside check of the install).
    force_code = default_force().code
    if path is None and force_code != SHIPPED_FORCE_CODE:
        # Another force was given the demo's 185 wards without a word (an outside check).
        raise click.ClickException(
            "The estimates shipped are Avon and Somerset's wards only (the demo force). "
            "Give the ONS ward estimates for England and Wales: flask geo load-population "
            "FILE. Nothing was loaded."
        )
    try:
        load = load_population(
            path or SHIPPED_POPULATION,
            year=year,
            force_code=force_code,
            force=force,
        )
    except PopulationLoadError as error:
        raise click.ClickException(f"{error}. Nothing was loaded.") from None
    for line in describe_load(load):
        click.echo(line)
