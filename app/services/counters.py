"""Counts kept in Redis for a while: uses an hour, previews a day, runs of an import."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from app.extensions import redis_store


def key_digest(value: str) -> str:
    """A counter's key for a number, an e-mail or an IP address: keyed with SECRET_KEY,
    so that Redis (or a copy of it) does not give the value back to anyone who tries
    every number (plain hashes of the 1,000 demo numbers named who had signed up or
    texted HELP that day: an outside check)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


def count_one(key: str, *, keep_seconds: int) -> int:
    """Count one more under `key`, kept `keep_seconds` from the first; the count now.
    Raises RedisError when Redis cannot say."""
    with redis_store.client.pipeline() as pipe:
        counted, _ = pipe.incr(key).expire(key, keep_seconds, nx=True).execute()
    return int(counted)
