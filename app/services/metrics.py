"""Prometheus metrics (/metrics), kept where every process can add to them: Redis.

Web processes, RQ workers (which fork a process per job) and the sweeper run on
several machines, so a counter in one process's memory would be a fraction of the
truth. Each event adds to a Redis hash (one pipeline per batch of messages, never
per message); a scrape reads the hashes and asks the database and the queue for what
is true now, and hands prometheus-client a fresh registry to format. Losing Redis
resets the counters, which Prometheus reads as a restart.

Nothing here holds personal data: channels, statuses, ledgers and timings only.
Adding to a metric never fails the work it measures: a Redis error is ignored."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from redis.exceptions import RedisError
from rq import Worker

from app import jobs
from app.dao import health as health_dao
from app.extensions import db, redis_store
from app.services.transaction import read_only

log = logging.getLogger(__name__)

PREFIX = "community_alerts"
MESSAGES = "metrics:messages"  # field "ledger|channel|outcome"
SWEEPER = "metrics:sweeper"  # field: what the sweeper did
SWEEPER_ROUND = "metrics:sweeper:last-round"  # when a sweeper last finished a round
HISTOGRAMS = {
    # name: (help, label name, upper bounds in seconds)
    "provider_latency_seconds": (
        "Time a provider (Twilio, SMTP) took to take one message",
        "channel",
        (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    ),
    "callback_lag_seconds": (
        "Time from a message's sending to the provider's final status callback",
        "channel",
        (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
    ),
    "preview_seconds": (
        "Time the officer's preview (count, squares, near the edge) took on the server",
        "kind",
        (0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
    ),
}


def _bucket(bounds: tuple[float, ...], seconds: float) -> str:
    for bound in bounds:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


def count_messages(ledger: str, outcomes: Iterable[tuple[str, str]]) -> None:
    """Add (channel, outcome) pairs of one ledger: sent, failed, unknown, retry."""
    counted = Counter(outcomes)
    if not counted:
        return
    try:
        pipe = redis_store.client.pipeline(transaction=False)
        for (channel, outcome), n in counted.items():
            pipe.hincrby(MESSAGES, f"{ledger}|{channel}|{outcome}", n)
        pipe.execute()
    except RedisError as error:
        log.warning("metrics: messages not counted (%s)", type(error).__name__)


def observe(name: str, observations: Iterable[tuple[str, float]]) -> None:
    """Add (label value, seconds) observations to the histogram `name`."""
    _help, _label, bounds = HISTOGRAMS[name]
    counts: Counter = Counter()
    sums: Counter = Counter()
    for label, seconds in observations:
        counts[(label, _bucket(bounds, seconds))] += 1
        sums[label] += seconds
    if not counts:
        return
    key = f"metrics:hist:{name}"
    try:
        pipe = redis_store.client.pipeline(transaction=False)
        for (label, bucket), n in counts.items():
            pipe.hincrby(key, f"{label}|{bucket}", n)
        for label, total in sums.items():
            pipe.hincrbyfloat(key, f"{label}|sum", total)
        pipe.execute()
    except RedisError as error:
        log.warning("metrics: %s not observed (%s)", name, type(error).__name__)


def count_sweeps(found: dict[str, int]) -> None:
    """What one sweep did (re-queued, asked the provider, released...)."""
    done = {action: n for action, n in found.items() if n}
    if not done:
        return
    try:
        pipe = redis_store.client.pipeline(transaction=False)
        for action, n in done.items():
            pipe.hincrby(SWEEPER, action, n)
        pipe.execute()
    except RedisError as error:
        log.warning("metrics: sweep not counted (%s)", type(error).__name__)


def note_sweeper_round() -> None:
    """A sweeper finished a round: with none running, scheduled alerts are never
    released and work a dead worker left waits for good, and the metrics read as a
    healthy idle service (an outside check of the install)."""
    try:
        redis_store.client.set(SWEEPER_ROUND, repr(time.time()), ex=86_400)
    except RedisError as error:
        log.warning("metrics: sweeper round not noted (%s)", type(error).__name__)


# ---------------------------------------------------------------- the scrape ------


def _read_hash(key: str) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in redis_store.client.hgetall(key).items()
    }


class _Collector:
    def __init__(self, queues, scheduled, unfinished, oldest_s, hashes, workers, swept):
        self.queues, self.scheduled = queues, scheduled
        self.queue_depth = sum(queues[name] for name in (jobs.NOTICES, jobs.URGENT, jobs.ALERTS))
        self.unfinished, self.oldest_s, self.hashes = unfinished, oldest_s, hashes
        self.workers, self.swept = workers, swept

    def collect(self):
        for name, help_text, value in (
            (
                "queue_depth",
                "Jobs waiting for a worker on the notices, urgent and alerts queues",
                self.queue_depth,
            ),
            (
                "workers",
                "Workers listening to the alerts queue now (0: nothing is sent)",
                self.workers,
            ),
            (
                "sweeper_last_round_seconds",
                "Seconds since a sweeper last finished a round (-1: none in the last day)",
                self.swept,
            ),
            (
                "queue_scheduled",
                "Jobs waiting for their time (retries with backoff)",
                self.scheduled,
            ),
        ):
            yield GaugeMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
        # Each queue on its own: an import's jobs on the bulk queue were in no figure.
        waiting = GaugeMetricFamily(
            f"{PREFIX}_queue_waiting",
            "Jobs waiting for a worker, by queue (notices, urgent, alerts, bulk)",
            labels=["queue"],
        )
        for name, n in self.queues.items():
            waiting.add_metric([name], n)
        yield waiting
        unfinished = GaugeMetricFamily(
            f"{PREFIX}_deliveries_unfinished",
            "Alert messages still on their way (queued, sending, or waiting for the provider)",
            labels=["channel", "status"],
        )
        for channel, status, n in self.unfinished:
            unfinished.add_metric([channel, status], n)
        yield unfinished
        yield GaugeMetricFamily(
            f"{PREFIX}_deliveries_oldest_unfinished_seconds",
            "Seconds since the oldest unfinished alert message last moved (0: none)",
            value=self.oldest_s or 0.0,
        )
        messages = CounterMetricFamily(
            f"{PREFIX}_messages",
            "Messages handed to a provider, by ledger (alerts, notices), channel and outcome",
            labels=["ledger", "channel", "outcome"],
        )
        for field, n in sorted(self.hashes[MESSAGES].items()):
            ledger, channel, outcome = field.split("|")
            messages.add_metric([ledger, channel, outcome], float(n))
        yield messages
        sweeper = CounterMetricFamily(
            f"{PREFIX}_sweeper_actions", "What the sweeper did", labels=["action"]
        )
        for action, n in sorted(self.hashes[SWEEPER].items()):
            sweeper.add_metric([action], float(n))
        yield sweeper
        for name, (help_text, label, bounds) in HISTOGRAMS.items():
            family = HistogramMetricFamily(f"{PREFIX}_{name}", help_text, labels=[label])
            found = self.hashes[f"metrics:hist:{name}"]
            labels = sorted({field.split("|")[0] for field in found})
            for value in labels:
                running, buckets = 0, []
                for bound in (*map(repr, bounds), "+Inf"):
                    running += int(found.get(f"{value}|{bound}", 0))
                    buckets.append((bound, running))
                family.add_metric([value], buckets, sum_value=float(found.get(f"{value}|sum", 0.0)))
            yield family


def scrape() -> bytes:
    """The metrics in Prometheus's text format, as of now."""
    with read_only():
        unfinished = health_dao.count_unfinished_deliveries(db.session)
        oldest = health_dao.find_oldest_unfinished_age(db.session)
    queue = jobs.queue()
    fast = [jobs.QUEUES[name]() for name in (jobs.NOTICES, jobs.URGENT, jobs.ALERTS)]
    keys = [MESSAGES, SWEEPER, *(f"metrics:hist:{name}" for name in HISTOGRAMS)]
    hashes = {key: _read_hash(key) for key in keys}
    last = redis_store.client.get(SWEEPER_ROUND)
    swept = max(0.0, time.time() - float(last)) if last else -1.0
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        _Collector(
            {name: jobs.waiting(name) for name in jobs.QUEUES},
            sum(each.scheduled_job_registry.count for each in fast),
            unfinished,
            oldest,
            hashes,
            Worker.count(queue=queue),
            swept,
        )
    )
    return generate_latest(registry)
