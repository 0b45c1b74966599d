"""Crashes in the middle of a send, on real processes: a worker killed with SIGKILL,
Redis killed and restarted empty. Every recipient must end with exactly one message
accepted at the gateway, and nothing may stay "sending"."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.extensions import db, redis_store
from app.models import Delivery
from app.services.alerts import submit_alert
from app.services.dispatch import sweep
from tests.factories import empty_job_queues
from tests.provider_fixtures import free_port

ROOT = Path(__file__).resolve().parents[1]
RECIPIENTS = 1_000
AREA = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 500}]


def add_residents(count: int, channel: str = "sms") -> None:
    """count residents at BS1 6AD, each with its own drama-range-shaped mobile (or
    e-mail address under example.invalid)."""
    db.session.execute(
        text(
            """
            WITH new AS (
                INSERT INTO residents (reference, name, confirmed_at)
                SELECT gen_random_uuid(), 'Load ' || g, now() FROM generate_series(1, :n) g
                RETURNING id
            ), located AS (
                INSERT INTO resident_locations (resident_id, label, postcode, location)
                SELECT id, 'Home', 'BS16AD',
                       (SELECT location FROM postcodes WHERE postcode = 'BS16AD')
                FROM new RETURNING resident_id
            )
            INSERT INTO resident_channels (resident_id, channel, address, verified_at)
            SELECT resident_id, CAST(:channel AS text),
                   CASE WHEN CAST(:channel AS text) = 'sms'
                        THEN '+44770' || lpad(resident_id::text, 7, '0')
                        ELSE 'r' || resident_id || '@example.invalid' END,
                   now()
            FROM located
            """
        ),
        {"n": count, "channel": channel},
    )
    db.session.commit()


def worker_env(providers, **extra) -> dict:
    settings = providers.settings
    env = dict(
        os.environ,
        APP_ENV="testing",
        FLASK_APP="app:create_app",
        DELIVERY_TRANSPORT="providers",
        TWILIO_ACCOUNT_SID=settings["TWILIO_ACCOUNT_SID"],
        TWILIO_AUTH_TOKEN=settings["TWILIO_AUTH_TOKEN"],
        TWILIO_FROM_NUMBER=settings["TWILIO_FROM_NUMBER"],
        TWILIO_API_BASE_URL=settings["TWILIO_API_BASE_URL"],
        TWILIO_TIMEOUT_SECONDS="2",
        SMTP_HOST=settings["SMTP_HOST"],
        SMTP_PORT=str(settings["SMTP_PORT"]),
        MAIL_FROM=settings["MAIL_FROM"],
        PUBLIC_BASE_URL=settings["PUBLIC_BASE_URL"],
        DELIVERY_BATCH_SIZE="100",
        DELIVERY_CONCURRENCY="8",
    )
    env.update(extra)
    return env


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # "pid (name) state ppid ...": the name may hold spaces, not ")".
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its work-horse: no clean-up at all. RQ puts the horse in
    a process group of its own (os.setpgrp), so killing the worker's group alone left
    the horse sending, a job that never died. The worker is stopped first, so that it
    forks no new horse meanwhile."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGSTOP)
        for horse in children_of(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(horse, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def kill_worker_once(env: dict, far_enough) -> None:
    """Start a worker and SIGKILL it as soon as far_enough() holds (mid-send)."""
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + 60
        while not far_enough():
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.02)
    finally:
        kill_process_group(worker)


def unfinished() -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).where(Delivery.status.in_(("queued", "sending", "unknown")))
    )


def sweep_until_done(timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sweep()
        if unfinished() == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{unfinished()} deliveries still unfinished after {timeout_s} s")


def finish_with_a_new_worker(env: dict) -> None:
    """Start a worker, as a supervisor would, and sweep until nothing is left to do."""
    worker = start_worker(env)
    try:
        sweep_until_done(120)
    finally:
        worker.terminate()
        worker.wait(timeout=20)


@pytest.fixture
def fast_sweeper(app):
    saved = {k: app.config[k] for k in ("STALLED_SECONDS", "RECONCILE_SECONDS", "REQUEUE_SECONDS")}
    app.config.update(STALLED_SECONDS=2, RECONCILE_SECONDS=3, REQUEUE_SECONDS=2)
    yield
    app.config.update(saved)


def assert_each_recipient_exactly_once(gateway) -> None:
    per_number = Counter(gateway.accepted_to("Messages"))
    expected = set(db.session.scalars(select(Delivery.address)))
    never = expected - set(per_number)
    why = db.session.execute(
        select(Delivery.address, Delivery.status, Delivery.reason, Delivery.attempts).where(
            Delivery.address.in_(list(never)[:5])
        )
    ).all()
    assert not never, f"{len(never)} never sent: {why}"
    assert set(per_number) <= expected
    duplicated = {n: c for n, c in per_number.items() if c > 1}
    assert not duplicated, f"sent more than once: {list(duplicated.items())[:5]}"
    assert db.session.scalar(select(func.count()).where(Delivery.status == "sending")) == 0


@pytest.mark.timeout(180)
def test_killing_a_worker_mid_send_loses_nothing_and_duplicates_nothing(
    providers, make_officer, fast_sweeper
):
    providers.gateway.latency_s = 0.01
    add_residents(RECIPIENTS)
    officer = make_officer()
    submit_alert(officer, shapes=AREA, title="Test", body="Kill the worker mid-send")
    env = worker_env(providers)
    kill_worker_once(env, lambda: len(providers.gateway.accepted) >= RECIPIENTS * 0.3)
    at_kill = len(providers.gateway.accepted)
    assert at_kill < RECIPIENTS, "the kill came too late to test anything"

    finish_with_a_new_worker(env)
    assert_each_recipient_exactly_once(providers.gateway)
    # The last status callbacks arrive a moment after the last send.
    deadline = time.monotonic() + 30
    while True:
        db.session.rollback()
        delivered = db.session.scalar(select(func.count()).where(Delivery.status == "delivered"))
        if delivered == RECIPIENTS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    others = db.session.execute(
        select(Delivery.status, Delivery.reason, Delivery.provider_ref).where(
            Delivery.status != "delivered"
        )
    ).all()
    failures = providers.gateway.callback_errors[:3]
    assert delivered == RECIPIENTS, (others[:5], providers.gateway.callback_failures, failures)


@pytest.fixture
def private_redis(app):
    """A Redis of this test's own, so that killing it harms nothing else."""
    port = free_port()
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]

    def start():
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                import redis

                redis.Redis(port=port).ping()
                return process
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    url = f"redis://127.0.0.1:{port}/0"
    server = {"process": start(), "start": start, "url": url}
    saved_url = redis_store.url
    redis_store.url, redis_store._client = url, None
    yield server
    redis_store.url, redis_store._client = saved_url, None
    server["process"].kill()
    server["process"].wait()


