"""Advisory locks held until the transaction ends, by name: whatever must take turns
(a figure's recount, an officer's sends, the sign-ups of one number) takes the lock
of its name, and the next waits for the first to commit or roll back."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import text


def lock_key(name: str) -> int:
    """The lock's number: the name's digest keyed with SECRET_KEY (which every process
    of an installation shares), as a signed 64-bit integer. Worked out here, not by
    PostgreSQL: a name can hold a resident's number or a staff address ("sign-up:…",
    "officer-email:…"), and sent as a parameter it reached the server's log with a slow
    lock wait (a review); keyed, as a plain digest of a phone number is undone by
    trying the numbers (a review)."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(secret, name.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_until_commit(session, name: str) -> None:
    """Wait for, then hold until this transaction ends, the lock called `name`."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
