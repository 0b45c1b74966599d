from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
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
from app.models.force import force_column

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
    force_id: Mapped[int] = force_column()
    # None for an account that signs in only through the force's identity provider.
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Where "send a test to myself" goes by text, besides the e-mail address (E.164).
    mobile: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The second factor of a password account (app/services/second_factor.py): a TOTP
    # secret, in use once confirmed by a first code; one being set up; and the last
    # time step accepted, so that a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    # The server-side session this object was loaded for (app/services/staff_sessions):
    # Flask-Login keeps it in the cookie in place of the account's id.
    session_token = None

    @property
    def role_label(self) -> str:
        """ "an officer", "an administrator"… in the page's language."""
        from flask_babel import gettext

        return {
            "officer": gettext("an officer"),
            "supervisor": gettext("a supervisor"),
            "analyst": gettext("an analyst"),
            "admin": gettext("an administrator"),
        }.get(self.role, self.role)

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


class RecoveryCode(db.Model):
    """One of the ten one-time codes that stand in for the authenticator app when it is
    lost. Only a hash is kept; a used code is marked, never accepted again."""

    __tablename__ = "officer_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


ACCOUNT_LINK_KINDS = ("reset", "invite")


class AccountLink(db.Model):
    """A one-time link an administrator sent: to set a password on a new account
    (invite) or to set a new one (reset). The link carries a random token; only its
    hash is here. It works once, until expires_at; a newer link replaces it."""

    __tablename__ = "officer_account_links"
    __table_args__ = (CheckConstraint(f"kind IN {ACCOUNT_LINK_KINDS!r}", name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("officers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
