"""Who an alert reaches: the audience a draft describes or a recorded alert stores,
the preview the officer sees before sending, and counts as staff may read them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from psycopg.errors import QueryCanceled
from redis.exceptions import RedisError
from shapely import wkb as shapely_wkb
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app import UK_TIME
from app.dao import outbound as outbound_dao
from app.dao import places as places_dao
from app.dao.audit import create_audit_event
from app.dao.limits import limit_statement_time
from app.dao.targeting import (
    Audience,
    count_targets,
    count_targets_by_group,
    find_target_cells,
    materialise_targets,
    preview_area,
    suppressed,
)
from app.extensions import db
from app.models import CHANNELS, Alert, InterestGroup, Officer
from app.services import authorisation, forces, metrics, teams
from app.services.alerts.drafts import AlertDraft, AlertInvalid
from app.services.alerts.lifecycle import is_test, needs_approval
from app.services.alerts.threads import on_thread_root
from app.services.alerts.timing import finish_estimate
from app.services.counters import count_one
from app.services.transaction import read_only, replica_reads, transaction
from geo.areas import AreaError, area_from_shapes, square_size, wholly_outside
from geo.projection import WGS84

# A follow-up to "the same people" needs an alert that reached (or began to reach) them.
FOLLOWED_UP_STATUSES = ("sending", "sent", "cancelled")


def place_boundary(place_id: int):
    """A place's boundary (BNG) as a shapely geometry, or None."""
    boundary = places_dao.find_place_boundary_wkb(place_id)
    return None if boundary is None else shapely_wkb.loads(boundary)


@dataclass
class Target:
    audience: Audience
    area_wkb: bytes | None
    area_km2: float | None
    # What we changed in the drawn shapes to use them (e.g. closed an outline).
    notes: list[str] = field(default_factory=list)


def resolve_target(
    draft: AlertDraft,
    errors: dict[str, str],
    officer: Officer | None = None,
    hints: dict | None = None,
) -> Target | None:
    """The audience a draft describes, adding what is wrong to `errors`. With the
    officer: a follow-up only of an alert they may see, an area only inside their
    teams' permitted areas (services/teams.py). With `hints`, an area refused for
    its part outside those areas adds "inside_area": the part inside, for the map to
    offer instead."""
    groups = tuple(sorted(set(draft.groups)))
    channels = tuple(sorted(set(draft.channels)))
    unknown_channels = set(channels) - set(CHANNELS)
    if unknown_channels:
        errors["channels"] = gettext("Choose text, voice or e-mail.")
    if groups:
        known = set(db.session.scalars(select(InterestGroup.slug)))
        if set(groups) - known:
            errors["groups"] = gettext("One of the groups no longer exists. Reload the page.")
    force_id = forces.force_id_of(officer)
    parent = _own_force_alert(draft.parent_id, force_id)
    if draft.parent_id is not None and parent is None:
        errors["parent_id"] = gettext(
            "The alert this follows up no longer exists. Start a new alert."
        )
        return None
    if parent is not None and not went(parent):
        # An update of a rejected alert, or one waiting for approval, went to an area
        # at once: residents had an update to an alert they never got, and its public
        # page said "an update to an earlier alert" (an outside check).
        errors["area" if draft.audience == "parent" else "parent_id"] = gettext(
            "The alert this follows up has not been sent: only an alert that went can "
            "have an update or an all-clear. Send this as an alert of its own."
        )
        return None
    if parent is not None and (parent.mode == "exercise") != (draft.mode == "exercise"):
        # A follow-up of an exercise went live unless the box was ticked again, and
        # threaded real messages under the exercise (an outside check).
        errors["mode"] = (
            gettext("It follows up an exercise, so it is one too: tick “This is an exercise”.")
            if parent.mode == "exercise"
            else gettext("It follows up a live alert, so it is live too: untick the exercise box.")
        )
    if draft.audience == "parent":
        if draft.parent_id is None:
            # Said of no alert at all, "the alert this follows up has not been sent"
            # misled (an outside check).
            errors["area"] = gettext(
                "Only a follow-up goes to the residents an alert reached: choose an area."
            )
            return None
        area_wkb = stored_area_wkb(parent.id)
        if officer is not None and (refusal := _follow_up_refusal(officer, parent, area_wkb)):
            errors["area"] = refusal
            return None
        audience = Audience(
            parent_alert_id=parent.id, force_id=parent.force_id, groups=groups, channels=channels
        )
        return Target(audience, area_wkb, None)
    followed = parent is not None and officer is not None
    if followed and not authorisation.may(officer, "alert.follow_up", parent):
        errors["parent_id"] = str(_OTHER_TEAMS)
        return None
    notes: list[str] = []
    try:
        area = area_from_shapes(draft.shapes, place_boundary=place_boundary, notes=notes)
    except AreaError as refusal:
        errors["area"] = said(refusal.words)
        if hints is not None and isinstance(refusal.words.values.get("number"), int):
            hints["shape"] = refusal.words.values["number"]  # the list marks it
        return None
    notes = [said(note) for note in notes]
    if officer is not None:
        outside = teams.area_refusal(officer, area.wkb)
        if outside is not None:
            errors["area"] = outside
            if hints is not None:
                inside = teams.inside_part(officer, area.wkb)
                if inside is not None:
                    hints["inside_area"] = inside
            return None
    audience = Audience(area_wkb=area.wkb, force_id=force_id, groups=groups, channels=channels)
    return Target(audience, area.wkb, round(area.area / 1e6, 3), notes)


