"""flask geo build-basemap: the vector base map, one PMTiles file, from data we hold."""

from __future__ import annotations

import re
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from shapely import from_wkb

from app import DATA_ATTRIBUTION
from app.dao import basemap as basemap_dao
from app.dao import places as places_dao
from app.extensions import db
from geo.basemap import (
    MAX_ZOOM,
    MIN_ZOOM,
    Layer,
    Place,
    build_pmtiles,
    describe,
    layers_digest,
    read_geojson_layer,
    standard_layers,
)

STANDARD_LAYERS = ("density", "boundaries", "places", "sectors")
# NAME, or NAME:FIRST-LAST (data zooms), then =FILE
LAYER_SPEC = re.compile(
    r"^(?P<name>[a-z][a-z0-9_]*)(?::(?P<first>\d+)-(?P<last>\d+))?=(?P<path>.+)$"
)
HIGHEST_ZOOM = 16  # street detail; beyond it the map stretches the last zoom's tiles


def parse_layer(spec: str) -> tuple[str, int, int, Path]:
    """NAME[:FIRST-LAST]=FILE into (name, first zoom, last zoom, path).

    Raises click.BadParameter with what is wrong.
    """
    found = LAYER_SPEC.match(spec)
    if not found:
        raise click.BadParameter(
            f"{spec!r}: give NAME=FILE or NAME:FIRST-LAST=FILE, e.g. roads:10-14=roads.geojson "
            "(a name of lower-case letters, digits and _)",
            param_hint="--layer",
        )
    name = found["name"]
    if name in STANDARD_LAYERS:
        raise click.BadParameter(
            f"{name!r} is one of the standard layers ({', '.join(STANDARD_LAYERS)}): "
            "choose another name",
            param_hint="--layer",
        )
    first = int(found["first"]) if found["first"] else MIN_ZOOM
    last = int(found["last"]) if found["last"] else MAX_ZOOM
    if not 0 <= first <= last <= HIGHEST_ZOOM:
        raise click.BadParameter(
            f"{spec!r}: zooms run from 0 to {HIGHEST_ZOOM}, the first no more than the last",
            param_hint="--layer",
        )
    path = Path(found["path"])
    if not path.is_file():
        raise click.BadParameter(f"{path} is not a file", param_hint="--layer")
    return name, first, last, path


@click.command("build-basemap")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the PMTiles file (default: BASEMAP_PATH, which the map serves).",
)
@click.option(
    "--layer",
    "layer_specs",
    multiple=True,
    metavar="NAME[:FIRST-LAST]=FILE",
    help="A GeoJSON FeatureCollection of the force's own (WGS84, or EPSG:27700 named in "
    "its crs), e.g. roads:11-14=roads.geojson or places=names.geojson; zooms are data "
    f"zooms (default {MIN_ZOOM}-{MAX_ZOOM}; the map shows data zoom z at zoom z+1). "
    "Repeat for more layers.",
)
@click.option(
    "--attribution",
    "attributions",
    multiple=True,
    help="What the --layer data's licence asks the map to show, e.g. 'Contains OS data "
    "© Crown copyright and database right 2025'. Repeat for more.",
)
@click.option(
    "--max-zoom",
    type=click.IntRange(0, HIGHEST_ZOOM),
    help=f"The last data zoom to write (default {MAX_ZOOM}, or a --layer's last): fewer "
    "tiles, a smaller file; the map stretches the last zoom's tiles.",
)
@click.option("--force", "rebuild", is_flag=True, help="Build even when the file is up to date.")
@with_appcontext
def build_basemap(
    out: Path | None, layer_specs, attributions, max_zoom: int | None, rebuild: bool
) -> None:
    """Build the vector base map: district and ward outlines and names, postcode
    sectors, shading where postcodes are, and any layers of the force's own."""
    started = time.perf_counter()
    configured = current_app.config.get("BASEMAP_PATH")
    out = out or (Path(configured) if configured else None)
    if out is None:
        raise click.UsageError("Give --out, or set BASEMAP_PATH.")
    extra = [parse_layer(spec) for spec in layer_specs]
    names = [name for name, *_ in extra]
    if len(set(names)) != len(names):
        raise click.BadParameter("each --layer needs a name of its own", param_hint="--layer")
    from app.services.forces import default_force

    # The forces table's, not FORCE_CODE's: that made the first force, once, and may
    # be gone or changed since (an outside check of the install).
    force_code = default_force().code
    force = places_dao.find_force(force_code)
    if force is None:
        raise click.ClickException(
            f"No boundary for the force {force_code}: load it first "
            "(`flask geo load-shipped`, or `flask geo load-places --kind force ...`)."
        )
    layers: list[Layer] = standard_layers(
        force=Place(
            force.kind,
            force.code,
            force.name,
            from_wkb(places_dao.find_place_boundary_wkb(force.id, drawn=True)),
        ),
        districts=basemap_dao.find_force_places(db.session, force, "district"),
        wards=basemap_dao.find_force_places(db.session, force, "ward"),
        postcodes=basemap_dao.find_force_postcodes(db.session, force),
    )
    db.session.remove()  # nothing more to read: don't hold a connection while tiling
    for name, first, last, path in extra:
        try:
            layers.append(read_geojson_layer(path, name, min_zoom=first, max_zoom=last))
        except ValueError as error:  # includes a file that is not JSON
            raise click.BadParameter(f"{path}: {error}", param_hint="--layer") from None
    added = "; ".join(attributions)
    attribution = "; ".join([*DATA_ATTRIBUTION, *attributions])
    digest = layers_digest(layers, attribution=attribution, force=force_code, max_zoom=max_zoom)
    existing = describe(out)
    if not rebuild and existing and existing["metadata"].get("source_digest") == digest:
        click.echo(f"{out}: up to date ({time.perf_counter() - started:.1f} s; --force to rebuild)")
        return
    summary = build_pmtiles(
        out,
        layers,
        name=f"{current_app.config['FORCE_NAME']} base map",
        description="Built by `flask geo build-basemap` from the data Community Alerts holds",
        attribution=attribution,
        metadata={"source_digest": digest, "added_attribution": added, "force_code": force_code},
        max_zoom=max_zoom,
    )
    summary.seconds = time.perf_counter() - started  # the whole command, reading included
    for line in summary.lines():
        click.echo(line)
