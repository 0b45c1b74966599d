"""Many sends in flight at once from one job, on an event loop of its own.

The job's thread claims and records deliveries in the database while this loop, on a
thread of its own, keeps up to `concurrency` requests in flight: the providers are never
left waiting for the database, nor the database for the providers. Transports with
`send_async` (Twilio) run on the loop itself; blocking ones (SMTP) on a pool of threads.

A rate-limited channel takes its turn (ratelimit.py) at the last moment before the
request goes out, one task per process at a time, and only after the transport has
warmed up: a turn taken and then spent opening a connection would arrive late and
bunch up with the next one. After any wait for a line, and just before taking a turn,
the job is asked (go_ahead) whether the send is still its own.

When a provider answers "wait" (a 429 or 503 with Retry-After, or a refusal of our own
account or server), the other sends through it are not made until then, the job's and
every other worker's (holds.py): each is handed back at once as a temporary failure, to
be retried when the provider said, rather than asking it again and again.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from redis.exceptions import RedisError

from app.channels.base import (
    NotTried,
    OutgoingMessage,
    SendResult,
    Transport,
    TransportError,
    Withdrawn,
)
from app.channels.connections import close_async_clients
from app.channels.holds import (
    PROBE_SECONDS,
    PROBE_WAIT_SECONDS,
    THIS_IS_THE_PROBE,
    SharedHolds,
)
from app.channels.lines import Lines
from app.channels.ratelimit import RateLimiter

# How often a send waiting for another's probe looks for its answer.
PROBE_POLL_SECONDS = 0.25
# How often an urgent alert's send waiting out a provider's wait marks its rate as
# taken (RateLimiter.mark: the mark lasts longer).
MARK_EVERY_SECONDS = 0.2
# How long after a provider's wait an urgent alert's send handed back for it keeps its
# rate marked: time for its retry to come off the queue and take a turn.
MARKED_AFTER_WAIT_SECONDS = 5.0
# How many provider's waits a send waits out in its job, before its turn and after
# it, in all, before it is handed back: once, and a send meeting a second went back
# through the queue (4 and 8 of an incident's texts at Retry-After 5: an outside
# check). Each no longer than the job's HOLD_IN_PLACE_SECONDS. (Counted afresh after
# each turn, a send met 12, and a code could hold its worker two minutes: found by
# reading.)
WAITS_IN_PLACE = 3

# After a provider's wait, how long the other sends waiting let a resident's code that
# waited too go first (it is the first request: after each wait an incident's texts
# took the first turns, one drew a new 429, and the code waited a whole wait more,
# 23 s in all at Retry-After 8: an outside check).
CODE_FIRST_SECONDS = 1.0


class _Waits:
    """The provider's waits one send may still wait out in its job."""

    def __init__(self) -> None:
        self.left = WAITS_IN_PLACE
        self.name = uuid.uuid4().hex  # the send's own, for a code's word that it waits

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


class _ProbeOut(Exception):
    """Another send is the probe after a wait: this one waits for its answer."""

    def __init__(self, said: str):
        super().__init__(said)
        self.said = said


