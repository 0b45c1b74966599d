"""A time limit on each statement of the transaction under way."""

from __future__ import annotations

from sqlalchemy import text


def limit_statement_time(session, milliseconds: int) -> None:
    """Each statement from now to the end of the transaction is stopped after
    `milliseconds` (psycopg's QueryCanceled, under SQLAlchemy's OperationalError)."""
    session.execute(
        text("SELECT set_config('statement_timeout', :t, true)"),
        {"t": str(max(1, int(milliseconds)))},
    )