@pytest.mark.timeout(180)
def test_redis_lost_and_restarted_empty_mid_send_still_delivers_everything(
    providers, make_officer, fast_sweeper, private_redis
):
    providers.gateway.latency_s = 0.01
    add_residents(RECIPIENTS)
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Redis goes away")
    env = worker_env(providers, TEST_REDIS_URL=private_redis["url"])
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + 60
        while len(providers.gateway.accepted) < RECIPIENTS * 0.3:
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.05)
        private_redis["process"].kill()  # SIGKILL: every queued job is gone
        private_redis["process"].wait()
        time.sleep(0.5)
        private_redis["process"] = private_redis["start"]()  # back, and empty
        redis_store._client = None
    finally:
        kill_process_group(worker)  # a supervisor would restart it; we start a new one
    finish_with_a_new_worker(env)
    assert_each_recipient_exactly_once(providers.gateway)


@pytest.mark.timeout(180)
def test_killing_a_worker_mid_email_never_sends_an_email_twice(
    providers, make_officer, fast_sweeper
):
    """E-mail has no callback and no way to ask the server what it took: an e-mail
    whose worker died mid-send is "possibly sent", never sent again (at most once), and
    each outcome is recorded as its SMTP transaction ends, so very few are in doubt."""
    recipients = 400
    providers.mail.delay_s = 0.02
    add_residents(recipients, channel="email")
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Kill the worker mid-e-mail")
    env = worker_env(providers)
    kill_worker_once(env, lambda: len(providers.mail.envelopes) >= recipients * 0.3)
    assert len(providers.mail.envelopes) < recipients, "the kill came too late"

    finish_with_a_new_worker(env)
    received = Counter(rcpt for e in providers.mail.envelopes for rcpt in e.rcpt_tos)
    twice = {address: n for address, n in received.items() if n > 1}
    assert not twice, f"sent more than once: {list(twice.items())[:5]}"
    rows = dict(db.session.execute(select(Delivery.address, Delivery.status)).all())
    assert set(rows.values()) <= {"sent", "possibly_sent"}
    # Recorded "sent" means it went, once; "possibly sent" is only the few in flight.
    assert all(received[a] == 1 for a, status in rows.items() if status == "sent")
    doubtful = [a for a, status in rows.items() if status == "possibly_sent"]
    concurrency = int(env["DELIVERY_CONCURRENCY"])
    assert len(doubtful) <= 2 * concurrency, len(doubtful)
    assert len(received) + len([a for a in doubtful if a not in received]) == recipients


