"""Counts kept in Redis for a while: uses an hour, previews a day, runs of an import."""

from __future__ import annotations

from app.extensions import redis_store


def count_one(key: str, *, keep_seconds: int) -> int:
    """Count one more under `key`, kept `keep_seconds` from the first; the count now.
    Raises RedisError when Redis cannot say."""
    with redis_store.client.pipeline() as pipe:
        counted, _ = pipe.incr(key).expire(key, keep_seconds, nx=True).execute()
    return int(counted)
