"""flask reports: the analysts' reports on the command line."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.services import reports

reports_cli = AppGroup("reports", help="Reports for analysts.")


@reports_cli.command("sent")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day (UK time).")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day, included.")
@click.option(
    "--period",
    type=click.Choice(list(reports.PRESETS)),
    help="The last full month, quarter or year instead of dates.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the figures to this CSV file.",
)
def sent(first: str | None, last: str | None, period: str | None, csv_path: Path | None) -> None:
    """What was sent in a period: alerts, messages by channel and status, failure
    reasons, text parts, call minutes, e-mails, cost and delivery speed. Without dates,
    the last full quarter."""
    try:
        asked = reports.period_from(first, last, period)
    except reports.PeriodError as error:
        raise click.UsageError(str(error)) from None
    report = reports.sent_report(asked)
    for line in reports.report_lines(report):
        click.echo(line)
    if csv_path is not None:
        body, _ = reports.download_sent_report(None, report)
        csv_path.write_text(body, encoding="utf-8", newline="")
        click.echo(f"\nWritten to {csv_path}")


@reports_cli.command("recount")
@click.option("--all", "every", is_flag=True, help="Recount every set, however fresh.")
def recount(every: bool) -> None:
    """Recount the analysts' precomputed figures that are due (the sweeper does this
    every ANALYST_REFRESH_SECONDS), or all of them; prints how long each took."""
    import time

    from app.services import figures

    names = list(figures.RECOUNTS) if every else figures.due()
    for name in names:
        started = time.perf_counter()
        figures.refresh(name)
        click.echo(f"{name}: recounted in {time.perf_counter() - started:.1f} s")
    if not names:
        click.echo("Every set is fresh.")
