"""Load postcode directories (OS Code-Point Open, ONS Postcode Directory).

Rows are streamed (never the whole file in memory), projected with pyproj in vectorised
chunks and COPYed into a temporary staging table, then merged with the live table.
When anything differs, a new table is built from the two (live rows the load does not
mention are kept), its indexes are built after the data is in, and it is renamed into
place at the end of the caller's transaction:

- lookups keep reading the old table until the commit;
- a load that fails part-way leaves the live table untouched;
- a load that changes nothing rewrites nothing.

Several products describe the same postcode, each as of its own release date, and they
may be loaded in any order. So each group of a postcode's fields (GROUPS) records the
release that set it, and a load replaces a group only when its own release is at least
as new: an older directory loaded after a newer one changes nothing the newer one said,
and cannot terminate a postcode the newer one lists as live. Loading the same sources in
any order gives the same table (apart from `source` and `updated_at`, which say which
load last changed a row, and when).

Functions here take a psycopg 3 connection and never commit.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from psycopg import sql

from geo import postcodes
from geo.loaders import LoadSummary, _open_text, codepoint_files, iter_codepoint_rows
from geo.projection import BNG, WGS84, bng_to_wgs84

# Code-Point Open's "no coordinates" quality: eastings/northings are 0, not a place.
NO_COORDINATES_QUALITY = 90
CHUNK_ROWS = 50_000
STAGING_COLUMNS = (
    "postcode",
    "display",
    "positional_quality",
    "country_code",
    "admin_district_code",
    "admin_ward_code",
    "easting",
    "northing",
    "longitude",
    "latitude",
    "introduced_on",
    "terminated_on",
    "area",
)
# A postcode's fields, in the groups that one source sets together (staging-table
# names). The postcodes table has a column <group>_release per group: the release date
# of the source that last set it (NULL: not known, older than any dated release).
GROUPS = {
    "position": ("positional_quality", "easting", "northing", "longitude", "latitude"),
    "codes": ("country_code", "admin_district_code", "admin_ward_code"),
    "introduced": ("introduced_on",),
    "status": ("terminated_on",),
}
# Follow from easting/northing: never compared.
_DERIVED = ("longitude", "latitude")
# What a load reports, field by field: rows whose value it changed.
FIELDS = {
    "position": ("easting", "northing"),
    "positional_quality": ("positional_quality",),
    "country_code": ("country_code",),
    "admin_district_code": ("admin_district_code",),
    "admin_ward_code": ("admin_ward_code",),
    "introduced_on": ("introduced_on",),
    "terminated_on": ("terminated_on",),
}
# The groups each product carries. Code-Point Open has no introduction dates, so it
# never sets (or clears) them; ONSPD has no positional quality on Code-Point's scale, so
# a newer ONSPD position comes with an unknown (NULL) quality.
CODEPOINT_GROUPS = ("position", "codes", "status")
ONSPD_GROUPS = tuple(GROUPS)

_DISPLAY = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
NULL = "\\N"  # COPY's text format for NULL

_AREA = "substring({} from '^[A-Z]+')"
# How the merge reads the live table's value of a staging column.
_LIVE = {
    "easting": "ST_X(p.location)",
    "northing": "ST_Y(p.location)",
    "longitude": "ST_X(p.location_wgs84)",
    "latitude": "ST_Y(p.location_wgs84)",
}
# A postcode the table does not have, listed as live by this load, in an area a complete
# Code-Point edition covered without listing it (postcodes_covered). That edition said
# it was terminated (had it been loaded first, it would have been there to terminate),
# so the merge treats the edition as the live holder of its status.
_UNLISTED = "(p.postcode IS NULL AND s.terminated_on IS NULL AND c.release IS NOT NULL)"
# Live postcodes, in the postcode areas this load covers, that the load does not list.
_MISSING_IN_LOADED_AREAS = f"""
    p.terminated_on IS NULL
    AND {_AREA.format("p.postcode")} IN (SELECT area FROM postcodes_staged_areas)
    AND NOT EXISTS (SELECT 1 FROM postcodes_staging s WHERE s.postcode = p.postcode)
