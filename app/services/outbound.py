"""The one outbound engine: claim, render, send, record, reconcile, sweep.

Every message the product sends goes through here: an alert's deliveries
(services/dispatch.py), notices to one resident such as codes and links
(services/notices.py), and replies to residents. They differ only in how a message is
rendered and which table holds its row (a Ledger); rate limits, retries, the outbox,
error sorting, asking the provider and the sweeper exist once.

The database is the source of truth and Redis only carries work. Every status change is
a compare-and-swap that only moves a row forward (models.delivery.STATUS_RANK; the SQL
is in dao/outbound.py), so a job that runs twice, or a late provider callback, never
sends twice or goes back. The rule per channel is in the README ("Exactly once, channel
by channel").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app import jobs
from app.channels import (
    Cancelled,
    NotTried,
    OutgoingMessage,
    ProviderStatus,
    SendResult,
    TransportError,
    Withdrawn,
    close_async_clients,
    transport_for,
    transport_name,
)
from app.channels.holds import SharedHolds, waiting
from app.channels.lines import Lines, call_name, row_of
from app.channels.ratelimit import RateLimiter, urgent_sending
from app.channels.sender import ConcurrentSender
from app.dao import outbound as ledger_sql
from app.dao.events import create_provider_event
from app.extensions import db, redis_store
from app.models import FINAL_STATUSES
from app.services import metrics, optout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    id: int  # the row's id in its ledger
    alert_id: int | None  # the alert it belongs to, if any
    resident_id: int | None
    channel: str
    address: str
    attempts: int  # this claim's attempt: with the id, which claim of the row it is
    held: int = 0  # attempts before this one held back, never tried (NotTried)
    # Seconds from the row's first refusal for now (or hold) to this claim; 0: none yet.
    tried_for: float = 0.0

    @property
    def tries(self) -> int:
        """The attempts that count against DELIVERY_MAX_ATTEMPTS, this one included."""
        return self.attempts - self.held

    def out_of_tries(self, config, *, held: bool = False) -> bool:
        """Whether a failure for now (a 5xx, a 429, no connection) fails it for good:
        DELIVERY_MAX_ATTEMPTS tried, and DELIVERY_RETRY_WINDOW_SECONDS gone since it was
        first refused so (not since its first attempt: time spent waiting in the queue
        behind the rest of a large alert counted, and one brief 429 failed 1,519 of
        1,635 texts at once, an outside check). Twelve attempts span about two and a
        half minutes, and a provider's outage longer than that failed an alert's texts
        for good; an outage of up to
        the window (half an hour) now delays them instead. A send `held` back by the
        provider's Retry-After, never tried, fails once the window has gone and it has
        had DELIVERY_MAX_ATTEMPTS attempts, held ones counted: under steady 429s held
        sends never spent their tries, and would have gone out hours late (an outside
        check). Not at its first hold after the window: a call whose first try was
        refused waits unclaimed for a free line, which behind a long voice queue is
        longer than the window, and was failed by one hold at its next turn (7 of 47
        calls, an outside check under a 429 storm)."""
        if self.tried_for < config["DELIVERY_RETRY_WINDOW_SECONDS"]:
            return False
        spent = self.attempts if held else self.tries
        return spent >= config["DELIVERY_MAX_ATTEMPTS"]


def _nothing(*_args) -> None:
    return None


@dataclass(frozen=True)
class Ledger:
    """One kind of outbound message: where its rows live and how each is rendered."""

    name: str  # jobs carry it: "alerts", "notices"
    table: str  # a table of dao.outbound.TABLES
    # The message for each claimed row, in order (called inside an app context).
    render: Callable[[list[Claimed]], list[OutgoingMessage]]
    # The queue its jobs wait on (jobs.ALERTS or jobs.NOTICES), but for bulk_kinds'.
    queue: str = "alerts"
    # Called with the alert ids a batch, a question or a callback touched.
    after: Callable[[set[int]], None] = _nothing
    after_sweep: Callable[[], None] = _nothing
    # Not sent within this long after it was made: failed, not sent late (a code).
    give_up_seconds: int | None = None
    # Kinds of row (a notices' `kind`) of use for longer, each for its own seconds
    # (None: however late): given up after those instead. (kind, seconds) pairs.
    of_use_for: tuple[tuple[str, int | None], ...] = ()
    # Kinds of row whose jobs wait on the bulk queue, behind any alert (an import's
    # notices), however they are queued: first, retried, or put back by the sweeper.
    bulk_kinds: tuple[str, ...] = ()
    # Whether these rows' jobs go ahead of others waiting on their queue when they go
    # back to it (a resident's code, late already). An urgent alert's rows wait on a
    # queue of their own instead (_by_queue).
    ahead: Callable[[list[int]], bool] = lambda ids: False
    # A provider's wait its sends wait out in the job, at least (HOLD_IN_PLACE_SECONDS
    # the rest): a resident's code handed back for each 8 s wait met an incident's
    # texts' next wait each time it came back, 12 times, and came after two minutes
    # (an outside check); waiting, it is there when a wait ends.
    hold_in_place_seconds: float = 0.0
    # Whether an urgent alert still has rows of this channel to send (queued and due
    # soon, or in flight): a routine alert's rows wait while it does, mark or none (the
    # mark outlived the incident's last text by 4 s, and lapsed while none was being
    # sent: outside checks); the mark alone says when the database cannot.
    urgent_rows_waiting: Callable[[str], bool] = lambda channel: True
    # Of these rows, those of an urgent alert; and whether an urgent alert's rows wait
    # to go: what the sweeper puts back goes in that order.
    urgent: Callable[[list[int]], set[int]] = lambda ids: set()
    urgent_waiting: Callable[[], bool] = lambda: False
    # Whether an urgent alert's calls wait to go: while none does, the lines freed are
    # not kept for them (Lines.keep's urgent).
    urgent_calls_waiting: Callable[[], bool] = lambda: True
    # Whether its rows but an urgent alert's wait unclaimed while an urgent alert's
    # sends take their channel's rate (a routine alert's do; a resident's code, of use
    # for minutes, does not wait on an incident's texts, which can take hours).
    yields_to_urgent: bool = False
    # Whether its calls (but its bulk kinds') take the lines freed as an urgent alert's
    # do: a resident's code by call during an incident's calls had none of them, and
    # was given up at ten minutes (found by reading).
    calls_as_urgent: bool = False
    # Every queued and due row of an urgent alert, taken with the forgotten ones (with
    # a number of seconds, only those untouched for that long: forgotten themselves).
    take_urgent: Callable[..., list[int]] = lambda seconds=None: []

    def __post_init__(self) -> None:
        _MADE[self.name] = self


# Every ledger made, by name: the voice lines are put back from all of their calls.
_MADE: dict[str, Ledger] = {}


@dataclass
class Outcome:
    claimed: Claimed
    result: SendResult | None = None
    error: TransportError | None = None


@dataclass
class Totals:
    counts: dict[str, int] = field(
        default_factory=lambda: {"sent": 0, "retry": 0, "failed": 0, "unknown": 0}
    )

    def add(self, more: dict[str, int]) -> None:
        for key, count in more.items():
            self.counts[key] = self.counts.get(key, 0) + count


# --- claiming and recording -------------------------------------------------------


def claim(ledger: Ledger, ids: Iterable[int]) -> list[Claimed]:
    """queued -> sending for those still queued and due, in one committed statement.
    Each e-mail is marked as not sent in the same statement (see "whether its message
    went" below): a worker that dies after the commit leaves none claimed and unmarked
    (an outside probe killed four workers just after their first DATA: ten claimed
    e-mails had no mark yet, became "possibly sent", and never went)."""
    hold = current_app.config["VOICE_LINE_HOLD_SECONDS"]
    claimed = [
        Claimed(*row)
        for row in ledger_sql.claim(
            ledger.table, list(ids), call_hold_seconds=hold, marked=_marked_channels()
        )
    ]
    db.session.commit()
    return claimed


def record(ledger: Ledger, outcomes: list[Outcome]) -> dict[str, int]:
    """Write what the providers said, in one transaction and a statement per kind of
    outcome, however many there are. Returns counts by outcome."""
    config = current_app.config
    sent: list[Outcome] = []
    # unknown, failed
    settled: dict[str, list] = {
        "ids": [],
        "attempts": [],
        "statuses": [],
        "reasons": [],
        "refused": [],  # out of tries, this one refused for now too
    }
    retry: dict[str, list] = {
        "ids": [],
        "attempts": [],
        "reasons": [],
        "delays": [],
        "untried": [],
    }
    counts = {"sent": 0, "retry": 0, "failed": 0, "unknown": 0, "cancelled": 0}
    kinds: list[tuple[str, str]] = []
    for outcome in outcomes:
        claimed, error = outcome.claimed, outcome.error
        if isinstance(error, Withdrawn):
            continue  # another attempt's row now: its outcome is that attempt's to record
        if isinstance(error, Cancelled):
            kind = "cancelled"
            settled["ids"].append(claimed.id)
            settled["attempts"].append(claimed.attempts)
            settled["statuses"].append("cancelled")
            settled["reasons"].append(error.reason)
            settled["refused"].append(False)
        elif error is None:
            sent.append(outcome)
            kind = "sent"
        elif (
            error.maybe_sent
            or error.permanent
            or claimed.out_of_tries(config, held=isinstance(error, NotTried))
        ):
            kind = "unknown" if error.maybe_sent else "failed"
            reason = error.reason
            # No one can be asked what a mail server has, and no callback will say:
            # possibly sent, as an e-mail whose worker died mid-send is, never resent.
            status = "possibly_sent" if kind == "unknown" and claimed.channel == "email" else kind
            if kind == "failed" and not error.permanent:
                # Held ones counted too when this one was held (it has no tries).
                spent = claimed.attempts if isinstance(error, NotTried) else claimed.tries
                reason = f"gave up after {spent} attempts: {reason}"
            settled["ids"].append(claimed.id)
            settled["attempts"].append(claimed.attempts)
            settled["statuses"].append(status)
            settled["reasons"].append(reason)
            settled["refused"].append(kind == "failed" and not error.permanent)
        else:
            kind = "retry"
            retry["ids"].append(claimed.id)
            retry["attempts"].append(claimed.attempts)
            retry["reasons"].append(error.reason)
            wait = error.retry_after if error.wait_alone is None else error.wait_alone
            retry["delays"].append(retry_delay(claimed.tries, wait))
            # Counted as held, not as a try: the request never left.
            retry["untried"].append(isinstance(error, NotTried))
        counts[kind] += 1
        kinds.append((claimed.channel, kind))
    opted_out = {o.claimed.address for o in outcomes if o.error is not None and o.error.opted_out}
    optout.holders_first(opted_out)  # before the rows of their messages
    if sent:
        ledger_sql.mark_sent(
            ledger.table,
            [o.claimed.id for o in sent],
            [o.result.status for o in sent],
            [o.result.provider_ref for o in sent],
            [o.result.segments for o in sent],
        )
    if settled["ids"]:
        ledger_sql.settle(ledger.table, **settled)
    if retry["ids"]:
        ledger_sql.retry_later(ledger.table, **retry, urgent=config["URGENT_CATEGORIES"])
    for number in sorted(opted_out):
        optout.stop_sms(number, by_provider=True)
    db.session.commit()
    metrics.count_messages(ledger.name, kinds)
    return counts


def _record_through_a_lost_connection(ledger: Ledger, outcomes: list[Outcome]) -> dict[str, int]:
    """record(), tried again on a new connection while the database cannot be reached,
    for up to RECORD_RETRY_SECONDS: what the providers said is known only here. (An
    outside check dropped the database's connections mid-send: the job ended with
    them, and 121 e-mails the server had accepted became "possibly sent".) Recording
    twice is harmless: each status change only moves a row forward."""
    give_up_at = time.monotonic() + current_app.config["RECORD_RETRY_SECONDS"]
    wait = 0.2
    while True:
        try:
            return record(ledger, outcomes)
        except OperationalError:
            db.session.rollback()  # the connection is dropped; the next is a new one
            if time.monotonic() + wait > give_up_at:
                raise
            log.warning("recording %d outcomes failed (database); trying again", len(outcomes))
            time.sleep(wait)
            wait = min(wait * 2, 5.0)


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """How long until a temporary failure is tried again: the backoff, or longer when
    the provider asked us to wait longer (Retry-After), though never longer than
    RETRY_MAX_SECONDS: an alert does not wait an hour because a server says so."""
    wait = backoff_seconds(attempt)
    if retry_after is not None:
        wait = max(wait, min(retry_after, current_app.config["RETRY_MAX_SECONDS"]))
    return wait


def backoff_seconds(attempt: int) -> float:
    """Capped exponential backoff with jitter: retries from many workers spread out
    instead of arriving together. Half of each step is waited for certain, so that the
    attempts span a provider's outage of a few minutes: with full jitter, eight
    attempts averaged half a minute in all, and an outside probe's one-minute run of
    503s failed texts for good. (With the defaults, 12 attempts span at least about
    2.5 minutes.)"""
    base = current_app.config["RETRY_BASE_SECONDS"]
    cap = current_app.config["RETRY_MAX_SECONDS"]
    step = min(cap, base * 2 ** max(attempt - 1, 0))
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311


# --- sending a batch ----------------------------------------------------------------


# A job waits for retries due within this long (backoff is capped at RETRY_MAX_SECONDS,
# 60 s by default); anything due later is left queued for the sweeper.
HOLD_IN_JOB_SECONDS = 90
# How often a job waiting on its sends touches their rows (well inside STALLED_SECONDS).
HEARTBEAT_SECONDS = 5
# What has come back is recorded within this long, however long the rest takes.
RECORD_WITHIN_SECONDS = 1.0
# Calls handed back because every line was busy come back after this long; a job with
# the worker to itself looks for a free line this often.
LINES_BUSY_SECONDS = 1.0
LINES_BUSY_WAIT_SECONDS = 0.2
# A job whose database connection dropped hands its rows back for this long: a new
# connection is likely at once, and the database, down, is not asked in a loop.
DROPPED_SECONDS = 1.0


def deliver(ledger: Ledger, ids: list[int]) -> dict[str, int]:
    """Send every row of the batch that is still queued, retrying temporary failures
    with backoff until each is sent, failed for good, or left to the sweeper. Safe to
    run twice: only rows still "queued" are claimed."""
    totals = Totals()
    pending = list(ids)
    touched: set[int] = set()
    config = current_app.config
    yield_at = time.monotonic() + config["JOB_YIELD_SECONDS"]
    try:
        step = _claim_size(ledger, ids) if ids else 1
        # Of its ledger's bulk kinds (an import's notices), asked once.
        bulk = bool(
            ledger.bulk_kinds and ids and ledger_sql.of_kinds(ledger.table, ids, ledger.bulk_kinds)
        )
        with ConcurrentSender(
            config["DELIVERY_CONCURRENCY"],
            wait_at_most=config["RETRY_MAX_SECONDS"],
            holds=SharedHolds(redis_store.client),
            wait_in_place=_wait_in_place(ledger, bulk),
            # Residents' codes and links: after a provider's wait they go first.
            codes=ledger.queue == jobs.NOTICES and bool(ids) and not bulk,
        ) as sender:
            while pending:
                due = ledger_sql.due(ledger.table, pending)
                if not due:
                    wait = _seconds_until_next_attempt(ledger, pending)
                    if wait is None:
                        break  # nothing left to send from this batch
                    if wait > HOLD_IN_JOB_SECONDS:
                        # Held for quiet hours: the sweeper queues them when their time comes,
                        # rather than this job holding a worker until morning.
                        break
                    if not _queue_is_empty(*jobs.QUEUES):
                        # Other batches wait for a worker: their first tries must not wait
                        # for these retries. An import's too (one restricted mailbox's
                        # retries, a minute apart, held a worker in the alert's job, and
                        # an import waited behind it: an outside check). The retries
                        # come back when due (RQ's scheduler, run by `flask worker`;
                        # failing that, the sweeper re-queues them).
                        enqueue(ledger, pending, after_seconds=wait, at_front=ledger.ahead(pending))
                        break
                    time.sleep(min(wait, 1))
                    continue
                done, handed_back, for_lines = _send_due(
                    ledger, sender, due, touched, yield_at, step
                )
                totals.add(done)
                pending = ledger_sql.still_queued(ledger.table, pending)
                if handed_back is not None and pending:
                    # Its turn is over while other jobs wait: the rest goes back to the
                    # queue, behind them. Under a rate limit a text job held its worker for
                    # 75-100 s, and with every worker so held, a dead job's e-mails put back
                    # at the front waited 66 s for one (an outside check).
                    # An urgent alert's go back to the urgent queue, ahead of a routine
                    # alert's waiting: its calls waited behind 52 routine calls (an outside
                    # check).
                    # Calls handed back for want of a line: one job of them a queue comes
                    # back at the front, there when a line is freed (behind the rest, an
                    # incident's calls went four every 20 s, a whole queue's turn, with
                    # lines free after 1.5 s: an outside check, 59 calls over 230 s); the
                    # others behind the rest (all at the front, thirty call jobs came
                    # back there each second and another incident's texts never went: a
                    # review).
                    enqueue(
                        ledger,
                        pending,
                        after_seconds=handed_back,
                        at_front=ledger.ahead(pending)
                        or (for_lines and _first_for_a_line(ledger, pending)),
                        for_a_line=for_lines,
                    )
                    break
                if pending and not any(done.values()):
                    # None of them could be claimed: calls to numbers another call to which
                    # is in doubt until the sweeper asks the provider (or another job's
                    # rows). A later job tries again, rather than this one waiting.
                    enqueue(
                        ledger,
                        pending,
                        after_seconds=ledger_sql.NUMBER_BUSY_SECONDS,
                        for_a_line=True,
                    )
                    break
    except OperationalError:
        # The database dropped the connection between sends (a failover), at the job's
        # first statement or after a send: its rows not sent go back to the queue in a
        # moment, and the job ends. It failed, logged as an error and kept as a failed
        # job, and its rows waited for the sweeper (an outside check). Only rows still
        # queued are claimed again: those sent, or in flight (the sweeper's to ask
        # about), are not sent twice.
        log.warning("the database connection dropped mid-job; its rows go back to the queue")
        rolled_back()
        try:
            enqueue(ledger, pending, after_seconds=DROPPED_SECONDS)
        except OperationalError:
            # Still away (queueing asks it which rows are urgent): they wait for the
            # sweeper, as a dead job's do, the job ending all the same (it failed, an
            # error and a failed job kept: a review).
            rolled_back()
            log.warning("the database is still away; the sweeper puts the job's rows back")
    # The connection dropped after the last send was recorded (a failover): the job
    # failed here, and its alert stayed "sending" till the sweeper came round (an
    # outside check). What follows takes a new one.
    rolled_back()
    try:
        ledger.after(touched)
    except OperationalError:  # dropped as the alert was marked sent: once more
        rolled_back()
        try:
            ledger.after(touched)
        except OperationalError:  # still away: the sweeper marks it
            rolled_back()
            log.warning("the database is still away; the sweeper marks the alert sent")
    counts = totals.counts
    counts["skipped"] = len(ids) - counts["sent"] - counts["failed"] - counts["unknown"]
    return counts


def rolled_back() -> None:
    """The session's transaction ended, its connection perhaps dropped: the rollback
    meets the dead connection once, and the next statement takes a new one."""
    try:
        db.session.rollback()
    except OperationalError:
        db.session.rollback()


def _claim_size(ledger: Ledger, ids: list[int]) -> int:
    """How many rows a job claims at a time: as many as it sends at once, fewer under
    a rate limit. Claimed rows wait their turns in the job, and a job hands its rest
    back only between claims: at 8 texts a second shared by four workers, two chunks
    of 16 took 15-20 s to go, and a turn held the worker that long (an outside
    check). Under a limit, a quarter of a second's worth (at least 2)."""
    config = current_app.config
    size = config["DELIVERY_CONCURRENCY"]
    for channel in ledger_sql.channels_of(ledger.table, ids):
        limits = [
            limit
            for limit in (
                config["RATE_LIMITS"].get(channel, 0),
                config["PER_NUMBER_LIMITS"].get(channel, 0),
            )
            if limit
        ]
        if limits:
            size = min(size, max(2, math.ceil(min(limits) / 4)))
    return size


def _send_due(
    ledger: Ledger,
    sender: ConcurrentSender,
    due: list[int],
    touched: set[int],
    yield_at: float = math.inf,
    step: int | None = None,
) -> tuple[dict[str, int], float | None, bool]:
    asking = _Asking(db.engine)
    try:
        return _send_and_record(ledger, sender, due, touched, yield_at, step, asking)
    finally:
        asking.close()


def _send_and_record(
    ledger: Ledger,
    sender: ConcurrentSender,
    due: list[int],
    touched: set[int],
    yield_at: float,
    step: int | None,
    asking: _Asking,
) -> tuple[dict[str, int], float | None, bool]:
    """Claim, send and record, a chunk at a time and overlapping: while the sender has
    one chunk in flight, the next is claimed, and outcomes are recorded as a chunk's
    worth come back. At most two chunks are claimed and unrecorded at once, so a worker
    that dies leaves few rows "sending". Past `yield_at` (time.monotonic), while other
    jobs wait for a worker, it claims no more; nor when its next row is a call, every
    voice line is busy and other jobs wait. The counts; when it stopped so, in how many
    seconds the caller should hand the rest back to the queue (None: it did not); and
    whether it stopped for want of a line."""
    totals = Totals()
    step = step or sender.concurrency
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    in_flight: dict[Future, Claimed] = {}
    lines = _lines()
    marked = _marked_channels()
    cancelled = _Cancellations(ledger.table)
    last_beat = -math.inf  # the first beat at once: the job may have started late
    # Often enough for the sweeper's STALLED_SECONDS, however short it is set.
    every = min(HEARTBEAT_SECONDS, current_app.config["STALLED_SECONDS"] / 3)

    def beat() -> None:
        """Every HEARTBEAT_SECONDS (or a third of STALLED_SECONDS), say this job is
        alive, so that the sweeper does not take its rows for a dead worker's. By the
        clock, not only when nothing comes back: under a rate limit a steady stream
        of sends finishes while the rest of the chunk waits its turns for longer than
        STALLED_SECONDS."""
        nonlocal last_beat
        if time.monotonic() - last_beat < every:
            return
        # The rows in flight, and those of this batch still waiting their turn in it
        # (under a rate limit, for minutes): the sweeper would queue those again for
        # another job, and more jobs would wait on the same limit.
        waiting = due[claimed_up_to:]
        try:
            ledger_sql.heartbeat(ledger.table, [c.id for c in in_flight.values()] + waiting)
            db.session.commit()
        except OperationalError:
            # The database dropped the connection: beat again next time, on a new one.
            # (Ending the job here lost what the sends in flight came back with.)
            db.session.rollback()
            return
        last_beat = time.monotonic()

    def flush(done: list[Future]) -> None:
        outcomes = [_outcome(in_flight.pop(future), future) for future in done]
        totals.add(_record_through_a_lost_connection(ledger, outcomes))
        metrics.observe("provider_latency_seconds", sender.drain_timings())

    def record_finished(at_least: int) -> None:
        """Wait until `at_least` more sends have come back, recording them as they do:
        what has come back is recorded within RECORD_WITHIN_SECONDS, not when the
        rest has (calls waiting for a line can hold the rest for minutes, and a call
        placed but not recorded has no reference for the sweeper's checks)."""
        done: list[Future] = []
        waiting_since = time.monotonic()
        left = at_least
        while left > 0:
            with contextlib.suppress(queue.Empty):  # still waiting: a rate limit, a slow provider
                done.append(finished.get(timeout=min(every, RECORD_WITHIN_SECONDS)))
                left -= 1
            beat()
            try:
                cancelled.refresh(touched)
            except OperationalError:
                db.session.rollback()  # as for a beat: asked again within a second
            if done and time.monotonic() - waiting_since >= RECORD_WITHIN_SECONDS:
                flush(done)
                done, waiting_since = [], time.monotonic()
        while not finished.empty():
            done.append(finished.get())
        if done:
            flush(done)

    claimed_up_to = 0
    handed_back: float | None = None
    for_lines = False  # handed back for want of a line
    calls = _calls_among(lines, ledger, due)
    urgent_rows = ledger.urgent(due) if due else set()  # once a job, not a chunk
    # The queues whose jobs its turn ends for: an urgent alert's job, not for a routine
    # alert's, which waits on a queue workers take after its own (it handed its rest
    # back every turn, and was taken straight back: a review).
    outranking = (jobs.NOTICES, jobs.URGENT) if due and urgent_rows >= set(due) else ()
    # A routine alert's job (not an urgent one's, a code's or an import's notice's).
    routine = ledger.queue == jobs.ALERTS and not urgent_rows
    urgent_calls = bool(calls & urgent_rows) or (
        ledger.calls_as_urgent
        and bool(calls)
        and not (
            ledger.bulk_kinds
            and ledger_sql.of_kinds(ledger.table, sorted(calls), ledger.bulk_kinds)
        )
    )
    yielding = _yielding_to_urgent(ledger, due, urgent_rows)
    beat()  # before the first claim: the batch's rows are this job's from now
    start = 0
    while start < len(due):
        if len(in_flight) >= step:
            record_finished(len(in_flight) - step + 1)
        # Its turn over while other jobs wait; or at once when a resident's code waits:
        # with every worker in an incident's jobs, a code waited out their turns, 2.5
        # to 3.4 s (an outside check); and a routine alert's, when an urgent alert's
        # job waits: after a provider's wait on texts, both workers had taken routine
        # e-mails, and the incident's texts waited out their turns, 2.1 and 3.6 s (an
        # outside check).
        # And at a turn's end when calls handed back to wait for a line wait while one
        # is free: with both workers in text jobs, an alert's calls waited with every
        # line free for 13.6 s (outside checks).
        if (
            start
            and (
                time.monotonic() >= yield_at
                or (ledger.queue != jobs.NOTICES and _code_waits())
                or (routine and _first_tries_wait(jobs.URGENT))
            )
            and (
                _first_tries_wait(*outranking)
                or (routine and _urgent_jobs_wait())
                or (
                    not calls
                    and time.monotonic() >= yield_at
                    and _calls_wait_with_a_line_free(lines, outranking)
                )
            )
        ):
            handed_back = 0
            claimed_up_to = len(due)  # the rest is no longer this job's to keep alive
            break
        next_rows = _free_of_urgent(ledger, yielding, due[start : start + step])
        waits = not next_rows
        taking, kept = (
            ([], [])
            if waits
            else _with_lines_kept(
                lines, calls, next_rows, urgent_calls, ledger.urgent_calls_waiting
            )
        )
        if not taking:
            # Or its next rows are a routine alert's, and an urgent alert's sends are
            # taking their channel's rate: the same, unclaimed, until they are done.
            # Its next row is a call and every line is busy, perhaps for minutes (calls
            # last that long). Claimed, its calls waited for lines in the job, and held
            # its worker: with four lines, an alert's texts went in 35.6 s rather than
            # 17.9 s (an outside check), every worker waiting in a call's job. Unclaimed,
            # they wait here only while no other job wants the worker.
            # A routine alert's job makes way for an urgent alert's waiting for a line
            # too: kept here, it waited for lines kept for the incident's calls, which
            # waited on the queue for its worker (with a rate on calls, until the job's
            # timeout), then took the lines first (a review).
            if _first_tries_wait() or (routine and _urgent_jobs_wait()):
                handed_back = LINES_BUSY_SECONDS
                for_lines = not waits
                claimed_up_to = len(due)
                break
            record_finished(0)
            beat()
            # No transaction open while it waits: the question whether an incident
            # has texts to send left one idle in it through the sleep (a review).
            db.session.rollback()
            time.sleep(LINES_BUSY_WAIT_SECONDS)
            # Its rows wait unclaimed: an officer's cancel takes them meanwhile.
            with contextlib.suppress(OperationalError):  # asked again in a moment
                still = set(ledger_sql.still_queued(ledger.table, due[start:]))
                due = due[:start] + [row for row in due[start:] if row in still]
            db.session.rollback()  # no transaction left open while it waits
            continue
        claiming = time.monotonic()  # before the claim: never later than its timestamp
        try:
            chunk = claim(ledger, taking)
            start += len(taking)
            claimed_up_to = start
            # Rendered here, reading the database.
            prepared = list(_prepare(ledger, chunk, urgent_rows))
        except OperationalError:
            # The database dropped the connection: claim no more, and record what the
            # sends in flight come back with (on a new connection) before the job ends.
            # A chunk claimed but not rendered is the sweeper's, as a dead worker's. The
            # rest goes back to the queue at once, as at a turn's end: with nothing sent
            # yet in its turn, it was taken for calls to busy numbers and handed back
            # to wait, and an incident's texts stopped for 13 s (an outside check).
            db.session.rollback()
            log.warning("the database connection dropped mid-job; finishing the sends in flight")
            handed_back = 0
            claimed_up_to = len(due)
            _give_back(lines, kept)
            break
        touched.update(c.alert_id for c in chunk if c.alert_id is not None)
        for claimed, message, transport, limiter in prepared:
            if transport.writes_to_database:
                # The outbox records in this thread's transaction, with the status change.
                totals.add(record(ledger, [_send_here(transport, limiter, claimed, message)]))
                continue
            line = _line(lines, ledger, transport, claimed, kept)
            if claimed.channel == "email":
                go_ahead = _StillOurs(ledger, claimed, claiming, cancelled)
                message = _kept_back_unless_still_unsent(ledger, claimed, message)
            elif claimed.channel in marked:
                go_ahead = _StillOursAndUnsent(ledger, claimed, claiming, cancelled, asking)
            else:
                go_ahead = _StillOurs(ledger, claimed, claiming, cancelled, asking)
            future = sender.submit(transport, limiter, message, line, go_ahead)
            in_flight[future] = claimed
            future.add_done_callback(finished.put)
        _give_back(lines, kept)  # kept for calls another job claimed first
    # Record each outcome as it comes back (with whatever else has finished), not when
    # the slowest of the batch answers: an e-mail has no callback, so one sent but not
    # yet recorded when a worker dies can only be counted "possibly sent".
    while in_flight:
        record_finished(1)
    return totals.counts, handed_back, for_lines


# --- whether a message went, known to the sweeper ----------------------------------
# An e-mail left "sending" by a dead worker was "possibly sent" (SMTP cannot be asked),
# though most such had not yet reached the server: an outside probe killed a worker
# while its server was slow, and 16 of 81 residents never got the alert. The server
# must not deliver a message until the line that ends it, so each e-mail's row says,
# from its claim (email_unsent_attempt, set by the claim's own statement) until just
# before that line, that this attempt's message has not gone. The send clears it,
# conditionally and committed, and ends its message only if it did
# (dao.outbound.end_unsent); the sweeper queues again a stalled row still unsent
# (requeue_unsent), and a send whose row it took finds its condition false and
# keeps its message back. The row lock decides who comes first. A refusal of the
# message marks it unsent again (it went nowhere). A stalled e-mail not so marked
# (its end went, or may have) is possibly sent, never sent again.
#
# Texts and calls carry the same mark when they wait in the job (_marked_channels; the
# column kept its first name, so that code a release old runs on the schema), cleared
# before the request's turn (_StillOursAndUnsent). Unmarked, a text or call a killed
# worker had claimed but not yet asked the provider for went the whole "in doubt" way
# (asked about, then sent):
# 5 texts of an incident at +100 s, the rest by +21 s, and a call not placed held one
# of four voice lines for 33 to 39 s (outside checks). A stalled one not so marked
# (its request went, or may have) is still in doubt and asked about.
#
# The mark was a key in Redis, and Redis emptied (FLUSHDB, a restart without
# persistence) as a worker died took the keys of its claimed e-mails: an outside
# check lost 5 and 14 so, "possibly sent" and never sent. In the database it goes
# with the row, and Redis carries only work, as everywhere else.


def _marked_channels() -> tuple[str, ...]:
    """The channels whose claimed rows are marked unsent: e-mail's always, and a text's
    or call's when its sends wait in the job (a rate to keep, voice lines). Without a
    wait, a chunk's requests follow its claim at once, and a statement each before them
    halved the engine's throughput (bench_dispatch.py's scaling, 2 workers, no rate:
    482-513 texts a second without, 237 with)."""
    config = current_app.config
    waits = {
        channel
        for channel in ("sms", "voice")
        if config["RATE_LIMITS"].get(channel) or config["PER_NUMBER_LIMITS"].get(channel)
    }
    if config["VOICE_LINES"]:
        waits.add("voice")
    return ("email", *sorted(waits))


def _kept_back_unless_still_unsent(
    ledger: Ledger, claimed: Claimed, message: OutgoingMessage
) -> OutgoingMessage:
    engine, table = db.engine, ledger.table

    def before_end() -> None:
        try:
            with engine.begin() as connection:
                ours = ledger_sql.end_unsent(connection, table, claimed.id, claimed.attempts)
        except SQLAlchemyError:
            # Not known to have gone: send nothing now, and try again later.
            raise TransportError(
                "could not mark the e-mail as going (database)", permanent=False
            ) from None
        if not ours:
            raise Withdrawn()  # the sweeper took it for a dead worker's: another attempt sends it

    def not_taken() -> None:
        # Refused: it went nowhere. Were this worker to die before recording the
        # refusal, the sweeper would send it again rather than count it possibly sent
        # (an outside probe: 7 of 40 lost so, answered 451).
        with contextlib.suppress(SQLAlchemyError), engine.begin() as connection:
            ledger_sql.unsent_again(connection, table, claimed.id, claimed.attempts)

    return dataclasses.replace(message, before_end=before_end, not_taken=not_taken)


def _prepare(ledger: Ledger, chunk: list[Claimed], urgent: set[int] = frozenset()):
    """Each claimed row with its message, transport and rate limiter: the channel's
    (RATE_LIMITS), and the number's it goes from when that has one (PER_NUMBER_LIMITS),
    a turn of both taken at once."""
    config = current_app.config
    transports, limiters = {}, {}
    # `urgent`: rows of an urgent alert, whose sends are marked as taking the rate's
    # turns (a routine alert's job claims none meanwhile: _send_due).
    for claimed, message in zip(chunk, ledger.render(chunk), strict=True):
        channel = claimed.channel
        if channel not in transports:
            transports[channel] = transport_for(channel)
        sender = getattr(transports[channel], "sender", None)
        number = sender(message) if sender is not None else None
        per_number = config["PER_NUMBER_LIMITS"].get(channel, 0) if number else 0
        first = claimed.id in urgent
        if (channel, number, first) not in limiters:
            limits = {channel: config["RATE_LIMITS"].get(channel, 0)}
            if per_number:
                limits[f"{channel}:{number}"] = per_number
            limiters[channel, number, first] = RateLimiter(
                redis_store.client, limits, urgent_channel=channel if first else ""
            )
        yield claimed, message, transports[channel], limiters[channel, number, first]


def _lines() -> Lines | None:
    """The voice lines (VOICE_LINES), or None when calls are not limited so."""
    config = current_app.config
    if not config["VOICE_LINES"]:
        return None
    hold = config["VOICE_LINE_HOLD_SECONDS"]
    engine = db.engine

    def live_calls() -> list[str]:
        """Every ledger's calls placed within the hold with no word of their end."""
        with engine.connect() as connection:
            return [
                call_name(name, row_id, attempt)
                for name, ledger in _MADE.items()
                for row_id, attempt in ledger_sql.live_calls(connection, ledger.table, hold)
            ]

    return Lines(redis_store.client, config["VOICE_LINES"], hold, live_calls)


def _line(
    lines: Lines | None, ledger: Ledger, transport, claimed: Claimed, kept: list[str]
) -> tuple[Lines, str, str] | None:
    """A call's place on the lines: the lines, the call's name there, and the line kept
    for it (the next of `kept`, taken from the list; "" when none is left)."""
    if lines is None or not getattr(transport, "uses_lines", False):
        return None
    return (
        lines,
        call_name(ledger.name, claimed.id, claimed.attempts),
        (kept.pop(0) if kept else ""),
    )


def _give_back(lines: Lines | None, kept: list[str]) -> None:
    """Free the lines kept for calls the job did not claim after all."""
    for name in kept:
        lines.release(name)
    kept.clear()


def _yielding_to_urgent(ledger: Ledger, ids: list[int], urgent: set[int]) -> dict[int, str]:
    """Of these rows, those that wait while an urgent alert has rows of their channel
    to send (a routine alert's, not in `urgent`, or of a ledger's bulk kinds: an
    import's notices, on a channel with a rate), with the channel. (An import's notices
    took the texting rate while an incident's texts waited out a provider's wait, 36
    and 58 between its first and last: an outside check.)"""
    if not ids:
        return {}
    if not ledger.yields_to_urgent:
        if not ledger.bulk_kinds:
            return {}
        ids = sorted(ledger_sql.of_kinds(ledger.table, ids, ledger.bulk_kinds))
        if not ids:
            return {}
    config = current_app.config
    limited = {
        channel
        for channel in ("sms", "voice", "email")
        if config["RATE_LIMITS"].get(channel, 0) or config["PER_NUMBER_LIMITS"].get(channel, 0)
    }
    if not limited:
        return {}
    return {
        row: channel
        for row, channel in ledger_sql.channel_of_each(ledger.table, ids).items()
        if channel in limited and row not in urgent
    }


def _free_of_urgent(ledger: Ledger, yielding: dict[int, str], rows: list[int]) -> list[int]:
    """These rows up to the first that waits: all when none does, none when the first
    does. A row waits when it yields (`yielding`) and an urgent alert has rows of its
    channel still to send (due now or soon, or in flight), whether or not its sends are
    taking the rate this moment: with none taking it (their job died with its worker,
    Redis lost, a provider's hang), a routine alert took the channel, up to 186 texts
    before an incident's last (an outside check). Each row, not the first alone: an
    import's batch of e-mails and texts took its texts through behind an e-mail (a
    re-check)."""
    asked: dict[str, bool] = {}
    for n, row in enumerate(rows):
        channel = yielding.get(row)
        if channel is None:
            continue
        if channel not in asked:
            asked[channel] = _urgent_rows_of(ledger, channel)
        if asked[channel]:
            return rows[:n]
    return rows


def _urgent_rows_of(ledger: Ledger, channel: str) -> bool:
    """Whether an urgent alert has rows of this channel still to send."""
    try:
        return ledger.urgent_rows_waiting(channel)
    except OperationalError:
        # The database dropped the connection: the mark alone says, urgent first, and
        # the sends in flight are still recorded (raised here, they were not: found by
        # reading). The claim after it finds the database as it is.
        db.session.rollback()
        try:
            return urgent_sending(redis_store.client, channel)
        except RedisError:
            return False  # as before: the rate is shared


def _calls_among(lines: Lines | None, ledger: Ledger, ids: list[int]) -> set[int]:
    """Which of these rows are calls that need a line (none when lines are not limited)."""
    if lines is None or not ids:
        return set()
    by_row = ledger_sql.channel_of_each(ledger.table, ids)
    with_lines = {
        channel
        for channel in set(by_row.values())
        if getattr(transport_for(channel), "uses_lines", False)
    }
    return {row for row, channel in by_row.items() if channel in with_lines}


def _with_lines_kept(
    lines: Lines | None,
    calls: set[int],
    ids: list[int],
    urgent: bool = False,
    urgent_calls_waiting: Callable[[], bool] = lambda: True,
) -> tuple[list[int], list[str]]:
    """The rows of `ids` to claim now, and the lines kept for their calls: all, or up
    to the first call no line could be kept for (rows ahead of it go first: a batch is
    sent in order). The lines are kept before the claim (Lines.keep), so that the calls
    claimed never wait for one in the job; an urgent alert's calls before others, while
    any waits to go: with none left, the lines freed were kept for them until the
    claim lapsed, idle 9 to 15 s after the incident's last call (an outside check)."""
    if lines is None or calls.isdisjoint(ids):
        return ids, []
    try:
        wanted = sum(1 for row in ids if row in calls)
        kept = lines.keep(f"kept:{uuid.uuid4().hex}:", wanted, urgent=urgent)
        if not kept and not urgent and lines.kept_for_urgent() and not urgent_calls_waiting():
            lines.stop_keeping_for_urgent()
            kept = lines.keep(f"kept:{uuid.uuid4().hex}:", wanted)
    except RedisError:
        return ids, []  # each call waits for its line, as it would anyway, or fails
    taking, free = [], len(kept)
    for row in ids:
        if row in calls:
            if not free:
                break
            free -= 1
        taking.append(row)
    return taking, kept


class _Cancellations:
    """The alerts of a job's batch that have been cancelled, looked up on the job's
    thread at most once a second (CANCEL_CHECK_SECONDS), read by its sends without
    waiting. Cancelling moves only queued rows: a job's claimed rows (two chunks), and
    calls waiting for a line, went out after the officer's cancel (an outside probe saw
    26 calls placed up to a minute after it)."""

    def __init__(self, table: str):
        self.table = table
        self.alerts: set[int] = set()
        self.checked_at = -math.inf

    def refresh(self, alert_ids: set[int]) -> None:
        if self.table != "deliveries" or not alert_ids:
            return
        if time.monotonic() - self.checked_at < CANCEL_CHECK_SECONDS:
            return
        self.alerts = self.alerts | ledger_sql.cancelled_alerts(sorted(alert_ids))
        db.session.commit()
        self.checked_at = time.monotonic()

    def __contains__(self, alert_id: int | None) -> bool:
        return alert_id is not None and alert_id in self.alerts


# How soon a cancel reaches the sends a job has claimed (and calls waiting for a line).
CANCEL_CHECK_SECONDS = 1.0


class _StillOurs:
    """Whether the claimed row is still this attempt's to send, asked at the last moment
    before its request goes (on the sender's thread), and for a rate-limited channel
    before its turn and again after. Exactly once must not rest on the heartbeat alone:
    a job that waited long for a line or a turn, and missed its beats (a paused
    machine, a stalled process), may have had its rows taken for a dead worker's and
    sent again by another attempt (an outside probe saw both, the second by a job
    paused while waiting for its turn). Within half of STALLED_SECONDS of the claim, or
    of the last check, no sweeper can have taken the row: nothing is asked (fresh()).
    After that the row is checked and renewed in one statement (renew_claim)."""

    marked = False  # its row marked unsent: _StillOursAndUnsent

    def __init__(
        self,
        ledger: Ledger,
        claimed: Claimed,
        claimed_at: float,
        cancelled: _Cancellations | None = None,
        asking: _Asking | None = None,
    ):
        self.table, self.claimed = ledger.table, claimed
        self.engine = db.engine
        self.asking = asking
        self.fresh_for = current_app.config["STALLED_SECONDS"] / 2
        self.renewed_at = claimed_at
        self.cancelled = cancelled

    def _cancelled(self) -> bool:
        return self.cancelled is not None and self.claimed.alert_id in self.cancelled

    def fresh(self) -> bool:
        return not self._cancelled() and time.monotonic() - self.renewed_at < self.fresh_for

    def __call__(self) -> bool:
        if self._cancelled():
            raise Cancelled()
        if self.fresh():
            return True
        asked = time.monotonic()  # before the statement: never later than its time
        try:
            if self.asking is not None:
                ours = self.asking.run(self._check)
            else:
                with self.engine.begin() as connection:
                    ours = self._check(connection, True)
        except SQLAlchemyError:
            # Not known to have gone: send nothing now, and try again later.
            raise TransportError(
                "could not check the row before sending (database)", permanent=False
            ) from None
        if ours:
            self.renewed_at, self.marked = asked, False
        return ours

    def _check(self, connection, durable: bool) -> bool:
        return ledger_sql.renew_claim(
            connection, self.table, self.claimed.id, self.claimed.attempts
        )


class _Asking:
    """One connection for a job's checks before its requests (_StillOurs), each
    statement its own transaction, its commits durable. On a pooled connection each
    check took a checkout and its ping, BEGIN, the statement, COMMIT and a reset, and
    with every text's mark cleared so, 200 texts a second cost the database twice the
    CPU a text (bench_dispatch's scaling at SMS_PER_SECOND=200). Checks from the
    sender's threads take turns on it. Closed with its job; asked after that (a send
    still going as a job failed), a check takes a pooled connection."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.connection = None
        self.closed = False

    def run(self, check: Callable[..., bool]) -> bool:
        """check(connection, durable): durable, the check makes its commit so."""
        with self.lock:
            if self.closed:
                with self.engine.begin() as connection:
                    return check(connection, True)
            try:
                if self.connection is None:
                    connection = self.engine.connect()
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                    ledger_sql.commits_durable(connection)
                    self.connection = connection
                return check(self.connection, False)
            except SQLAlchemyError:
                self._drop(failed=True)  # a new one next time
                raise

    def _drop(self, *, failed: bool = False) -> None:
        """Back to the pool as it came (its setting undone), or, failed, thrown away."""
        if self.connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                if failed:
                    self.connection.invalidate()
                else:
                    ledger_sql.commits_durable(self.connection, False)
                self.connection.close()
            self.connection = None

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._drop()


class _StillOursAndUnsent(_StillOurs):
    """A text's or call's: the first time it is asked (before the request's turn, or
    just before its request when its channel has no rate), the row's unsent mark is
    cleared, conditionally and committed (dao.outbound.end_unsent), whatever the
    time since the claim; False when the sweeper took the row first. Asked again
    after that, as _StillOurs. Before the turn, not between the turn and the request:
    the statement's time there bunched texts (_send_cleared); a worker killed while
    waiting for its turn leaves the text in doubt, as every one was before."""

    marked = True

    def fresh(self) -> bool:
        return not self.marked and super().fresh()

    def _check(self, connection, durable: bool) -> bool:
        if not self.marked:
            return super()._check(connection, durable)
        return ledger_sql.end_unsent(
            connection, self.table, self.claimed.id, self.claimed.attempts, durable=durable
        )


def _outcome(claimed: Claimed, future: Future) -> Outcome:
    try:
        return Outcome(claimed, result=future.result())
    except TransportError as error:
        return Outcome(claimed, error=error)
    except Exception as error:  # a bug must not leave the row "sending"
        return _unexpected(claimed, error)


def _send_here(transport, limiter, claimed: Claimed, message: OutgoingMessage) -> Outcome:
    limiter.acquire()
    try:
        started = time.perf_counter()
        result = transport.send(message)
        metrics.observe(
            "provider_latency_seconds", [(message.channel, time.perf_counter() - started)]
        )
        return Outcome(claimed, result=result)
    except TransportError as error:
        db.session.rollback()
        return Outcome(claimed, error=error)
    except Exception as error:
        db.session.rollback()
        return _unexpected(claimed, error)


def _unexpected(claimed: Claimed, error: Exception) -> Outcome:
    log.error("%s sending failed unexpectedly", claimed.channel, exc_info=error)
    # Said so to whoever reads the alert's failures; the log has its kind and where.
    return Outcome(
        claimed,
        error=TransportError(
            "the sending engine failed unexpectedly (the worker's log says where)", permanent=True
        ),
    )


def _seconds_until_next_attempt(ledger: Ledger, ids: list[int]) -> float | None:
    wait = ledger_sql.seconds_until_next_attempt(ledger.table, ids)
    db.session.rollback()
    return None if wait is None else max(float(wait), 0.05)


# --- provider callbacks -------------------------------------------------------------


def apply_provider_status(
    ledger: Ledger, row_id: int, update: ProviderStatus, attempt: int | None = None
) -> bool:
    """Move a row forward from a provider's callback (already read by its transport);
    `attempt` is the attempt that placed the call (its line is freed when it ended).
    Idempotent: a repeated or late callback cannot move it back. Returns whether the
    row exists."""
    if update.status is None:
        return True  # a status we do not track: nothing to do
    if update.opted_out and (texted := ledger_sql.number_texted(ledger.table, row_id)):
        optout.holders_first([texted])
    if not create_provider_event(f"status:{ledger.name}:{row_id}:{update.event_key}"):
        db.session.rollback()
        return True  # this very event was applied before: a replay or a retry
    row = ledger_sql.apply_status(
        ledger.table,
        row_id,
        provider_ref=update.provider_ref,
        status=update.status,
        reason=update.reason,
        segments=update.segments,
        duration_seconds=update.duration_seconds,
    )
    if row is not None and update.opted_out and row[2] == "sms":
        optout.stop_sms(row[4], by_provider=True)
    due = _redial_if_unheard(ledger, row_id, update) if row is not None else None
    db.session.commit()
    if update.call_ended and (lines := _lines()) is not None:
        lines.release(call_name(ledger.name, row_id, attempt))
    if due is not None:
        # Lost (Redis down, this process killed), the sweeper finds it queued and due.
        try:
            enqueue(ledger, [row_id], after_seconds=due)
        except RedisError:
            log.warning("could not queue a call placed again; the sweeper will")
    if row is not None and row[3] is not None:
        metrics.observe("callback_lag_seconds", [(row[2], row[3])])
    # Only a row this moved out of waiting can have finished its alert: the many
    # "sent -> delivered" callbacks of a big alert need not ask.
    if row is not None and row[0] is not None and row[1] in ("queued", "sending", "unknown"):
        ledger.after({row[0]})
    return row is not None


def _redial_if_unheard(ledger: Ledger, row_id: int, update: ProviderStatus) -> float | None:
    """An alert's call that ended busy or unanswered is placed again, CALL_REDIAL_SECONDS
    on, up to CALL_REDIALS times (in the transaction that failed it: nobody sees it
    failed in between). Seconds until it is due, or None."""
    config = current_app.config
    if (
        ledger.table != "deliveries"
        or not config["CALL_REDIALS"]
        or not update.call_ended
        or not ledger_sql.unheard_ending(update.reason)
    ):
        return None
    return ledger_sql.redial(
        row_id,
        update.provider_ref,
        most=config["CALL_REDIALS"],
        seconds=config["CALL_REDIAL_SECONDS"],
        urgent=config["URGENT_CATEGORIES"],
    )


# --- the sweeper ------------------------------------------------------------------


# Look for a message at the provider from a little before its attempt was claimed
# (clocks differ, by far less than this between machines kept to time), and ask again
# if the job asking was lost. Not more: a stray call to the number in that time that
# no row holds (an earlier attempt's, sent twice by a lying list) was taken for this
# row's, which was never placed, and reported sent (an outside probe; it looked back a
# minute).
LOOK_BACK_SECONDS = 10
# ...and until after the row became unknown (its request went out before then, but a
# slow Twilio may date what it took later). It was two seconds after: a later call to
# the same number, a newer alert's whose row did not hold it yet, was taken for this
# row's, which was never placed (an outside probe). Since then no call of ours to a
# number is placed while another to it is unknown with no reference
# (dao.outbound._calls_to_wait), so a later call is this row's; and a text is told
# apart by its words, its alert's reference among them. With two seconds, Twilio
# dating what it took 3.3 s after the request gave up had 25 residents texted or called
# twice (an outside check).
LOOK_AFTER_TEXT_SECONDS = 600
LOOK_AFTER_CALL_SECONDS = 60


def _look_after(message: OutgoingMessage) -> float:
    return LOOK_AFTER_TEXT_SECONDS if message.channel == "sms" else LOOK_AFTER_CALL_SECONDS


def _free_lines_of_unplaced_calls(ledger: Ledger, unsent: list[tuple[int, str, int]]) -> None:
    """Give back the lines a dead worker's calls held that it never placed (queued
    again: another attempt takes a line of its own). Kept, each held a line until
    asked about, 33 to 39 s of four lines (an outside check)."""
    lines = _lines()
    if lines is None:
        return
    for row_id, channel, attempt in unsent:
        if channel == "voice":
            lines.release(call_name(ledger.name, row_id, attempt))


ASK_AGAIN_SECONDS = 120


def _unsent_stalled_seconds() -> float:
    """How long a row still marked unsent may go untouched before it is taken for a
    dead worker's: three of its job's beats (_send_and_record's), within STALLED_SECONDS."""
    stalled = current_app.config["STALLED_SECONDS"]
    return min(stalled, 3 * min(HEARTBEAT_SECONDS, stalled / 3))


def sweep(ledger: Ledger) -> dict[str, int]:
    """Find this ledger's work left behind and put it back on the road. Run it every
    few seconds (`flask sweeper`); running it twice at once is harmless.

    1. "sending" for longer than STALLED_SECONDS: its worker died mid-send (see
       dao.outbound.take_stalled for what each channel becomes).
    2. "unknown" for longer than RECONCILE_SECONDS: its callback never came. With a
       provider reference the provider took it: "sent". Without, a job asks the
       provider whether it took it before anything is sent again (reconcile()).
    3. Too late to be of use (give_up_seconds): failed, never sent late.
    4. "queued" and due, untouched for REQUEUE_SECONDS while no job waits in the queue
       (Redis lost its jobs, or a crash came between commit and enqueue): enqueue again.
    """
    config = current_app.config
    outbox = config.get("DELIVERY_TRANSPORT") != "providers"
    table = ledger.table
    unsent: list[tuple[int, str, int]] = []
    if not outbox:
        # Sooner than the rest: one still marked cannot have gone, and were its job only
        # slow, its send finds the row taken and sends nothing. Taken with the rest,
        # a dead job's marked texts waited 32 to 35 s, its lease gone at 10 s (an
        # outside check). Three beats of a live job missed (HEARTBEAT_SECONDS).
        unsent = ledger_sql.requeue_unsent(
            table, seconds=_unsent_stalled_seconds(), urgent=config["URGENT_CATEGORIES"]
        )
    stalled = ledger_sql.take_stalled(table, outbox=outbox, seconds=config["STALLED_SECONDS"])
    ledger_sql.accept_referenced_unknown(table, seconds=config["RECONCILE_SECONDS"])
    to_reconcile = ledger_sql.take_for_reconciling(
        table, seconds=config["RECONCILE_SECONDS"], ask_again_seconds=ASK_AGAIN_SECONDS
    )
    given_up = []
    if ledger.give_up_seconds is not None:
        given_up = ledger_sql.give_up_late(
            table, seconds=ledger.give_up_seconds, of_use_for=dict(ledger.of_use_for)
        )
    ledger_sql.forget_finished_texts(table, stalled + given_up)
    # Only when no job is waiting: a long alert's queued rows are not forgotten, just
    # behind others, and re-queueing them every sweep would flood the queue.
    forgotten: list[int] = []
    # Its own queues' (a code is not forgotten because an incident's jobs wait), and
    # the bulk queue's for its bulk kinds' rows (an import's notices; a code lost with
    # Redis waited for an import's jobs too: a re-check, from reading).
    own = (jobs.URGENT, jobs.ALERTS) if ledger.queue == jobs.ALERTS else (ledger.queue,)
    seconds = config["REQUEUE_SECONDS"]
    if _queue_is_empty(*own):
        forgotten = ledger_sql.take_forgotten(
            table, seconds=seconds, kinds=ledger.bulk_kinds, other_kinds=True
        )
    lost_urgent: list[int] = []
    if not forgotten and ledger.queue == jobs.ALERTS and _queue_is_empty(jobs.URGENT):
        # An urgent alert's lost rows whatever waits on the alerts queue: a routine
        # alert's texts wait for them (_free_of_urgent), its jobs handed back to the
        # alerts queue each second, which was never empty, and neither alert sent a
        # text (found by reading, shown with 300 routine jobs). Those alone: not every
        # urgent row, live jobs' too, which would be queued twice (a review).
        lost_urgent = ledger.take_urgent(seconds)
    if ledger.bulk_kinds and _queue_is_empty(jobs.BULK):
        forgotten += ledger_sql.take_forgotten(table, seconds=seconds, kinds=ledger.bulk_kinds)
    if forgotten:
        # Jobs were lost (Redis, a crash): an urgent alert's rows too, however lately
        # made. An incident sent 1.6 s after a routine alert missed the sweep that put
        # the routine one back, and went after all of it (a re-check). Not those a live
        # job holds: running, or handed back to wait for a line (queued again, each
        # such sweep doubled the jobs cycling for a line: a review). A row a live job
        # also holds is claimed by one of the two.
        urgent_rows = set(ledger.take_urgent())
        if urgent_rows:
            urgent_rows -= _rows_of_live_jobs(ledger, urgent_rows)
        forgotten = sorted(set(forgotten) | urgent_rows)
    forgotten = sorted(set(forgotten) | set(lost_urgent))
    db.session.commit()
    _free_lines_of_unplaced_calls(ledger, unsent)
    unsent_ids = {row_id for row_id, _, _ in unsent}
    ids = sorted(set(forgotten) | unsent_ids | (set(stalled) if outbox else set()))
    # At the front: a dead worker's unsent e-mails went behind a big alert's texts, at
    # 171 s rather than 14 s (an outside check); forgotten rows go only once no job
    # waits, where the front is the back. In jobs of one channel, calls last: in id
    # order across channels, an update's e-mails waited behind an alert's calls for a
    # voice line, 241 s rather than 71 (another). An urgent alert's ahead of the rest,
    # and the rest behind an urgent alert's waiting: in id order, after Redis was lost
    # an incident's calls all waited behind the routine alert sent a second before it
    # (an outside check).
    urgent = ledger.urgent(ids) if ids else set()
    routine = [i for i in ids if i not in urgent]
    if routine:
        front = not ledger.urgent_waiting()
        batches = in_turn(ledger, routine)
        for batch in reversed(batches) if front else batches:
            enqueue(ledger, batch, at_front=front)
    for batch in reversed(in_turn(ledger, sorted(urgent))):
        enqueue(ledger, batch, at_front=True)
    enqueue_reconcile(ledger, to_reconcile)
    ledger.after_sweep()
    found = {
        "stalled": len(stalled) + len(unsent),
        "reconcile": len(to_reconcile),
        "requeued": len(ids),
    }
    if ledger.give_up_seconds is not None:
        found["given_up"] = len(given_up)
    if (asked := ask_about_held_calls(ledger)) is not None:
        found["calls_asked"] = asked
    if (asked := ask_about_unreported_texts(ledger)) is not None:
        found["texts_asked"] = asked
    if (asked := ask_about_unreported_calls(ledger)) is not None:
        found["calls_unreported_asked"] = asked
    return found


# --- calls that hold a line without word of their end -------------------------------

ASKED_KEY = "voice:lines:asked:"


def ask_about_held_calls(ledger: Ledger) -> int | None:
    """Ask the provider about each of this ledger's calls that has held its line for
    VOICE_LINE_CHECK_SECONDS with no word of its end (_check_calls): its status
    callbacks were lost (the web app down, a proxy refusing them), and without this
    each would keep its line for the whole VOICE_LINE_HOLD_SECONDS and its row would
    never say it was answered. The sweeper asks itself, not through a job: the jobs
    that would run one may all be waiting for the very lines it frees. A call is asked
    about at most once every VOICE_LINE_CHECK_SECONDS (at most VOICE_LINES calls).
    Returns how many were asked about; None when calls hold no lines."""
    config = current_app.config
    seconds = config["VOICE_LINE_CHECK_SECONDS"]
    lines = _lines()
    if lines is None or not seconds or config.get("DELIVERY_TRANSPORT") != "providers":
        return None
    held: dict[str, tuple[int, int | None]] = {}
    try:
        for call in lines.held_longer_than(seconds):
            row = row_of(ledger.name, call)
            if row and redis_store.client.set(ASKED_KEY + call, 1, nx=True, ex=seconds):
                held[call] = row
    except RedisError:
        log.warning("could not read the voice lines; calls are asked about later")
        return 0
    if held:
        found = _check_calls(ledger, lines, held)
        log.info("asked about %s held %s calls: %s", len(held), ledger.name, found)
    return len(held)


def _check_calls(
    ledger: Ledger, lines: Lines, held: dict[str, tuple[int, int | None]]
) -> dict[str, int]:
    """Ask the provider how each of these calls stands, and act as its status callback
    would have: a call that ended is settled and frees its line. A line held by a row
    already finished (its callback came, freeing the line did not) or by no row is
    freed. A call still going, or one the provider cannot say of, keeps its line
    (asked again later; the hold still runs out). Safe to run twice: a status is
    applied once (the callback's own event key), and a free line freed again is free."""
    calls_of_row: dict[int, list[str]] = {}
    for call, (row_id, _) in held.items():
        calls_of_row.setdefault(row_id, []).append(call)
    rows = ledger_sql.calls_of(ledger.table, sorted(calls_of_row))
    db.session.rollback()
    counts = {"ended": 0, "going": 0, "freed": 0, "cannot_tell": 0, "reconciled": 0}
    # A call Twilio took but answered too late has no reference to ask about: found
    # here, as a reconcile job would find it, and asked about below. Only a job did,
    # and with every worker in a voice job waiting for a line such calls held, the jobs
    # that would have freed them waited behind those: every channel stopped until the
    # lines' hold ran out (an outside check).
    unreferenced = [row_id for row_id, status, ref in rows if status == "unknown" and not ref]
    if unreferenced:
        counts["reconciled"] = len(unreferenced)
        reconcile(ledger, unreferenced)
        rows = ledger_sql.calls_of(ledger.table, sorted(calls_of_row))
        db.session.rollback()
    found = {row_id for row_id, _, _ in rows}
    free = [row_id for row_id in calls_of_row if row_id not in found]
    # A call given up as "possibly sent" will never be heard of again (see reconcile).
    free += [row_id for row_id, status, _ in rows if status in (*FINAL_STATUSES, "possibly_sent")]
    for row_id in free:
        for call in calls_of_row[row_id]:
            lines.release(call)
            counts["freed"] += 1
    asks = [(row_id, ref) for row_id, status, ref in rows if ref and status in ("sent", "unknown")]
    answers = _statuses_now("voice", [ref for _, ref in asks])
    for (row_id, _), answer in zip(asks, answers, strict=True):
        if isinstance(answer, TransportError) or answer is None:
            counts["cannot_tell"] += 1
        elif answer.call_ended:
            apply_provider_status(ledger, row_id, answer, held[calls_of_row[row_id][0]][1])
            # The row's call ended: any line an earlier attempt of it still holds (taken,
            # then its worker died before calling) is free too.
            for call in calls_of_row[row_id]:
                lines.release(call)
            counts["ended"] += 1
        else:
            counts["going"] += 1
    return counts


def _statuses_now(channel: str, refs: list[str]) -> list:
    """For each call's or text's reference: its ProviderStatus, None when the provider
    has no such message, or the TransportError that kept it from saying."""
    transport = transport_for(channel)  # app context here
    status_of = getattr(transport, "status_async", None)

    async def ask(ref):
        if status_of is None:
            return TransportError(f"{transport.name} cannot be asked about {ref}", permanent=True)
        try:
            return await status_of(ref)
        except TransportError as error:  # an answer it cannot read included
            return error
        except Exception as error:
            return _could_not_ask(transport, error)

    return _all_at_once([ask(ref) for ref in refs])


# --- texts whose delivery was never reported ----------------------------------------
# Twilio reports a text's delivery (or failure) by a status callback, and never sends
# one again that was refused: a callback that came while the database was away (503)
# left its text "sent" for good (an outside check), and reports counted it so. The
# sweeper asks Twilio about texts still "sent" SMS_STATUS_CHECK_SECONDS after they
# went, then every SMS_ASK_AGAIN_SECONDS for SMS_ASK_FOR_HOURS (a network may report
# late, or never), SMS_ASK_AT_ONCE at a time; what it says is applied as the
# callback would have been (the same event key: the callback, coming later, changes
# nothing).
SMS_ASK_AGAIN_SECONDS = 3600
SMS_ASK_FOR_HOURS = 24
SMS_ASK_AT_ONCE = 50


def ask_about_unreported_texts(ledger: Ledger) -> int | None:
    """Ask the provider how each text of this ledger stands whose delivery it never
    reported (see above); how many were asked about, None when texts are not asked
    about (the outbox, or SMS_STATUS_CHECK_SECONDS 0). Safe to run twice: each row is
    taken by one sweep for SMS_ASK_AGAIN_SECONDS, and a status is applied once."""
    return _ask_about_unreported(ledger, "sms", lambda answer: answer.status not in (None, "sent"))


def ask_about_unreported_calls(ledger: Ledger) -> int | None:
    """The same for calls still "sent" (placed, their end never reported): without
    VOICE_LINES nothing asked about them, and with their callbacks lost (refused while
    the database was away; Twilio does not send one again) 120 calls stayed "sent" for
    good, unanswered ones among them (an outside check). With VOICE_LINES, a call
    holding its line is asked about sooner (ask_about_held_calls). A status is applied
    once whoever asks."""
    return _ask_about_unreported(ledger, "voice", lambda answer: answer.call_ended)


def _ask_about_unreported(
    ledger: Ledger, channel: str, settled: Callable[[ProviderStatus], bool]
) -> int | None:
    config = current_app.config
    first = config["SMS_STATUS_CHECK_SECONDS"]
    if not first or config.get("DELIVERY_TRANSPORT") != "providers":
        return None
    if waiting(redis_store.client, transport_name(channel)):
        return 0  # asked after the provider's wait, as the messages are sent
    rows = ledger_sql.texts_to_ask_about(
        ledger.table,
        first_after=first,
        again_after=SMS_ASK_AGAIN_SECONDS,
        hours=SMS_ASK_FOR_HOURS,
        limit=SMS_ASK_AT_ONCE,
        channel=channel,
    )
    db.session.commit()
    if not rows:
        return 0
    answers = _statuses_now(channel, [ref for _, ref in rows])
    for (row_id, _), answer in zip(rows, answers, strict=True):
        if isinstance(answer, ProviderStatus) and settled(answer):
            apply_provider_status(ledger, row_id, answer)
    # The provider could not say (its API answered 500, or nothing): asked again as a
    # first question is, not an hour on. After a two-minute fault, 74 texts and 52
    # calls read "sent", not delivered, for the hour (an outside check).
    # A call, too, that the provider did not know (yet) or said had not ended: a call
    # ends within minutes, and one found busy is placed again only once its end is
    # known (asked an hour on, busy calls waited the hour for their redial, and the
    # alert read finished: an outside check).
    unsaid = [
        row_id
        for (row_id, _), answer in zip(rows, answers, strict=True)
        if isinstance(answer, TransportError)
        or (channel == "voice" and not (isinstance(answer, ProviderStatus) and settled(answer)))
    ]
    if unsaid:
        ledger_sql.ask_about_sent_again_in(ledger.table, unsaid, first)
        db.session.commit()
    return len(rows)


def reconcile(ledger: Ledger, ids: list[int]) -> dict[str, int]:
    """For each text or call still "unknown" with no provider reference, ask the
    provider whether it took it since the attempt began (Twilio lists messages and
    calls by recipient and date), before anything is sent twice:
      - it did: adopt its reference, "sent" (its status callback may still come);
      - it did not: asked once more RECONCILE_SECONDS later (a list that lags, or a
        fault that answers an empty list, would otherwise have it sent twice: an
        outside probe's gateway answered empty lists for 20 s, and 19 residents were
        sent an alert twice); when it still has no record, send again while attempts
        remain and it is still of use, else "failed" with why (or "cancelled" when the
        alert was cancelled or the channel stopped);
      - it cannot tell (an outage, an answer it cannot read): asked again every
        RECONCILE_SECONDS for RECONCILE_PATIENCE_SECONDS after the row became unknown,
        then "possibly_sent" with why, never sent again. (It ended "possibly sent" at
        once, and a message that never reached the provider in a short outage was
        never sent: an outside probe.)
    Safe to run twice: each row changes only while still unknown and unreferenced."""
    rows = ledger_sql.to_reconcile(
        ledger.table,
        ids,
        give_up_seconds=ledger.give_up_seconds,
        of_use_for=dict(ledger.of_use_for),
    )
    rows, later = _oldest_first(ledger, rows)
    if later:
        ledger_sql.ask_again_in(ledger.table, later, current_app.config["RECONCILE_SECONDS"])
        db.session.commit()
    waiting = len(later)
    db.session.rollback()
    config = current_app.config
    patience = config["RECONCILE_PATIENCE_SECONDS"]
    claimed = [Claimed(*row[:8]) for row in rows]
    messages = ledger.render(claimed)
    answers = _ask_providers(
        [
            (
                m,
                _asked_since(row) - timedelta(seconds=LOOK_BACK_SECONDS),
                row.unknown_since + timedelta(seconds=_look_after(m)),
            )
            for m, row in zip(messages, rows, strict=True)
        ]
    )
    answers = _unheld(answers)
    counts = {
        "found": 0,
        "resend": 0,
        "failed": 0,
        "possibly_sent": 0,
        "cancelled": 0,
        "asking_again": 0,
        "waiting": waiting,
    }
    resend: list[int] = []
    never_placed: list[Claimed] = []
    asked_again: dict[str, list[int]] = {}  # reason -> rows, one statement each
    for claim_, answer, row in zip(claimed, answers, rows, strict=True):
        kind, status, reason, ref = _reconciled(
            claim_, answer, row, config, patience, config["RECONCILE_NO_RECORD_SECONDS"]
        )
        if kind == "asking_again":
            asked_again.setdefault(reason, []).append(claim_.id)
            counts[kind] += 1
        elif ledger_sql.settle_reconciled(
            ledger.table, claim_.id, status=status, reason=reason, provider_ref=ref
        ):
            counts[kind] += 1
            if kind == "resend":
                resend.append(claim_.id)
            # "possibly_sent" too: asked about for RECONCILE_PATIENCE_SECONDS with no
            # answer, a call placed then has long ended, and held its line for the
            # rest of VOICE_LINE_HOLD_SECONDS: six such stopped every call for 8-11
            # minutes after an outage (an outside check).
            if claim_.channel == "voice" and kind in (
                "resend",
                "failed",
                "cancelled",
                "possibly_sent",
            ):
                never_placed.append(claim_)
    for reason, again in asked_again.items():
        ledger_sql.ask_again_in(ledger.table, again, config["RECONCILE_SECONDS"], reason=reason)
    ledger_sql.forget_finished_texts(ledger.table, [c.id for c in claimed])
    db.session.commit()
    # The provider has no such call: its line is free now. It was kept (the call might
    # have been placed) until its hold ran out, and held up every call meanwhile (an
    # outside probe: three such calls stopped all calls for VOICE_LINE_HOLD_SECONDS).
    lines = _lines() if never_placed else None
    for gone in never_placed if lines is not None else ():
        lines.release(call_name(ledger.name, gone.id, gone.attempts))
    for same_channel in by_channel(ledger, resend):
        enqueue(ledger, same_channel)
    ledger.after({c.alert_id for c in claimed if c.alert_id is not None})
    return counts


def _asked_since(row) -> datetime:
    """From when the provider's list may hold this row's message. A text, from its
    first attempt: a list that lags may show an earlier attempt's text only after a
    later attempt, and asked from the latest alone, it was sent again and again (an
    outside check: 6 texts each with a list 30 s behind). Texts are matched by their
    words too, so no other alert's is taken for it. A call, from its latest attempt:
    a call's words cannot be listed, and an earlier alert's call to the number that
    no row holds may lie further back."""
    if row.channel == "sms":
        return min(row.first_attempted_at, row.attempted_at)
    return row.attempted_at


def _oldest_first(ledger: Ledger, rows: list) -> tuple[list, list[int]]:
    """The rows to ask about now, and the ids of those that wait: a row waits while an
    older one to the same number (either ledger, any alert) is still open. Twilio's
    list cannot tell whose call a call is, and the older row's call, not yet held by
    it, would be taken for this one's (the update reported sent, the first alert
    called again). Once the older row is settled, this one is asked about (the sweeper
    asks again after RECONCILE_SECONDS)."""
    others = ledger_sql.unsettled_to(sorted({row.address for row in rows}))
    kept, later = [], []
    for row in rows:
        mine = (ledger.table, row.id)
        older = any(
            address == row.address
            and (table, row_id) != mine
            and (began, table, row_id) < (row.attempted_at, *mine)
            for table, row_id, address, began in others
        )
        if older:
            later.append(row.id)
        else:
            kept.append(row)
    return kept, later


def _unheld(answers: list) -> list:
    """Each provider's list of what it took (newest first) as the one this row sent:
    the newest no other row holds, and no two rows here the same; None when every one
    is another's (an earlier alert's call to the same number is not this one's)."""
    found = {r.provider_ref for a in answers if isinstance(a, list) for r in a}
    held = ledger_sql.refs_held(sorted(found)) if found else set()
    chosen = []
    for answer in answers:
        if isinstance(answer, list):
            mine = next((r for r in answer if r.provider_ref not in held), None)
            if mine is not None:
                held.add(mine.provider_ref)
            answer = mine
        chosen.append(answer)
    return chosen


# The reason of a row the provider has had no record of so far: asked again.
NO_RECORD_YET = "no answer in time, and the provider had no record of it yet: asking again"


# How the reason of a row asked about again after a failed ask ends.
ASKING_AGAIN = ": asking again"


def _reconciled(claimed: Claimed, answer, row, config, patience: float, no_record: float) -> tuple:
    """(kind, status, reason, provider reference) for the provider's answer; kind
    "asking_again" keeps the row unknown, with that reason, to be asked again.
    `patience`: how long after the row became unknown the provider is asked again
    while it cannot say; `no_record`: while it says it has no record (a list that
    lags: an outside probe's, 40 s behind, had 11 of 100 residents sent a text twice
    when "no record" was asked only once more, RECONCILE_SECONDS later)."""
    if isinstance(answer, SendResult):
        return (
            "found",
            "sent",
            "no answer in time, but the provider had taken it",
            answer.provider_ref,
        )
    if isinstance(answer, TransportError):
        # Past its patience only once an ask before this one failed too: a lost job
        # meant a row was first asked about after its patience had run out, and that
        # one failed ask ended it "possibly sent", a text never taken (an outside check).
        # (Not a "no record yet" answer: that ask was answered, and says it was likely
        # never taken: a review.)
        reason = row.reason or ""
        asked_before = reason.endswith(ASKING_AGAIN) and reason != NO_RECORD_YET
        patient = float(row.unknown_for) < patience or not asked_before
        if not answer.permanent and not row.too_late and patient:
            reason = f"no answer in time, and {answer.reason}{ASKING_AGAIN}"
            return "asking_again", None, reason, None
        reason = f"possibly sent: no answer in time, and {answer.reason}"
        return "possibly_sent", "possibly_sent", reason, None
    if row.stopped:
        reason = "not sent again: the alert was cancelled or the recipient stopped"
        return "cancelled", "cancelled", reason, None
    if row.too_late:
        reason = "not sent in time: no answer, and the provider has no record of it"
        return "failed", "failed", reason, None
    # By its attempts alone, not the retry window: a request with no answer and no
    # record may yet be in a lagging list, and each resend risks a second message.
    if claimed.tries >= config["DELIVERY_MAX_ATTEMPTS"]:
        reason = (
            f"gave up after {claimed.tries} attempts: no answer in time, "
            "and the provider has no record of it"
        )
        return "failed", "failed", reason, None
    if row.reason != NO_RECORD_YET or float(row.unknown_for) < no_record:
        return "asking_again", None, NO_RECORD_YET, None
    reason = "no answer in time, and the provider has no record of it: sending again"
    return "resend", "queued", reason, None


def _ask_providers(asks: list[tuple[OutgoingMessage, datetime, datetime]]) -> list:
    """For each (message, since, until): the provider's records made in that time that
    may be it (SendResults, newest first; empty when none), or the TransportError that
    kept it from saying."""
    transports = {m.channel: transport_for(m.channel) for m, *_ in asks}  # app context here

    async def ask(message, since, until):
        transport = transports[message.channel]
        find = getattr(transport, "find_async", None)
        if find is None:
            return TransportError(f"{transport.name} cannot be asked what it sent", permanent=True)
        try:
            return await find(message, since, until)
        except TransportError as error:
            return error
        except Exception as error:  # a bug, or an answer no one foresaw: not the batch's end
            return _could_not_ask(transport, error)

    return _all_at_once([ask(*asked) for asked in asks])


def _could_not_ask(transport, error: Exception) -> TransportError:
    """An unforeseen failure asking the provider about one row: that row cannot be told
    of now, and the others asked with it still are. (A list Twilio answered with JSON
    cut short raised from deep in the SDK, ended the whole job, and left every row it
    asked about unknown until the sweeper asked again: an outside probe.)"""
    # The kind of failure only: an SDK's message may carry the request's address, which
    # names the recipient's number.
    log.warning("asking %s failed unexpectedly: %s", transport.name, type(error).__name__)
    return TransportError(
        f"{transport.name} could not be asked ({type(error).__name__})", permanent=False
    )


def _all_at_once(asks: list) -> list:
    """Await these coroutines together, on an event loop of a thread of its own (the
    caller's thread may already run one), and close the providers' clients after."""

    async def ask_all():
        try:
            return await asyncio.gather(*asks)
        finally:
            await close_async_clients()

    if not asks:
        return []
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, ask_all()).result()