@pytest.mark.timeout(180)
def test_a_worker_killed_as_redis_is_emptied_loses_no_email(providers, make_officer, fast_sweeper):
    """Found by an outside check: a worker killed within seconds of a FLUSHDB left its
    claimed e-mails, waiting on a slow server, with no mark (the marks were in Redis):
    "possibly sent", and never sent (5 and 14 residents). The mark is in the row, so
    each is sent once and none is in doubt: none of them had gone."""
    from app.extensions import redis_store

    recipients = 200
    providers.mail.delay_s = 0.02
    add_residents(recipients, channel="email")
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Kill and FLUSHDB")
    env = worker_env(providers)

    def under_way_and_stuck() -> bool:
        if len(providers.mail.envelopes) < recipients * 0.3:
            return False
        providers.mail.rcpt_delay_s = 20  # the sends under way wait before their messages
        time.sleep(1.5)  # what had come back is recorded by then (RECORD_WITHIN_SECONDS)
        return True

    kill_worker_once(env, under_way_and_stuck)
    redis_store.client.flushdb()
    providers.mail.rcpt_delay_s = 0
    stuck = db.session.scalar(select(func.count()).where(Delivery.status == "sending"))
    assert stuck >= 1, "no e-mail was under way at the kill: nothing to test"

    finish_with_a_new_worker(env)
    received = Counter(rcpt for e in providers.mail.envelopes for rcpt in e.rcpt_tos)
    assert len(received) == recipients, f"{recipients - len(received)} never sent"
    assert max(received.values()) == 1, "sent more than once"
    rows = Counter(db.session.scalars(select(Delivery.status)))
    assert set(rows) <= {"sent", "delivered"}, rows