class ConcurrentSender:
    def __init__(
        self,
        concurrency: int,
        *,
        wait_at_most: float = 60.0,
        holds: SharedHolds | None = None,
        wait_in_place: float = 0.0,
        codes: bool = False,
    ):
        self.concurrency = max(1, concurrency)
        # Its sends are residents' codes: after a wait they go first (CODE_FIRST_SECONDS).
        self.codes = codes
        # A provider's Retry-After is kept to this (RETRY_MAX_SECONDS).
        self.wait_at_most = wait_at_most
        # A send held no longer than this waits here, still the job's (HOLD_IN_PLACE_SECONDS).
        self.wait_in_place = wait_in_place
        self.holds = holds  # None: this job's holds are its own
        self._held_until: dict[str, float] = {}  # transport -> the loop's time
        # transport -> the refusal that asked, and whether it was of our account or server
        self._held_for: dict[str, tuple[str, bool]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._threads: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        # One task per limiter (and urgency) waits for a turn.
        self._turns: dict[tuple[str, bool], asyncio.Lock] = {}
        self._warmed: dict[str, asyncio.Task] = {}
        self._timings: deque[tuple[str, float]] = deque()  # (channel, seconds) per send

    def __enter__(self) -> ConcurrentSender:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        if self._threads is not None:
            self._threads.shutdown()

    def drain_timings(self) -> list[tuple[str, float]]:
        """(channel, seconds) of each provider call finished since the last drain: how
        long the provider took to answer (the rate limiter's wait left out)."""
        drained = []
        while self._timings:
            drained.append(self._timings.popleft())
        return drained

    def submit(
        self,
        transport: Transport,
        limiter: RateLimiter,
        message: OutgoingMessage,
        line: tuple[Lines, str, str] | None = None,
        go_ahead: Callable[[], bool] | None = None,
    ) -> Future[SendResult]:
        """Send in the background; the future holds the result or the exception. With
        `line` (the lines, the call's name on them, and the line kept for it or ""):
        wait for a line first, and give it back if the call is not placed. With
        `go_ahead`: asked (on a thread, it may block) at the last moment before the
        request goes, after any wait for a line or a turn; False withdraws the send
        (Withdrawn)."""
        return asyncio.run_coroutine_threadsafe(
            self._send(transport, limiter, message, line, go_ahead), self._loop
        )

    async def _send(
        self,
        transport: Transport,
        limiter: RateLimiter,
        message: OutgoingMessage,
        line: tuple[Lines, str, str] | None,
        go_ahead: Callable[[], bool] | None,
    ) -> SendResult:
        if line is not None:
            lines, call, kept = line
            try:
                await lines.acquire_async(call, kept)
            except RedisError:
                raise TransportError("voice lines unavailable (Redis)", permanent=False) from None
            try:
                return await self._send_now(transport, limiter, message, go_ahead)
            except TransportError as error:
                if not error.maybe_sent:  # placed perhaps: its callback frees the line
                    lines.release(call)
                raise
            except BaseException:
                lines.release(call)
                raise
        return await self._send_now(transport, limiter, message, go_ahead)

    async def _send_now(
        self,
        transport: Transport,
        limiter: RateLimiter,
        message: OutgoingMessage,
        go_ahead: Callable[[], bool] | None,
    ) -> SendResult:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            try:
                # Before a turn too: a turn is not spent on it. (The probe after a wait
                # is not asked again: it is the one send that goes.)
                waits = _Waits()
                probe = await self._clear_to_send(
                    transport, wait_in_place=self.wait_in_place, marking=limiter.mark, waits=waits
                )
                try:
                    return await self._send_cleared(
                        transport, limiter, message, go_ahead, probe, self.wait_in_place, waits
                    )
                finally:
                    if probe and self.holds is not None:
                        self.holds.release_probe(transport.name)  # if not sent after all
                    if self.codes and self.holds is not None:
                        self.holds.code_went(transport.name, waits.name)
            except TransportError as error:
                if error.retry_after:
                    # An urgent alert's send handed back for a provider's wait keeps
                    # its rate marked until it is due again: the mark lapsed, and when
                    # the wait ended a routine alert's texts went first (33 and 35
                    # between an incident's first and last at Retry-After 8: an
                    # outside check). No longer than the send's retry waits (a
                    # Retry-After of a day kept it a day: found by reading).
                    due = min(error.retry_after, self.wait_at_most)
                    limiter.mark(for_seconds=due + MARKED_AFTER_WAIT_SECONDS)
                raise

    async def _send_cleared(
        self,
        transport: Transport,
        limiter: RateLimiter,
        message: OutgoingMessage,
        go_ahead: Callable[[], bool] | None,
        probe: bool,
        after_turn: float = 0.0,
        waits: _Waits | None = None,
    ) -> SendResult:
        if limiter.per_second > 0:
            if not probe:  # the probe after a wait is the one request that goes
                await self._warm_up(transport)
            # An urgent alert's sends wait for their turns apart from a routine one's.
            turn = self._turns.setdefault((limiter.key, limiter.urgent), asyncio.Lock())
            async with turn:
                # Asked before the turn, not after: however long it takes, the
                # turn's time is the request's (an outside probe saw texts bunch,
                # 3 in a second under a limit of 2, when it came between them).
                await self._ask(go_ahead)
                try:
                    await limiter.acquire_async()
                except RedisError:  # not sent: retry later, like a refused connection
                    raise TransportError(
                        "rate limiter unavailable (Redis)", permanent=False
                    ) from None
                # And again after it: free unless the wait was long (a paused job).
                await self._ask(go_ahead)
        else:
            await self._ask(go_ahead)
        if not probe:
            try:
                await self._clear_to_send(transport)
            except NotTried:
                # Held while it waited for its turn: a short wait is waited out here
                # too (HOLD_IN_PLACE_SECONDS, counted from now: counted from the
                # send's start, a wait of 5 s never fitted, a re-check), then a new
                # turn is taken, so that those held together do not all go at once
                # when it ends; WAITS_IN_PLACE times at most, before and after its
                # turns. Handed back, 32 texts of a run went through the queue again,
                # an incident's last after routine ones (an outside check).
                if after_turn <= 0 or waits is None or waits.left <= 0:
                    raise
                now_probe = await self._clear_to_send(
                    transport, wait_in_place=after_turn, marking=limiter.mark, waits=waits
                )
                try:
                    return await self._send_cleared(
                        transport,
                        limiter,
                        message,
                        go_ahead,
                        now_probe,
                        after_turn,
                        waits,
                    )
                finally:
                    if now_probe and self.holds is not None:
                        self.holds.release_probe(transport.name)  # if not sent after all
        started = time.perf_counter()
        try:
            if hasattr(transport, "send_async"):
                result = await transport.send_async(message)
            else:
                if self._threads is None:
                    self._threads = ThreadPoolExecutor(self.concurrency)
                result = await self._loop.run_in_executor(self._threads, transport.send, message)
        except TransportError as error:
            if error.retry_after:
                seconds = min(error.retry_after, self.wait_at_most)
                self._hold(transport, seconds, error.reason, ours=error.ours)
                if self.holds is not None:
                    self.holds.hold(transport.name, seconds, error.reason, ours=error.ours)
            elif self.holds is not None:
                # Refused, but not "wait"; or not answered in time: either way,
                # not a wait (a slow probe held every worker's sends 30 s).
                self.holds.answered(transport.name)
            raise
        finally:
            self._timings.append((message.channel, time.perf_counter() - started))
        if self.holds is not None:
            self.holds.took(transport.name)
        return result

    def _hold(self, transport: Transport, seconds: float, reason: str, *, ours: bool) -> None:
        until = self._loop.time() + seconds
        if until > self._held_until.get(transport.name, 0):
            self._held_until[transport.name] = until
            self._held_for[transport.name] = (reason, ours)

    async def _clear_to_send(
        self,
        transport: Transport,
        *,
        wait_in_place: float = 0.0,
        marking: Callable[[], None] = lambda: None,
        waits: _Waits | None = None,
    ) -> bool:
        """_not_held, waiting here while another send is the probe after a wait, for
        its answer: handed back a second at a time, each wait spent an attempt, and a
        backlog refused once long before failed for good in seconds (an outside
        check). A probe unanswered for longer than a probe may take is handed back.
        A wait that ends within `wait_in_place` seconds of when it is met is waited out
        here too (before the send's turn and its last go-ahead), WAITS_IN_PLACE at
        most: handed back, every send in flight went through the database and the
        queue again at each 429 of a few scattered among many answers, and an alert's
        texts reached the provider one and a half to three minutes late (an outside
        check). (Counted from the call, a wait met after waiting for a probe's answer
        did not fit: a re-check.)"""
        give_up_at = self._loop.time() + PROBE_SECONDS + 2
        waits = waits or _Waits()
        probe_answered = False
        while True:
            try:
                return self._not_held(transport)
            except _ProbeOut as out:
                if self._loop.time() > give_up_at:
                    raise NotTried(f"held: {out.said}", retry_after=PROBE_WAIT_SECONDS) from None
                probe_answered = True
                marking()
                await asyncio.sleep(PROBE_POLL_SECONDS)
            except NotTried as held:
                # A refusal of our account or server just after the probe's answer is
                # that answer: it will refuse the next probe too (each send waiting
                # became the next probe in turn, and was refused).
                refused_us = probe_answered and self._held_for[transport.name][1]
                if refused_us or held.retry_after > wait_in_place or not waits.take():
                    raise
                # An urgent alert's send waiting here still marks its rate as taken:
                # the mark lapsed, and when the wait ended a routine alert's texts took
                # the first turns (a re-check).
                end = self._loop.time() + held.retry_after
                while (left := end - self._loop.time()) > 0:
                    marking()
                    if self.codes and self.holds is not None:
                        self.holds.code_waits(transport.name, left + CODE_FIRST_SECONDS, waits.name)
                    await asyncio.sleep(min(MARK_EVERY_SECONDS, left))
                if not self.codes and self.holds is not None:
                    await self._after_codes(transport.name)
                # The probe after this wait is given its own time.
                give_up_at = self._loop.time() + PROBE_SECONDS + 2

    async def _after_codes(self, name: str) -> None:
        """Wait while a resident's code that waited out the same wait goes first, for
        CODE_FIRST_SECONDS at most."""
        until = self._loop.time() + CODE_FIRST_SECONDS
        while self._loop.time() < until and self.holds.code_waiting(name):
            await asyncio.sleep(0.05)

    def _not_held(self, transport: Transport) -> bool:
        """Raise a temporary failure, with the wait left, while the provider asked us
        (or another worker) to wait; _ProbeOut while another send is the probe after
        it. True when this send is to be that probe."""
        name = transport.name
        if self.holds is not None and self._held_until.get(name, 0) <= self._loop.time():
            shared = self.holds.held(name)
            if shared is THIS_IS_THE_PROBE:
                return True
            if shared is not None:
                left, reason, ours, probe_out = shared
                if probe_out:
                    said = "waiting after a refusal" if ours else "the provider asked us to wait"
                    raise _ProbeOut(f"{said} ({reason}); another send is trying again first")
                self._hold(transport, left, reason, ours=ours)
        left = self._held_until.get(name, 0) - self._loop.time()
        if left > 0:
            # Which refusal asked: an officer saw only "held" through a rate limit. A
            # refusal of our account did not ask us to wait (an outside check).
            asked, ours = self._held_for[name]
            said = "waiting after a refusal" if ours else "the provider asked us to wait"
            raise NotTried(f"held: {said} ({asked})", retry_after=left)
        return False

    @staticmethod
    async def _ask(go_ahead: Callable[[], bool] | None) -> None:
        """Raise Withdrawn when the send is no longer the job's to make. One that can
        say at once it is (fresh()) is not sent to a thread: no time between a turn
        and its request."""
        if go_ahead is None or getattr(go_ahead, "fresh", lambda: False)():
            return
        if not await asyncio.to_thread(go_ahead):
            raise Withdrawn()

    async def _warm_up(self, transport: Transport) -> None:
        warm_up = getattr(transport, "warm_up", None)
        if warm_up is None:
            return
        if transport.name not in self._warmed:  # the first task warms up, others wait
            self._warmed[transport.name] = asyncio.ensure_future(warm_up())
        await asyncio.shield(self._warmed[transport.name])

    async def _close(self) -> None:
        await close_async_clients()
