"""Messages per second per channel, shared by every worker through Redis.

Sends are spaced evenly, one every WINDOW_MS / limit milliseconds (the generic cell
rate algorithm): a single Redis key holds the earliest time the next send may go, and
an atomic Lua script takes a turn and moves it on. Even spacing, rather than letting
`limit` sends go at once each second, means a send that reaches the provider a little
late (a new connection, a busy machine) cannot bunch up with the next second's.
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

# KEYS[1] = the channel's key; ARGV = now (ms), interval (ms), lateness kept (ms).
# Returns 0 when the send may go now (and books the next slot), else the milliseconds to
# wait.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local late = tonumber(ARGV[3])
local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_slot <= now then
  -- A little late: keep to the schedule. Later (idle): a new schedule from now.
  local from = next_slot
  if now - next_slot > late then from = now end
  redis.call('SET', KEYS[1], tostring(from + interval), 'PX', 60000)
  return 0
end
return math.max(1, next_slot - now)
"""


class RateLimiter:
    def __init__(self, redis: Redis, channel: str, per_second: int):
        self.redis = redis
        self.key = f"ratelimit:{channel}"
        self.per_second = per_second
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
        interval_ms = WINDOW_MS / self.per_second
        return float(self._script(keys=[self.key], args=[now_ms, interval_ms, LATE_MS]))