"""


def _differs(columns: Iterable[str], left: str, right: str) -> str:
    return "(" + " OR ".join(f"{left}{c} IS DISTINCT FROM {right}{c}" for c in columns) + ")"


def _compared(group: str) -> list[str]:
    return [c for c in GROUPS[group] if c not in _DERIVED]


def _at_least_as_new(release: str, holder: str) -> str:
    """SQL: a release (NULL: undated) is at least as new as the holder's. Undated counts
    as oldest, so undated loads replace only undated values (and one another's)."""
    return f"COALESCE({release}, '-infinity') >= COALESCE({holder}, '-infinity')"


def parse_release(text: str) -> date:
    """A release date from "2024-08" (the first of the month) or "2024-08-15".

    >>> parse_release("2024-08"), parse_release("2025-10-22")
    (datetime.date(2024, 8, 1), datetime.date(2025, 10, 22))
    """
    text = text.strip()
    return date.fromisoformat(f"{text}-01" if len(text) == 7 else text)


_NAMED_MONTH = re.compile(
    r"(?<![a-z])(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[ _-]?((?:19|20)\d\d)(?!\d)",
    re.IGNORECASE,
)
_NUMBERED_MONTH = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_](0[1-9]|1[0-2])(?!\d)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def release_from_name(name: str) -> date | None:
    """The release month a file's name gives, as ONS names ONSPD editions.

    >>> release_from_name("ONSPD_AUG_2024_UK.csv"), release_from_name("onspd_aug2024_sample.csv")
    (datetime.date(2024, 8, 1), datetime.date(2024, 8, 1))
    >>> release_from_name("codepo_gb_2025-10"), release_from_name("codepoint_open") is None
    (datetime.date(2025, 10, 1), True)
    """
    found = _NAMED_MONTH.search(name)
    if found:
        return date(int(found.group(2)), _MONTHS.index(found.group(1).lower()) + 1, 1)
    found = _NUMBERED_MONTH.search(name)
    if found:
        return date(int(found.group(1)), int(found.group(2)), 1)
    return None


@dataclass
class _Chunk:
    keys: list[str] = field(default_factory=list)
    rest: list[tuple] = field(default_factory=list)
    eastings: list[float] = field(default_factory=list)
    northings: list[float] = field(default_factory=list)


def _key_and_display(text: str) -> tuple[str, str] | None:
    # Almost every row is already in display form: skip the general normaliser.
    if _DISPLAY.match(text):
        return text.replace(" ", ""), text
    key = postcodes.canonical(text)
    if not postcodes.is_valid(key):
        return None
    return key, postcodes.display(key)


def _write_chunk(copy, chunk: _Chunk) -> None:
    """Project a chunk to WGS84 in one pyproj call and write it as COPY text."""
    if not chunk.keys:
        return
    lons, lats = bng_to_wgs84(chunk.eastings, chunk.northings)
    lines = []
    for i, key in enumerate(chunk.keys):
        display, quality, country, district, ward, introduced, terminated, area = chunk.rest[i]
        e = chunk.eastings[i]
        if np.isnan(e):
            point = (NULL, NULL, NULL, NULL)
        else:
            point = (repr(e), repr(chunk.northings[i]), repr(float(lons[i])), repr(float(lats[i])))
        fields = (
            key,
            display,
            NULL if quality is None else str(quality),
            country or NULL,
            district or NULL,
            ward or NULL,
            *point,
            introduced or NULL,
            terminated or NULL,
            area,
        )
        lines.append("\t".join(fields))
    copy.write("\n".join(lines) + "\n")