@pytest.mark.timeout(180)
def test_a_job_killed_mid_send_goes_again_at_once_while_other_jobs_wait(
    providers, make_officer, fast_sweeper
):
    """Found by an outside check: a worker killed mid-job left the job's unsent e-mails
    queued with no job for them, and the sweeper put them back only once the queue had
    emptied: 104 e-mails of a big alert went at 180 s, behind its texts. The job's
    lease lapses with its worker, and the sweeper queues the job again at the front,
    while the alert's other jobs still wait."""
    import json

    from app import jobs
    from app.services import ledgers

    recipients = 300
    providers.mail.delay_s = 0.03
    add_residents(recipients, channel="email")
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Kill the worker mid-job")
    env = worker_env(providers, JOB_LEASE_SECONDS="1", DELIVERY_CONCURRENCY="2")
    kill_worker_once(env, lambda: len(providers.mail.envelopes) >= 20)
    assert len(providers.mail.envelopes) < 100, "the kill came after the first job"
    assert jobs.waiting() >= 1, "no other job waits: nothing to test"
    running = redis_store.client.hgetall(jobs.RUNNING_KEY)
    assert len(running) == 1, "the killed job held no lease"
    killed = json.loads(next(iter(running.values())))
    assert killed["name"] == "outbound.deliver_alert_range"

    time.sleep(1.5)  # its lease lapses

    assert ledgers.sweep()["jobs_requeued"] == 1

    # At the front (behind only a batch of its own e-mails the sweep took back, if its
    # last beat was old enough: see below).
    front = next(j for j in jobs.urgent_queue().jobs if not j.func_name.endswith("deliver_batch"))
    assert front.func_name.endswith("deliver_alert_range")
    assert list(front.args) == killed["args"]
    assert redis_store.client.hgetall(jobs.RUNNING_KEY) == {}
    # Every row still queued has a job waiting for it.
    covered = set()
    for job in jobs.urgent_queue().jobs:
        if job.func_name.endswith("deliver_batch"):
            # Its claimed e-mails, still marked unsent, that the sweep took back (on a
            # loaded machine the job's last beat can be older than STALLED_SECONDS).
            covered |= set(job.args[1])
            continue
        _alert, first, last, _channel = job.args
        covered |= set(range(first, last + 1))
    db.session.rollback()
    queued = set(db.session.scalars(select(Delivery.id).where(Delivery.status == "queued")))
    assert queued and queued <= covered

    finish_with_a_new_worker(env)
    received = Counter(rcpt for e in providers.mail.envelopes for rcpt in e.rcpt_tos)
    assert max(received.values()) == 1
    rows = dict(db.session.execute(select(Delivery.address, Delivery.status)).all())
    assert all(received[a] == 1 for a, status in rows.items() if status == "sent")


@pytest.mark.timeout(120)
def test_a_job_under_a_rate_limit_hands_its_rest_back_while_other_jobs_wait(
    app, providers, make_officer, run_worker, monkeypatch
):
    """Found by an outside check: under the texting rate a job of 200 texts held its
    worker for 75-100 s, and with every worker so held, a dead job's e-mails put back
    at the front of the queue waited 66 s for one. Past JOB_YIELD_SECONDS, while other
    jobs wait, a job hands the rest of its rows back to the queue, behind them."""
    from app import jobs
    from app.services import dispatch, outbound

    monkeypatch.setitem(app.config, "RATE_LIMITS", app.config["RATE_LIMITS"] | {"sms": 8})
    monkeypatch.setitem(app.config, "JOB_YIELD_SECONDS", 1)
    add_residents(60)
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Ten a second")
    waiting = jobs.waiting()
    assert waiting >= 1, "no other job waits: nothing to test"
    ids = list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
    started = time.monotonic()
    done = outbound.deliver(dispatch.ALERTS, ids)
    # Its turn ends soon after: it claims a quarter of a second's worth at a time
    # (claimed rows wait their turns in it; 32 at a time held it 15-20 s past its
    # turn, the re-check found).
    took = time.monotonic() - started
    assert 0 < done["sent"] < len(ids) and took < 2, (done, took)
    assert jobs.waiting() == waiting + 1
    handed = jobs.urgent_queue().jobs[-1]  # behind the job that waited
    db.session.rollback()
    queued = set(db.session.scalars(select(Delivery.id).where(Delivery.status == "queued")))
    assert queued and queued == set(handed.args[1])
    assert db.session.scalar(select(func.count()).where(Delivery.status == "sending")) == 0
    run_worker()
    assert_each_recipient_exactly_once(providers.gateway)