# --- putting work on the queue ------------------------------------------------------


def _rows_of_live_jobs(ledger: Ledger, among: set[int]) -> set[int]:
    """Which of these rows a live job holds: jobs.rows_of_live_jobs, and those in the
    range of a running alert range job (how a fan-out is queued); none when Redis cannot
    say (a row a live job also holds is claimed by one of the two)."""
    try:
        held = jobs.rows_of_live_jobs(ledger.name) & among
        ranges = jobs.ranges_of_live_jobs() if ledger.table == "deliveries" else []
    except RedisError:
        return set()
    return held | ledger_sql.within_ranges(sorted(among - held), ranges)


def _code_waits() -> bool:
    """Whether a job waits on the notices queue (a resident's code, a link) that can
    go now: not one handed back to wait for a line, which came back each second while
    an incident's calls held the lines, and each time every alert's job made way for
    it (found by reading, shown with a code by call during an incident's calls)."""
    return _first_tries_wait(jobs.NOTICES)


def _first_tries_wait(*on: str) -> bool:
    """Whether a job waits on the queues named (jobs.waiting's: by default the notices,
    urgent and alerts queues) that is not one handed back to wait for a line: those
    find the lines as busy, and a job making way for them only churns (with thirty
    call jobs waiting for a line, an incident's 200 texts at 20 a second took 20 to
    25 s rather than 12 to 13, its text job ending its turn every 3 s behind them: a
    review). False when Redis cannot say: the job goes on."""
    try:
        return jobs.first_tries_waiting(*on)
    except RedisError:
        return False


