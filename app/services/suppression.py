"""Small-count suppression for any table of counts that is published (k = 5).

One rule for every report: no count under k is shown (it reads "fewer than 5"), and
where a total and its parts are shown together, enough other cells are hidden that a
hidden one cannot be worked out by subtraction (secondary suppression). Rates and
shares derived from a hidden count are hidden with it (`rate`).

The table is given as cells (any hashable key -> count) and groups: a total and the
parts that add up to it. A group can be a district and its wards, a channel's total
and its statuses, or a row or column of a two-way table with its margin; a cell may
be in several groups (a ward is a part of its district; a district is the total of its
wards and a part of the force). For example:

    result = suppress(
        {"force": 40, "north": 30, "south": 10, "n1": 27, "n2": 3, "s1": 10},
        [Group("force", ("north", "south")), Group("north", ("n1", "n2")),
         Group("south", ("s1",))],
    )
    result.label("n2")   # "fewer than 5"
    result.label("n1")   # "fewer than 5" too: else north - n1 gives n2

How the secondary cells are chosen: while a group has exactly one hidden cell, the
smallest shown part of that group is hidden too (the total when no part is left), and
so on until every group has none or at least two. Then the whole set of groups is
solved as linear equations over the hidden cells: a hidden cell that the equations
still pin down (through a chain of groups) gets a neighbour hidden as well. Hiding the
smallest keeps the most people's figures in view.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from flask_babel import gettext  # not app.i18n: this module is imported by it, indirectly

K_MIN = 5  # the force's publication threshold: no figure under 5 people
FEWER_THAN = "fewer than {k}"
# A hidden figure where some are hidden to protect others (charts' keys, in English).
HIDDEN_WORDS = "fewer than {k}, or hidden to protect one"


def fewer_than(k: int) -> str:
    """ "fewer than 5", in the page's language (English outside a request)."""
    return gettext("fewer than %(k)s", k=k)


def fewer_than_or_protecting(k: int) -> str:
    """Every hidden figure of a table where some are hidden to protect others."""
    return gettext("fewer than %(k)s, or hidden to protect one", k=k)


@dataclass(frozen=True)
class Group:
    """`total` is the sum of `parts` (cells of the same table)."""

    total: Hashable
    parts: tuple[Hashable, ...]


