"""RQ entry points. A job takes ids, reloads state from the database, and acts only on
rows still in the state it expects, so running it twice does no harm.

Services put work on the queue by the job's name (`enqueue("imports.run_import",
import_id, dry_run)`), through this package only: they never import a job module, and
job modules import services, so the arrow points one way (tests/test_architecture.py
checks it)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import threading
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.utils import current_timestamp

from app.extensions import redis_store

_app = None


def queue() -> Queue:
    """The queue of alerts: what must go within seconds."""
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_store.client)


def urgent_queue() -> Queue:
    """The queue of urgent alerts' jobs (URGENT_CATEGORIES, their updates and
    all-clear), taken before the alerts queue, first come first served: a job's rest
    handed back goes behind the same alert's other channels waiting. (Put back at the
    front of the alerts queue, an incident's texts and e-mails handed back went ahead of
    its own calls, which started last, 7.5 to 29 s after them: an outside check.)"""
    return Queue(f"{current_app.config['RQ_QUEUE']}-urgent", connection=redis_store.client)


def notices_queue() -> Queue:
    """The queue of residents' codes and links, and staff's notices: one message a job,
    done in a moment, taken before the alerts queue, first come first served. (At the
    front of the alerts queue, a code asked for during an incident still waited 5.6 to
    11.1 s: the incident's batches put back at the front after it went first, the
    front being last in, first out: an outside check.)"""
    return Queue(f"{current_app.config['RQ_QUEUE']}-notices", connection=redis_store.client)


def bulk_queue() -> Queue:
    """The queue of long jobs (an import of 100,000 rows takes minutes): apart, so that
    one never holds up an alert (an outside check: an incident alert waited 185 s
    behind an import, the installation's one worker busy with it). `flask worker`
    takes it after the notices, urgent and alerts queues; `flask worker --alerts-only`
    never takes it."""
    return Queue(f"{current_app.config['RQ_QUEUE']}-bulk", connection=redis_store.client)


# The queues, as jobs name them: each worker takes them in this order (the bulk queue's
# not by `flask worker --alerts-only`).
NOTICES, URGENT, ALERTS, BULK = "notices", "urgent", "alerts", "bulk"
QUEUES = {NOTICES: notices_queue, URGENT: urgent_queue, ALERTS: queue, BULK: bulk_queue}


def worker_queues(*, alerts_only: bool = False) -> list[Queue]:
    """The queues a worker takes, in the order it takes them: residents' codes and
    links, urgent alerts, alerts, then (but with `alerts_only`) imports: a worker taking
    the bulk queue too takes an alert before any import waiting."""
    names = (NOTICES, URGENT, ALERTS, *([] if alerts_only else [BULK]))
    return [QUEUES[name]() for name in names]


# Jobs of the bulk queue, and of the notices queue; every other job is the alerts
# queue's unless queued on another.
BULK_JOBS = {"imports.run_import"}
NOTICE_JOBS = {"notices.send_manage_link"}


# The jobs there are; a name not listed is a bug, found at once rather than by a worker.
JOBS = {
    "outbound.deliver_batch",
    "outbound.deliver_alert_range",
    "outbound.reconcile_batch",
    "imports.run_import",
    "notices.send_manage_link",
}


def _queue_of(name: str, on: str) -> Queue:
    if name in BULK_JOBS:
        return bulk_queue()
    if name in NOTICE_JOBS:
        return notices_queue()
    return QUEUES[on]()


def enqueue(
    name: str,
    *args,
    after_seconds: float = 0,
    job_timeout: int = 3600,
    on: str = ALERTS,
    **options,
):
    """Queue the job called `name` (module.function under app.jobs) with these
    arguments, now or after_seconds from now (run by RQ's scheduler in `flask worker`),
    on the queue named `on` (NOTICES, URGENT, ALERTS or BULK: behind any alert; a job of
    BULK_JOBS or NOTICE_JOBS on its own whatever `on` says). `options` are RQ's
    (result_ttl, failure_ttl, at_front, job_id...)."""
    if name not in JOBS:
        raise ValueError(f"no job called {name}")
    target = f"app.jobs.{name}"
    to = _queue_of(name, on)
    if after_seconds > 0:
        return to.enqueue_in(
            timedelta(seconds=after_seconds), target, *args, job_timeout=job_timeout, **options
        )
    return to.enqueue(target, *args, job_timeout=job_timeout, **options)


# Jobs queued in one round trip to Redis by enqueue_many.
JOBS_A_ROUND_TRIP = 2000


def enqueue_many(
    name: str,
    each: list[tuple],
    *,
    job_timeout: int = 3600,
    on: str = ALERTS,
    at_front: bool = False,
) -> None:
    """Queue the job called `name` once for each tuple of arguments in `each`, now,
    JOBS_A_ROUND_TRIP to a round trip to Redis (a fan-out queues thousands at once);
    on the queue named `on` (BULK: an import's notices to its residents); with
    `at_front`, ahead of every job waiting, in their order."""
    if name not in JOBS or name in BULK_JOBS or name in NOTICE_JOBS:
        raise ValueError(f"no job called {name} to queue many of")
    target = f"app.jobs.{name}"
    if at_front:  # each pushed to the front: the last first, so the first ends first
        each = list(reversed(each))
    for start in range(0, len(each), JOBS_A_ROUND_TRIP):
        part = each[start : start + JOBS_A_ROUND_TRIP]
        jobs = [
            Queue.prepare_data(target, args, timeout=job_timeout, at_front=at_front)
            for args in part
        ]
        with redis_store.client.pipeline() as pipe:
            QUEUES[on]().enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


# The id of a job handed back to wait for something that does not end on a clock (a
# free line, a number's call in doubt): on the notices queue, it does not ask the
# alerts' jobs to make way (outbound._code_waits).
WAITING_PREFIX = "waits-"


# How many of a queue's first job ids first_tries_waiting reads; a longer queue is
# taken to hold a first try.
LOOK_AT_JOBS = 50


def first_tries_waiting(*on: str) -> bool:
    """Whether a job waits on the queues named (by default all but the bulk queue) that
    is not waiting for a line (WAITING_PREFIX): the first LOOK_AT_JOBS of each queue
    are read, not the whole queue (a fan-out queues thousands)."""
    for name in on or (NOTICES, URGENT, ALERTS):
        queue = QUEUES[name]()
        ids = queue.get_job_ids(0, LOOK_AT_JOBS)
        if any(not job_id.startswith(WAITING_PREFIX) for job_id in ids):
            return True
        if len(ids) == LOOK_AT_JOBS and queue.count > LOOK_AT_JOBS:
            return True
    return False


def line_waiters(*on: str) -> bool:
    """Whether a job handed back to wait for a line (WAITING_PREFIX) is among the first
    LOOK_AT_JOBS of the queues named (by default all but the bulk queue)."""
    for name in on or (NOTICES, URGENT, ALERTS):
        ids = QUEUES[name]().get_job_ids(0, LOOK_AT_JOBS)
        if any(job_id.startswith(WAITING_PREFIX) for job_id in ids):
            return True
    return False


def waiting(*on: str) -> int:
    """How many jobs wait for a worker on the queues named (NOTICES, URGENT, ALERTS,
    BULK): by default all but the bulk queue."""
    return sum(QUEUES[name]().count for name in on or (NOTICES, URGENT, ALERTS))


def with_app_context(fn):
    """Run the job inside an application context: the worker's own (`flask worker`
    pushes one), or one made once per process for a plain `rq worker`. A job that
    fails under a worker fails with its kind and where, not its message (JobFailed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return _failing_quietly(fn, *args, **kwargs)
        global _app
        if _app is None:
            from app import create_app

            _app = create_app()
        with _app.app_context():
            return _failing_quietly(fn, *args, **kwargs)

    return wrapper


class JobFailed(Exception):
    """A job's failure as RQ logs it and keeps it in Redis (its failed jobs, for a
    year): the kind of error and the frame of ours it came from. RQ writes the whole
    traceback, message and all, and a message can hold a resident's number
    (PostgreSQL's "Key (address)=(+447…) already exists")."""


def _failing_quietly(fn, *args, **kwargs):
    if get_current_job() is None:
        return fn(*args, **kwargs)  # a test, the command line: the error as it is
    try:
        return fn(*args, **kwargs)
    except Exception as error:
        log.error("job %s failed", fn.__name__, exc_info=error)  # withheld (app.logs)
        here = Path(__file__).resolve().parents[1]  # the app package's own frames
        frames = traceback.extract_tb(error.__traceback__)
        ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(here)]
        where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
        raise JobFailed(f"{type(error).__name__}{where}") from None


# --- jobs that died with their worker -----------------------------------------------
# A worker killed mid-job leaves the job's unsent rows "queued", and no job waiting for
# them. The sweeper puts forgotten rows back only once the queue is empty (re-queueing
# every queued row each sweep would flood it), and a big alert's texts, held at the
# texting rate, keep it busy for minutes: 104 e-mails of a killed job went at 180 s
# rather than 13 s (an outside check). So a delivery job holds a lease while it runs:
# its name and arguments in RUNNING_KEY, and a key of its own, renewed by a thread
# every third of JOB_LEASE_SECONDS, which lapses soon after the process dies. The
# sweeper queues a job whose key has lapsed again, at the front (requeue_dead): it
# sends only the rows still queued, so a live job taken for dead sends nothing twice.
#
# A job that raised (its database connection dropped: an outside check's
# pg_terminate_backend) is as dead: its lease is left to lapse, and the sweeper queues
# it again, up to JOB_RETRIES times for the same work (FAILURES_PREFIX counts them); its
# rows waited for the whole backlog (304 e-mails at 185 s rather than 2 s).
RUNNING_KEY = "jobs:running"
ALIVE_PREFIX = "jobs:alive:"
# + a digest of the work (_failures_key): one key each, each expiring on its own (in
# one hash, any failure kept every entry a day longer: a review).
FAILURES_PREFIX = "jobs:failures:"
JOB_RETRIES = 3
# The failures' count kept this long after the last: an entry whose work another job
# then did (a sweep's put-back, a hand-back with other ids) was kept for ever (a review).
FAILURES_KEPT_SECONDS = 86_400

log = logging.getLogger(__name__)


def leased(fn):
    """Run the job under a lease when a worker runs it; called directly (a test, the
    command line) it runs as it is. Its name is enqueue's ("outbound.deliver_batch")."""
    name = f"{fn.__module__.removeprefix('app.jobs.')}.{fn.__name__}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        job = get_current_job()
        if job is None:
            return fn(*args, **kwargs)
        on = next((on for on, each in QUEUES.items() if each().name == job.origin), ALERTS)
        # "bulk" too, for a sweeper of the release before (which reads only it) while
        # the workers are restarted first: without it, it lost every dead job of its
        # round (a review).
        spec = {"name": name, "args": list(args), "on": on, "bulk": on == BULK}
        with _Lease(job.id, spec, current_app.config["JOB_LEASE_SECONDS"]):
            return fn(*args, **kwargs)

    return wrapper


class _Lease:
    def __init__(self, job_id: str, spec: dict, seconds: int) -> None:
        self.job_id, self.spec, self.seconds = job_id, spec, max(1, seconds)
        self.client = redis_store.client
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._renew, daemon=True)

    def __enter__(self):
        try:
            with self.client.pipeline() as pipe:  # both or neither (MULTI)
                pipe.hset(RUNNING_KEY, self.job_id, json.dumps(self.spec))
                pipe.set(ALIVE_PREFIX + self.job_id, 1, ex=self.seconds)
                pipe.execute()
        except RedisError:
            # The job still runs: a lease is only a quicker way back if it dies.
            log.warning("no lease for job %s: Redis is not answering", self.job_id)
        self.thread.start()
        return self

    def _renew(self) -> None:
        while not self.stop.wait(self.seconds / 3):
            # Both, each time: a FLUSHDB while the job ran took its entry, and it could
            # not be put back once it died (an outside check).
            with contextlib.suppress(RedisError), self.client.pipeline() as pipe:
                pipe.hset(RUNNING_KEY, self.job_id, json.dumps(self.spec))
                pipe.set(ALIVE_PREFIX + self.job_id, 1, ex=self.seconds)
                pipe.execute()

    def __exit__(self, kind, error, trace) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        work = _failures_key(self.spec)
        try:
            with self.client.pipeline() as pipe:
                if kind is not None and issubclass(kind, Exception):
                    # Raised: its lease lapses now, and the sweeper queues it again.
                    pipe.hset(RUNNING_KEY, self.job_id, json.dumps(self.spec))
                    pipe.incr(work)
                    pipe.expire(work, FAILURES_KEPT_SECONDS)
                else:
                    pipe.hdel(RUNNING_KEY, self.job_id)
                    pipe.delete(work)
                pipe.delete(ALIVE_PREFIX + self.job_id)
                pipe.execute()
        except RedisError:
            log.warning("lease of job %s left: Redis is not answering", self.job_id)


def _failures_key(spec: dict) -> str:
    """The key counting the failures of the work a job does (its name and arguments),
    whichever job does it."""
    work = json.dumps([spec["name"], spec["args"]]).encode()
    return FAILURES_PREFIX + hashlib.sha256(work).hexdigest()[:32]


# RQ's scheduler queues what is due every second: a job this late has no scheduler.
# (JOB_LEASE_SECONDS, 10, with a sweep every 5 s, left each retry of a dead
# scheduler's worker 6-10 s late: an outside check.)
OVERDUE_SECONDS = 3
# RQ's scheduler beats every second; one silent this long died with its worker. Each
# beat sets its lock to last its interval (1 s) and a minute.
SCHEDULER_SILENT_SECONDS = 5
SCHEDULER_LOCK_SECONDS = 61


def release_overdue(seconds: float) -> int:
    """Queue the jobs whose time to run (a retry's backoff, a hand-back) passed over
    `seconds` ago and which RQ's scheduler has not queued; how many. The scheduler runs
    in one worker at a time, under a lock: a worker killed with it kept the lock for a
    minute, and the jobs it held sat 38 s past their time and more (an outside check).
    While a queue has no live scheduler (see _scheduler_alive), its jobs are queued
    when due, not `seconds` later, and a dead one's lock is given up: until another
    worker's scheduler took it up, 73 to 179 s after the kill, an urgent alert's calls
    handed back to wait for a line went 3.7 to 5.8 s late each (outside checks).
    Safe beside a live scheduler: a job queued by both runs twice, and a delivery job
    run twice sends nothing twice (outbound.deliver claims its rows)."""
    client = redis_store.client
    released = 0
    for each in (make() for make in QUEUES.values()):
        registry = ScheduledJobRegistry(queue=each)
        late_by = seconds if _scheduler_alive(each.name) else 0
        late = registry.get_jobs_to_schedule(int(current_timestamp() - late_by))
        if not late:
            continue
        # RQ's own way of queueing what is due, without its lock.
        scheduler = RQScheduler([each], connection=client)
        scheduler.prepare_registries([each.name])
        scheduler.enqueue_scheduled_jobs()
        released += len(late)
    return released


def _scheduler_alive(queue_name: str) -> bool:
    """Whether a scheduler holds the queue's lock and has beaten lately; a dead one's
    lock (Redis keeps it a minute) is given up, for a live worker to take. Told by the
    lock's time to live, which each beat sets again (RQ: its interval and a minute):
    Redis's clock alone. (By the beat's time against this process's clock, a sweeper
    7 s ahead of the workers gave up a live scheduler's lock every second: a review.)"""
    client = redis_store.client
    lock = RQScheduler.get_locking_key(queue_name)
    holder, left = client.get(lock), client.pttl(lock)
    if holder is None or left == -2:  # (-2: gone between the two)
        return False
    if left == -1 or left > (SCHEDULER_LOCK_SECONDS - SCHEDULER_SILENT_SECONDS) * 1000:
        return True  # beating (or a lock without an end, not RQ's: left alone)
    release_lock(client, lock, holder.decode())
    log.warning("scheduler of queue %s silent: its lock is given up", queue_name)
    return False


def requeue_dead(
    urgent: Callable[[dict], bool] = lambda spec: False,
    urgent_waiting: Callable[[], bool] = lambda: False,
) -> int:
    """Queue again each delivery job whose lease lapsed (its worker died mid-job, or it
    raised); how many. `urgent(spec)`: whether a job's rows are an urgent alert's; they
    go to the front of the urgent queue, and the rest to the queue they came from: to
    the front too, unless an urgent alert's rows wait, then to the back. (Put back in
    the order Redis kept them, an incident's texts went after a routine alert's, and
    its all-clear 26 s later stopped them all: an outside check killed PostgreSQL.)
    Asked before any is taken: while the database cannot say, none is queued, to fail
    again at once and spend its retries.
    Safe beside another sweeper: a job is taken from RUNNING_KEY by the one whose HDEL
    removes it."""
    client = redis_store.client
    running = client.hgetall(RUNNING_KEY)
    if not running:
        return 0
    ids = list(running)
    alive = client.mget([ALIVE_PREFIX.encode() + job_id for job_id in ids])
    dead = [
        (job_id, json.loads(running[job_id]))
        for job_id, flag in zip(ids, alive, strict=True)
        if flag is None
    ]
    if not dead:
        return 0
    marked = [(job_id, spec, urgent(spec)) for job_id, spec in dead]
    behind = any(mark for _, _, mark in marked) or urgent_waiting()
    taken = []
    for job_id, spec, mark in marked:
        if client.hdel(RUNNING_KEY, job_id) != 1:
            continue
        failures = int(client.get(_failures_key(spec)) or 0)
        if failures > JOB_RETRIES:
            # It fails each time: its rows are left to the sweeper's own way back,
            # once their queue is empty (outbound.sweep: an urgent alert's, once the
            # urgent queue is), and the error is in the log.
            log.error("job %s failed %s times: not queued again", spec["name"], failures)
            client.delete(_failures_key(spec))
            continue
        taken.append((spec, mark))
    # The urgent ones first, each to the front, the last first (the first taken ends
    # first); then the rest: queued first, a routine job went to a worker waiting idle
    # before any urgent one was on the queue (a re-check).
    for spec, _ in reversed([each for each in taken if each[1]]):
        enqueue(spec["name"], *spec["args"], on=URGENT, at_front=True)
    for spec, _ in (each for each in taken if not each[1]):
        enqueue(spec["name"], *spec["args"], on=_queue_named(spec), at_front=not behind)
    return len(taken)


def rows_of_live_jobs(ledger: str) -> set[int]:
    """The rows of `ledger` named by delivery jobs running now (their leases) or handed
    back to wait for a line (WAITING_PREFIX, waiting for their time): held by a live
    job, not lost with Redis."""
    client = redis_store.client
    held: set[int] = set()
    for value in client.hvals(RUNNING_KEY):
        spec = json.loads(value)
        args = spec.get("args") or []
        if spec.get("name") == "outbound.deliver_batch" and args and args[0] == ledger:
            held.update(args[1])
    for each in QUEUES.values():
        registry = ScheduledJobRegistry(queue=each())
        ids = [job_id for job_id in registry.get_job_ids() if job_id.startswith(WAITING_PREFIX)]
        for job in Job.fetch_many(ids, connection=client) if ids else []:
            if job is not None and job.args and job.args[0] == ledger:
                held.update(job.args[1])
    return held


def ranges_of_live_jobs() -> list[tuple[int, int, int, str | None]]:
    """(alert, first row, last row, channel or None) of the alert range jobs running now
    (their leases): how a fan-out is queued, whose rows rows_of_live_jobs cannot list
    (the sweeper queued them again beside the job: a review)."""
    ranges = []
    for value in redis_store.client.hvals(RUNNING_KEY):
        spec = json.loads(value)
        args = spec.get("args") or []
        if spec.get("name") == "outbound.deliver_alert_range" and len(args) >= 3:
            channel = args[3] if len(args) > 3 else None
            ranges.append((int(args[0]), int(args[1]), int(args[2]), channel))
    return ranges


def _queue_named(spec: dict) -> str:
    """The queue a dead job was taken from (a lease of before the notices queue says
    only whether it was the bulk queue's)."""
    on = spec.get("on")
    if on in QUEUES:
        return on
    if spec.get("bulk"):
        return BULK
    # A code's job of before the notices queue goes back to it, not behind every
    # alert's (a review).
    args = spec.get("args") or [None]
    return NOTICES if spec.get("name") in NOTICE_JOBS or args[0] == "notices" else ALERTS