def _stage(cur, rows: Iterable[tuple], summary: LoadSummary, progress) -> set[str]:
    """COPY normalised rows into the temporary table postcodes_staging; return the
    postcode areas ("BS", "B") they are in.

    Each row is (postcode, quality, easting, northing, country, district, ward,
    introduced_on, terminated_on) as strings, empty where unknown.
    """
    cur.execute(
        "CREATE TEMPORARY TABLE postcodes_staging ("
        " postcode text NOT NULL, display text NOT NULL, positional_quality smallint,"
        " country_code text, admin_district_code text, admin_ward_code text,"
        " easting double precision, northing double precision,"
        " longitude double precision, latitude double precision,"
        " introduced_on date, terminated_on date, area text NOT NULL) ON COMMIT DROP"
    )
    seen: set[str] = set()
    areas: set[str] = set()
    with cur.copy(f"COPY postcodes_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
        chunk = _Chunk()
        for row in rows:
            summary.read += 1
            text, quality, easting, northing, country, district, ward, intro, term = row
            names = _key_and_display(text)
            if names is None:
                summary.rejected["not a postcode"] += 1
                continue
            key, display = names
            if key in seen:
                summary.rejected["duplicate postcode"] += 1
                continue
            try:
                q = int(quality) if quality.strip() else None
                e = float(easting) if easting.strip() else 0.0
                n = float(northing) if northing.strip() else 0.0
            except ValueError:
                summary.rejected["unreadable quality or coordinates"] += 1
                continue
            seen.add(key)
            area = key[:2] if key[1].isalpha() else key[:1]
            areas.add(area)
            # Code-Point's quality 90 and ONSPD's missing grid reference mean "no
            # location": (0, 0) is in the sea off the Scillies, not a place.
            if q == NO_COORDINATES_QUALITY or (e == 0 and n == 0):
                e = n = np.nan
            chunk.keys.append(key)
            chunk.rest.append((display, q, country, district, ward, intro, term, area))
            chunk.eastings.append(e)
            chunk.northings.append(n)
            if len(chunk.keys) >= CHUNK_ROWS:
                _write_chunk(copy, chunk)
                if progress:
                    progress(len(chunk.keys))
                chunk = _Chunk()
        _write_chunk(copy, chunk)
        if progress:
            progress(len(chunk.keys))
    cur.execute("CREATE INDEX ON postcodes_staging (postcode)")
    cur.execute("ANALYZE postcodes_staging")
    return areas


def _merged(release: str, carries: Iterable[str]) -> str:
    """A query deciding, for every staged postcode and field group, whose value the
    table keeps: the merged values and releases; per field whether it changed; per
    group the newer release whose value was kept instead of this load's differing one
    (kept_*); and the live row's source and updated_at.

    Run (not stored) by the count and, when something changed, by the rebuild: a load
    that changes nothing writes nothing.
    """
    staged, live = ["s.postcode", "s.display"], []
    for group, columns in GROUPS.items():
        for column in columns:
            staged.append(f"s.{column} AS staged_{column}")
            value = _LIVE.get(column, f"p.{column}")
            if column == "terminated_on":
                value = f"CASE WHEN {_UNLISTED} THEN c.release ELSE {value} END"
            live.append(f"{value} AS live_{column}")
        holder = f"p.{group}_release"
        if group == "status":
            holder = f"CASE WHEN {_UNLISTED} THEN c.release ELSE {holder} END"
        live.append(f"{holder} AS live_{group}_release")

    wins, picked, kept = [], [], []
    for group, columns in GROUPS.items():
        if group in carries:
            wins.append(f"{_at_least_as_new(release, f'live_{group}_release')} AS win_{group}")
            differs = _differs(_compared(group), "staged_", "live_")
            kept.append(
                f"CASE WHEN NOT win_{group} AND {differs} THEN live_{group}_release END"
                f" AS kept_{group}"
            )
        else:  # a source that does not carry a field never changes it
            wins.append(f"false AS win_{group}")
            kept.append(f"NULL::date AS kept_{group}")
        picked += [
            f"CASE WHEN win_{group} THEN staged_{c} ELSE live_{c} END AS {c}" for c in columns
        ]
        picked.append(
            f"CASE WHEN win_{group} THEN {release} ELSE live_{group}_release END AS {group}_release"
        )
    # Its columns: what the rebuild writes and the summary counts (not the live values).
    changed = [
        f"(NOT is_new AND {_differs(columns, '', 'live_')}) AS changed_{name}"
        for name, columns in FIELDS.items()
    ]
    values = [c for group in GROUPS for c in _compared(group)]
    releases = [f"{group}_release" for group in GROUPS]
    stored = [
        "postcode",
        "display",
        "is_new",
        *(c for columns in GROUPS.values() for c in columns),
        *releases,
        *(f"kept_{group}" for group in GROUPS),
        *changed,
        f"(NOT is_new AND {_differs(values, '', 'live_')}) AS value_changed",
        f"(NOT is_new AND {_differs(releases, '', 'live_')}) AS release_changed",
        "(terminated_on IS NOT NULL AND (is_new OR live_terminated_on IS NULL)) AS terminates",
        "live_source",
        "live_updated_at",
    ]
    return f"""
        WITH joined AS (
            SELECT {", ".join(staged)}, p.postcode IS NULL AS is_new, {", ".join(live)},
                   p.source AS live_source, p.updated_at AS live_updated_at
            FROM postcodes_staging s
            LEFT JOIN postcodes p USING (postcode)
            LEFT JOIN postcodes_covered c ON c.area = s.area
        ), decided AS (
            SELECT *, {", ".join(wins)} FROM joined
        ), merged AS (
            SELECT *, {", ".join(picked + kept)} FROM decided
        )
        SELECT {", ".join(stored)} FROM merged
    """


def _covered(cur, areas: set[str]) -> None:
    """The temporary table postcodes_covered: of the loaded areas, those a complete
    Code-Point edition covered, and its release.

    Only while the table still holds that edition's postcodes of the area: a table
    emptied since (as the GB benchmark does) says nothing about what the edition listed.
    """
    cur.execute("CREATE TEMPORARY TABLE postcodes_covered (area text, release date) ON COMMIT DROP")
    cur.execute(
        "SELECT area, release FROM postcode_area_coverage WHERE area = ANY(%s)", (sorted(areas),)
    )
    for area, release in cur.fetchall():
        # The area's postcodes are those from "<area>0" up to "<area>:" byte by byte (the
        # prefix index's order, text_pattern_ops); literals, so the planner uses that index.
        cur.execute(
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM postcodes WHERE postcode ~>=~ {} "
                "AND postcode ~<~ {} AND status_release >= {})"
            ).format(sql.Literal(f"{area}0"), sql.Literal(f"{area}:"), sql.Literal(release))
        )
        if cur.fetchone()[0]:
            cur.execute("INSERT INTO postcodes_covered VALUES (%s, %s)", (area, release))
    cur.execute("ANALYZE postcodes_covered")  # a handful of rows: joined by hashing them