@dataclass(frozen=True)
class Suppressed:
    """A table after suppression: the values as they may be shown."""

    values: Mapping[Hashable, int]
    primary: frozenset  # under k
    secondary: frozenset  # hidden so that the primary cannot be worked out
    k: int
    # Of those, cells the shown ones give away as 0 (with_zeros_given_away): shown.
    given_away: frozenset = frozenset()

    @cached_property
    def hidden(self) -> frozenset:
        return (self.primary | self.secondary) - self.given_away

    def with_zeros_given_away(self, groups: Iterable[Group]) -> Suppressed:
        """This table with the hidden cells that are 0 for anyone who subtracts shown
        as 0: in a group whose total is shown and whose shown parts add up to it, every
        hidden part is 0 (counts are never negative); and one that the groups' sums
        together pin down (suppress leaves only zeros so: they are in no group it was
        given). "Failed: fewer than 5" beside
        201 delivered of 201 read as "some failed" (an outside check); saying 0 tells
        nothing the page did not. Call it last: a cell hidden after it is not known."""
        groups = list(groups)
        known: set = set()
        while True:
            found = set()
            for group in groups:
                shown = [
                    p for p in group.parts if p not in self.primary | self.secondary or p in known
                ]
                total_shown = group.total not in self.primary | self.secondary or (
                    group.total in known
                )
                if total_shown and sum(self.values[p] for p in shown) == self.values[group.total]:
                    found |= {p for p in group.parts if p not in shown and not self.values[p]}
            # And a zero a chain of groups pins down (row less column less row...): the
            # check over every group's equations found one (a property test).
            still = (self.primary | self.secondary) - known - found
            found |= {k for k in determined_cells(self.values, groups, still) if not self.values[k]}
            if not found - known:
                break
            known |= found
        # Only zeros are ever found so; checked, as what is shown must be true.
        assert all(self.values[key] == 0 for key in known)
        return replace(self, given_away=frozenset(known))

    def shown(self, key: Hashable) -> int | None:
        """The count as it may be published, or None when hidden."""
        return None if key in self.hidden else self.values[key]

    def label(self, key: Hashable) -> str:
        """The count as words: "1,234", or for a hidden cell "fewer than 5", or, in a
        table with cells hidden to protect others, "fewer than 5, or hidden to protect
        one" for every hidden cell alike (so which cells are small stays unsaid). A
        report read "fewer than 5" e-mails beside 4,565 delivered (an outside check)."""
        value = self.shown(key)
        if value is not None:
            return f"{value:,}"
        return fewer_than_or_protecting(self.k) if self.secondary else fewer_than(self.k)

    def hiding_too(self, keys: Iterable[Hashable]) -> Suppressed:
        """This table with these cells hidden as well (to protect others)."""
        more = frozenset(keys) - self.hidden
        if not more:
            return self
        # (Cells given away as 0 are found again afterwards: with_zeros_given_away.)
        return Suppressed(self.values, self.primary, self.secondary | more, self.k)

    def rate(self, key: Hashable, per: float, *, scale: int = 1000) -> float | None:
        """count / per * scale (e.g. per 1,000 adults), None when the count is hidden
        or there is nothing to divide by: a rate gives its count away."""
        value = self.shown(key)
        if value is None or not per:
            return None
        return value / per * scale


def suppress(
    values: Mapping[Hashable, int], groups: Iterable[Group], *, k: int = K_MIN
) -> Suppressed:
    """Hide every count under k, then as many more as needed (smallest first) that no
    hidden count can be found from the shown ones by adding and subtracting within
    and across the groups."""
    groups = [g for g in groups if g.parts]
    order = {key: i for i, key in enumerate(values)}
    for group in groups:
        for key in (group.total, *group.parts):
            if key not in values:
                raise KeyError(f"group names {key!r}, which has no value")
    primary = frozenset(key for key, value in values.items() if value < k)
    hidden = set(primary)

    def smallest(candidates: Sequence[Hashable]) -> Hashable | None:
        shown = [c for c in candidates if c not in hidden]
        return min(shown, key=lambda c: (values[c], order[c])) if shown else None

    while True:
        changed = False
        for group in groups:
            members = (group.total, *group.parts)
            inside = [m for m in members if m in hidden]
            if len(inside) != 1:
                continue
            # The next-smallest part; when every part is hidden but one (a lone part
            # hidden under a shown total), the total.
            pick = smallest(group.parts)
            hidden.add(group.total if pick is None else pick)
            changed = True
        if changed:
            continue
        # Every group now has no hidden cell or two or more. A chain of groups can
        # still pin one down; hide a neighbour of each such cell, smallest first.
        exposed = determined_cells(values, groups, hidden)
        if not exposed and not hidden - primary:
            # Each hidden cell reading "fewer than 5" is known to be 0 to 4: Swindon's
            # 194 residents less its shown wards' 186 left 8 for two hidden wards, so
            # 4 each (an outside check). Once a cell is hidden to protect others, every
            # hidden one reads "fewer than 5, or hidden to protect one", and is not.
            exposed = pinned_below(values, groups, hidden, k)
        if not exposed:
            break
        for key in exposed:
            neighbours = [
                m
                for g in groups
                if key == g.total or key in g.parts
                for m in (*g.parts, g.total)
                if m != key
            ]
            pick = smallest(neighbours)
            if pick is None:  # every neighbour hidden: hide the smallest shown cell
                pick = smallest([c for g in groups for c in (g.total, *g.parts)])
            if pick is not None:
                hidden.add(pick)
                break
        else:  # nothing left to hide
            break
    return Suppressed(
        values=dict(values),
        primary=primary,
        secondary=frozenset(hidden - primary),
        k=k,
    )


