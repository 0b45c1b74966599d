"""RQ entry point for the admin page's imports. Takes an id; safe to run twice."""

from __future__ import annotations

from app.jobs import with_app_context
from app.services import resident_import


@with_app_context
def run_import(import_id: int, dry_run: bool) -> None:
    resident_import.run_import(import_id, dry_run=dry_run)
