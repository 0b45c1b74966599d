"""Who an alert reaches. One query serves the preview and the send, so the number an
officer sees is the number that goes out. Also the small-count rule (suppressed()) and
residents per grid square under it, for the preview's map and the density map."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    TableClause,
    and_,
    column,
    exists,
    func,
    literal,
    select,
    table,
    text,
    tuple_,
)

from app.models import Delivery, InterestGroup, Resident, ResidentChannel, ResidentLocation
from app.models.resident import resident_groups
from geo.projection import BNG, WGS84


@dataclass(frozen=True)
class Audience:
    """Who an alert is for: everyone with a location in `area_wkb` (BNG), or everyone an
    earlier alert reached (`parent_alert_id`, for a follow-up); then only members of
    `groups` (slugs; empty: everyone) on `channels` (empty: every channel)."""

    area_wkb: bytes | None = None
    parent_alert_id: int | None = None
    groups: tuple[str, ...] = field(default=())
    channels: tuple[str, ...] = field(default=())


def suppressed(count: int, min_count: int | None = None) -> int | None:
    """A count of residents (or of their messages) as staff may see it: None when under
    min_count (DENSITY_MIN_COUNT unless given). Every figure about people reached goes
    through here, so one rule decides what is small; 0 is hidden too, or "hidden" would
    mean "someone is registered here"."""
    if min_count is None:
        min_count = current_app.config["DENSITY_MIN_COUNT"]
    return count if count >= min_count else None


def area_param(area_wkb: bytes):
    return func.ST_GeomFromWKB(literal(area_wkb), BNG)


def _filters(audience: Audience) -> list[ColumnElement]:
    """Everything but the where: a verified channel the resident has not stopped, of a
    resident who has not paused alerts, in a chosen group, on a chosen channel."""
    conditions: list[ColumnElement] = [
        ResidentChannel.unsubscribed_at.is_(None),
        ResidentChannel.verified_at.is_not(None),
        ~exists().where(
            Resident.id == ResidentChannel.resident_id, Resident.paused_at.is_not(None)
        ),
    ]
    if audience.groups:
        conditions.append(
            exists().where(
                resident_groups.c.resident_id == ResidentChannel.resident_id,
                resident_groups.c.group_id == InterestGroup.id,
                InterestGroup.slug.in_(audience.groups),
            )
        )
    if audience.channels:
        conditions.append(ResidentChannel.channel.in_(audience.channels))
    return conditions


def _in_audience(audience: Audience) -> list[ColumnElement]:
    conditions = _filters(audience)
    if audience.parent_alert_id is not None:
        conditions.append(
            exists().where(
                Delivery.alert_id == audience.parent_alert_id,
                Delivery.resident_id == ResidentChannel.resident_id,
                # Not those whose message was cancelled before it went.
                Delivery.status != "cancelled",
            )
        )
    else:
        # A location counts when its postcode's centre is inside the area or on its
        # edge; ST_Intersects uses the GiST index on resident_locations.location.
        conditions.append(
            exists().where(
                ResidentLocation.resident_id == ResidentChannel.resident_id,
                func.ST_Intersects(ResidentLocation.location, area_param(audience.area_wkb)),
            )
        )
    return conditions


def targeted_channels(audience: Audience) -> Select:
    """resident_id, channel, address for every channel of every resident in the
    audience, one row per channel and address: a household that registered the same
    phone twice hears the alert once."""
    return (
        select(ResidentChannel.resident_id, ResidentChannel.channel, ResidentChannel.address)
        .where(and_(*_in_audience(audience)))
        .distinct(ResidentChannel.channel, ResidentChannel.address)
        .order_by(ResidentChannel.channel, ResidentChannel.address, ResidentChannel.resident_id)
    )


def materialise_targets(session, audience: Audience) -> TableClause:
    """The audience's rows (resident_id, channel, address) in a temporary table that
    lasts until the transaction ends: the preview asks four questions of the same rows
    (per channel, per group, where on the map), and finding them is the costly part."""
    compiled = targeted_channels(audience).compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    session.execute(text("DROP TABLE IF EXISTS preview_targets"))
    session.connection().exec_driver_sql(
        f"CREATE TEMP TABLE preview_targets ON COMMIT DROP AS {compiled}", compiled.params
    )
    return table("preview_targets", column("resident_id"), column("channel"), column("address"))


def count_targets(session, audience: Audience, targets=None) -> dict:
    """{"residents": n, "channels": {"sms": n, "voice": n, "email": n}}, in one query:
    the grouping set () adds a row (channel NULL) with the distinct residents.
    `targets`: the audience's rows already found (materialise_targets)."""
    if targets is None:
        targets = targeted_channels(audience).subquery()
    rows = session.execute(
        select(
            targets.c.channel,
            func.count(),
            func.count(func.distinct(targets.c.resident_id)),
        ).group_by(func.grouping_sets(tuple_(targets.c.channel), tuple_()))
    ).all()
    channels = {"sms": 0, "voice": 0, "email": 0}
    residents = 0
    for channel, messages, distinct_residents in rows:
        if channel is None:
            residents = distinct_residents
        else:
            channels[channel] = messages
    return {"residents": residents, "channels": channels}


