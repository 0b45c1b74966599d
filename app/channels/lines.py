"""Voice calls in progress at once, across every worker: an account has so many lines
(VOICE_LINES), and a call holds one from before it is placed until its provider says
it ended (the status callback), or VOICE_LINE_HOLD_SECONDS pass without word (a lost
callback, a worker killed after taking the line): then the line is taken back. A call
held for VOICE_LINE_CHECK_SECONDS without word is asked about at the provider first
(app.services.outbound.ask_about_held_calls), so lost callbacks (the web app down) do not
keep the lines for the whole hold.

A Redis sorted set holds the calls on a line, each scored by when its line is taken
back; an atomic Lua script frees the lines that are due, then takes one if any is free.
"""

from __future__ import annotations

import asyncio
import logging

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "voice:lines"
# How long to wait before asking again for a line when all are busy.
RETRY_MS = 200

# KEYS[1] = the set; ARGV = now (ms), lines, hold (ms), the call. 0: it has a line.
_TAKE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 0 end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
  return 0
end
return 1
"""


def call_name(ledger: str, row_id: int, attempt: int | None) -> str:
    """A call's name on the lines: its row's, and the attempt that placed it. A row the
    sweeper took for a lost worker's is sent again by a new attempt; the old attempt,
    if its worker was only slow, still holds its own line under its own name, and
    giving that back must not free the new attempt's (None: a call placed before
    names carried the attempt)."""
    return f"{ledger}:{row_id}" if attempt is None else f"{ledger}:{row_id}/{attempt}"


def row_of(ledger: str, call: str) -> tuple[int, int | None] | None:
    """(row id, attempt) of one of `ledger`'s call names; None for another's."""
    rest = call.removeprefix(f"{ledger}:")
    row_id, slash, attempt = rest.partition("/")
    if rest == call or not row_id.isdigit() or (slash and not attempt.isdigit()):
        return None
    return int(row_id), int(attempt) if slash else None


class Lines:
    def __init__(self, redis: Redis, lines: int, hold_seconds: float):
        self.redis = redis
        self.lines = lines
        self.hold_ms = hold_seconds * 1000
        self._script = redis.register_script(_TAKE)

    def take_at(self, call: str, now_ms: float) -> bool:
        """Whether `call` has a line at `now_ms` on Redis's clock (taking one if free)."""
        return self._script(keys=[KEY], args=[now_ms, self.lines, self.hold_ms, call]) == 0

    async def acquire_async(self, call: str) -> None:
        """Wait until `call` has a line."""
        while True:
            seconds, micros = self.redis.time()
            if self.take_at(call, seconds * 1000 + micros / 1000):
                return
            await asyncio.sleep(RETRY_MS / 1000)

    def release(self, call: str) -> None:
        """The call ended (or was never placed): its line is free. Without Redis, the
        line is taken back when its hold runs out."""
        try:
            self.redis.zrem(KEY, call)
        except RedisError:
            log.warning("could not free a voice line; it is taken back in time")

    def held_longer_than(self, seconds: float) -> list[str]:
        """The calls that took their line at least `seconds` ago, on Redis's clock."""
        now_s, micros = self.redis.time()
        now_ms = now_s * 1000 + micros / 1000
        # A call's score is when its line is taken back (taken + hold); those already
        # due are free, taken back at the next take.
        held = self.redis.zrangebyscore(KEY, now_ms, now_ms - seconds * 1000 + self.hold_ms)
        return [call.decode() if isinstance(call, bytes) else call for call in held]

    def busy(self) -> int:
        """Lines held now (some perhaps due to be taken back)."""
        return self.redis.zcard(KEY)
