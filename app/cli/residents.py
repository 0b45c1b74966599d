"""flask residents: import a subscriber list, apply the retention rules."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.services.maintenance import reorder_targets_now
from app.services.spreadsheet import csv_text

residents_cli = AppGroup("residents", help="Residents: import a list, retention.")


@residents_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@click.option(
    "--notify", is_flag=True, help="Tell each imported resident the force now holds their details."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the rejected rows and their reasons to this CSV file.",
)
def import_command(path: Path, dry_run: bool, notify: bool, report_path: Path | None) -> None:
    """Import residents from a CSV file (see app/services/resident_import.py for the
    columns). Accepted rows are written in one transaction; rejected rows are listed."""
    from tqdm import tqdm

    from app.i18n import in_reader_language
    from app.services.resident_import import ImportRefused, import_residents

    def reasons(rejected: dict) -> str:
        # Each in English and Welsh (each_language): English here, as the page reads
        # them in its language (joined as text, they stopped the command mid-report).
        return "; ".join(map(in_reader_language, rejected["reasons"]))

    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("The file is not UTF-8 text. Save it as CSV UTF-8.") from None
    total = max(content.count("\n") - 1, 1)
    with tqdm(total=total * (1 if dry_run else 2), unit="row", disable=None) as bar:

        def progress(done: int) -> None:
            bar.update(done - bar.n)

        try:
            report = import_residents(
                content, filename=path.name, dry_run=dry_run, notify=notify, progress=progress
            )
        except ImportRefused as refusal:
            raise click.ClickException(str(refusal)) from None
        bar.update(bar.total - bar.n)
    for rejected in report.rejected[:50]:
        click.echo(f"row {rejected['row']}: " + reasons(rejected))
    if len(report.rejected) > 50:
        click.echo(f"… and {len(report.rejected) - 50:,} more rejected rows (use --report).")
    if report_path:
        # A spreadsheet opens it: no cell runs as a formula (a reason quotes its row).
        rows = ((rejected["row"], reasons(rejected)) for rejected in report.rejected)
        report_path.write_text(csv_text(["row", "reasons"], rows), encoding="utf-8", newline="")
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{report.rows_read:,} rows read: {verb} {report.accepted:,}, "
        f"rejected {len(report.rejected):,}"
        + (f", notified {report.notified:,}" if report.notified else "")
        + "."
    )


@residents_cli.command("purge")
def purge() -> None:
    """Apply the retention rules (RETENTION_DAYS, UNVERIFIED_DAYS). Run it daily."""
    from app.services.residents import purge_expired

    click.echo(purge_expired())


@residents_cli.command("reorder-targets")
def reorder_targets_command() -> None:
    """Keep the officer's preview fast: rewrite who-can-be-reached (the targets table)
    in map order. Run it nightly, at a quiet hour: it holds the table while it runs."""
    click.echo(f"Targets reordered in {reorder_targets_now():.1f} s.")
