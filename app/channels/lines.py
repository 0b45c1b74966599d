"""Voice calls in progress at once, across every worker: an account has so many lines
(VOICE_LINES), and a call holds one from before it is placed until its provider says
it ended (the status callback), or VOICE_LINE_HOLD_SECONDS pass without word (a lost
callback, a worker killed after taking the line): then the line is taken back. A call
held for VOICE_LINE_CHECK_SECONDS without word is asked about at the provider first
(app.services.outbound.ask_about_held_calls), so lost callbacks (the web app down) do not
keep the lines for the whole hold.

A Redis sorted set holds the calls on a line, each scored by when its line is taken
back; an atomic Lua script frees the lines that are due, then takes one if any is free.
Redis emptied (restarted without its data, flushed) would forget the calls still going
and let VOICE_LINES more start: a key beside the set says it is whole, and while that
key is missing no line is taken until the calls still going (`live_calls`, from the
database) are put back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "voice:lines"
KEPT = "voice:lines:kept"  # present while KEY holds every call still going
# How long to wait before asking again for a line when all are busy.
RETRY_MS = 200

# KEYS[1] = the set, KEYS[2] = its "kept" key; ARGV = now (ms), lines, hold (ms), the
# call, and the line kept for it ("" for none). 0: it has a line; 1: all are busy; 2:
# the set must be put back first.
_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 2 end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 0 end
if ARGV[5] ~= '' and redis.call('ZREM', KEYS[1], ARGV[5]) == 1 then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
  return 0
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
  return 0
end
return 1
"""


# KEYS as _TAKE, and URGENT; ARGV = now (ms), lines, how long a kept line waits (ms),
# the names' prefix, how many are wanted, "1" for an urgent alert's calls, and how long
# (ms) one of those left wanting keeps every line freed for urgent calls. How many lines
# were kept (named prefix1, prefix2...), or -1: the set must be put back first.
_KEEP = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local urgent = ARGV[6] == '1'
if not urgent and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
local kept = math.max(0, math.min(free, tonumber(ARGV[5])))
for i = 1, kept do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4] .. i)
end
if urgent and kept < tonumber(ARGV[5]) then
  redis.call('SET', KEYS[3], 1, 'PX', ARGV[7])
end
return kept
"""
# Set while an urgent alert's calls wait for a line: a line freed then is theirs. A call
# job that finds every line busy goes back to the queue for a second, and an
# incident's calls so handed back lost each freed line to a routine alert's queued
# call jobs: in 3 of 6 runs every routine call went before the incident's last (an
# outside check). Kept URGENT_SECONDS after the last such call found none free, long
# enough for its job to come back, through the sweeper too when the scheduler's worker
# died (OVERDUE_SECONDS and a sweep: 5 s lapsed first, a re-check); a dead job's ends
# then.
URGENT = "voice:lines:urgent"
URGENT_SECONDS = 15
# A line kept for a call a job is claiming is taken by it within moments; one a dead
# worker kept comes back after this long.
KEEP_SECONDS = 60


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
    def __init__(
        self,
        redis: Redis,
        lines: int,
        hold_seconds: float,
        live_calls: Callable[[], list[str]] | None = None,
    ):
        """`live_calls`: the names of the calls still going, as the database knows them
        (placed, no word of their end), to put back in a set Redis lost."""
        self.redis = redis
        self.lines = lines
        self.hold_ms = hold_seconds * 1000
        self.live_calls = live_calls or list
        self._script = redis.register_script(_TAKE)
        self._keep = redis.register_script(_KEEP)

    def take_at(self, call: str, now_ms: float, kept: str = "") -> bool:
        """Whether `call` has a line at `now_ms` on Redis's clock: the one `kept` for it
        (keep), else one free if there is one."""
        args = [now_ms, self.lines, self.hold_ms, call, kept]
        taken = self._script(keys=[KEY, KEPT], args=args)
        if taken == 2 and self._put_back(now_ms):
            taken = self._script(keys=[KEY, KEPT], args=args)
        return taken == 0

    def keep(self, prefix: str, wanted: int, *, urgent: bool = False) -> list[str]:
        """Keep up to `wanted` of the lines free now for calls a job is about to claim,
        each named `prefix` and a number: a call given one takes its line from it, so
        that no other job's call takes the line in between (two jobs that both saw a
        line free both claimed a call, and one waited claimed in its job: an outside
        check). Those not used are given back (release); a dead worker's in
        KEEP_SECONDS. `urgent`: an urgent alert's calls; left wanting, they have every
        line freed in the next URGENT_SECONDS, and other calls none."""
        seconds, micros = self.redis.time()
        now_ms = seconds * 1000 + micros / 1000
        args = [
            now_ms,
            self.lines,
            KEEP_SECONDS * 1000,
            prefix,
            wanted,
            "1" if urgent else "0",
            URGENT_SECONDS * 1000,
        ]
        kept = self._keep(keys=[KEY, KEPT, URGENT], args=args)
        if kept == -1 and self._put_back(now_ms):
            kept = self._keep(keys=[KEY, KEPT, URGENT], args=args)
        return [f"{prefix}{n}" for n in range(1, max(kept, 0) + 1)]

    def kept_for_urgent(self) -> bool:
        """Whether the lines freed are kept for an urgent alert's calls just now."""
        return bool(self.redis.exists(URGENT))

    def stop_keeping_for_urgent(self) -> None:
        """No urgent call waits any more: the lines freed are anyone's again."""
        self.redis.delete(URGENT)

    def _put_back(self, now_ms: float) -> bool:
        """Put the calls still going back on their lines (each held as if just taken),
        then mark the set whole. False when the database could not say: no line is
        taken until it can."""
        try:
            calls = self.live_calls()
        except Exception:  # the database unreachable: waiting is safe, guessing is not
            log.warning("could not read the calls still going; voice lines wait")
            return False
        pipe = self.redis.pipeline()
        if calls:
            pipe.zadd(KEY, {call: now_ms + self.hold_ms for call in calls}, nx=True)
        pipe.set(KEPT, 1)
        pipe.execute()
        if calls:
            log.warning(
                "voice lines were lost from Redis: %s calls still going put back", len(calls)
            )
        return True

    async def acquire_async(self, call: str, kept: str = "") -> None:
        """Wait until `call` has a line (at once when one was `kept` for it)."""
        while True:
            seconds, micros = self.redis.time()
            if self.take_at(call, seconds * 1000 + micros / 1000, kept):
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