def _count_changes(
    cur, summary: LoadSummary, merged: str, *, release: str, terminate_missing: bool
) -> None:
    cur.execute(
        f"""
        SELECT count(*) FILTER (WHERE is_new),
               count(*) FILTER (WHERE value_changed),
               count(*) FILTER (WHERE release_changed AND NOT value_changed),
               count(*) FILTER (WHERE terminates),
               {", ".join(f"count(*) FILTER (WHERE changed_{name})" for name in FIELDS)},
               {", ".join(f"count(kept_{group})" for group in GROUPS)}
        FROM ({merged}) m
        """
    )
    summary.new, summary.changed, summary.redated, summary.terminated, *counts = cur.fetchone()
    summary.unchanged = summary.read - summary.rejected_total - summary.new - summary.changed
    for name, count in zip(FIELDS, counts[: len(FIELDS)], strict=True):
        if count:
            summary.fields[name] += count
    for group, count in zip(GROUPS, counts[len(FIELDS) :], strict=True):
        if count:  # which newer releases: rare, so only looked for when there are some
            cur.execute(
                f"SELECT kept_{group}, count(*) FROM ({merged}) m "
                f"WHERE kept_{group} IS NOT NULL GROUP BY 1"
            )
            for newer, n in cur.fetchall():
                summary.kept[(group, newer)] += n
    if terminate_missing:
        cur.execute(
            f"""
            SELECT {_at_least_as_new(release, "p.status_release")}, p.status_release, count(*)
            FROM postcodes p WHERE {_MISSING_IN_LOADED_AREAS} GROUP BY 1, 2
            """
        )
        for terminates, newer, count in cur.fetchall():
            if terminates:
                summary.terminated += count
                summary.changed += count
                summary.fields["terminated_on"] += count
            else:  # a newer release lists it as live
                summary.kept[("status", newer)] += count


