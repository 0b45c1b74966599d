"""Advisory locks held until the transaction ends, by name: whatever must take turns
(a figure's recount, an officer's sends, the sign-ups of one number) takes the lock
of its name, and the next waits for the first to commit or roll back."""

from __future__ import annotations

from sqlalchemy import text


def lock_until_commit(session, name: str) -> None:
    """Wait for, then hold until this transaction ends, the lock called `name`."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