@pytest.mark.timeout(120)
def test_a_job_under_a_rate_limit_hands_its_rest_back_when_a_code_waits(
    app, providers, make_officer, run_worker, monkeypatch
):
    """Codes wait on a queue of their own: a job of an alert holding its worker under
    the texting rate hands its rest back for one waiting there (counting only the
    alerts queue, it would have held the worker, and the code waited behind it, with
    no worker free to take it), and at once, not at the end of its turn (with every
    worker in an incident's jobs, a code waited out their turns, 2.5 to 3.4 s: an
    outside check)."""
    from app import jobs
    from app.services import dispatch, notices, outbound

    monkeypatch.setitem(app.config, "RATE_LIMITS", app.config["RATE_LIMITS"] | {"sms": 8})
    monkeypatch.setitem(app.config, "JOB_YIELD_SECONDS", 60)
    add_residents(60)
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Ten a second")
    empty_job_queues()
    code = notices.create_notice(
        resident_id=None, kind="code", channel="sms", address="+447700900411", body="123456"
    )
    db.session.commit()
    notices.queue_notices([code.id])
    assert (jobs.waiting(jobs.URGENT), jobs.waiting(jobs.NOTICES)) == (0, 1)
    ids = list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
    started = time.monotonic()
    done = outbound.deliver(dispatch.ALERTS, ids)
    assert time.monotonic() - started < 2, "it held its worker for its turn"
    assert 0 < done["sent"] < len(ids), done
    assert jobs.waiting(jobs.URGENT) == 1
    run_worker()
    sent = providers.gateway.accepted_to("Messages")
    assert sent[done["sent"]] == "+447700900411"  # the code, then the rest
    assert sorted(sent) == sorted({*sent}) and len(sent) == len(ids) + 1


def test_a_live_job_keeps_its_lease_and_a_finished_one_leaves_none(app, app_ctx):
    """The lease is renewed while the job runs, so a long job is not taken for dead;
    it is gone once the job ends, however it ends."""
    from app import jobs

    client = redis_store.client
    lease = jobs._Lease("job-1", {"name": "outbound.deliver_batch", "args": []}, 1)
    with lease:
        time.sleep(2.5)  # more than two lease lengths
        assert client.exists(jobs.ALIVE_PREFIX + "job-1")
        assert client.hget(jobs.RUNNING_KEY, "job-1") is not None
        assert jobs.requeue_dead() == 0
        # Redis emptied while it runs (FLUSHDB): the next renewal writes both again,
        # so that the job can still be put back if it then dies.
        client.delete(jobs.RUNNING_KEY, jobs.ALIVE_PREFIX + "job-1")
        time.sleep(0.6)
        assert client.hget(jobs.RUNNING_KEY, "job-1") is not None
        assert client.exists(jobs.ALIVE_PREFIX + "job-1")
    assert not client.exists(jobs.ALIVE_PREFIX + "job-1")
    assert client.hget(jobs.RUNNING_KEY, "job-1") is None
    # A job that raised (its database connection dropped: an outside check) is as
    # dead: its lease lapses at once and the sweeper queues it again, at the front. Its
    # rows waited for the whole backlog (304 e-mails at 185 s). Not for ever: a job
    # that fails each time is queued again JOB_RETRIES times.
    spec = {"name": "outbound.deliver_batch", "args": [1, [2, 3]], "bulk": False}
    for attempt in range(jobs.JOB_RETRIES + 1):
        job_id = f"job-{attempt + 2}"
        with pytest.raises(RuntimeError), jobs._Lease(job_id, spec, 1):
            raise RuntimeError("its database connection dropped")
        assert not client.exists(jobs.ALIVE_PREFIX + job_id)
        # Not kept for ever (an entry whose work another job did stayed: a review).
        assert 0 < client.ttl(jobs._failures_key(spec)) <= jobs.FAILURES_KEPT_SECONDS
        again = jobs.requeue_dead()
        assert again == (1 if attempt < jobs.JOB_RETRIES else 0), attempt
        if again:
            front = jobs.queue().jobs[0]
            assert (front.func_name.rsplit(".", 1)[-1], front.args) == (
                "deliver_batch",
                (1, [2, 3]),
            )
            empty_job_queues()
    assert client.hgetall(jobs.RUNNING_KEY) == {} and not client.exists(jobs._failures_key(spec))
    # Each work's count on its own: another's failure keeps it no longer (in one hash,
    # any failure kept every entry a day longer: a review).
    other = spec | {"args": [1, [4]]}
    with pytest.raises(RuntimeError), jobs._Lease("job-8", other, 1):
        raise RuntimeError("another")
    client.expire(jobs._failures_key(other), 5)
    with pytest.raises(RuntimeError), jobs._Lease("job-7", spec, 1):
        raise RuntimeError("this one")
    assert 0 < client.ttl(jobs._failures_key(other)) <= 5
    assert jobs.requeue_dead() == 2
    empty_job_queues()
    client.delete(jobs._failures_key(other))
    # A run that ends well forgets the failures before it.
    with pytest.raises(RuntimeError), jobs._Lease("job-9", spec, 1):
        raise RuntimeError("once")
    with jobs._Lease("job-10", spec, 1):
        pass
    assert not client.exists(jobs._failures_key(spec))