def load_postcodes(
    conn,
    rows: Iterable[tuple],
    *,
    source: str,
    release: date | None = None,
    carries: Iterable[str] = ONSPD_GROUPS,
    terminate_missing: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Load rows of a postcode directory. Does not commit.

    release: the date of the edition the rows come from; it decides, field group by
    field group, whether they replace what the table has (see the module's docstring).
    None means undated: older than any dated release.
    carries: the field groups (GROUPS) the source has; the others are left as they are.
    terminate_missing: the load is complete for every postcode area it touches (as a
    Code-Point Open area file is), so a live postcode of those areas that it does not
    list has been terminated; it is kept, marked terminated as of the release (today
    when undated), unless a newer release lists it as live.
    """
    summary = LoadSummary()
    release_sql = f"{sql.Literal(release).as_string(conn)}::date"
    with conn.cursor() as cur:
        areas = _stage(cur, rows, summary, progress)
        cur.execute("CREATE TEMPORARY TABLE postcodes_staged_areas (area text) ON COMMIT DROP")
        cur.execute(
            "INSERT INTO postcodes_staged_areas SELECT unnest(%s::text[])", (sorted(areas),)
        )
        _covered(cur, areas)
        merged = _merged(release_sql, tuple(carries))
        _count_changes(
            cur, summary, merged, release=release_sql, terminate_missing=terminate_missing
        )
        if summary.new or summary.changed or summary.redated:
            _rebuild_and_swap(
                cur,
                merged,
                source=source,
                release=release_sql,
                terminate_missing=terminate_missing,
            )
        if terminate_missing and release is not None:
            # Remembered so that an older source loaded later cannot add back, as live,
            # a postcode this edition no longer lists (see _UNLISTED).
            cur.execute(
                """
                INSERT INTO postcode_area_coverage (area, release, source)
                SELECT area, %(release)s, %(source)s FROM postcodes_staged_areas
                ON CONFLICT (area) DO UPDATE
                SET release = EXCLUDED.release, source = EXCLUDED.source, loaded_at = now()
                WHERE postcode_area_coverage.release < EXCLUDED.release
                   OR postcode_area_coverage.area NOT IN (SELECT area FROM postcodes_covered)
                """,
                {"release": release, "source": source},
            )
        cur.execute("DROP TABLE postcodes_covered, postcodes_staged_areas, postcodes_staging")
    return summary


def _rebuild_and_swap(
    cur, merged: str, *, source: str, release: str, terminate_missing: bool
) -> None:
    cur.execute("DROP TABLE IF EXISTS postcodes_next")
    cur.execute(
        "CREATE TABLE postcodes_next "
        "(LIKE postcodes INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
    )
    if terminate_missing:
        area = _AREA.format("p.postcode")
        missing = (
            f"(p.terminated_on IS NULL AND {area} IN (SELECT area FROM postcodes_staged_areas)"
            f" AND {_at_least_as_new(release, 'p.status_release')})"
        )
    else:
        missing = "false"
    changed = "(m.is_new OR m.value_changed)"
    releases = [f"{group}_release" for group in GROUPS]
    cur.execute(
        f"""
        INSERT INTO postcodes_next (postcode, display, positional_quality, country_code,
            admin_district_code, admin_ward_code, location, location_wgs84, introduced_on,
            terminated_on, {", ".join(releases)}, source, updated_at)
        SELECT m.postcode, m.display, m.positional_quality, m.country_code,
               m.admin_district_code, m.admin_ward_code,
               CASE WHEN m.easting IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(m.easting, m.northing), %(bng)s) END,
               CASE WHEN m.longitude IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(m.longitude, m.latitude), %(wgs84)s) END,
               m.introduced_on, m.terminated_on, {", ".join("m." + r for r in releases)},
               CASE WHEN {changed} THEN %(source)s ELSE m.live_source END,
               CASE WHEN {changed} THEN now() ELSE m.live_updated_at END
        FROM ({merged}) m
        UNION ALL
        SELECT p.postcode, p.display, p.positional_quality, p.country_code,
               p.admin_district_code, p.admin_ward_code, p.location, p.location_wgs84,
               p.introduced_on,
               CASE WHEN {missing} THEN COALESCE({release}, current_date)
                    ELSE p.terminated_on END,
               p.position_release, p.codes_release, p.introduced_release,
               CASE WHEN {missing} THEN {release} ELSE p.status_release END,
               CASE WHEN {missing} THEN %(source)s ELSE p.source END,
               CASE WHEN {missing} THEN now() ELSE p.updated_at END
        FROM postcodes p
        WHERE NOT EXISTS (SELECT 1 FROM postcodes_staging s WHERE s.postcode = p.postcode)
        """,
        {"bng": BNG, "wgs84": WGS84, "source": source},
    )
    swap_in(cur, "postcodes", "postcodes_next")


def swap_in(cur, live: str, replacement: str) -> None:
    """Give `replacement` the live table's primary key and indexes (built now, after its
    data is in), then rename it into place and drop the old table.

    Readers keep using the old table until the transaction commits; the rename's lock
    is taken only for the last few statements.
    """
    cur.execute(
        "SELECT c.conname, pg_get_constraintdef(c.oid), c.conindid::regclass::text "
        "FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
        (live,),
    )
    primary_key = cur.fetchone()
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = %s",
        (live,),
    )
    indexes = [
        (name, definition)
        for name, definition in cur.fetchall()
        if not primary_key or name != primary_key[2]
    ]
    renames = []
    if primary_key:
        name, definition, _ = primary_key
        cur.execute(f'ALTER TABLE {replacement} ADD CONSTRAINT "{name}_next" {definition}')
        renames.append(f'ALTER TABLE {live} RENAME CONSTRAINT "{name}_next" TO "{name}"')
    for name, definition in indexes:
        definition = re.sub(
            rf"INDEX \"?{re.escape(name)}\"? ON (\w+\.)?{live} ",
            rf'INDEX "{name}_next" ON \g<1>{replacement} ',
            definition,
            count=1,
        )
        cur.execute(definition)
        renames.append(f'ALTER INDEX "{name}_next" RENAME TO "{name}"')
    cur.execute(f"ANALYZE {replacement}")
    # Lookups that arrive during the swap wait for it: never let the swap itself wait
    # long behind a slow query; fail the load instead (it can simply be run again).
    cur.execute("SET LOCAL lock_timeout = '10s'")
    cur.execute(f"ALTER TABLE {live} RENAME TO {live}_old")
    cur.execute(f"ALTER TABLE {replacement} RENAME TO {live}")
    cur.execute(f"DROP TABLE {live}_old")
    for statement in renames:
        cur.execute(statement)


def codepoint_rows(path: Path) -> Iterator[tuple]:
    """Code-Point Open rows (a folder of area files, or one file) as loader tuples."""
    for file in codepoint_files(path):
        for row in iter_codepoint_rows(file):
            yield (row[0], row[1], row[2], row[3], row[4], row[8], row[9], "", "")


def load_codepoint(
    conn,
    path: Path,
    *,
    source: str,
    release: date | None = None,
    terminate_missing: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Load OS Code-Point Open of the edition released on `release`. Does not commit.

    A folder of per-area files is complete for each area it holds, so by default the
    postcodes of those areas that it no longer lists are marked terminated; a single
    file (an extract, say) terminates nothing.
    """
    if terminate_missing is None:
        terminate_missing = Path(path).is_dir()
    return _some_read(
        path,
        load_postcodes(
            conn,
            codepoint_rows(path),
            source=source,
            release=release,
            carries=CODEPOINT_GROUPS,
            terminate_missing=terminate_missing,
            progress=progress,
        ),
    )