def _calls_wait_with_a_line_free(lines: Lines | None, on: tuple[str, ...]) -> bool:
    """Whether a job handed back to wait for a line waits on the queues named (by
    default the notices, urgent and alerts queues) while a line is free for it. False
    when Redis cannot say: the job goes on."""
    if lines is None:
        return False
    try:
        return lines.busy() < lines.lines and jobs.line_waiters(*on)
    except RedisError:
        return False


def _urgent_jobs_wait() -> bool:
    """Whether any job waits on the urgent queue, one waiting for a line included: a
    routine alert's job makes way for those at its turn's end and when it would wait
    itself (not at once: they mostly find the lines as busy). False when Redis cannot
    say."""
    try:
        return jobs.waiting(jobs.URGENT) > 0
    except RedisError:
        return False


def _queue_is_empty(*on: str) -> bool:
    """Whether no job waits for a worker on the queues named (jobs.waiting's: by
    default the notices and alerts queues); True when Redis cannot say: then a job
    keeps its retries rather than handing them to a queue that may not be there."""
    try:
        return jobs.waiting(*on) == 0
    except RedisError:
        return True


def enqueue(
    ledger: Ledger,
    ids: list[int],
    *,
    after_seconds: float = 0,
    bulk: bool = False,
    at_front: bool = False,
    for_a_line: bool = False,
) -> None:
    """Queue jobs sending these rows, a batch per job, now or after_seconds from now
    (at the front of the queue with `at_front`: work a dead worker left, which should
    have gone already, or a resident's code going back); an urgent alert's rows on the
    urgent queue;
    on the bulk queue, behind any alert, with `bulk` or for rows of the ledger's
    bulk_kinds (an import's notices: put back on the alerts queue by a sweep after
    Redis was emptied, they held the next alert up for 195 s, an outside check).
    `for_a_line`: handed back to wait for a free line or a number's call in doubt
    (jobs.WAITING_PREFIX)."""
    for on, chosen in _by_queue(ledger, ids, bulk):
        size = current_app.config["DELIVERY_BATCH_SIZE"]
        batches = [
            (ledger.name, chosen[start : start + size]) for start in range(0, len(chosen), size)
        ]
        if after_seconds > 0:
            for batch in reversed(batches) if at_front else batches:
                jobs.enqueue(
                    "outbound.deliver_batch",
                    *batch,
                    after_seconds=after_seconds,
                    on=on,
                    at_front=at_front,
                    **({"job_id": jobs.WAITING_PREFIX + uuid.uuid4().hex} if for_a_line else {}),
                )
        elif at_front:
            for batch in reversed(batches):  # each to the front: the first ends first
                jobs.enqueue("outbound.deliver_batch", *batch, on=on, at_front=True)
        else:
            jobs.enqueue_many("outbound.deliver_batch", batches, on=on)


