"""Dispatch speed, on the benchmark database (1,000,000 synthetic residents, from
bench_targeting.py) and the Twilio-compatible gateway from tests/ on loopback.

1. Fan-out: from "send" until every delivery row exists and its work is queued, for an
   alert over London reaching about 100,000 residents — target under 5 seconds; and
   for one over the whole of Great Britain, reaching every one of the 1,000,000
   residents (a force-wide alert in the largest force) — target under 30 seconds, the
   ledger (partitioned by month, migration 0032) as fast after it as before; and the
   same alert from a supervisor's approval, as an alert that large goes by default.
2. Sustained sending through the real Twilio SDK, 2 worker processes, the gateway
   answering each request after 50 ms, no rate limit — target at least 500 a second.
3. With SMS_PER_SECOND=10: the rate the gateway observes — within 5% of 10, and never
   more than 10 in any one-second window.
4. Notices (codes, links) through the same engine, as 2: the same rate.
5. Residents' replies through the signed webhook (gunicorn, 2 workers x 4 threads, as
   `make run`), 32 at a time: at least 200 recorded a second.
6. Adding workers adds throughput? 1, 2, 4 and 8 worker processes on the same alert:
   messages a second, and CPU a message in the workers, PostgreSQL, Redis and the
   gateway, to show where it stops scaling and why.

    .venv/bin/python bench/bench_dispatch.py [--scaling-only | --fan-out-only]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, bench_app, web_app, web_env  # noqa: E402
from tests.twilio_gateway import TwilioGateway  # noqa: E402

# A 36 x 24 km box over London: about 100,000 of the million synthetic residents.
LONDON = [[[-0.45, 51.35], [0.20, 51.35], [0.20, 51.68], [-0.45, 51.68], [-0.45, 51.35]]]
# Great Britain and more: every synthetic resident.
EVERYWHERE = [[[-8.7, 49.8], [1.9, 49.8], [1.9, 60.9], [-8.7, 60.9], [-8.7, 49.8]]]


def ledger_timings(db, text, alert_id: int) -> str:
    """What the engine and the officer's page ask of the ledger, timed (ms): claim 500
    deliveries and put them back, and the alert's progress by channel and status."""
    from app.dao import outbound

    ids = list(
        db.session.execute(
            text("SELECT id FROM deliveries WHERE alert_id = :a AND status = 'queued' LIMIT 500"),
            {"a": alert_id},
        ).scalars()
    )
    start = time.perf_counter()
    claimed = outbound.claim("deliveries", ids)
    claim_ms = (time.perf_counter() - start) * 1000
    db.session.rollback()
    start = time.perf_counter()
    db.session.execute(
        text("SELECT channel, status, count(*) FROM deliveries WHERE alert_id = :a GROUP BY 1, 2"),
        {"a": alert_id},
    ).all()
    progress_ms = (time.perf_counter() - start) * 1000
    return f"claiming {len(claimed)}: {claim_ms:.1f} ms; the alert's progress: {progress_ms:.0f} ms"


def supervisor(db, text):
    from app.models import Officer

    found = db.session.scalar(
        text("SELECT id FROM officers WHERE email = 'bench-supervisor@police.example'")
    )
    if not found:
        from app.services.accounts import create_officer

        found = create_officer(
            email="bench-supervisor@police.example",
            name="Bench supervisor",
            role="supervisor",
            password="bench-password",  # noqa: S106
        ).id
    return db.session.get(Officer, found)