def _onspd_month(value: str | None) -> str:
    """ONSPD dates are YYYYMM: the postcode changed during that month.

    >>> _onspd_month("199812"), _onspd_month(""), _onspd_month("199813"), _onspd_month("1998²2")
    ('1998-12-01', '', '', '')
    """
    value = (value or "").strip()
    if len(value) != 6 or not (value.isascii() and value.isdigit()):
        return ""
    return f"{value[:4]}-{value[4:6]}-01" if 1 <= int(value[4:]) <= 12 else ""


def _real_code(code: str | None) -> str:
    """ONS writes "not applicable" as a pseudo-code ending 99999999.

    >>> _real_code("E99999999"), _real_code("E06000023")
    ('', 'E06000023')
    """
    code = (code or "").strip()
    return "" if code.endswith("99999999") else code


class PostcodeFileError(ValueError):
    """A postcode file that is not what it says: which, and why, for a person to fix."""


# The ONSPD columns a load cannot do without: the postcode, and where it is.
_ONSPD_NEEDS = (("pcds", "pcd"), ("oseast1m",), ("osnrth1m",))


def onspd_rows(path: Path) -> Iterator[tuple]:
    """ONS Postcode Directory rows as loader tuples: live and terminated postcodes.

    Locations come from oseast1m/osnrth1m (BNG metres) and are projected exactly like
    Code-Point's, so both sources place a postcode the same way; ONSPD's own lat/long
    is not used. osgrdind 9 means "no grid reference".
    """
    with _open_text(Path(path)) as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = [names[0] for names in _ONSPD_NEEDS if not columns.intersection(names)]
        if missing:
            # An empty file, or another product's, was "loaded" with nothing or every
            # row rejected, and recorded (an outside check).
            raise PostcodeFileError(
                f"{Path(path).name} has no {', '.join(missing)} column: is it the ONS "
                "Postcode Directory CSV?"
                if columns
                else f"{Path(path).name} is empty"
            )
        for row in reader:
            no_grid = (row.get("osgrdind") or "").strip() == "9"
            yield (
                row.get("pcds") or row.get("pcd") or "",
                "",
                "" if no_grid else (row.get("oseast1m") or ""),
                "" if no_grid else (row.get("osnrth1m") or ""),
                _real_code(row.get("ctry")),
                _real_code(row.get("oslaua")),
                _real_code(row.get("osward")),
                _onspd_month(row.get("dointr")),
                _onspd_month(row.get("doterm")),
            )


def load_onspd(
    conn, path: Path, *, source: str, release: date | None = None, progress=None
) -> LoadSummary:
    """Load an ONSPD CSV of the edition released on `release` (ONSPD_AUG_2024_UK.csv:
    see release_from_name), which adds terminated postcodes and when they ended.
    Does not commit."""
    return _some_read(
        path,
        load_postcodes(
            conn,
            onspd_rows(path),
            source=source,
            release=release,
            carries=ONSPD_GROUPS,
            progress=progress,
        ),
    )


def _some_read(path: Path, summary: LoadSummary) -> LoadSummary:
    """The summary of a load that took at least one row; PostcodeFileError if none (a
    file of a header alone, a folder of no area files, or every row rejected: a CSV of
    other columns was recorded as loaded, an outside re-check)."""
    if not summary.read:
        raise PostcodeFileError(f"{Path(path).name} holds no postcodes")
    if not (summary.new or summary.changed or summary.unchanged or summary.repaired):
        reason, _ = summary.rejected.most_common(1)[0] if summary.rejected else ("", 0)
        raise PostcodeFileError(
            f"{Path(path).name} holds no postcode the load could take: all "
            f"{summary.read:,} rows were rejected" + (f" ({reason})" if reason else "")
        )
    return summary
