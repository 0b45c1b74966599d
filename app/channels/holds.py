"""A provider's "wait", shared by every worker through Redis, and whether it is still
refusing our own account or server.

A worker that is told to wait (a 429 or 503 with Retry-After, or a refusal of our
account or server: a wrong password, a blocked sender) holds every send through that
provider until then. Held in one job alone, each of the other jobs and workers found
the fault for itself: under a wrong relay password every worker logged in again,
about once a minute each, and a provider asking us to slow down was asked again by
each of them. Now the first refusal holds them all.

When the wait is over, one send, from whichever worker asks first, goes as the probe
(`probing`), and the others wait in their tasks, spending no attempt, until it is
answered: taken, refused otherwise or unanswered (a timeout), which ends the wait for
all; or told to wait again. (Handed back a second at a time, each wait spent an
attempt, and a backlog first refused long before failed for good in seconds: an
outside check.) Without it, every
send in flight in every worker went the moment the wait ended: 16 refused logins in a
quarter of a second from one worker, 48 from three (an outside check). A probe whose
worker died is given up after PROBE_SECONDS, and another send probes.

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
PROBE = "provider:probe:"  # + name: a probe is due (why it was held), after the wait
PROBING = "provider:probing:"  # + name: a send is the probe, until it is answered
REFUSED = "provider:refused:"  # + name: when it last refused our account or server
# + name: a resident's code waits out the wait in its job, to go first when it ends.
CODE_WAITS = "provider:code-waits:"
TOOK = "provider:took:"  # + name: when it last took a message
# How long the last refusal and the last message taken are remembered: longer than any
# alert offers to be sent again (SEND_AGAIN_WITHIN_HOURS).
REMEMBER_SECONDS = 7 * 24 * 3600
# A worker looks for another's hold this often per provider, and says it took a
# message at most this often: neither costs a round trip a message.
LOOK_EVERY_SECONDS = 0.5
TOOK_EVERY_SECONDS = 5.0
# How long the other sends wait at a time for the probe's answer, how long a probe may
# go unanswered before another send probes, and how long after the wait a probe is
# still due (no send came to probe: nothing was waiting).
PROBE_WAIT_SECONDS = 1.0
PROBE_SECONDS = 30
PROBE_DUE_SECONDS = 600

# What held() answers the send that is to be the probe.
THIS_IS_THE_PROBE = (0.0, "", False, False)

# KEYS = the hold, the probe due, the probe; ARGV = the hold's length (ms), why (its
# words: "1|..." when the refusal was of our account or server, "0|..." otherwise), and
# how long the probe stays due after it (ms). A longer hold is not shortened.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', tonumber(ARGV[1]) + tonumber(ARGV[3]))
end
redis.call('DEL', KEYS[3])
return 0
"""


def _words(said: bytes | str | None) -> tuple[bool, str]:
    """(whether of our account or server, why) from a hold's stored words."""
    said = said.decode() if isinstance(said, bytes) else (said or "")
    ours, _, why = said.partition("|")
    return ours == "1", why


