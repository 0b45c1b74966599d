"""Texts under scattered refusals: a few 429s with Retry-After among many answers. The
demo's residents (3,000 synthetic, on a database of its own) are sent an alert by text
alone, by 2 worker processes through the Twilio-compatible gateway from tests/ (50 ms a
request), which answers 4% of requests 429 with "Retry-After: 2". Sent twice: with
HOLD_IN_PLACE_SECONDS=0 (every held send goes back to the queue, as before) and with
the default 5 (a short wait is waited out in the job). Prints when the last text went,
and how many requests were refused.

    .venv/bin/python bench/bench_refusals.py [--residents 3000] [--refused 0.04]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_dispatch import provider_env, stop, workers  # noqa: E402
from bench.common import demo_force_app  # noqa: E402
from tests.twilio_gateway import TwilioGateway  # noqa: E402

# The whole demo force (Avon and Somerset) and more.
AVON = [[[-3.9, 50.8], [-2.2, 50.8], [-2.2, 51.7], [-3.9, 51.7], [-3.9, 50.8]]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=3000)
    parser.add_argument("--refused", type=float, default=0.04)
    # Batches of 100: more jobs than workers, as a large alert has, so a job hands its
    # retries back to the queue rather than waiting for them itself.
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    batch = str(args.batch)
    app = demo_force_app("community_alerts_bench_refusals", args.residents)

    from sqlalchemy import select, text

    from app.extensions import db, redis_store
    from app.models import Officer
    from app.services.alerts import submit_alert

    with app.app_context():
        admin = db.session.scalar(select(Officer).where(Officer.email == "admin@example.invalid"))
        gateway = TwilioGateway().start()
        gateway.latency_s = 0.05
        gateway.retry_after = "2"
        try:
            print(
                f"2 workers, batches of {batch}, gateway answering in 50 ms, "
                f"{args.refused:.0%} of requests 429 with Retry-After: 2, {os.cpu_count()} cores"
            )
            for in_place in ("0", "5"):
                redis_store.client.flushdb()
                db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
                db.session.commit()
                gateway.accepted.clear()
                gateway.refused.clear()
                gateway.rate_429 = args.refused
                sent = submit_alert(
                    admin,
                    shapes=[{"kind": "polygon", "coordinates": AVON}],
                    title=f"Bench: refusals, HOLD_IN_PLACE_SECONDS={in_place}",
                    body="Benchmark alert.",
                )
                db.session.execute(
                    text("UPDATE deliveries SET status = 'cancelled' WHERE channel <> 'sms'")
                )
                db.session.commit()
                texts = db.session.scalar(
                    text("SELECT count(*) FROM deliveries WHERE alert_id = :a AND channel = 'sms'"),
                    {"a": sent.alert.id},
                )
                started = time.monotonic()
                settings = {"HOLD_IN_PLACE_SECONDS": in_place, "DELIVERY_BATCH_SIZE": batch}
                processes = workers(2, provider_env(app, gateway) | settings)
                try:
                    deadline = started + 300
                    while len(set(gateway.accepted_to("Messages"))) < texts:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.1)
                finally:
                    stop(processes)
                taken = gateway.accepted_to("Messages")
                first = min((a.at for a in gateway.accepted), default=0)
                last = max((a.at for a in gateway.accepted), default=0)
                print(
                    f"HOLD_IN_PLACE_SECONDS={in_place}: {len(set(taken)):,} of {texts:,} texts "
                    f"({len(taken) - len(set(taken))} twice), the last {last - first:.1f} s "
                    f"after the first; {len(gateway.refused)} requests refused"
                )
        finally:
            gateway.stop()


if __name__ == "__main__":
    main()
