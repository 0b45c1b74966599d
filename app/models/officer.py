from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

# officer: a PCSO or constable who targets and sends; supervisor: also sees the
# outbox and approves other people's alerts; analyst: maps and reports, never residents' details.
ROLES = ("officer", "supervisor", "analyst", "admin")


class Officer(UserMixin, db.Model):
    """A member of staff who signs in. Residents never do."""

    __tablename__ = "officers"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    # Where "send a test to myself" goes by text, besides the e-mail address (E.164).
    mobile: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # The server-side session this object was loaded for (app/services/staff_sessions):
    # Flask-Login keeps it in the cookie in place of the account's id.
    session_token = None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def get_id(self) -> str | None:
        return self.session_token


class StaffSession(db.Model):
    """A signed-in browser of a member of staff, held on the server so that signing
    out, disabling the account or changing its password ends it at once, wherever the
    cookie has been copied. The cookie carries a random token; only its hash is here."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # A hash of the browser's User-Agent: a cookie replayed from another browser ends.
    agent_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # signed_out, idle, shift_over, other_browser, disabled, password_changed
    ended_reason: Mapped[str | None] = mapped_column(String(20))