def enqueue_reconcile(ledger: Ledger, ids: list[int]) -> None:
    size = current_app.config["DELIVERY_BATCH_SIZE"]
    for on, chosen in _by_queue(ledger, ids, False):
        for start in range(0, len(chosen), size):
            jobs.enqueue(
                "outbound.reconcile_batch", ledger.name, chosen[start : start + size], on=on
            )


# The order rows of several channels are put back in: a call may wait for a line.
CHANNEL_ORDER = ("email", "sms", "voice")


def by_channel(ledger: Ledger, ids: list[int]) -> list[list[int]]:
    """The rows of each channel, in CHANNEL_ORDER, each in id order."""
    if not ids:
        return []
    channel_of = ledger_sql.channel_of_each(ledger.table, ids)
    order = {channel: n for n, channel in enumerate(CHANNEL_ORDER)}
    chosen: dict[str, list[int]] = {}
    for row_id in sorted(ids):
        chosen.setdefault(channel_of.get(row_id, "voice"), []).append(row_id)
    return [chosen[c] for c in sorted(chosen, key=lambda c: order.get(c, len(order)))]


def in_turn(ledger: Ledger, ids: list[int]) -> list[list[int]]:
    """These rows in batches of one channel each (DELIVERY_BATCH_SIZE), the channels'
    batches in turn: the first of each in CHANNEL_ORDER, then the second of each... Each
    channel's all together, after a PostgreSQL outage both workers took an incident's
    e-mails put back while its texts waited behind them, 7.6 s without a text (an
    outside check)."""
    size = current_app.config["DELIVERY_BATCH_SIZE"]
    each = [
        [same[start : start + size] for start in range(0, len(same), size)]
        for same in by_channel(ledger, ids)
    ]
    return [batch for turn in itertools.zip_longest(*each) for batch in turn if batch]


