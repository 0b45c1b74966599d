"""Messages per second per channel (and per sender number), shared by every worker
through Redis.

Sends are spaced evenly, one every WINDOW_MS / limit milliseconds (the generic cell
rate algorithm): a Redis key per limit holds the earliest time the next send may go,
and an atomic Lua script takes a turn of every limit a send is under and moves each
on. Even spacing, rather than letting `limit` sends go at once each second, means a
send that reaches the provider a little late (a new connection, a busy machine)
cannot bunch up with the next second's.
"""

from __future__ import annotations

import asyncio
import time

from redis import Redis

# A little over a second: a send is counted when we let it go, but the provider counts
# it when it arrives, and arrival times jitter by a few milliseconds.
WINDOW_MS = 1030
# A send that takes its turn up to LATE_MS after the turn came (a busy machine woke it
# late) keeps the schedule, so that the rate does not sag under load. Any `limit` + 1
# sends in a row still span at least WINDOW_MS - LATE_MS, over a second.
LATE_MS = 10

# KEYS = the limits' keys, then as many keys marking an urgent alert's sends; ARGV =
# now (ms), lateness kept (ms), "1" for an urgent alert's send, "0" for a routine
# alert's, "2" for another (a resident's code: never kept waiting), how long (ms) the
# mark lasts, how long (ms) a routine send waits while one is marked, then each limit's
# interval (ms). Returns 0 when the send may go now (and books each key's next slot),
# else the milliseconds to wait: a turn of every limit is taken at once, or none is,
# so waiting for one never spends another's turn. While an urgent alert's sends wait
# for turns or take them, a routine alert's take none: they shared the rate, and an
# incident's last texts went after a routine alert's sent beside them (an outside
# check).
_ACQUIRE = """
local now = tonumber(ARGV[1])
local late = tonumber(ARGV[2])
local n = #KEYS / 2
if ARGV[3] == '1' then
  for i = 1, n do redis.call('SET', KEYS[n + i], 1, 'PX', ARGV[4]) end
elseif ARGV[3] == '0' then
  for i = 1, n do
    if redis.call('EXISTS', KEYS[n + i]) == 1 then return tonumber(ARGV[5]) end
  end
end
local wait = 0
for i = 1, n do
  local next_slot = tonumber(redis.call('GET', KEYS[i]) or '0')
  if next_slot > now then wait = math.max(wait, next_slot - now) end
end
if wait > 0 then return math.max(1, wait) end
for i = 1, n do
  local next_slot = tonumber(redis.call('GET', KEYS[i]) or '0')
  -- A little late: keep to the schedule. Later (idle): a new schedule from now.
  local from = next_slot
  if now - next_slot > late then from = now end
  redis.call('SET', KEYS[i], tostring(from + tonumber(ARGV[5 + i])), 'PX', 60000)
end
return 0
"""


class RateLimiter:
    """Sends a second under one or more limits at once: {name: per_second}, e.g. the
    channel's (an account's limit) and the sender number's. A limit of 0 is none."""

    def __init__(
        self, redis: Redis, limits: dict[str, int], *, urgent: bool = False, yields: bool = False
    ):
        """`urgent`: an urgent alert's sends, which take the turns before those that
        `yields` (a routine alert's); others (a resident's code) take theirs as they
        come: a force-wide incident's texts take hours, and codes expire in minutes."""
        self.redis = redis
        self.limits = {name: n for name, n in limits.items() if n > 0}
        self.keys = [f"ratelimit:{name}" for name in self.limits]
        self.key = " ".join(self.keys)  # one task per process waits for a turn of these
        self.per_second = min(self.limits.values(), default=0)  # 0: nothing to wait for
        self.urgent = urgent
        self.yields = yields and not urgent
        self._marks = [f"ratelimit:urgent:{name}" for name in self.limits]
        self._script = redis.register_script(_ACQUIRE)

    def acquire(self) -> None:
        """Block until this send's turn comes (no limit: return at once)."""
        if self.per_second <= 0:
            return
        while wait_ms := self._take_turn():
            time.sleep(wait_ms / 1000)

    async def acquire_async(self) -> None:
        """acquire() for a task on an event loop: it sleeps without holding the loop up
        (taking a turn is one sub-millisecond Redis round trip)."""
        if self.per_second <= 0:
            return
        while wait_ms := self._take_turn():
            await asyncio.sleep(wait_ms / 1000)

    def _take_turn(self) -> float:
        """0 when a send may go now (its turn is taken), else the milliseconds to wait."""
        # Redis's clock, not ours: every worker measures time the same way.
        seconds, micros = self.redis.time()
        return self.take_turn_at(seconds * 1000 + micros / 1000)

    def take_turn_at(self, now_ms: float) -> float:
        """_take_turn at a given time on Redis's clock (milliseconds)."""
        intervals = [WINDOW_MS / n for n in self.limits.values()]
        slowest = max(intervals, default=0)
        # The mark outlasts the gap between two urgent turns, and a routine send looks
        # again a turn later.
        kind = "1" if self.urgent else "0" if self.yields else "2"
        args = [now_ms, LATE_MS, kind, int(2 * slowest) + 200, slowest]
        return float(self._script(keys=self.keys + self._marks, args=[*args, *intervals]))
