"""Load postcode directories (OS Code-Point Open, ONS Postcode Directory).

Rows are streamed (never the whole file in memory), projected with pyproj in vectorised
chunks and COPYed into a temporary staging table, then compared with the live table.
When anything differs, a new table is built from the two (staged rows win; live rows
the load does not mention are kept), its indexes are built after the data is in, and
it is renamed into place at the end of the caller's transaction:

- lookups keep reading the old table until the commit;
- a load that fails part-way leaves the live table untouched;
- a load that changes nothing rewrites nothing.

Functions here take a psycopg 3 connection and never commit.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
)
# Compared between a staged row and the live one to tell "changed" from "unchanged".
COMPARED_COLUMNS = (
    "positional_quality",
    "country_code",
    "admin_district_code",
    "admin_ward_code",
    "introduced_on",
    "terminated_on",
)
_DISPLAY = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
NULL = "\\N"  # COPY's text format for NULL

# Live postcodes, in the postcode areas this load covers, that the load does not list.
_MISSING_IN_LOADED_AREAS = """
    SELECT {select} FROM postcodes p
    WHERE p.terminated_on IS NULL
      AND substring(p.postcode from '^[A-Z]+') IN (
          SELECT DISTINCT substring(postcode from '^[A-Z]+') FROM postcodes_staging)
      AND NOT EXISTS (SELECT 1 FROM postcodes_staging s WHERE s.postcode = p.postcode)
"""


def _differs(staged: str = "s", live: str = "p") -> str:
    columns = [f"{staged}.{c} IS DISTINCT FROM {live}.{c}" for c in COMPARED_COLUMNS]
    columns += [
        f"ST_X({live}.location) IS DISTINCT FROM {staged}.easting",
        f"ST_Y({live}.location) IS DISTINCT FROM {staged}.northing",
    ]
    return "(" + " OR ".join(columns) + ")"


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
        display, quality, country, district, ward, introduced, terminated = chunk.rest[i]
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
        )
        lines.append("\t".join(fields))
    copy.write("\n".join(lines) + "\n")


def _stage(cur, rows: Iterable[tuple], summary: LoadSummary, progress) -> None:
    """COPY normalised rows into the temporary table postcodes_staging.

    Each row is (postcode, quality, easting, northing, country, district, ward,
    introduced_on, terminated_on) as strings, empty where unknown.
    """
    cur.execute(
        "CREATE TEMPORARY TABLE postcodes_staging ("
        " postcode text NOT NULL, display text NOT NULL, positional_quality smallint,"
        " country_code text, admin_district_code text, admin_ward_code text,"
        " easting double precision, northing double precision,"
        " longitude double precision, latitude double precision,"
        " introduced_on date, terminated_on date) ON COMMIT DROP"
    )
    seen: set[str] = set()
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
            # Code-Point's quality 90 and ONSPD's missing grid reference mean "no
            # location": (0, 0) is in the sea off the Scillies, not a place.
            if q == NO_COORDINATES_QUALITY or (e == 0 and n == 0):
                e = n = np.nan
            chunk.keys.append(key)
            chunk.rest.append((display, q, country, district, ward, intro, term))
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


def _count_changes(cur, summary: LoadSummary, *, terminate_missing: bool) -> None:
    cur.execute(
        f"""
        SELECT count(*) FILTER (WHERE p.postcode IS NULL),
               count(*) FILTER (WHERE p.postcode IS NOT NULL AND {_differs()}),
               count(*) FILTER (WHERE s.terminated_on IS NOT NULL
                                  AND (p.postcode IS NULL OR p.terminated_on IS NULL))
        FROM postcodes_staging s LEFT JOIN postcodes p USING (postcode)
        """
    )
    summary.new, changed_rows, summary.terminated = cur.fetchone()
    summary.unchanged = summary.read - summary.rejected_total - summary.new - changed_rows
    summary.changed = changed_rows
    if terminate_missing:
        cur.execute(_MISSING_IN_LOADED_AREAS.format(select="count(*)"))
        missing = cur.fetchone()[0]
        summary.terminated += missing
        summary.changed += missing


def load_postcodes(
    conn,
    rows: Iterable[tuple],
    *,
    source: str,
    terminate_missing: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Load rows of a postcode directory. Does not commit.

    terminate_missing: the load is complete for every postcode area it touches (as a
    Code-Point Open area file is), so a live postcode of those areas that it does not
    list has been terminated; it is kept, marked terminated today.
    """
    summary = LoadSummary()
    with conn.cursor() as cur:
        _stage(cur, rows, summary, progress)
        _count_changes(cur, summary, terminate_missing=terminate_missing)
        if summary.new or summary.changed or summary.terminated:
            _rebuild_and_swap(cur, source=source, terminate_missing=terminate_missing)
        cur.execute("DROP TABLE postcodes_staging")
    return summary