def fan_out_approved(db, text, officer, coordinates, target_s: float) -> None:
    """As fan_out, for an alert large enough to need a supervisor (as a force-wide
    one does): timed from the supervisor's "approve" (the audience was counted when
    the officer asked)."""
    from flask import current_app

    import geo.areas
    from app.extensions import redis_store
    from app.jobs import waiting
    from app.services.alerts import approve_alert, submit_alert

    geo.areas.MAX_AREA_KM2 = 10**7
    redis_store.client.flushdb()
    db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
    db.session.commit()
    threshold = current_app.config["APPROVAL_THRESHOLD"]
    current_app.config["APPROVAL_THRESHOLD"] = 2000
    try:
        asked = submit_alert(
            officer, shapes=[{"kind": "polygon", "coordinates": coordinates}], title="T", body="B"
        )
    finally:
        current_app.config["APPROVAL_THRESHOLD"] = threshold
    redis_store.client.flushdb()  # the supervisors' notices are not the fan-out
    start = time.perf_counter()
    alert = approve_alert(supervisor(db, text), asked.alert.id)
    seconds = time.perf_counter() - start
    deliveries = db.session.scalar(
        text("SELECT count(*) FROM deliveries WHERE alert_id = :a"), {"a": alert.id}
    )
    print(
        f"fan-out on approval: {alert.recipient_count:,} residents, {deliveries:,} deliveries "
        f"written and {waiting():,} jobs queued in {seconds:.2f} s "
        f"(target under {target_s:.0f} s; {os.cpu_count()} cores)",
        flush=True,
    )
    redis_store.client.flushdb()
    db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
    db.session.commit()


def fan_out(db, text, officer, coordinates, target_s: float) -> None:
    """One fan-out, timed from "send" to every delivery written and queued. The area
    limit (12,000 km², a large force) is lifted for it: the million synthetic residents
    are spread over Great Britain, not crowded into one force as the largest force's
    million would be."""
    import geo.areas

    geo.areas.MAX_AREA_KM2 = 10**7
    from app.extensions import redis_store
    from app.jobs import waiting
    from app.services.alerts import submit_alert

    redis_store.client.flushdb()
    db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
    db.session.commit()
    start = time.perf_counter()
    sent = submit_alert(
        officer, shapes=[{"kind": "polygon", "coordinates": coordinates}], title="T", body="B"
    )
    seconds = time.perf_counter() - start
    print(
        f"fan-out: {sent.alert.recipient_count:,} residents, {sent.deliveries:,} deliveries "
        f"written and {waiting():,} jobs queued in {seconds:.2f} s "
        f"(target under {target_s:.0f} s; {os.cpu_count()} cores)",
        flush=True,
    )
    print(f"  then: {ledger_timings(db, text, sent.alert.id)}", flush=True)
    redis_store.client.flushdb()
    db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
    db.session.commit()


def officer_id(db, text) -> int:
    row = db.session.execute(text("SELECT id FROM officers WHERE email = 'bench@police.example'"))
    found = row.scalar()
    if found:
        return found
    from app.services.accounts import create_officer

    return create_officer(
        email="bench@police.example",
        name="Bench",
        role="officer",
        password="bench-password",  # noqa: S106
    ).id


def only_sms(db, text) -> None:
    """These figures are for SMS: the residents' e-mail deliveries are set aside."""
    db.session.execute(text("UPDATE deliveries SET status = 'cancelled' WHERE channel <> 'sms'"))
    db.session.commit()


