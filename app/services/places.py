"""A place's live postcodes as the open API gives them (/api/places/<id>/postcodes):
counted once an hour, not at every call. A whole force's took 2.5-5 s of the database
each time, for anyone, signed in or not, and eight calls at once held every thread of
the web app (an outside check). Postcodes and places change only when they are loaded
again; the count may be an hour behind a load."""

from __future__ import annotations

import contextlib
import json

from redis.exceptions import RedisError

from app.dao import places as places_dao
from app.dao import postcodes as postcodes_dao
from app.extensions import db, redis_store
from app.services.transaction import read_only

KEY = "place-postcodes:"
KEEP_SECONDS = 3600


def postcodes_in_place(place_id: int) -> tuple[int, list[str]] | None:
    """How many live postcodes the place covers and the first 1,000 of them, or None
    for a place we do not have."""
    key = f"{KEY}{place_id}"
    try:
        kept = redis_store.client.get(key)
    except RedisError:
        kept = None
    if kept is not None:
        count, names = json.loads(kept)
        return int(count), list(names)
    with read_only():
        if places_dao.find_place_boundary_wkb(place_id) is None:
            return None
        count, names = postcodes_dao.postcodes_in_place(db.session, place_id)
    with contextlib.suppress(RedisError):  # counted again next time
        redis_store.client.set(key, json.dumps([count, names]), ex=KEEP_SECONDS)
    return count, names