def _rebuild_and_swap(cur, *, source: str, terminate_missing: bool) -> None:
    cur.execute("DROP TABLE IF EXISTS postcodes_next")
    cur.execute(
        "CREATE TABLE postcodes_next "
        "(LIKE postcodes INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
    )
    if terminate_missing:
        missing = (
            "(p.terminated_on IS NULL AND p.postcode IN ("
            + _MISSING_IN_LOADED_AREAS.format(select="p.postcode")
            + "))"
        )
    else:
        missing = "false"
    changed = f"(p.postcode IS NULL OR {_differs()})"
    cur.execute(
        f"""
        INSERT INTO postcodes_next (postcode, display, positional_quality, country_code,
            admin_district_code, admin_ward_code, location, location_wgs84, introduced_on,
            terminated_on, source, updated_at)
        SELECT s.postcode, s.display, s.positional_quality, s.country_code,
               s.admin_district_code, s.admin_ward_code,
               CASE WHEN s.easting IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(s.easting, s.northing), %(bng)s) END,
               CASE WHEN s.longitude IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(s.longitude, s.latitude), %(wgs84)s) END,
               s.introduced_on, s.terminated_on,
               CASE WHEN {changed} THEN %(source)s ELSE p.source END,
               CASE WHEN {changed} THEN now() ELSE p.updated_at END
        FROM postcodes_staging s LEFT JOIN postcodes p USING (postcode)
        UNION ALL
        SELECT p.postcode, p.display, p.positional_quality, p.country_code,
               p.admin_district_code, p.admin_ward_code, p.location, p.location_wgs84,
               p.introduced_on,
               CASE WHEN {missing} THEN current_date ELSE p.terminated_on END,
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
    terminate_missing: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Load OS Code-Point Open. Does not commit.

    A folder of per-area files is complete for each area it holds, so by default the
    postcodes of those areas that it no longer lists are marked terminated; a single
    file (an extract, say) terminates nothing.
    """
    if terminate_missing is None:
        terminate_missing = Path(path).is_dir()
    return load_postcodes(
        conn,
        codepoint_rows(path),
        source=source,
        terminate_missing=terminate_missing,
        progress=progress,
    )


def _onspd_month(value: str | None) -> str:
    """ONSPD dates are YYYYMM: the postcode changed during that month.

    >>> _onspd_month("199812"), _onspd_month("")
    ('1998-12-01', '')
    """
    value = (value or "").strip()
    return f"{value[:4]}-{value[4:6]}-01" if len(value) == 6 and value.isdigit() else ""


def _real_code(code: str | None) -> str:
    """ONS writes "not applicable" as a pseudo-code ending 99999999.

    >>> _real_code("E99999999"), _real_code("E06000023")
    ('', 'E06000023')
    """
    code = (code or "").strip()
    return "" if code.endswith("99999999") else code


def onspd_rows(path: Path) -> Iterator[tuple]:
    """ONS Postcode Directory rows as loader tuples: live and terminated postcodes.

    Locations come from oseast1m/osnrth1m (BNG metres) and are projected exactly like
    Code-Point's, so both sources place a postcode the same way; ONSPD's own lat/long
    is not used. osgrdind 9 means "no grid reference".
    """
    with _open_text(Path(path)) as handle:
        for row in csv.DictReader(handle):
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


def load_onspd(conn, path: Path, *, source: str, progress=None) -> LoadSummary:
    """Load an ONSPD CSV, which adds terminated postcodes and when they ended.
    Does not commit."""
    return load_postcodes(conn, onspd_rows(path), source=source, progress=progress)
