"""Staff sessions, held on the server.

The cookie carries only a random token; the row says whose it is, when it began, when
it was last used and whether it has ended. So signing out, disabling an account or
changing its password ends every copy of the cookie at once; a session ends after
SESSION_IDLE_MINUTES without use and SESSION_ABSOLUTE_HOURS after sign-in (a shift),
and a cookie replayed from another browser ends the session.

Held in PostgreSQL rather than Redis: every page needs the database anyway, and a
Redis outage during an incident must not sign every officer out or keep them out.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import Officer, StaffSession
from app.services import forces
from app.services.counters import key_digest

# Last use is written at most this often: a page's many JSON calls are one write.
TOUCH_EVERY = timedelta(seconds=60)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def start_session(officer: Officer, user_agent: str) -> str:
    """A new session for an officer who has just signed in: returns the cookie's token.
    The caller commits (it is part of signing in)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        StaffSession(
            token_hash=_digest(token), officer_id=officer.id, agent_hash=_digest(user_agent)
        )
    )
    return token


def officer_for_session(token: str, user_agent: str) -> Officer | None:
    """The officer this token signs in, or None when the session has ended (and then
    it is marked ended, with why)."""
    if not token or len(token) > 100:
        return None
    # Whichever force the request reads: a public page of another force is scoped to
    # it, and there the officer was not found and their session ended as "disabled"
    # (an outside check: reading Wiltshire's alerts signed an Avon and Somerset
    # officer out).
    with forces.unscoped():
        return _officer_for_session(token, user_agent)


def _officer_for_session(token: str, user_agent: str) -> Officer | None:
    row = db.session.scalar(select(StaffSession).where(StaffSession.token_hash == _digest(token)))

    if row is None or row.ended_at is not None:
        return None
    now = datetime.now(UTC)
    config = current_app.config
    reason = None
    if row.agent_hash != _digest(user_agent):
        reason = "other_browser"
    elif now - row.created_at > timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]):
        reason = "shift_over"
    elif now - row.last_seen_at > timedelta(minutes=config["SESSION_IDLE_MINUTES"]):
        reason = "idle"
    officer = db.session.get(Officer, row.officer_id)
    if reason is None and (officer is None or not officer.active):
        reason = "disabled"
    if reason is not None:
        row.ended_at, row.ended_reason = now, reason
        if reason == "other_browser":
            # The product's own sign of a stolen session: said in the audit log, with
            # the network it came from (it was kept only in the sessions table, whose
            # rows go after 30 days: an outside check).
            create_audit_event(
                "officer.session_used_elsewhere",
                actor_id=None,
                subject_type="officer",
                subject_id=row.officer_id,
                details={"ended": "its cookie came from another browser"},
            )
        db.session.commit()
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    officer.session_token = token
    return officer


def end_session(token: str | None, reason: str = "signed_out") -> None:
    if token:
        db.session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == _digest(token), StaffSession.ended_at.is_(None))
            .values(ended_at=datetime.now(UTC), ended_reason=reason)
        )


def end_sessions_of(officer_id: int, reason: str) -> int:
    """End every session of an officer (disabled, password changed). The caller
    commits. Returns how many were open."""
    result = db.session.execute(
        update(StaffSession)
        .where(StaffSession.officer_id == officer_id, StaffSession.ended_at.is_(None))
        .values(ended_at=datetime.now(UTC), ended_reason=reason)
    )
    return result.rowcount


def draft_owner(officer_id: int) -> str:
    """Whose alert drafts a browser tab keeps (sessionStorage, static/js/target.js), as
    a name that is not the officer's id. Every staff page drops the tab's drafts of
    anyone else (static/js/menu.js): a draft was put back for the next officer signed
    in to the tab after a session ended without "Sign out" (an idle timeout), and stayed
    in it while someone who never opened the composer used it (outside checks)."""
    return key_digest(f"draft-owner:{officer_id}")[:16]