def said(words: str) -> str:
    """What the geo library said (geo.areas.Words), in the page's language."""
    template = getattr(words, "template", None)
    if template is None:
        return str(words)
    # A value may be words too ("text (…)"): said in the page's language as well.
    return gettext(template, **{key: said(value) for key, value in words.values.items()})


def follow_up_refusal(officer: Officer, alert: Alert) -> str | None:
    """Why this officer may not send an update or the all-clear to the people this
    alert reached, or None if they may: the alert's page offers only what the send
    would take."""
    return _follow_up_refusal(officer, alert, stored_area_wkb(alert.id))


def _follow_up_refusal(officer: Officer, alert: Alert, area_wkb: bytes | None) -> str | None:
    if not authorisation.may(officer, "alert.follow_up", alert):
        return str(_OTHER_TEAMS)
    return teams.follow_up_refusal(officer, alert, area_wkb)


def went(alert: Alert | None) -> bool:
    """Whether an alert went to residents (or is going), so may be followed up: not a
    test, nor one rejected, waiting for approval or its time, or cancelled before."""
    return (
        alert is not None
        and not is_test(alert)
        and alert.sent_at is not None
        and alert.status in FOLLOWED_UP_STATUSES
    )


def _own_force_alert(alert_id: int | None, force_id: int) -> Alert | None:
    """The alert, if it is of this force: another force's is no alert to follow up."""
    alert = db.session.get(Alert, alert_id) if alert_id is not None else None
    return alert if alert is not None and alert.force_id == force_id else None


_OTHER_TEAMS = _l("That alert is another team's: only its own teams can follow it up.")


def stored_area_wkb(alert_id: int) -> bytes | None:
    """The area a recorded alert was resolved to (BNG), as WKB."""
    found = db.session.scalar(select(func.ST_AsBinary(Alert.area)).where(Alert.id == alert_id))
    return bytes(found) if found is not None else None


def stored_area_geojson(alert_id: int) -> str | None:
    """The area a recorded alert was resolved to, as GeoJSON in WGS84 for the map."""
    return db.session.scalar(
        select(func.ST_AsGeoJSON(func.ST_Transform(Alert.area, WGS84), 5)).where(
            Alert.id == alert_id
        )
    )


