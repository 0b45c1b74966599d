"""The public feeds: Atom (English and Welsh), a CAP 1.2 document per alert and a feed
of those, built by app/services/feeds.py from the alerts the public may see.

Readers poll every minute: each document comes with a strong ETag and a Last-Modified
worked out from a small query (references, states, times), so an unchanged feed
costs that query and a 304, never the building of the documents."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from flask import current_app

from app import references
from app.dao import public_alerts as dao
from app.models import Alert
from app.services import feeds, forces
from app.services.transaction import read_only
from app.services.verification import public_url
from geo.names import reading_order

# How many of the newest alerts the feeds carry.
FEED_SIZE = 50


@dataclass(frozen=True)
class FeedDocument:
    etag: str
    last_modified: datetime | None
    media_type: str
    build: Callable[[], bytes]


def feed_source(force=None) -> feeds.FeedSource:
    """The force whose feeds these are (the request's: forces.current_force), or the
    force that sent a neighbour's alert they carry."""
    config = current_app.config
    force = force or forces.current_force()
    site = config["PUBLIC_BASE_URL"].rstrip("/")
    base = site if force.is_default else f"{site}/forces/{force.slug}"
    sender = forces.cap_sender_of(force)
    return feeds.FeedSource(
        name=f"{force.name} Police",
        name_cy=f"Heddlu {force.name_cy or force.name}",  # as Welsh pages name it
        sender=sender,
        base_url=base,
        contact=force.contact,
        contact_cy=force.contact_cy,
        web=force.website or base,
        attribution=f"© {force.name} Police. Open Government Licence v3.0.",
        attribution_cy=f"© Heddlu {force.name_cy or force.name}. Trwydded Llywodraeth Agored v3.0.",
        expires_hours=config["CAP_EXPIRES_HOURS"],
    )


def _state(alert: Alert) -> str:
    if alert.taken_down_at is not None:
        return "withdrawn"
    return "cancelled" if alert.status == "cancelled" else "sent"


def _updated(alert: Alert) -> datetime:
    if alert.taken_down_at is not None:
        return alert.taken_down_at
    return (
        alert.cancelled_at if alert.status == "cancelled" and alert.cancelled_at else alert.sent_at
    )


def _validator_of(alerts: list[Alert]) -> list[SimpleNamespace]:
    """What etag_for and last_modified read, without building anything."""
    return [
        SimpleNamespace(reference=a.reference, state=_state(a), updated_at=_updated(a))
        for a in alerts
    ]


def _rings(area_geojson: str | None) -> tuple:
    if not area_geojson:
        return ()
    geometry = json.loads(area_geojson)
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    return tuple(tuple(tuple(point) for point in polygon[0]) for polygon in polygons if polygon)


def feed_alert(alert: Alert, cache: dict[int, feeds.FeedAlert] | None = None) -> feeds.FeedAlert:
    """The feed's view of a public alert (and of the alerts up its thread). One taken
    down is withdrawn: its words, area and places are not given (feeds.STATES)."""
    cache = {} if cache is None else cache
    if alert.id in cache:
        return cache[alert.id]
    withdrawn = alert.taken_down_at is not None
    parent = alert.parent if alert.parent is not None and alert.parent.sent_at else None
    # A follow-up to "everyone the first alert reached" has its original's area.
    area_of = alert
    while area_of.area is None and area_of.parent is not None:
        area_of = area_of.parent
    # To the same people without shapes of its own: its original's shapes (an update
    # of a circle was published as an outline of the circle, not the circle).
    shapes_of = area_of
    while shapes_of.audience == "parent" and not shapes_of.shapes and shapes_of.parent:
        shapes_of = shapes_of.parent
    found = feeds.FeedAlert(
        reference=alert.reference,
        title="" if withdrawn else alert.title,
        body="" if withdrawn else alert.body,
        category=alert.category,
        category_label=alert.category_label,
        mode=alert.mode,
        state=_state(alert),
        sent_at=alert.sent_at,
        updated_at=_updated(alert),
        parent=feed_alert(parent, cache) if parent is not None else None,
        shapes=() if withdrawn else tuple(shapes_of.shapes or ()),
        area_polygons=() if withdrawn else _rings(dao.find_area_cover_geojson(area_of.id)),
        area_names=()
        if withdrawn
        else tuple(reading_order(name) for name in dao.find_ward_names(area_of.id)),
        url=public_url("public.alert", reference=alert.reference, **forces.public_values(alert)),
        language=alert.language,
        title_cy=alert.title_cy if alert.title_cy and alert.body_cy and not withdrawn else None,
        body_cy=alert.body_cy if alert.title_cy and alert.body_cy and not withdrawn else None,
        source=(
            feed_source(forces.force_by_id(alert.force_id))
            if alert.force_id != forces.current_force().id
            else None
        ),
    )
    cache[alert.id] = found
    return found


def _feed_of_alerts(kind: str, media_type: str, write, *key: str) -> FeedDocument:
    """A feed of the newest public alerts, built by `write(alerts, source)`; its ETag
    from the alerts' validators, its kind and `key` (its language), and the settings."""
    with read_only():
        # Taken-down alerts too, as withdrawn: a reader that kept one replaces it.
        validators = _validator_of(dao.find_public_since(FEED_SIZE, withdrawn_too=True))

    def build() -> bytes:
        with read_only():
            cache: dict = {}
            chosen = [
                feed_alert(a, cache) for a in dao.find_public_since(FEED_SIZE, withdrawn_too=True)
            ]
            return write(chosen, feed_source())

    return FeedDocument(
        etag=feeds.etag_for(validators, kind, *key, *_settings()),
        last_modified=feeds.last_modified(validators),
        media_type=media_type,
        build=build,
    )


def atom(language: str) -> FeedDocument:
    """The Atom feed of the newest public alerts in English ("en") or Welsh ("cy")."""
    write = functools.partial(feeds.atom_feed, language=language)
    return _feed_of_alerts("atom", "application/atom+xml", write, language)


def rss(language: str) -> FeedDocument:
    """The RSS 2.0 feed of the same alerts as the Atom feed, in English or Welsh."""
    write = functools.partial(feeds.rss_feed, language=language)
    return _feed_of_alerts("rss", "application/rss+xml", write, language)


def cap_index() -> FeedDocument:
    """The feed of the newest alerts' CAP documents."""
    return _feed_of_alerts("cap-feed", "application/atom+xml", feeds.cap_feed)


def cap_document(typed_reference: object) -> FeedDocument | None:
    """The CAP 1.2 document of one public alert, or None when there is no such alert."""
    reference = references.read_reference(typed_reference)
    if reference is None:
        return None
    with read_only():
        # Taken down: its Cancel, without its words (410 left CAP readers with the
        # original, a missing person's name and all).
        alert = dao.find_public_alert(reference, taken_down_too=True)
        if alert is None:
            return None
        validators = _validator_of([alert])

    def build() -> bytes:
        with read_only():
            found = dao.find_public_alert(reference, taken_down_too=True)
            return feeds.cap_document(feed_alert(found), feed_source())

    return FeedDocument(
        etag=feeds.etag_for(validators, "cap", *_settings()),
        last_modified=feeds.last_modified(validators),
        media_type="application/cap+xml",
        build=build,
    )


def _settings() -> tuple[str, ...]:
    """The force's settings that shape the documents: a change to one is a new ETag."""
    source = feed_source()
    return (
        source.name,
        source.name_cy or "",
        source.sender,
        source.base_url,
        source.contact,
        source.contact_cy or "",
        source.web,
    )
