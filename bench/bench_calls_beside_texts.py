"""Texts beside calls: whether an alert's calls, waiting for voice lines, hold up its
texts. The demo's residents (3,000 synthetic, on a database of its own) are sent an
alert by text alone, then one by text and by voice, by 2 worker processes through the
Twilio-compatible gateway from tests/ (50 ms a request), with VOICE_LINES=4 and no
status callbacks: the first four calls hold every line for good, as calls that ring
for minutes would. Prints when each alert's last text went, and how many calls.

    .venv/bin/python bench/bench_calls_beside_texts.py [--residents 3000]
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
LINES = 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=3000)
    args = parser.parse_args()
    app = demo_force_app("community_alerts_bench_calls", args.residents)

    from sqlalchemy import select, text

    from app.extensions import db, redis_store
    from app.models import Officer
    from app.services.alerts import submit_alert

    with app.app_context():
        admin = db.session.scalar(select(Officer).where(Officer.email == "admin@example.invalid"))
        gateway = TwilioGateway().start()
        gateway.send_callbacks = False  # calls never say they ended: lines stay busy
        gateway.latency_s = 0.05
        worker_env = provider_env(app, gateway) | {"VOICE_LINES": str(LINES)}
        try:
            print(
                f"2 workers, VOICE_LINES={LINES}, calls holding their lines for good, "
                f"gateway answering in 50 ms, {os.cpu_count()} cores"
            )
            for label, channels in (
                ("texts alone", ("sms",)),
                ("texts and calls", ("sms", "voice")),
            ):
                redis_store.client.flushdb()
                db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages CASCADE"))
                db.session.commit()
                gateway.accepted.clear()
                sent = submit_alert(
                    admin,
                    shapes=[{"kind": "polygon", "coordinates": AVON}],
                    title=f"Bench: {label}",
                    body="Benchmark alert.",
                )
                db.session.execute(
                    text("UPDATE deliveries SET status = 'cancelled' WHERE NOT channel = ANY(:c)"),
                    {"c": list(channels)},
                )
                db.session.commit()
                texts = db.session.scalar(
                    text("SELECT count(*) FROM deliveries WHERE alert_id = :a AND channel = 'sms'"),
                    {"a": sent.alert.id},
                )
                calls = db.session.scalar(
                    text(
                        "SELECT count(*) FROM deliveries WHERE alert_id = :a AND channel = 'voice'"
                    ),
                    {"a": sent.alert.id},
                )
                started = time.monotonic()
                processes = workers(2, worker_env)
                try:
                    deadline = started + 120
                    while len(gateway.accepted_to("Messages")) < texts:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.1)
                    last = time.monotonic() - started
                finally:
                    stop(processes)
                went = len(gateway.accepted_to("Messages"))
                placed = len(gateway.accepted_to("Calls"))
                first = min((a.at for a in gateway.accepted), default=0)
                last_text = max((a.at for a in gateway.accepted if a.kind == "Messages"), default=0)
                print(
                    f"{label:>16}: {went:,} of {texts:,} texts, the last "
                    f"{last_text - first:.1f} s after the first message "
                    f"({last:.1f} s from starting the workers); {placed} of {calls:,} calls "
                    "placed"
                )
        finally:
            gateway.stop()


if __name__ == "__main__":
    main()
