"""A provider's "wait", shared by every worker through Redis, and whether it is still
refusing our own account or server.

A worker that is told to wait (a 429 or 503 with Retry-After, or a refusal of our
account or server: a wrong password, a blocked sender) holds every send through that
provider until then. Held in one job alone, each of the other jobs and workers found
the fault for itself: under a wrong relay password every worker logged in again,
about once a minute each, and a provider asking us to slow down was asked again by
each of them. Now the first refusal holds them all, and when the wait is over the next
send is the probe.

Beside it, when a provider last refused our account or server and when it last took a
message: an alert's page says, beside "Send it again", that sending again now would be
refused again while nothing has been taken since (an outside check pressed it during
the fault, and every message was refused again).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

HELD = "provider:held:"  # + the transport's name: why, until the wait ends
REFUSED = "provider:refused:"  # + name: when it last refused our account or server
TOOK = "provider:took:"  # + name: when it last took a message
# How long the last refusal and the last message taken are remembered: longer than any
# alert offers to be sent again (SEND_AGAIN_WITHIN_HOURS).
REMEMBER_SECONDS = 7 * 24 * 3600
# A worker looks for another's hold this often per provider, and says it took a
# message at most this often: neither costs a round trip a message.
LOOK_EVERY_SECONDS = 0.5
TOOK_EVERY_SECONDS = 5.0

# KEYS[1] = the hold; ARGV = its length (ms), why. A longer hold is not shortened.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
end
return 0
"""


class SharedHolds:
    """One worker's view of the holds: what it asks of Redis, kept for a moment. Every
    Redis error is let go (logged): the worker's own hold still stands, and a message
    is never refused because Redis could not be asked."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self._script = redis.register_script(_HOLD)
        self._looked: dict[str, tuple[float, float, str]] = {}  # name -> (when, until, why)
        self._said_took: dict[str, float] = {}

    def hold(self, name: str, seconds: float, reason: str, *, ours: bool) -> None:
        """Hold every worker's sends through `name` for `seconds`; `ours`: the refusal
        was of our account or server."""
        now = time.monotonic()
        self._looked[name] = (now, now + seconds, reason)
        try:
            self._script(keys=[HELD + name], args=[max(1, int(seconds * 1000)), reason])
            if ours:
                said = json.dumps({"at": time.time(), "reason": reason})
                self.redis.set(REFUSED + name, said, ex=REMEMBER_SECONDS)
        except RedisError as error:
            log.warning("could not share a provider's hold (Redis: %s)", type(error).__name__)

    def held(self, name: str) -> tuple[float, str] | None:
        """(seconds left, why) while some worker was told to wait, else None."""
        now = time.monotonic()
        looked = self._looked.get(name)
        if looked is None or now - looked[0] >= LOOK_EVERY_SECONDS:
            try:
                with self.redis.pipeline(transaction=False) as pipe:
                    left_ms, why = pipe.pttl(HELD + name).get(HELD + name).execute()
            except RedisError:
                left_ms, why = -2, None
            until = now + left_ms / 1000 if left_ms and left_ms > 0 and why else 0.0
            why = why.decode() if isinstance(why, bytes) else why
            # Our own hold, longer than Redis's (not shared, Redis down), still stands.
            if looked is not None and looked[1] > until:
                until, why = looked[1], looked[2]
            looked = (now, until, why or "")
            self._looked[name] = looked
        left = looked[1] - now
        return (left, looked[2]) if left > 0 else None

    def took(self, name: str) -> None:
        """A message was taken through `name`: said at most every TOOK_EVERY_SECONDS."""
        now = time.monotonic()
        if now - self._said_took.get(name, -TOOK_EVERY_SECONDS) < TOOK_EVERY_SECONDS:
            return
        self._said_took[name] = now
        try:
            self.redis.set(TOOK + name, repr(time.time()), ex=REMEMBER_SECONDS)
        except RedisError as error:
            log.warning("could not say a provider took a message (Redis: %s)", type(error).__name__)


@dataclass(frozen=True)
class Refusing:
    """A provider that refused our account or server and has taken nothing since."""

    name: str  # the transport's
    since: float  # when it last refused (seconds since the epoch)
    reason: str


def still_refusing(redis: Redis, names: list[str]) -> list[Refusing]:
    """Of these transports, those whose last word was a refusal of our account or
    server: nothing taken through them since. Empty if Redis cannot say."""
    if not names:
        return []
    try:
        with redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(REFUSED + name).get(TOOK + name)
            said = pipe.execute()
    except RedisError:
        return []
    refusing = []
    for name, refused, took in zip(names, said[::2], said[1::2], strict=True):
        if refused is None:
            continue
        try:
            last = json.loads(refused)
            at, reason = float(last["at"]), str(last["reason"])
            took_at = float(took) if took is not None else 0.0
        except (ValueError, KeyError, TypeError):
            continue
        if took_at < at:
            refusing.append(Refusing(name, at, reason))
    return refusing
