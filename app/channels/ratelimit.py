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
import contextlib
import time

from redis import Redis
from redis.exceptions import RedisError

# A little over a second: a send is counted when we let it go, but the provider counts
# it when it arrives, and arrival times jitter by a few milliseconds.
WINDOW_MS = 1030
# A send that takes its turn up to LATE_MS after the turn came (a busy machine woke it
# late) keeps the schedule, so that the rate does not sag under load. Any `limit` + 1
# sends in a row still span at least WINDOW_MS - LATE_MS, over a second.
LATE_MS = 10

# KEYS = the limits' keys; ARGV = now (ms), lateness kept (ms), then each key's interval
# (ms). Returns 0 when the send may go now (and books each key's next slot), else the
# milliseconds to wait: a turn of every limit is taken at once, or none is, so waiting
# for one never spends another's turn.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local late = tonumber(ARGV[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local next_slot = tonumber(redis.call('GET', key) or '0')
  if next_slot > now then wait = math.max(wait, next_slot - now) end
end
if wait > 0 then return math.max(1, wait) end
for i, key in ipairs(KEYS) do
  local next_slot = tonumber(redis.call('GET', key) or '0')
  -- A little late: keep to the schedule. Later (idle): a new schedule from now.
  local from = next_slot
  if now - next_slot > late then from = now end
  redis.call('SET', key, tostring(from + tonumber(ARGV[2 + i])), 'PX', 60000)
end
return 0
"""


# KEYS = the mark's key; ARGV = its time to live (ms). Set unless it would shorten the
# mark there: one round trip, and two workers marking at once cannot shorten it
# (reading it first and then setting it could).
_MARK = """
local px = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < px then redis.call('SET', KEYS[1], 1, 'PX', px) end
return 0
"""


# + a channel: set while an urgent alert's sends through it wait for turns or take
# them, a little longer than the gap between two of their turns. A routine alert's job
# asks the database whether an urgent alert has rows of the channel to send, and reads
# this mark only when the database cannot say (services/outbound.py): they shared the
# rate, and after a database outage an incident's last texts went after 18 to 39 of a
# routine alert's (an outside check).
URGENT_MARK = "ratelimit:urgent:"


def urgent_sending(redis: Redis, channel: str) -> bool:
    """Whether an urgent alert's sends through `channel` are taking its rate's turns."""
    return bool(redis.exists(URGENT_MARK + channel))


class RateLimiter:
    """Sends a second under one or more limits at once: {name: per_second}, e.g. the
    channel's (an account's limit) and the sender number's. A limit of 0 is none.
    `urgent_channel`: an urgent alert's sends through that channel, marked so."""

    def __init__(self, redis: Redis, limits: dict[str, int], *, urgent_channel: str = ""):
        self.redis = redis
        self.limits = {name: n for name, n in limits.items() if n > 0}
        self.keys = [f"ratelimit:{name}" for name in self.limits]
        self.key = " ".join(self.keys)  # one task per process waits for a turn of these
        self.per_second = min(self.limits.values(), default=0)  # 0: nothing to wait for
        self.urgent = bool(urgent_channel)
        self._mark = URGENT_MARK + urgent_channel if urgent_channel else ""
        self._script = redis.register_script(_ACQUIRE)
        self._mark_script = redis.register_script(_MARK)

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
        """0 when a send may go now (its turn is taken), else the milliseconds to wait;
        an urgent alert's marked as taking turns each time it asks."""
        self.mark()
        # Redis's clock, not ours: every worker measures time the same way.
        seconds, micros = self.redis.time()
        return self.take_turn_at(seconds * 1000 + micros / 1000)

    def mark(self, for_seconds: float = 0.0) -> None:
        """An urgent alert's send: its channel marked as taking the rate, a little
        longer than two of its turns (and half a second at least: a send waiting out a
        provider's wait marks it every MARK_EVERY_SECONDS, sender.py), or `for_seconds`
        if longer (one handed back for a wait, until it is due again), never shortened.
        Others: nothing."""
        if not self._mark or not self.limits:
            return
        slowest = max(WINDOW_MS / n for n in self.limits.values())
        px = max(500, int(2 * slowest) + 200, int(for_seconds * 1000))
        with contextlib.suppress(RedisError):  # the rate shared, as before
            self._mark_script(keys=[self._mark], args=[px])

    def take_turn_at(self, now_ms: float) -> float:
        """_take_turn at a given time on Redis's clock (milliseconds)."""
        intervals = [WINDOW_MS / n for n in self.limits.values()]
        return float(self._script(keys=self.keys, args=[now_ms, LATE_MS, *intervals]))