@pytest.mark.timeout(120)
def test_a_worker_waiting_its_turns_under_a_rate_limit_is_not_taken_for_dead(
    app, providers, make_officer, run_worker
):
    """Found by an outside probe: under a rate limit, a steady stream of sends finished
    while the rest of the chunk waited for its turns, so the job never said it was
    alive; the sweeper took the waiting rows for a dead worker's, the provider had no
    record of them yet, and they were sent again (13 residents got a text twice)."""
    import threading

    names = ("STALLED_SECONDS", "RECONCILE_SECONDS", "REQUEUE_SECONDS", "RATE_LIMITS")
    saved = {k: app.config[k] for k in names}
    app.config.update(
        STALLED_SECONDS=1,
        RECONCILE_SECONDS=1,
        REQUEUE_SECONDS=1,
        RATE_LIMITS=saved["RATE_LIMITS"] | {"sms": 5},
    )
    stop = threading.Event()
    stalled, requeued = [], []

    def sweeping():
        with app.app_context():
            while not stop.is_set():
                found = sweep()
                stalled.append(found["stalled"])
                requeued.append(found["requeued"])
                time.sleep(0.2)

    sweeper = threading.Thread(target=sweeping)
    try:
        add_residents(40)
        submit_alert(make_officer(), shapes=AREA, title="Test", body="Five a second")
        sweeper.start()
        run_worker()  # eight seconds at five a second: each chunk of 16 waits over 3 s
    finally:
        stop.set()
        if sweeper.is_alive():
            sweeper.join(timeout=10)
        app.config.update(saved)
    db.session.rollback()
    assert len(stalled) > 10 and sum(stalled) == 0, "a live job's rows were taken for dead"
    # Nor were the rows still waiting their turn in it queued again for another job
    # (found by an outside probe: three more jobs waited on the same limit).
    assert sum(requeued) == 0, "a live job's waiting rows were queued again"
    assert_each_recipient_exactly_once(providers.gateway)


def test_a_dead_workers_stalled_rows_go_back_at_the_front_of_the_queue(
    app, make_officer, make_resident
):
    """Found by an outside check: a dead job's rows still "sending" were put back by the
    sweeper at the back of the queue, behind a big alert's texts, and went at 171 s."""
    from app import jobs
    from app.services import dispatch

    make_resident(postcode="BS1 6AD", email="stalled@example.invalid")
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Stalled")
    waiting = jobs.waiting()
    assert waiting >= 1, "no other job waits: nothing to test"
    row = db.session.scalar(select(Delivery.id))
    db.session.execute(
        text(
            "UPDATE deliveries SET status = 'sending', "
            "updated_at = now() - interval '1 hour' WHERE id = :id"
        ),
        {"id": row},
    )
    db.session.commit()
    assert dispatch.sweep()["stalled"] == 1
    front = jobs.urgent_queue().jobs[0]
    assert front.func_name.endswith("deliver_batch") and list(front.args[1]) == [row]
    assert jobs.waiting() == waiting + 1


