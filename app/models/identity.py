"""Identities at the force's identity provider (OpenID Connect), linked to accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class OfficerIdentity(db.Model):
    """One person at one identity provider: the ID token's issuer and subject (never
    the e-mail address, which the provider may let people change), and the staff
    account it signs in to. Signing in with single sign-on looks the account up here."""

    __tablename__ = "officer_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_officer_identities_issuer_subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    issuer: Mapped[str] = mapped_column(String(255), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
