"""Messages per second per channel, shared by every worker through Redis.

A sliding one-second window: a sorted set of the send times of the last second. A
sender may go when fewer than `limit` sends lie in the past second; otherwise it waits
until the oldest of them is a second old. So no one-second window, wherever it starts,
holds more than `limit` sends. The check-and-add is one Lua script, atomic in Redis.
"""

from __future__ import annotations

import time
import uuid

from redis import Redis

# The window is a little over a second: a send is counted when we let it go, but the
# provider counts it when it arrives, and arrival times jitter by a few milliseconds.
WINDOW_MS = 1030

# KEYS[1] = window key; ARGV = now (ms), limit, unique member, window (ms). Returns 0
# when the send may go (and records it), else the milliseconds to wait.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 2000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimiter:
    def __init__(self, redis: Redis, channel: str, per_second: int):
        self.redis = redis
        self.key = f"ratelimit:{channel}"
        self.per_second = per_second
        self._script = redis.register_script(_ACQUIRE)

    def acquire(self) -> None:
        """Block until this send fits in the channel's limit (no limit: return)."""
        if self.per_second <= 0:
            return
        member = uuid.uuid4().hex
        while True:
            # Redis's clock, not ours: every worker measures the window the same way.
            seconds, micros = self.redis.time()
            now_ms = seconds * 1000 + micros // 1000
            wait_ms = self._script(
                keys=[self.key], args=[now_ms, self.per_second, member, WINDOW_MS]
            )
            if wait_ms == 0:
                return
            time.sleep(wait_ms / 1000)