def test_an_incidents_lost_rows_go_back_while_a_routine_alerts_jobs_wait(
    app, providers, make_officer, make_resident, run_worker
):
    """Found by reading (a review, shown with 300 routine jobs): an incident's jobs
    lost (Redis at its fan-out, a crash between commit and enqueue), a routine alert's
    texts waited for its texts, their jobs handed back to the alerts queue each
    second; the sweeper put lost rows back only with the alerts queue empty, which it
    never was, and neither alert sent a text. An urgent alert's lost rows go back
    whenever its own queue is empty."""
    from app import jobs
    from app.services import dispatch
    from tests.test_dispatch import routine_and_incident

    for n in range(2):
        make_resident(postcode="BS1 6AD", sms=f"+4477009005{n:02d}", email=None, voice=None)
    routine, incident = routine_and_incident(make_officer())
    rows = sorted(db.session.scalars(select(Delivery.id).where(Delivery.alert_id == incident.id)))
    assert len(rows) == 2
    lost, held = rows[:1], rows[1:]  # the other a live job's, touched just now
    db.session.execute(
        text("UPDATE deliveries SET updated_at = now() - interval '1 hour' WHERE id = ANY(:ids)"),
        {"ids": lost},
    )
    db.session.commit()
    mine = sorted(db.session.scalars(select(Delivery.id).where(Delivery.alert_id == routine.id)))
    for row in mine:  # the routine alert's jobs wait, handing themselves back
        jobs.enqueue("outbound.deliver_batch", "alerts", [row])
    # The lost row alone: not the live job's too, which would be queued twice (a review).
    assert dispatch.sweep()["requeued"] == 1
    (job,) = jobs.urgent_queue().jobs
    assert sorted(job.args[1]) == lost
    jobs.enqueue("outbound.deliver_batch", "alerts", held, on=jobs.URGENT)  # the live job
    assert jobs.waiting(jobs.ALERTS) == 2
    run_worker()
    texted = providers.gateway.accepted_to("Messages")
    assert len(texted) == 4
    assert {s for (s,) in db.session.execute(select(Delivery.status))} <= {"sent", "delivered"}
    # The incident's first: its texts were what the routine alert's waited for.
    first = {d.address for d in db.session.scalars(select(Delivery).where(Delivery.id.in_(rows)))}
    assert set(texted[:2]) == first


def blocked_signals(thread_id: int) -> set[int]:
    """The signals a thread of this process blocks, from its SigBlk mask in /proc."""
    status = Path(f"/proc/self/task/{thread_id}/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
    )
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


def test_a_workers_stop_signals_reach_its_main_thread(app_ctx):
    """Found running `make run`: Ctrl-C's SIGINT to the process group, then its own
    SIGTERM to the worker, and one of its workers stopped 42 s later. The second
    signal, while the first was pending, went to the worker's command thread, and
    Python handles signals only in the main thread, which slept on Redis until its
    wait for a job ended. The command thread now blocks both, so they reach the main
    thread and break its wait."""
    from rq import Worker

    from app.cli.ops import signals_to_main_thread
    from app.jobs import queue

    stops = {signal.SIGINT, signal.SIGTERM}
    before = blocked_signals(threading.get_native_id())
    worker = signals_to_main_thread(Worker)([queue()], connection=redis_store.client)
    worker.subscribe()
    try:
        assert stops <= blocked_signals(worker.pubsub_thread.native_id)
        assert blocked_signals(threading.get_native_id()) == before
        assert not stops & before
    finally:
        worker.unsubscribe()