def audience_of(alert: Alert) -> Audience:
    """Who a recorded alert is for: its stored area (or the residents its parent
    reached) with the groups and channels it was limited to."""
    filters = alert.filters or {}
    return Audience(
        area_wkb=stored_area_wkb(alert.id),
        parent_alert_id=alert.parent_id if alert.audience == "parent" else None,
        force_id=alert.force_id,
        groups=tuple(filters.get("groups") or ()),
        channels=tuple(filters.get("channels") or ()),
    )


def hidden_label() -> str:
    """What staff see instead of a count under DENSITY_MIN_COUNT (in the page's language)."""
    return gettext("fewer than %(count)s", count=current_app.config["DENSITY_MIN_COUNT"])


def count_label(count: int) -> str:
    """A count of people as staff may read it: "1,234", or "fewer than 5"."""
    shown = suppressed(count)
    return hidden_label() if shown is None else f"{shown:,}"


def recipients_label(alert: Alert) -> str:
    """How many residents an alert is for, as staff may read it. Until it goes, the
    expected count of a pending or scheduled alert is a preview, small counts hidden;
    once sent, the real number (the delivery ledger is personal data under audit)."""
    count = alert.recipient_count or 0
    return f"{count:,}" if alert.sent_at is not None else count_label(count)


def recipients_phrase(alert: Alert) -> str:
    """recipients_label with its noun: "1 resident", "2,000 residents", "fewer than 5
    residents"."""
    label = recipients_label(alert)
    # In the page's language: a Welsh page said "31 residents" (an outside check).
    return gettext("1 resident") if label == "1" else gettext("%(count)s residents", count=label)


def preview_targets(draft: AlertDraft, officer: Officer | None = None) -> dict:
    """Residents reached per channel and per group, residents near the edge, where they
    are (in squares, never a home), and how much of the area is outside the force.
    Every count under min_count is null and shown as hidden_label ("fewer than 5"):
    a tiny area round one postcode must not say that someone there is registered.
    With the officer, an area outside their teams' permitted areas is refused with a
    message saying which areas they may send to, and the answer carries
    "permitted_area": those areas' outline for the map (None: anywhere in the force).
    Raises AlertInvalid."""
    started = time.perf_counter()
    # An area is counted on the read replica, if there is one; a follow-up to the same
    # people on the primary (it gathers them in a temporary table, which a replica's
    # read-only session cannot make).
    reads = read_only() if draft.audience == "parent" else replica_reads()
    with reads:
        draft = on_thread_root(draft)
        errors: dict[str, str] = {}
        hints: dict = {}
        target = resolve_target(draft, errors, officer, hints)
        if errors or target is None:
            raise AlertInvalid(errors, hints)

        try:
            found = _preview(draft, target)
        except OperationalError as error:
            if not isinstance(error.orig, QueryCanceled):
                raise
            raise AlertInvalid({"area": str(TOO_SLOW_TO_COUNT)}, hints) from None
        if officer is not None:
            found["permitted_area"] = teams.permitted_area_geojson(officer)
    kind = "area" if target.audience.area_wkb is not None else "same people"
    metrics.observe("preview_seconds", [(kind, time.perf_counter() - started)])
    if officer is not None:
        _count_preview(officer)
    return found


def _count_preview(officer: Officer) -> None:
    """Record every PREVIEW_AUDIT_EVERY-th preview an officer makes in a day (UK time)
    as an audit event. The counts are exact, as an officer needs them, so two areas a house
    apart tell whether someone there is registered: the "fewer than 5" rule holds within
    a preview, not across two. Nobody is stopped (previews are how an officer works,
    each move of a shape one), but mapping a town so takes thousands, and a run of them
    is then in the log with who made it. A day, not an hour: counted by the clock hour,
    199 previews an hour were never recorded (a review). With Redis away, previews are
    not counted."""
    every = current_app.config["PREVIEW_AUDIT_EVERY"]
    if every <= 0:
        return
    key = f"previews:{officer.id}:{datetime.now(UK_TIME):%Y%m%d}"
    try:
        made = count_one(key, keep_seconds=2 * 24 * 3600)
    except RedisError:
        return
    if made % every == 0:
        with transaction():
            create_audit_event(
                "officer.previewed_many",
                actor_id=officer.id,
                subject_type="officer",
                subject_id=officer.id,
                details={"previews_today": made},
            )


