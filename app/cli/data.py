"""flask geo ...: load postcodes and boundaries."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from tqdm import tqdm

from app.extensions import db
from app.models import DataLoad
from geo.loaders import LoadSummary, load_places, read_places_geojson
from geo.postcode_loader import load_codepoint, load_onspd

geo_cli = AppGroup("geo", help="Load postcodes and boundaries.")

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


def _already_loaded(dataset: str, sha: str) -> bool:
    return (
        db.session.scalar(
            select(DataLoad.id).where(DataLoad.dataset == dataset, DataLoad.sha256 == sha)
        )
        is not None
    )


def _record_load(dataset: str, sha: str, summary: LoadSummary) -> None:
    existing = db.session.scalar(
        select(DataLoad).where(DataLoad.dataset == dataset, DataLoad.sha256 == sha)
    )
    if existing is None:
        db.session.add(DataLoad(dataset=dataset, sha256=sha, summary=_as_dict(summary)))
    else:  # a forced reload of the same file
        existing.summary = _as_dict(summary)
        existing.loaded_at = func.now()


def _raw_connection():
    """The psycopg connection under the session's, in the session's transaction."""
    return db.session.connection().connection.driver_connection


def _report(title: str, summary: LoadSummary) -> None:
    lines = summary.lines()
    headline = [line for line in lines if not line.startswith(" ")]
    click.echo(f"{title}: " + ", ".join(headline))
    for line in lines:
        if line.startswith(" "):
            click.echo(line)


def run_postcode_load(
    path: Path, *, dataset: str, loader, force: bool = False, **options
) -> LoadSummary | None:
    """Run a postcode loader with a progress bar, record it, print its summary."""
    sha = _sha256(path)
    if not force and _already_loaded(dataset, sha):
        click.echo(f"{dataset}: already loaded, unchanged")
        return None
    disable = not os.isatty(2)
    with tqdm(desc=f"Loading {path.name}", unit=" rows", unit_scale=True, disable=disable) as bar:
        summary = loader(_raw_connection(), path, source=dataset, progress=bar.update, **options)
    _record_load(dataset, sha, summary)
    db.session.commit()
    _report(dataset, summary)
    return summary


def run_codepoint_load(path: Path, *, dataset: str, force: bool = False) -> LoadSummary | None:
    return run_postcode_load(path, dataset=dataset, loader=load_codepoint, force=force)


def run_places_load(path: Path, spec: PlacesFile, *, force: bool = False) -> LoadSummary | None:
    dataset = f"places:{spec.kind}:{path.name}"
    sha = _sha256(path)
    if not force and _already_loaded(dataset, sha):
        click.echo(f"{dataset}: already loaded, unchanged")
        return None
    summary = LoadSummary()
    features = read_places_geojson(
        path, code_property=spec.code_property, name_property=spec.name_property, summary=summary
    )
    load_places(_raw_connection(), features, kind=spec.kind, release=spec.release, summary=summary)
    _record_load(dataset, sha, summary)
    db.session.commit()
    _report(dataset, summary)
    return summary


def _as_dict(summary: LoadSummary) -> dict:
    return {
        "read": summary.read,
        "new": summary.new,
        "changed": summary.changed,
        "unchanged": summary.unchanged,
        "repaired": summary.repaired,
        "terminated": summary.terminated,
        "rejected": dict(summary.rejected),
    }


@geo_cli.command("load-shipped")
@click.option("--force", is_flag=True, help="Load even files that were loaded before.")
def load_shipped(force: bool) -> None:
    """Load the postcodes and boundaries in data/postcodes/ (skips loaded files)."""
    for spec in SHIPPED_PLACES:
        run_places_load(DATA_DIR / spec.path, spec, force=force)
    run_codepoint_load(DATA_DIR / SHIPPED_CODEPOINT, dataset="codepoint:shipped", force=force)


@geo_cli.command("load-codepoint")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--terminate-missing/--keep-missing",
    default=None,
    help="Mark live postcodes of the loaded areas that the files no longer list as "
    "terminated (default: yes for a folder of area files, no for a single file).",
)
def load_codepoint_command(path: Path, terminate_missing: bool | None) -> None:
    """Load OS Code-Point Open: a folder of per-area CSVs (gzipped or not) or one file."""
    run_postcode_load(
        path,
        dataset=f"codepoint:{path.name}",
        loader=load_codepoint,
        terminate_missing=terminate_missing,
    )


@geo_cli.command("load-onspd")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load_onspd_command(path: Path) -> None:
    """Load an ONS Postcode Directory CSV (adds terminated postcodes and their dates)."""
    run_postcode_load(path, dataset=f"onspd:{path.name}", loader=load_onspd)


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
