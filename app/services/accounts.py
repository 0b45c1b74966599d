"""Staff accounts: create, authenticate."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import ROLES, Officer

_hasher = PasswordHasher()
# Verifying against a real hash when the account does not exist keeps the time the
# same, so response times don't reveal which e-mail addresses have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class SignInRefused(ValueError):
    pass


def create_officer(*, email: str, name: str, role: str, password: str) -> Officer:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    officer = Officer(
        email=email.strip().lower(), name=name, role=role, password_hash=_hasher.hash(password)
    )
    db.session.add(officer)
    db.session.commit()
    return officer


def authenticate(email: str, password: str) -> Officer:
    """The active officer with these credentials. Raises SignInRefused."""
    officer = db.session.scalar(
        select(Officer).where(func.lower(Officer.email) == (email or "").strip().lower())
    )
    try:
        _hasher.verify(officer.password_hash if officer else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        officer = None
    if officer is None or not officer.active:
        create_audit_event("officer.sign_in_refused", actor_id=None, details={})
        db.session.commit()
        raise SignInRefused("The e-mail address or password is not right.")
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = _hasher.hash(password)
    officer.last_login_at = func.now()
    create_audit_event(
        "officer.signed_in", actor_id=officer.id, subject_type="officer", subject_id=officer.id
    )
    db.session.commit()
    return officer