def test_a_dead_job_goes_back_to_the_queue_it_was_taken_from(app, app_ctx, monkeypatch):
    """A code's job that died goes back to the notices queue, which workers take first
    (on the alerts queue's front, an incident's batches put back after it would go
    first); a lease of before the notices queue says only whether it was the bulk
    queue's."""
    from rq import SimpleWorker

    from app import jobs
    from app.services import outbound, verification

    def died(*_args):
        raise RuntimeError("its database connection dropped")

    monkeypatch.setattr(outbound, "deliver", died)
    monkeypatch.setattr(verification, "send_requested_manage_link", died)
    jobs.enqueue("outbound.deliver_batch", "notices", [7], on=jobs.NOTICES)
    jobs.enqueue("notices.send_manage_link", "asked")  # a link to one's page
    assert jobs.waiting(jobs.NOTICES) == 2
    SimpleWorker(jobs.worker_queues(), connection=redis_store.client).work(burst=True)
    specs = [json.loads(each) for each in redis_store.client.hvals(jobs.RUNNING_KEY)]
    # ("bulk" too, which a sweeper of the release before reads: a review.)
    assert sorted(specs, key=str) == [
        {"name": "notices.send_manage_link", "args": ["asked"], "on": "notices", "bulk": False},
        {
            "name": "outbound.deliver_batch",
            "args": ["notices", [7]],
            "on": "notices",
            "bulk": False,
        },
    ]
    assert jobs.requeue_dead() == 2
    assert sorted(job.args for job in jobs.notices_queue().jobs) == [("asked",), ("notices", [7])]
    assert jobs.queue().count == 0
    empty_job_queues()
    old = {"name": "outbound.deliver_batch", "args": ["alerts", [8]], "bulk": True}
    redis_store.client.hset(jobs.RUNNING_KEY, "old-1", json.dumps(old))
    redis_store.client.hset(jobs.RUNNING_KEY, "old-2", json.dumps(old | {"bulk": False}))
    # A code's, of before the notices queue, back to it (not behind every alert's).
    code = {"name": "outbound.deliver_batch", "args": ["notices", [9]], "bulk": False}
    redis_store.client.hset(jobs.RUNNING_KEY, "old-3", json.dumps(code))
    assert jobs.requeue_dead() == 3
    assert [job.args for job in jobs.bulk_queue().jobs] == [("alerts", [8])]
    assert [job.args for job in jobs.queue().jobs] == [("alerts", [8])]
    assert [job.args for job in jobs.notices_queue().jobs] == [("notices", [9])]
    for key in redis_store.client.scan_iter(jobs.FAILURES_PREFIX + "*"):
        redis_store.client.delete(key)
    for each in jobs.QUEUES.values():
        each().empty()


def test_an_urgent_alerts_job_ends_its_turn_for_urgent_jobs_and_codes_not_routine_ones(
    app, providers, make_officer, monkeypatch
):
    """Found by a review: an incident's job ended its turn while a routine alert's job
    waited on the alerts queue, handing its rest back to the urgent queue, which workers
    take first: taken straight back, its sends in flight drained each time for
    nothing."""
    from app import jobs
    from app.services import dispatch, outbound

    monkeypatch.setitem(app.config, "JOB_YIELD_SECONDS", 0)
    monkeypatch.setitem(app.config, "DELIVERY_CONCURRENCY", 1)
    add_residents(4)
    submit_alert(make_officer(), shapes=AREA, title="Test", body="Fire")
    empty_job_queues()
    ids = list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
    jobs.enqueue("outbound.deliver_batch", "alerts", [987654])  # a routine job waits
    assert outbound.deliver(dispatch.ALERTS, ids[:2])["sent"] == 2
    jobs.enqueue("outbound.deliver_batch", "alerts", [987655], on=jobs.URGENT)
    assert outbound.deliver(dispatch.ALERTS, ids[2:])["sent"] == 1  # for an urgent one
    assert jobs.waiting(jobs.URGENT) == 2
    empty_job_queues()