def pinned_below(
    values: Mapping[Hashable, int], groups: Sequence[Group], hidden: set, k: int
) -> list[Hashable]:
    """Hidden cells other than 0 whose value follows from the shown cells and the
    groups' sums when every hidden cell is known to be under k: each cell's least and
    most are narrowed by each group in turn until nothing changes.

    >>> pinned_below({"t": 8, "a": 4, "b": 4}, [Group("t", ("a", "b"))], {"a", "b"}, 5)
    ['a', 'b']
    >>> pinned_below({"t": 7, "a": 4, "b": 3}, [Group("t", ("a", "b"))], {"a", "b"}, 5)
    []
    """
    least = {key: 0 if key in hidden else value for key, value in values.items()}
    most = {key: k - 1 if key in hidden else value for key, value in values.items()}
    for _ in range(4 * len(groups) + 4):
        changed = False
        for group in groups:
            low = sum(least[p] for p in group.parts)
            high = sum(most[p] for p in group.parts)
            narrowed = [(group.total, low, high)]
            for p in group.parts:
                narrowed.append(
                    (p, least[group.total] - (high - most[p]), most[group.total] - (low - least[p]))
                )
            for key, lo, hi in narrowed:
                if lo > least[key]:
                    least[key], changed = lo, True
                if hi < most[key]:
                    most[key], changed = hi, True
        if not changed:
            break
    return [key for key in values if key in hidden and values[key] and least[key] == most[key]]


def determined_cells(
    values: Mapping[Hashable, int], groups: Sequence[Group], hidden: set
) -> list[Hashable]:
    """Hidden cells whose value follows from the shown cells and the groups' sums:
    those with no freedom in the solutions of the groups' equations over the hidden
    cells (the null space of those equations is zero at them)."""
    unknowns = [key for key in values if key in hidden]
    if not unknowns:
        return []
    column = {key: i for i, key in enumerate(unknowns)}
    rows = []
    for group in groups:
        row = np.zeros(len(unknowns))
        for key, sign in ((group.total, 1.0), *((p, -1.0) for p in group.parts)):
            if key in column:
                row[column[key]] += sign
        if row.any():
            rows.append(row)
    if not rows:
        return []
    matrix = np.array(rows)
    _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
    rank = int((singular > 1e-9).sum())
    free = vt[rank:]  # a basis of the null space
    if free.shape[0] == 0:
        return list(unknowns)
    loose = np.abs(free).max(axis=0) > 1e-9
    return [key for key in unknowns if not loose[column[key]]]


def tree_groups(parent_of: Mapping[Hashable, Hashable | None]) -> list[Group]:
    """Groups for a hierarchy given as child -> parent (None at the top): each parent
    is the total of its children (the force of its districts, a district of its
    wards)."""
    children: dict[Hashable, list[Hashable]] = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    return [Group(parent, tuple(kids)) for parent, kids in children.items()]


def grid_groups(
    rows: Sequence[Hashable],
    columns: Sequence[Hashable],
    *,
    row_total: Hashable | None = "total",
    column_total: Hashable | None = "total",
) -> list[Group]:
    """Groups for a two-way table whose cells are keyed (row, column), with a margin
    column `row_total` (each row's total) and a margin row `column_total` (each
    column's total), e.g. channels by status with "all statuses" and "all channels"."""
    groups = []
    if row_total is not None:
        for row in [*rows, *([column_total] if column_total is not None else [])]:
            groups.append(Group((row, row_total), tuple((row, c) for c in columns)))
    if column_total is not None:
        for col in [*columns, *([row_total] if row_total is not None else [])]:
            groups.append(Group((column_total, col), tuple((r, col) for r in rows)))
    return groups