# PREVIEW_TIMEOUT_SECONDS passed: an outline of many close turns (a star of 2,000
# points took 6 s each time; the send itself is not slowed so).
TOO_SLOW_TO_COUNT = _l(
    "This area took too long to count: its outline has many corners close together."
    " Draw it with fewer corners, or as a few simpler shapes."
)


def _preview(draft: AlertDraft, target: Target) -> dict:
    config = current_app.config
    limit_statement_time(db.session, config["PREVIEW_TIMEOUT_SECONDS"] * 1000)
    min_count = config["DENSITY_MIN_COUNT"]
    audience = target.audience
    cell_m = config["PREVIEW_CELL_M"]
    if target.area_wkb is not None:
        cell_m = square_size(target.area_wkb, cell_m, config["PREVIEW_CELLS_ACROSS"])
    if audience.area_wkb is not None:
        area = preview_area(db.session, audience, cell_m=cell_m, min_count=min_count)
        counts = {"residents": area.residents, "channels": area.channels}
        groups, cells = area.groups, area.cells
        edge = {side: suppressed(n) for side, n in area.near_edge.items()}
        outside = area.outside_km2
    else:  # a follow-up to the same people: no area, so no edge
        found = materialise_targets(db.session, audience)
        counts = count_targets(db.session, audience, found)
        groups = count_targets_by_group(db.session, audience, found)
        cells = find_target_cells(
            db.session, audience, cell_m=cell_m, min_count=min_count, targets=found
        )
        edge = None
        outside = (
            None
            if target.area_wkb is None
            else places_dao.area_outside_km2(audience.force_id, target.area_wkb)
        )
    residents = suppressed(counts["residents"])
    channels = {channel: suppressed(n) for channel, n in counts["channels"].items()}
    shown = {
        "residents": residents,
        "channels": channels,
        # When the last message would go: the provider limits and the queue waiting.
        "finish": finish_estimate(channels),
        "groups": {slug: suppressed(n) for slug, n in groups.items()},
        "near_edge": edge,
        "cells": [{"residents": n, "geometry": geometry} for n, geometry in cells],
        "cell_m": cell_m,
        "min_count": min_count,
        "hidden_label": hidden_label(),
        "area_km2": target.area_km2,
        "outside_force_km2": 0.0 if outside is None else round(outside, 3),
        # All of it (an outside check: the map said "fewer than 5" and offered Send,
        # which could only answer "nobody"). Not refused: a few of the force's
        # postcodes lie just past its drawn boundary, and a count stays a count.
        "wholly_outside_force": wholly_outside(target.area_km2, outside),
        # What we changed in the drawn shapes (an open outline closed), to show.
        "notes": target.notes,
        # From the count as shown: a threshold under min_count would otherwise tell which
        # side of it a hidden count lies. The send applies the rule to the real count.
        "needs_approval": needs_approval(draft.category, residents or 0),
    }
    if draft.category == "all_clear" and draft.parent_id is not None:
        # An all-clear stops what of its thread has not gone yet (those residents get
        # the all-clear alone): said before it is sent (a whole urgent incident, 357
        # messages, was stopped so, and its officer was not told: an outside check).
        # Counted to STOPS_COUNTED_TO: more is said as "more than". Exact below 5: a
        # sent alert's messages, which its own page counts exactly, not an area's.
        shown["stops_unsent"] = outbound_dao.count_unsent_before_all_clear(
            draft.parent_id, STOPS_COUNTED_TO
        )
        shown["stops_counted_to"] = STOPS_COUNTED_TO
    return shown


# How far an all-clear's preview counts the messages of its alert it would stop.
STOPS_COUNTED_TO = 10_000