class SharedHolds:
    """One worker's view of the holds: what it asks of Redis, kept for a moment. Every
    Redis error is let go (logged): the worker's own hold still stands, and a message
    is never refused because Redis could not be asked."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self._script = redis.register_script(_HOLD)
        # name -> (when looked, held until, why, ours, a wait for another's probe)
        self._looked: dict[str, tuple[float, float, str, bool, bool]] = {}
        self._said_took: dict[str, float] = {}
        self._probing: set[str] = set()  # names this worker's probe is out for
        self._due: set[str] = set()  # names held, or a probe due, when last looked

    def hold(self, name: str, seconds: float, reason: str, *, ours: bool) -> None:
        """Hold every worker's sends through `name` for `seconds`; `ours`: the refusal
        was of our account or server."""
        now = time.monotonic()
        self._looked[name] = (now, now + seconds, reason, ours, False)
        self._probing.discard(name)
        said = ("1|" if ours else "0|") + reason
        try:
            self._script(
                keys=[HELD + name, PROBE + name, PROBING + name],
                args=[max(1, int(seconds * 1000)), said, PROBE_DUE_SECONDS * 1000],
            )
            if ours:
                last = json.dumps({"at": time.time(), "reason": reason})
                self.redis.set(REFUSED + name, last, ex=REMEMBER_SECONDS)
        except RedisError as error:
            log.warning("could not share a provider's hold (Redis: %s)", type(error).__name__)

    def held(self, name: str) -> tuple[float, str, bool, bool] | None:
        """(seconds left, why, whether of our account or server, whether it is a wait
        for another send's probe rather than the provider's) while some worker was told
        to wait, or a probe after the wait is out; THIS_IS_THE_PROBE when a probe is
        due and this send is to be it; else None."""
        now = time.monotonic()
        looked = self._looked.get(name)
        # Looked again at once when a wait seen has run out: its probe may be due.
        if looked is None or now - looked[0] >= LOOK_EVERY_SECONDS or looked[0] < looked[1] <= now:
            looked = self._look(name, now, looked)
            if looked is None:
                return THIS_IS_THE_PROBE
            self._looked[name] = looked
        left = looked[1] - now
        return (left, looked[2], looked[3], looked[4]) if left > 0 else None

    def _look(self, name: str, now: float, looked):
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.pttl(HELD + name).get(HELD + name).get(PROBE + name)
                left_ms, said, due = pipe.execute()
        except RedisError:
            left_ms, said, due = -2, None, None
        until, why, ours, probe_out = 0.0, "", False, False
        if (left_ms and left_ms > 0 and said) or due is not None:
            self._due.add(name)
        else:
            self._due.discard(name)
        if left_ms and left_ms > 0 and said:
            until = now + left_ms / 1000
            ours, why = _words(said)
        elif due is not None:
            ours, why = _words(due)
            if name in self._probing or not self._claim_probe(name):
                # Another send is the probe: wait for its answer.
                until, probe_out = now + PROBE_WAIT_SECONDS, True
            else:
                self._looked[name] = (now, now + PROBE_WAIT_SECONDS, why, ours, True)
                return None
        # Our own hold, longer than Redis's (not shared, Redis down), still stands.
        if looked is not None and looked[1] > until and not looked[4]:
            until, why, ours, probe_out = looked[1], looked[2], looked[3], False
        return (now, until, why, ours, probe_out)

    def _claim_probe(self, name: str) -> bool:
        try:
            claimed = bool(self.redis.set(PROBING + name, 1, nx=True, ex=PROBE_SECONDS))
        except RedisError:
            return True  # no one can be asked: each worker finds out for itself
        if claimed:
            self._probing.add(name)
        return claimed

    def code_waits(self, name: str, seconds: float, code: str) -> None:
        """A resident's code (`code`: its send's own name) waits out the wait through
        `name`, for `seconds` at most: the other sends waiting let it go first when the
        wait ends (code_waiting). Each code its own entry: one, the word for all, was
        cleared by the first code to go while another still waited (a review)."""
        key = CODE_WAITS + name
        until = time.time() + seconds
        try:
            with self.redis.pipeline() as pipe:
                pipe.zadd(key, {code: until})
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.pexpire(key, max(1, int(seconds * 1000)), nx=True)
                pipe.pexpire(key, max(1, int(seconds * 1000)), gt=True)
                pipe.execute()
        except RedisError as error:
            log.warning("could not say a code waits (Redis: %s)", type(error).__name__)

    def code_waiting(self, name: str) -> bool:
        """Whether a resident's code waits to go first through `name`."""
        try:
            return bool(self.redis.zcount(CODE_WAITS + name, time.time(), "+inf"))
        except RedisError:
            return False

    def code_went(self, name: str, code: str) -> None:
        try:
            self.redis.zrem(CODE_WAITS + name, code)
        except RedisError as error:
            log.warning("could not say a code went (Redis: %s)", type(error).__name__)

    def release_probe(self, name: str) -> None:
        """This worker's probe was not sent after all (withdrawn, cancelled): another
        send may probe at once, not after PROBE_SECONDS."""
        if name in self._probing:
            self._probing.discard(name)
            self._looked.pop(name, None)
            try:
                self.redis.delete(PROBING + name)
            except RedisError as error:
                log.warning("could not give up a probe (Redis: %s)", type(error).__name__)

    def answered(self, name: str) -> None:
        """The provider answered a send through `name` otherwise than "wait": the wait
        is over for every worker (a probe's, or any send's)."""
        if name in self._probing or name in self._due:
            self._probing.discard(name)
            self._due.discard(name)
            self._looked.pop(name, None)
            try:
                self.redis.delete(PROBE + name, PROBING + name)
            except RedisError as error:
                log.warning("could not end a provider's wait (Redis: %s)", type(error).__name__)

    def took(self, name: str) -> None:
        """A message was taken through `name`: the wait is over, and it is said (at
        most every TOOK_EVERY_SECONDS) for the alert's page."""
        self.answered(name)
        now = time.monotonic()
        if now - self._said_took.get(name, -TOOK_EVERY_SECONDS) < TOOK_EVERY_SECONDS:
            return
        self._said_took[name] = now
        try:
            self.redis.set(TOOK + name, repr(time.time()), ex=REMEMBER_SECONDS)
        except RedisError as error:
            log.warning("could not say a provider took a message (Redis: %s)", type(error).__name__)


def waiting(redis: Redis, name: str) -> bool:
    """Whether a provider's wait through `name` stands now, for what asks it anything
    else (the sweeper's questions about texts): asked during a refusal of our account,
    88 questions were refused in 2 s (an outside check). False if Redis cannot say."""
    try:
        return bool(redis.exists(HELD + name))
    except RedisError:
        return False


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
