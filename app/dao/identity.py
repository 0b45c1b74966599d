"""Single sign-on identities and the accounts they sign in to. Queries only; they
never commit."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Officer, OfficerIdentity


def find_identity(issuer: str, subject: str) -> OfficerIdentity | None:
    """The identity this provider's subject is, locked for this sign-in (two sign-ins
    at once by the same person update one row, one after the other)."""
    return db.session.scalar(
        select(OfficerIdentity)
        .where(OfficerIdentity.issuer == issuer, OfficerIdentity.subject == subject)
        .with_for_update()
    )


def find_officer_by_email(email: str) -> Officer | None:
    return db.session.scalar(select(Officer).where(func.lower(Officer.email) == email.lower()))


def identities_of(officer_id: int) -> list[OfficerIdentity]:
    return list(
        db.session.scalars(
            select(OfficerIdentity)
            .where(OfficerIdentity.officer_id == officer_id)
            .order_by(OfficerIdentity.id)
        )
    )
