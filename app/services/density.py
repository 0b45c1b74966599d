"""Resident density in squares of the national grid, safe to publish inside the force.

What the map shows, for everyone or for one filter (one interest group, or one
channel):

- a square with k (5) or more residents, with its count and its class in the legend;
- every other square that has residents, in grey, reading "fewer than 5";
- how many residents the grey squares hold together, when that is safe.

The rules, and the attacks they answer:

1. Primary: a square under k is grey.
2. The grey total. Anyone who knows the total (the reach report's force total, or
   the sum of the filter's residents on any other page) can subtract the shown
   squares from it, so the grey squares' total must be safe whether or not we print
   it. While it is under k, or it would pin a grey square to one value (every grey
   square then holds the least or the most it could: n squares holding n residents
   are 1 each; n holding 4n are 4 each), the smallest shown square turns grey too
   (secondary suppression). A grey square therefore reads "fewer than 5, or hidden
   to protect one", as on the reach report.
3. Filters, one at a time. A filtered count F is a part of the square's unfiltered
   count U, so U - F (the residents the filter leaves out) is published by
   subtraction. A filtered square is shown only when F >= k and U - F is 0 or >= k.
   A square grey on the unfiltered map is grey on every filtered map (F <= U), and so
   is a square the unfiltered map turned grey to protect another: otherwise F and
   U - F would undo that. The filtered map's own grey total follows rule 2, with what
   the unfiltered map gives away (a grey square's F is at most its U, and the
   unfiltered squares' grey total bounds the filtered counts in them) taken into
   account.
4. Two filters at once are not offered: a group and a channel together make four
   views of each square (all, group, channel, both) whose differences are the
   residents in neither, which these rules would then have to protect as well.
   Filters of different groups (or channels) have no exact arithmetic between them:
   a resident may be in several groups or none, and on several channels.
5. One cell size per installation (DENSITY_CELL_M): nested grids would give a hidden
   small square as a large square minus its visible parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext, lazy_gettext

from app.dao import density as dao
from app.extensions import db
from app.i18n import group_names
from app.models.delivery import CHANNELS
from app.services import figures, forces
from app.services.transaction import read_only, replica_reads

DENSITY_CELL_SIZES_M = (250, 500, 1000, 2000, 5000)  # what DENSITY_CELL_M may be
CHANNEL_NAMES = {
    "sms": lazy_gettext("Text message"),
    "voice": lazy_gettext("Voice call"),
    "email": lazy_gettext("E-mail"),
}
# Classes of residents per square: fixed, so that a class means the same on every
# filtered map and from month to month.
BREAKS = (10, 25, 50, 100, 250)
COLOURS = ("#fde68a", "#fbbf24", "#f59e0b", "#d97706", "#b45309", "#78350f")
HIDDEN_COLOUR = "#9ca3af"


class DensityFilterError(ValueError):
    """A filter that cannot be applied, and why, in words a person can act on."""


@dataclass(frozen=True)
class DensityFilter:
    kind: str | None = None  # None, "group" or "channel"
    value: str | None = None
    label: str = "All confirmed residents"

    @property
    def params(self) -> dict[str, str]:
        return {self.kind: self.value} if self.kind else {}


@dataclass(frozen=True)
class LegendClass:
    colour: str
    label: str
    squares: int
    residents: int | None  # None: not given (grey squares whose total is not safe)
    low: int | None = None
    high: int | None = None


@dataclass(frozen=True)
class DensityMap:
    cell_m: int
    k: int
    filter: DensityFilter
    shown: list[tuple[int, str]]  # (residents, GeoJSON outline)
    hidden: list[str]  # GeoJSON outlines of the grey squares
    hidden_residents: int | None  # None: not safe to give
    legend: list[LegendClass]
    groups: list[tuple[str, str]] = field(default_factory=list)
    counted_at: datetime | None = None  # when the squares were counted

    @property
    def shown_residents(self) -> int:
        return sum(n for n, _ in self.shown)

    @property
    def hidden_label(self) -> str:
        if self.hidden_residents is None:
            return "not given"
        return f"{self.hidden_residents:,}"


def choose_filter(
    groups: list[tuple[str, str]], *, group: str | None = None, channel: str | None = None
) -> DensityFilter:
    """The filter asked for (query values), checked: one group the force offers, or
    one channel, or neither."""
    group = (group or "").strip() or None
    channel = (channel or "").strip() or None
    if group and channel:
        raise DensityFilterError(
            gettext(
                "Choose a group or a channel, not both: combining them would let hidden "
                "squares be worked out by subtraction."
            )
        )
    if channel:
        if channel not in CHANNELS:
            raise DensityFilterError(
                gettext(
                    "There is no channel by that name; choose text message, voice call or e-mail."
                )
            )
        # In the page's language (they were English on a Welsh page: an outside check).
        on = {
            "sms": gettext("On text message"),
            "voice": gettext("On voice call"),
            "email": gettext("On e-mail"),
        }
        return DensityFilter("channel", channel, on[channel])
    if group:
        names = dict(groups)
        if group not in names:
            raise DensityFilterError(
                gettext("There is no interest group by that name; choose one from the list.")
            )
        return DensityFilter("group", group, gettext("In the group %(name)s", name=names[group]))
    return DensityFilter(label=gettext("All confirmed residents"))


def find_groups() -> list[tuple[str, str]]:
    with read_only():
        return group_names(dao.find_interest_groups(db.session))


def density_map(
    cell_m: int,
    min_count: int,
    *,
    group: str | None = None,
    channel: str | None = None,
) -> DensityMap:
    """The density map for everyone or one filter, suppressed as the module says.
    Raises DensityFilterError for a filter that cannot be applied."""
    if cell_m not in DENSITY_CELL_SIZES_M:
        raise ValueError(f"cell_m must be one of {DENSITY_CELL_SIZES_M}")
    counted_at = figures.fresh("density")
    with replica_reads(figures.replica_has("density", counted_at)):
        groups = group_names(dao.find_interest_groups(db.session))
        chosen = choose_filter(groups, group=group, channel=channel)
        squares = dao.find_square_counts(
            db.session,
            cell_m=cell_m,
            force_id=forces.current_force().id,
            kind=chosen.kind,
            value=chosen.value,
        )
    k = min_count
    everyone = {(s.i, s.j): s.residents for s in squares}
    hidden_everyone = protect(everyone, set(), k=k, low=1)
    if chosen.kind is None:
        counts, hidden = everyone, hidden_everyone
        bounds: dict = {"low": 1}
    else:
        counts = {(s.i, s.j): s.filtered for s in squares}
        forced = set(hidden_everyone)
        for key, n in counts.items():
            if 0 < everyone[key] - n < k:
                forced.add(key)
        # What the unfiltered map gives away about a filtered count: at most the
        # square's shown count, at most k - 1 in a grey square, and at most the grey
        # squares' total across them.
        bounds = {
            "low": 0,
            "upper": {key: (k - 1 if key in hidden_everyone else everyone[key]) for key in counts},
            "block": (frozenset(hidden_everyone), sum(everyone[key] for key in hidden_everyone)),
            "rest": {key: everyone[key] - n for key, n in counts.items()},
        }
        hidden = protect(counts, forced, k=k, **bounds)
    geometry = {(s.i, s.j): s.geometry for s in squares}
    shown = [(counts[key], geometry[key]) for key in counts if key not in hidden]
    safe = bool(hidden) and is_safe(hidden, counts, k=k, **bounds)
    total = sum(counts[key] for key in hidden)
    hidden_residents = total if safe else None
    return DensityMap(
        cell_m=cell_m,
        k=k,
        filter=chosen,
        shown=shown,
        hidden=[geometry[key] for key in counts if key in hidden],
        hidden_residents=hidden_residents,
        legend=legend(shown, len(hidden), hidden_residents, k),
        groups=groups,
        counted_at=counted_at,
    )


def protect(
    counts: dict,
    hidden: set,
    *,
    k: int,
    low: int,
    upper: dict | None = None,
    block: tuple[frozenset, int] | None = None,
    rest: dict | None = None,
) -> set:
    """The squares to draw grey: those under k and those already `hidden`, then the
    smallest shown ones, one at a time, until the grey squares' total is k or more and
    pins no grey square to one value (see pinned). Every square present has a count
    of `low` or more (1 unfiltered: squares without residents are not listed; 0 on a
    filtered map). `rest`: on a filtered map, the residents each square's filter
    leaves out; their total over the grey squares can be worked out too (the
    unfiltered grey total and shown squares, minus the filtered grey total), so it
    must be 0 or k or more as well."""
    hidden = set(hidden) | {key for key, n in counts.items() if n < k}
    shown = sorted((n, key) for key, n in counts.items() if key not in hidden)
    while hidden:
        if is_safe(hidden, counts, k=k, low=low, upper=upper, block=block, rest=rest):
            break
        if not shown:
            break
        hidden.add(shown.pop(0)[1])
    return hidden


def is_safe(
    hidden: set,
    counts: dict,
    *,
    k: int,
    low: int,
    upper: dict | None = None,
    block: tuple[frozenset, int] | None = None,
    rest: dict | None = None,
) -> bool:
    """May the grey squares' total be known? k or more, the residents the filter
    leaves out of them 0 or k or more, and no grey square pinned by it."""
    total = sum(counts[key] for key in hidden)
    left_out = sum(rest[key] for key in hidden) if rest is not None else 0
    return (
        total >= k
        and (left_out == 0 or left_out >= k)
        and not pinned(hidden, counts, k=k, low=low, upper=upper, block=block)
    )


def pinned(
    hidden: set,
    counts: dict,
    *,
    k: int,
    low: int,
    upper: dict | None = None,
    block: tuple[frozenset, int] | None = None,
) -> bool:
    """Would someone who knows the grey squares' total pin any grey square to a single
    value? They are taken to know the most a reader could: each grey square holds at
    least `low` and at most k - 1 (or `upper[key]`, when smaller), and the squares in
    `block` hold at most its total together (the unfiltered grey total bounding the
    filtered counts in those squares). A square is pinned when the least it can hold,
    given that the others hold as much as they can, equals the most it can hold, given
    that the others hold as little as they can."""
    if not hidden:
        return False
    total = sum(counts[key] for key in hidden)
    inside, cap = block if block is not None else (frozenset(), None)

    def most(key) -> int:
        bound = k - 1
        if upper is not None and key in upper:
            bound = min(bound, upper[key])
        return max(bound, low)

    outside_keys = [key for key in hidden if key not in inside]
    inside_keys = [key for key in hidden if key in inside]
    most_outside = sum(most(key) for key in outside_keys)
    most_inside_free = sum(most(key) for key in inside_keys)
    most_inside = most_inside_free if cap is None else min(most_inside_free, cap)
    least_all = low * len(hidden)
    for key in hidden:
        if key in inside:
            others_inside = most_inside_free - most(key)
            if cap is not None:
                others_inside = min(others_inside, cap)
            others_most = most_outside + others_inside
            ceiling = most(key) if cap is None else min(most(key), cap)
        else:
            others_most = most_outside - most(key) + most_inside
            ceiling = most(key)
        lowest = max(low, total - others_most)
        highest = min(ceiling, total - (least_all - low))
        if lowest == highest:
            return True
    return False


def legend(
    shown: list[tuple[int, str]], hidden_squares: int, hidden_residents: int | None, k: int
) -> list[LegendClass]:
    """The fixed classes with the squares and residents in each, then the grey."""
    classes = []
    bounds = [k, *[b for b in BREAKS if b > k], None]
    for i in range(len(bounds) - 1):
        low, high = bounds[i], bounds[i + 1]
        label = (
            gettext("%(low)s or more", low=f"{low:,}")
            if high is None
            else gettext("%(low)s to %(high)s", low=f"{low:,}", high=f"{high - 1:,}")
        )
        inside = [n for n, _ in shown if n >= low and (high is None or n < high)]
        classes.append(
            LegendClass(
                COLOURS[min(i, len(COLOURS) - 1)], label, len(inside), sum(inside), low, high
            )
        )
    classes.append(
        LegendClass(
            HIDDEN_COLOUR,
            gettext("Fewer than %(k)s (or hidden to protect such a square)", k=k),
            hidden_squares,
            hidden_residents,
        )
    )
    return classes


def colour_of(n: int, classes: list[LegendClass]) -> str:
    for band in classes[:-1]:
        if n >= band.low and (band.high is None or n < band.high):
            return band.colour
    return HIDDEN_COLOUR


def density_features(density: DensityMap) -> dict:
    """The map as GeoJSON (WGS84): shown squares with their count and class colour,
    grey squares with no count at all."""
    k = density.k
    features = [
        {
            "type": "Feature",
            "properties": {
                "status": "shown",
                "residents": n,
                # In the page's language (English on a Welsh page: found in a review).
                "label": gettext("1 resident")
                if n == 1
                else gettext("%(count)s residents", count=f"{n:,}"),
                "colour": colour_of(n, density.legend),
            },
            "geometry": json.loads(geometry),
        }
        for n, geometry in density.shown
    ]
    features += [
        {
            "type": "Feature",
            "properties": {
                "status": "hidden",
                "residents": None,
                # As the legend says: a square of 13 hidden to protect another read
                # "fewer than 5 residents" (an outside check).
                "label": gettext("fewer than %(k)s residents, or hidden to protect one", k=k),
                "colour": HIDDEN_COLOUR,
            },
            "geometry": json.loads(geometry),
        }
        for geometry in density.hidden
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "cell_m": density.cell_m,
        "min_count": k,
        "filter": density.filter.label,
        "shown_cells": len(density.shown),
        "shown_residents": density.shown_residents,
        "suppressed_cells": len(density.hidden),
        "hidden_residents": density.hidden_residents,
        "legend": [
            {"colour": c.colour, "label": c.label, "squares": c.squares, "residents": c.residents}
            for c in density.legend
        ],
    }


def resident_density(cell_m: int, min_count: int, **filters) -> dict:
    """The density map as GeoJSON (see density_map and density_features)."""
    return density_features(density_map(cell_m, min_count, **filters))
