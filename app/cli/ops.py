"""flask worker / alerts / officers: running and operating the service."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup
from redis.exceptions import RedisError

from app.extensions import redis_store
from app.logs import service_failure

# The sweeper's lines go through the log, in LOG_FORMAT (JSON in production): they
# were plain text among the JSON lines (an outside check of the install).
sweeper_log = logging.getLogger("app.sweeper")
worker_log = logging.getLogger("app.worker")

alerts_cli = AppGroup("alerts", help="Operate alerts.")
officers_cli = AppGroup("officers", help="Staff accounts.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option(
    "--alerts-only",
    is_flag=True,
    help="Take only alerts, notices and links, never a long job such as an import.",
)
def worker(burst: bool, alerts_only: bool) -> None:
    """Run an RQ worker that delivers alerts, and runs imports when no alert waits
    (unless --alerts-only). Run at least one --alerts-only worker beside it, so that
    a long import never holds up an alert."""
    from rq import Worker
    from sqlalchemy.orm import configure_mappers

    import app.jobs.outbound  # noqa: F401 - see preload() below
    from app.channels import preload
    from app.jobs import worker_queues

    # Redis not answering at the start: one sentence naming it, not a traceback of
    # 64 lines (an outside check). A worker left running waits for it, as the sweeper
    # does, rather than exit: started before Redis after a reboot, it was gone for good
    # where nothing restarts it. Once working, RQ rides out an outage itself.
    _wait_for_redis(give_up=burst)
    # A dead worker is noticed within two minutes: it must renew its registration
    # every worker_ttl seconds, and maintenance (which moves abandoned jobs out of the
    # started registry) runs every 30 seconds. The sweeper re-queues their deliveries.
    queues = worker_queues(alerts_only=alerts_only)
    worker = signals_to_main_thread(Worker)(
        queues, connection=redis_store.client, worker_ttl=60, maintenance_interval=30
    )
    # Each job runs in a fork of this process: load the jobs' code and set up the ORM's
    # mappers once, here, rather than in every job.
    preload()
    configure_mappers()
    # The scheduler runs retries whose backoff has passed (outbound.enqueue).
    worker.work(burst=burst, logging_level="INFO", with_scheduler=True)


# Seconds between a waiting worker's tries, and between its lines saying it waits.
REDIS_RETRY_SECONDS = 2
REDIS_WAIT_LOG_SECONDS = 60


def _wait_for_redis(give_up: bool) -> None:
    import time

    said = None
    while True:
        try:
            redis_store.client.ping()
        except RedisError as error:
            message = (
                f"Redis is not answering ({service_failure(error)}): start it, or set"
                " REDIS_URL to one that is."
            )
            if give_up:
                raise click.ClickException(message) from None
            if said is None or time.monotonic() - said >= REDIS_WAIT_LOG_SECONDS:
                worker_log.warning("worker: %s Waiting for it.", message)
                said = time.monotonic()
            time.sleep(REDIS_RETRY_SECONDS)
            continue
        if said is not None:
            worker_log.warning("worker: Redis is answering again; starting.")
        return


def signals_to_main_thread(worker):
    """RQ's worker, whose stop signals always reach its main thread. It listens for
    commands in a thread of its own, and a signal the kernel handed that thread (a
    second one, while the first was pending: Ctrl-C's SIGINT to the process group,
    then `make run`'s SIGTERM) was handled only when the main thread next woke, when
    its wait for a job timed out: the worker stopped 42 s late."""
    import signal

    class Worker(worker):
        def subscribe(self):
            stops = {signal.SIGINT, signal.SIGTERM}
            # A thread starts with its creator's signal mask: blocked in the command
            # thread, these go to the main thread, whose wait for a job they break.
            before = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
            try:
                super().subscribe()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, before)

    return Worker


@alerts_cli.command("requeue")
def requeue() -> None:
    """Sweep once: put back work a dead worker, a lost Redis or a crash left behind."""
    from app.services.ledgers import sweep

    click.echo(sweep())


@click.command("sweeper")
@click.option("--once", is_flag=True, help="Sweep once and stop.")
def sweeper(once: bool) -> None:
    """Every SWEEP_INTERVAL_SECONDS, send scheduled alerts whose time has come and put
    back work left behind (see services/outbound.py); once an hour, apply the
    retention rules; every ANALYST_REFRESH_SECONDS, recount the analysts' figures."""
    from flask import current_app

    from app.extensions import db
    from app.services.alerts import release_scheduled_alerts
    from app.services.ledgers import sweep
    from app.services.metrics import count_sweeps, note_sweeper_round
    from app.services.resident_import import recover_imports
    from app.services.residents import purge_expired_hourly

    if once:
        _recount_figures()
    else:
        # The analysts' figures are recounted beside the sweeps, in a thread of their
        # own: a recount takes seconds at force scale, and must not hold up the sweeps.
        import threading

        app = current_app._get_current_object()
        threading.Thread(target=_recount_figures_forever, args=(app,), daemon=True).start()
    while True:
        try:
            found = sweep() | {"scheduled_released": release_scheduled_alerts()} | recover_imports()
            count_sweeps(found)
            purge_expired_hourly()
            note_sweeper_round()
            if any(found.values()):
                sweeper_log.info("sweeper: %s", found)
        except Exception as error:  # a database or Redis outage: try again next round
            db.session.rollback()
            sweeper_log.warning("sweeper: %s; trying again", service_failure(error))
        if once:
            return
        _until_next_sweep(current_app.config["SWEEP_INTERVAL_SECONDS"])


def _until_next_sweep(seconds: float) -> None:
    """Wait `seconds`, queueing each second meanwhile the jobs a dead scheduler left
    past their time (ledgers.release_due_jobs)."""
    import time

    from app.services.ledgers import release_due_jobs
    from app.services.metrics import count_sweeps

    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        if left <= 1.0:
            return  # the sweep itself is next
        try:
            found = release_due_jobs()
        except Exception as error:  # as a sweep's: tried again in a second
            sweeper_log.warning("sweeper: %s; trying again", service_failure(error))
            continue
        count_sweeps(found)
        if any(found.values()):
            sweeper_log.info("sweeper: %s", found)


def _recount_figures() -> None:
    from app.extensions import db
    from app.services.figures import refresh_due

    try:
        done = refresh_due()
        if done:
            sweeper_log.info("sweeper: recounted %s", ", ".join(done))
    except Exception as error:  # a database outage: try again next round
        db.session.rollback()
        sweeper_log.warning("sweeper: recounting figures: %s", type(error).__name__)


def _recount_figures_forever(app) -> None:
    import time

    while True:
        with app.app_context():
            _recount_figures()
        time.sleep(min(60, app.config["ANALYST_REFRESH_SECONDS"]))


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
@click.option("--mobile", help="Their work mobile: tests they send to themselves go there too.")
@click.option(
    "--force",
    "force_slug",
    help="The force they work for, by its slug (default: the default force).",
)
@click.password_option()
def create(
    email: str, name: str, role: str, password: str, mobile: str | None, force_slug: str | None
) -> None:
    """Create a staff account."""
    from app.services.accounts import AccountError, PasswordRefused, create_officer

    _warn_if_password_typed()
    from app.services.contacts import ContactRefused, normalise_email
    from app.services.forces import find_forces

    try:
        normalise_email(email)
    except ContactRefused as refusal:
        raise click.ClickException(f"--email: {refusal}") from None
    force_id = None
    if force_slug is not None:
        known = {force.slug: force.id for force in find_forces()}
        if force_slug not in known:
            raise click.ClickException(
                f"--force: no force {force_slug!r}; `flask forces list` shows them: "
                + ", ".join(sorted(known))
            )
        force_id = known[force_slug]
    try:
        create_officer(
            email=email,
            name=name,
            role=role,
            password=password,
            mobile=mobile,
            audit=True,
            force_id=force_id,
        )
    except ContactRefused as refusal:
        raise click.ClickException(f"--mobile: {refusal}") from None
    except (AccountError, PasswordRefused) as refusal:
        raise click.ClickException(str(refusal)) from None
    click.echo(
        f"Created {role} {email}. They set up their second factor (an authenticator app) "
        "when they first sign in."
    )


def _warn_if_password_typed() -> None:
    """A password given as --password stays in the shell's history (and, while the
    command runs, in the process list): said, so the next one is typed when asked."""
    from click.core import ParameterSource

    if click.get_current_context().get_parameter_source("password") is ParameterSource.COMMANDLINE:
        click.echo(
            "Warning: a password given as --password stays in your shell's history. Leave "
            "it out next time: the command asks for it, and nothing is kept.",
            err=True,
        )


@officers_cli.command("disable")
@click.option("--email", required=True)
def disable(email: str) -> None:
    """Disable a staff account: its sessions end at their next request."""
    from app.services.accounts import AccountError, set_officer_active_by_email

    try:
        set_officer_active_by_email(email, active=False)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Disabled {email}")


@officers_cli.command("enable")
@click.option("--email", required=True)
def enable(email: str) -> None:
    """Enable a disabled staff account again."""
    from app.services.accounts import AccountError, set_officer_active_by_email

    try:
        set_officer_active_by_email(email, active=True)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Enabled {email}")


@officers_cli.command("set-password")
@click.option("--email", required=True)
@click.password_option()
def set_password(email: str, password: str) -> None:
    """Give an account a new password: every session it has open ends at once."""
    from app.services.accounts import AccountError
    from app.services.accounts import set_password as change

    _warn_if_password_typed()

    try:
        change(email, password)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"New password set for {email}; its sessions have ended.")


@officers_cli.command("totp-code")
@click.argument("email")
def totp_code(email: str) -> None:
    """Development only: the code an account's authenticator app shows now (the demo's
    accounts have their secrets printed by `flask demo accounts`)."""
    from flask import current_app

    from app.services.accounts import find_by_email
    from app.services.second_factor import current_code

    if current_app.config["ENV_NAME"] != "development":
        raise click.ClickException(
            "totp-code works only with APP_ENV=development: a real account's codes come "
            "from its owner's phone."
        )
    officer = find_by_email(email)
    code = current_code(officer) if officer is not None else None
    if code is None:
        raise click.ClickException(f"{email} has no second factor set up.")
    click.echo(code)


@officers_cli.command("reset-second-factor")
@click.option("--email", required=True)
def reset_second_factor(email: str) -> None:
    """Forget an account's second factor (a lost phone and no recovery codes): it sets
    one up again at its next sign-in, and its sessions end."""
    from app.services.accounts import AccountError, forget_second_factor_by_email

    try:
        forget_second_factor_by_email(email)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{email} sets up a second factor at their next sign-in; sessions ended.")
