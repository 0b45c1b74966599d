"""flask worker / alerts / officers: running and operating the service."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.extensions import redis_store

alerts_cli = AppGroup("alerts", help="Operate alerts.")
officers_cli = AppGroup("officers", help="Staff accounts.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker that delivers alerts."""
    from rq import Worker

    from app.jobs import queue

    Worker([queue()], connection=redis_store.client).work(burst=burst, logging_level="INFO")


@alerts_cli.command("requeue")
@click.option("--stalled-minutes", default=10, show_default=True)
def requeue(stalled_minutes: int) -> None:
    """Queue again every delivery still waiting in an unfinished alert, including those
    a dead worker left in "sending" for longer than --stalled-minutes."""
    from app.jobs.delivery import find_unfinished_alert_ids, release_stalled_deliveries
    from app.services.alerts import enqueue_alert_deliveries

    click.echo(f"released {release_stalled_deliveries(stalled_minutes)} stalled deliveries")
    for alert_id in find_unfinished_alert_ids():
        click.echo(f"alert {alert_id}: {enqueue_alert_deliveries(alert_id)} queued")


@alerts_cli.command("progress")
@click.argument("alert_id", type=int)
def progress(alert_id: int) -> None:
    """Deliveries of one alert per channel and status."""
    from app.services.alerts import alert_progress

    report = alert_progress(alert_id)
    for channel, statuses in sorted(report["by_channel"].items()):
        click.echo(f"{channel:6} " + "  ".join(f"{s} {n}" for s, n in sorted(statuses.items())))
    click.echo(f"total {report['total']}, finished: {report['finished']}")


@officers_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role", required=True, type=click.Choice(["officer", "supervisor", "analyst", "admin"])
)
@click.password_option()
def create(email: str, name: str, role: str, password: str) -> None:
    """Create a staff account."""
    from app.services.accounts import create_officer

    create_officer(email=email, name=name, role=role, password=password)
    click.echo(f"Created {role} {email}")