def workers(count: int, env: dict) -> list[subprocess.Popen]:
    """Worker processes, each leading a process group of its own (stop() kills them
    with their work-horses)."""
    return [
        subprocess.Popen(
            [str(ROOT / ".venv/bin/flask"), "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(f"/tmp/bench-worker-{n}.log", "w"),  # noqa: SIM115, S108
            start_new_session=True,
        )
        for n in range(count)
    ]


def sent_rate(gateway, expected: int, deadline_s: float) -> tuple[int, float]:
    """Wait for the gateway to take `expected` texts; (taken, messages a second)."""
    deadline = time.monotonic() + deadline_s
    while len(gateway.accepted_to("Messages")) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    times = sorted(a.at for a in gateway.accepted if a.kind == "Messages")
    return len(times), (len(times) - 1) / (times[-1] - times[0])


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has waited for (RQ's work-horses)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(t) for t in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def stop(processes) -> None:
    """Kill the workers and their work-horses: a horse outlived its worker, still
    waiting in a job for a voice line, once the benchmark had ended. RQ starts each
    horse in a session of its own, so the worker's group does not hold it: the
    horses are found as the workers' children."""
    horses = [child for process in processes for child in children_of(process.pid)]
    for pid in [*(process.pid for process in processes), *horses]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for process in processes:
        process.wait(timeout=30)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def provider_env(app, gateway) -> dict:
    """The workers' environment: the benchmark database, the gateway as Twilio."""
    return web_env(
        app,
        DELIVERY_TRANSPORT="providers",
        TWILIO_ACCOUNT_SID=gateway.account_sid,
        TWILIO_AUTH_TOKEN=gateway.auth_token,
        TWILIO_FROM_NUMBER="+447700900999",
        TWILIO_API_BASE_URL=gateway.base_url,
        SMTP_HOST="127.0.0.1",
        MAIL_FROM="bench@police.example",
        DELIVERY_BATCH_SIZE="500",
        DELIVERY_CONCURRENCY="48",
    )


def main() -> None:
    app = bench_app()
    # The benchmark measures the machine, not a supervisor: no alert waits for approval.
    app.config["APPROVAL_THRESHOLD"] = 10**9
    from sqlalchemy import text

    from app.extensions import db, redis_store
    from app.models import Officer
    from app.services.alerts import submit_alert

    with app.app_context():
        residents = db.session.scalar(text("SELECT count(*) FROM residents"))
        if residents < 500_000:
            sys.exit("Seed the residents first: .venv/bin/python bench/bench_targeting.py")
        officer = db.session.get(Officer, officer_id(db, text))

        # 1. Fan-out.
        fan_out(db, text, officer, LONDON, 5)
        fan_out(db, text, officer, EVERYWHERE, 30)
        fan_out_approved(db, text, officer, EVERYWHERE, 30)
        if "--fan-out-only" in sys.argv:
            return

        gateway = TwilioGateway().start()
        gateway.send_callbacks = False
        env = provider_env(app, gateway)
        try:
            # 2. Sustained sending, 50 ms a request, no limit.
            gateway.latency_s = 0.05
            box = [[[-2.70, 51.40], [-2.50, 51.40], [-2.50, 51.52], [-2.70, 51.52], [-2.70, 51.40]]]
            alert = submit_alert(
                officer, shapes=[{"kind": "polygon", "coordinates": box}], title="T", body="B"
            )
            only_sms(db, text)
            total_sms = db.session.scalar(
                text("SELECT count(*) FROM deliveries WHERE channel = 'sms' AND alert_id = :a"),
                {"a": alert.alert.id},
            )
            processes = workers(2, env)
            try:
                deadline = time.monotonic() + 300
                print(f"  sending {total_sms:,} SMS…", flush=True)
                while not gateway.accepted and time.monotonic() < deadline:  # workers start
                    time.sleep(0.01)
                cpu_start = [cpu_seconds(p.pid) for p in processes], time.process_time()
                while len(gateway.accepted_to("Messages")) < total_sms:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                # The last job's work-horse has been waited for once its worker is idle.
                time.sleep(1)
                cpu_end = [cpu_seconds(p.pid) for p in processes], time.process_time()
            finally:
                stop(processes)
            times = sorted(a.at for a in gateway.accepted if a.kind == "Messages")
            rate = (len(times) - 1) / (times[-1] - times[0])
            worker_cpu = sum(cpu_end[0]) - sum(cpu_start[0])
            gateway_cpu = cpu_end[1] - cpu_start[1]
            print(
                f"sustained SMS through the Twilio SDK, 50 ms per request, 2 workers x 48 in "
                f"flight: {len(times):,} messages at {rate:,.0f} a second; CPU a message: "
                f"workers {worker_cpu / len(times) * 1000:.2f} ms, "
                f"gateway {gateway_cpu / len(times) * 1000:.2f} ms"
            )

            # 3. A 10 a second limit.
            redis_store.client.flushdb()
            db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
            db.session.commit()
            gateway.accepted.clear()
            gateway.latency_s = 0.05
            small = [
                [[-2.60, 51.45], [-2.585, 51.45], [-2.585, 51.46], [-2.60, 51.46], [-2.60, 51.45]]
            ]
            submit_alert(
                officer, shapes=[{"kind": "polygon", "coordinates": small}], title="T", body="B"
            )
            only_sms(db, text)
            target = db.session.scalar(
                text("SELECT count(*) FROM deliveries WHERE channel = 'sms'")
            )
            processes = workers(2, env | {"SMS_PER_SECOND": "10"})
            try:
                deadline = time.monotonic() + 120
                while len(gateway.accepted_to("Messages")) < target:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
            finally:
                stop(processes)
            times = sorted(a.at for a in gateway.accepted if a.kind == "Messages")
            rate = (len(times) - 1) / (times[-1] - times[0])
            worst = max(sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times))
            print(
                f"SMS_PER_SECOND=10: {len(times)} messages at {rate:.2f} a second "
                f"({(rate - 10) / 10:+.1%}); most in any one-second window: {worst}"
            )

            # 4. Notices through the same engine, 50 ms a request, no limit.
            notices_rate(db, text, gateway, env)

            # 5. Replies through the signed webhook.
            replies_rate(db, text, gateway, env)

            # 6. Worker scaling.
            scaling(db, text, officer, gateway, env)
        finally:
            gateway.stop()


def processes_named(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def total_cpu(pids: list[int]) -> float:
    seconds = 0.0
    for pid in pids:
        try:
            seconds += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # a backend that ended between the listing and the reading
    return seconds


def scaling(db, text, officer, gateway, env: dict, counts=(1, 2, 4, 8)) -> None:
    """The same alert (texts only) sent by 1, 2, 4 and 8 worker processes."""
    from app.extensions import redis_store
    from app.services.alerts import submit_alert

    box = [[[-2.70, 51.40], [-2.50, 51.40], [-2.50, 51.52], [-2.70, 51.52], [-2.70, 51.40]]]
    rows = []
    for count in counts:
        redis_store.client.flushdb()
        db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
        db.session.commit()
        gateway.accepted.clear()
        gateway.latency_s = 0.05
        submit_alert(officer, shapes=[{"kind": "polygon", "coordinates": box}], title="T", body="B")
        only_sms(db, text)
        total = db.session.scalar(text("SELECT count(*) FROM deliveries WHERE channel = 'sms'"))
        db.session.commit()
        processes = workers(count, env)
        try:
            deadline = time.monotonic() + 120
            while not gateway.accepted and time.monotonic() < deadline:
                time.sleep(0.01)
            postgres, redis = processes_named("postgres"), processes_named("redis-server")
            before = (
                sum(cpu_seconds(p.pid) for p in processes),
                total_cpu(postgres),
                total_cpu(redis),
                time.process_time(),
            )
            deadline = time.monotonic() + 600
            while len(gateway.accepted_to("Messages")) < total and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
            postgres = sorted(set(postgres) | set(processes_named("postgres")))
            after = (
                sum(cpu_seconds(p.pid) for p in processes),
                total_cpu(postgres),
                total_cpu(redis),
                time.process_time(),
            )
        finally:
            stop(processes)
        times = sorted(a.at for a in gateway.accepted if a.kind == "Messages")
        rate = (len(times) - 1) / (times[-1] - times[0])
        per = [(b - a) / len(times) * 1000 for a, b in zip(before, after, strict=True)]
        rows.append((count, len(times), rate, *per))
    print(
        f"\nworker scaling: the same {rows[0][1]:,} texts, gateway answering in 50 ms, "
        f"48 in flight per worker, {os.cpu_count()} cores (CPU ms a message)"
    )
    print(
        f"{'workers':>7} {'a second':>9} {'workers':>8} {'postgres':>9} {'redis':>6} {'gateway':>8}"
    )
    for count, _n, rate, workers_ms, postgres_ms, redis_ms, gateway_ms in rows:
        print(
            f"{count:7d} {rate:9,.0f} {workers_ms:8.2f} {postgres_ms:9.2f} {redis_ms:6.2f} "
            f"{gateway_ms:8.2f}"
        )
    busiest = max(rows, key=lambda r: r[2])
    cpu_ms = sum(busiest[3:])
    print(
        f"best: {busiest[2]:,.0f} a second with {busiest[0]} workers; all of it costs "
        f"{cpu_ms:.2f} CPU ms a message, so {os.cpu_count()} cores top out near "
        f"{os.cpu_count() * 1000 / cpu_ms:,.0f} a second on this machine"
    )


def notices_rate(db, text, gateway, env: dict) -> None:
    from app.services.notices import queue_notices

    count = 20_000
    gateway.accepted.clear()
    gateway.latency_s = 0.05
    ids = list(
        db.session.execute(
            text(
                "INSERT INTO resident_notices (kind, channel, address, body) "
                "SELECT 'code', 'sms', '+4477009' || lpad(n::text, 5, '0'), "
                "lpad(n::text, 6, '0') || ' is your code' FROM generate_series(1, :n) n "
                "RETURNING id"
            ),
            {"n": count},
        ).scalars()
    )
    db.session.commit()
    queue_notices(ids)
    processes = workers(2, env)
    try:
        taken, rate = sent_rate(gateway, count, 300)
    finally:
        stop(processes)
    print(
        f"notices (codes) through the same engine and SDK, 50 ms per request, 2 workers: "
        f"{taken:,} at {rate:,.0f} a second"
    )


def replies_rate(db, text, gateway, env: dict) -> None:
    """Texts to our number, signed as Twilio signs them, against the SMS deliveries of
    the rate-limit alert (half answer its question's option 1, half write words)."""
    numbers = list(
        db.session.execute(
            text("SELECT DISTINCT address FROM deliveries WHERE channel = 'sms' LIMIT 500")
        ).scalars()
    )
    db.session.execute(
        text("UPDATE alerts SET question = 'Seen anything?', answer_options = '[\"Yes\", \"No\"]'")
    )
    db.session.execute(text("TRUNCATE replies"))
    db.session.commit()
    with web_app(env, "/tmp/bench-web.log") as base:  # noqa: S108
        url = base + "/callbacks/twilio/inbound-sms"
        count = 4_000

        run = int(time.time())  # message ids unique to this run: none is a replay

        def reply(n: int) -> int:
            body = "1" if n % 2 else "I saw a van by the shop"
            sid = f"SM{run:08x}{n:024x}"
            return gateway.text_in(url, numbers[n % len(numbers)], body, sid=sid)

        with ThreadPoolExecutor(32) as pool:
            list(pool.map(reply, range(200)))  # warm up: connections, caches
            db.session.execute(text("TRUNCATE replies"))
            db.session.commit()
            start = time.perf_counter()
            statuses = list(pool.map(reply, range(1_000, 1_000 + count)))
            seconds = time.perf_counter() - start
    recorded = db.session.scalar(text("SELECT count(*) FROM replies"))
    matched = db.session.scalar(text("SELECT count(*) FROM replies WHERE alert_id IS NOT NULL"))
    print(
        f"replies through the signed webhook (gunicorn 2 x 4, 32 at a time): {recorded:,} of "
        f"{count:,} recorded ({matched:,} matched to their alert, "
        f"{statuses.count(200):,} answered 200) at {count / seconds:,.0f} a second"
    )


def scaling_main() -> None:
    """Only section 6 (`--scaling-only`)."""
    app = bench_app()
    app.config["APPROVAL_THRESHOLD"] = 10**9
    from sqlalchemy import text

    from app.extensions import db
    from app.models import Officer

    with app.app_context():
        officer = db.session.get(Officer, officer_id(db, text))
        gateway = TwilioGateway().start()
        gateway.send_callbacks = False
        try:
            scaling(db, text, officer, gateway, provider_env(app, gateway))
        finally:
            gateway.stop()


if __name__ == "__main__":
    scaling_main() if "--scaling-only" in sys.argv else main()