def _wait_in_place(ledger: Ledger, bulk: bool) -> float:
    """How long a provider's wait this job's sends wait out in it: HOLD_IN_PLACE_SECONDS
    (0: every wait handed back, as the force's IT team chose), or the ledger's own if
    longer, but not for rows of its bulk kinds (`bulk`: an import's notices, which would
    hold the general worker 10 s a wait during an incident: a re-check)."""
    hold = current_app.config["HOLD_IN_PLACE_SECONDS"]
    if not hold or ledger.hold_in_place_seconds <= hold or bulk:
        return hold
    return ledger.hold_in_place_seconds


# + a queue's name: the job of calls waiting for a line that comes back at the front
# of that queue (its first row), for a little longer than the wait before it comes back.
LINE_FRONT = "lines:front:"


def _first_for_a_line(ledger: Ledger, pending: list[int]) -> bool:
    """Whether these calls, handed back for want of a line, are the one job waiting for
    a line that goes back at the front of their queue (the job that was, or the first
    to ask; named by its last row, the last of its rows to be sent)."""
    ours = str(max(pending))
    keep_ms = int((LINES_BUSY_SECONDS + 2) * 1000)
    try:
        on = jobs.URGENT if ledger.urgent(pending) else ledger.queue
        key = LINE_FRONT + on
        client = redis_store.client
        if client.set(key, ours, nx=True, px=keep_ms):
            return True
        held = client.get(key)
        if held is not None and held.decode() == ours:
            client.pexpire(key, keep_ms)
            return True
        return False
    except (RedisError, OperationalError):
        return False  # behind the rest, as any job


def _by_queue(ledger: Ledger, ids: list[int], bulk: bool) -> list[tuple[str, list[int]]]:
    """The rows for each queue: (the queue's name in jobs.QUEUES, ids): an urgent
    alert's on the urgent queue, first; then the ledger's own queue's; then the bulk
    queue's (its bulk kinds')."""
    if not ids:
        return []
    if bulk:
        return [(jobs.BULK, ids)]
    slow = ledger_sql.of_kinds(ledger.table, ids, ledger.bulk_kinds) if ledger.bulk_kinds else set()
    urgent = ledger.urgent([i for i in ids if i not in slow])
    return [
        (on, chosen)
        for on, chosen in (
            (jobs.URGENT, [i for i in ids if i in urgent]),
            (ledger.queue, [i for i in ids if i not in urgent and i not in slow]),
            (jobs.BULK, [i for i in ids if i in slow]),
        )
        if chosen
    ]