def count_targets_by_group(session, audience: Audience, targets=None) -> dict[str, int]:
    """Residents reached who belong to each interest group, by slug (every group the
    force offers, 0 when none is reached)."""
    if targets is None:
        targets = targeted_channels(audience).subquery()
    reached = select(func.distinct(targets.c.resident_id).label("resident_id")).subquery()
    rows = session.execute(
        select(InterestGroup.slug, func.count(reached.c.resident_id))
        .select_from(InterestGroup)
        .outerjoin(resident_groups, resident_groups.c.group_id == InterestGroup.id)
        .outerjoin(reached, reached.c.resident_id == resident_groups.c.resident_id)
        .group_by(InterestGroup.slug)
    ).all()
    return dict(rows)


EDGE_M = 100  # "near the edge": within a postcode's typical spread of its centre


def count_near_edge(session, audience: Audience) -> dict[str, int]:
    """Residents whose point is within EDGE_M metres of the area's outline: those just
    inside (included, perhaps a street away from the incident) and just outside (left
    out). Same filters as the send, except the area itself."""
    if audience.area_wkb is None:
        return {"inside": 0, "outside": 0}
    candidates = select(ResidentChannel.resident_id).where(and_(*_filters(audience)))
    area = area_param(audience.area_wkb)
    line = func.ST_Boundary(area)
    inside = func.ST_Intersects(ResidentLocation.location, area)
    counts = session.execute(
        select(
            func.count(func.distinct(ResidentLocation.resident_id)).filter(inside),
            func.count(func.distinct(ResidentLocation.resident_id)).filter(~inside),
        ).where(
            func.ST_DWithin(ResidentLocation.location, line, EDGE_M),
            ResidentLocation.resident_id.in_(candidates),
        )
    ).one()
    return {"inside": counts[0], "outside": counts[1]}


def find_target_cells(
    session, audience: Audience, *, cell_m: int, min_count: int, targets=None
) -> list:
    """Residents reached per national-grid square of cell_m metres, as (residents,
    GeoJSON of the square in WGS84), leaving out squares of fewer than min_count: the
    map shows where an alert lands without pointing at any home. A square shown without
    its count would still say "someone registered is here" (for a small area, that
    they are in it), so small squares are left out altogether, as on the density map."""
    if targets is None:
        targets = targeted_channels(audience).subquery()
    reached = select(func.distinct(targets.c.resident_id).label("resident_id")).subquery()
    return find_grid_squares(
        session, cell_m=cell_m, min_count=min_count, residents=reached, area_wkb=audience.area_wkb
    ).shown


@dataclass(frozen=True)
class GridSquares:
    """Residents per national-grid square. `shown`: (residents, GeoJSON of the square in
    WGS84) for each square suppressed() lets staff see; `hidden`: how many were not."""

    shown: list[tuple[int, str]]
    hidden: int


def find_grid_squares(
    session,
    *,
    cell_m: int,
    min_count: int,
    residents: FromClause | None = None,
    area_wkb: bytes | None = None,
) -> GridSquares:
    """Distinct residents counted per square of cell_m metres of the national grid, by
    where they registered, with the small-count rule applied: the density map (every
    resident) and the officer's preview (`residents`: a subquery of the resident_id
    reached; `area_wkb`: only their locations inside the area, BNG) share it, so both
    hide the same squares. Squares are multiples of cell_m, so they never move between
    requests."""
    i = func.floor(func.ST_X(ResidentLocation.location) / cell_m).label("i")
    j = func.floor(func.ST_Y(ResidentLocation.location) / cell_m).label("j")
    where = []
    if residents is not None:
        where.append(ResidentLocation.resident_id == residents.c.resident_id)
    if area_wkb is not None:
        where.append(func.ST_Intersects(ResidentLocation.location, area_param(area_wkb)))
    cells = (
        select(i, j, func.count(func.distinct(ResidentLocation.resident_id)).label("n"))
        .where(*where)
        .group_by(i, j)
        .subquery()
    )
    envelope = func.ST_MakeEnvelope(
        cells.c.i * cell_m,
        cells.c.j * cell_m,
        (cells.c.i + 1) * cell_m,
        (cells.c.j + 1) * cell_m,
        BNG,
    )
    rows = session.execute(
        select(cells.c.n, func.ST_AsGeoJSON(func.ST_Transform(envelope, WGS84), 6))
    ).all()
    shown = [(n, geometry) for n, geometry in rows if suppressed(n, min_count) is not None]
    return GridSquares(shown=shown, hidden=len(rows) - len(shown))
