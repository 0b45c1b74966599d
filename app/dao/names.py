"""Named places (streets, localities a force loaded): what the map's search box finds.
Reads only; never commits."""

# The SQL below is put together from constants (the search key's words), never from
# what was typed: that is always a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from sqlalchemy import exists, select, text

from app.dao.places import escape_like
from app.extensions import db
from app.models import NAME_SEARCH_KEY, NamedPlace, name_search_key
from geo.names import plain_typed

# How many matching names, in alphabetical order, are ranked. Ranking every match of a
# short prefix sorts them all ("st", 60,000 of 300,000 names: 0.3-0.6 s), where taking
# them in the index's order stops at this many (10 ms). A prefix that matches fewer is
# ranked exactly; one that matches more is ranked among its first matches (the name
# itself always among them: it sorts before the longer names it begins).
CANDIDATES = 1000

# The typed text is folded as names are (lower case, curly apostrophes plain) in SQL,
# so that it is PostgreSQL's lower() on both sides. Its value is known when the query
# is planned (see search_names), so the pattern is a constant there and LIKE 'stap%'
# becomes a range scan of the prefix index.
_PATTERN = name_search_key("CAST(:pattern AS text)")
_TYPED = name_search_key("CAST(:typed AS text)")
_SEARCH = text(
    f"""
    SELECT name, kind, area, longitude, latitude
    FROM (
        -- One answer per name and area: the newest release of it, whichever file.
        SELECT DISTINCT ON (search_key, coalesce(area, ''))
               name, kind, area, longitude, latitude, search_key
        FROM (
            SELECT name, kind, area, longitude, latitude, release, id,
                   {NAME_SEARCH_KEY} AS search_key
            FROM named_places
            WHERE {NAME_SEARCH_KEY} LIKE {_PATTERN} ESCAPE '\\'
            -- In the index's order (text_pattern_ops: byte by byte), so the scan
            -- stops at the limit instead of sorting every match.
            ORDER BY {NAME_SEARCH_KEY} USING ~<~
            LIMIT :candidates
        ) matches
        ORDER BY search_key, coalesce(area, ''), release DESC, id
    ) found
    ORDER BY search_key = {_TYPED} DESC, length(search_key), search_key, area NULLS FIRST
    LIMIT :limit
    """
)
# psycopg prepares a statement run five times on a connection, and PostgreSQL then
# keeps one plan for every value. A plan without the pattern in it cannot bound the
# index scan: a prefix nothing starts with ("zz") read every name, 0.5 s for 300,000
# names instead of 1 ms. So each search is planned for its own pattern.
_PLAN_EACH_TIME = text("SET LOCAL plan_cache_mode = force_custom_plan")


def names_loaded() -> bool:
    """Whether any street or place names are loaded."""
    return bool(db.session.scalar(select(exists().select_from(NamedPlace))))


def search_names(prefix: str, limit: int = 10) -> list[dict]:
    """Named places whose name starts with `prefix` (any case; ’ as '), best first: the
    name itself, then shorter names, then alphabetical, one per name and area (ranked
    among the first CANDIDATES matches in alphabetical order). `%` and `_` are matched
    as themselves.

    Each: {"name", "kind", "area" (or None), "longitude", "latitude"} (WGS84).
    """
    prefix = plain_typed(prefix)
    db.session.execute(_PLAN_EACH_TIME)
    rows = db.session.execute(
        _SEARCH,
        {
            "pattern": escape_like(prefix) + "%",
            "typed": prefix,
            "candidates": CANDIDATES,
            "limit": limit,
        },
    )
    return [
        {
            "name": name,
            "kind": kind,
            "area": area,
            "longitude": round(longitude, 6),  # 0.1 m: more is noise
            "latitude": round(latitude, 6),
        }
        for name, kind, area, longitude, latitude in rows
    ]
