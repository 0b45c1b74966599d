"""Who an area reaches. One query serves the preview and the send, so the number an
officer sees is the number that goes out."""

from __future__ import annotations

from sqlalchemy import Select, exists, func, literal, select, tuple_

from app.models import ResidentChannel, ResidentLocation
from geo.projection import BNG


def area_param(area_wkb: bytes):
    return func.ST_GeomFromWKB(literal(area_wkb), BNG)


def targeted_channels(area_wkb: bytes) -> Select:
    """resident_id, channel, address for every channel of every resident with a location
    in the area, one row per channel and address: a household that registered the same
    phone twice hears the alert once. A location counts when its postcode's centre is
    inside the area or on its edge; ST_Intersects uses the GiST index on
    resident_locations.location."""
    in_area = exists().where(
        ResidentLocation.resident_id == ResidentChannel.resident_id,
        func.ST_Intersects(ResidentLocation.location, area_param(area_wkb)),
    )
    return (
        select(ResidentChannel.resident_id, ResidentChannel.channel, ResidentChannel.address)
        .where(in_area, ResidentChannel.unsubscribed_at.is_(None))
        .distinct(ResidentChannel.channel, ResidentChannel.address)
        .order_by(ResidentChannel.channel, ResidentChannel.address, ResidentChannel.resident_id)
    )


def count_targets(session, area_wkb: bytes) -> dict:
    """{"residents": n, "channels": {"sms": n, "voice": n, "email": n}}, in one query:
    the grouping set () adds a row (channel NULL) with the distinct residents."""
    targets = targeted_channels(area_wkb).subquery()
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
