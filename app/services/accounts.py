"""Staff accounts: create, authenticate."""

from __future__ import annotations

import hashlib
import logging
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app.dao.audit import create_audit_event
from app.extensions import db, redis_store
from app.models import ROLES, Officer

_hasher = PasswordHasher()
# Verifying against a real hash when the account does not exist keeps the time the
# same, so response times don't reveal which e-mail addresses have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


log = logging.getLogger(__name__)


class SignInRefused(ValueError):
    pass


class TooManyAttempts(SignInRefused):
    """Too many wrong passwords lately: wait, then try again."""


class AccountError(ValueError):
    """An account change that cannot be made, with the reason."""


def _throttle_keys(email: str, ip_address: str | None) -> list[str]:
    # Hashed: Redis holds no e-mail addresses or IP addresses in the clear.
    digest = hashlib.sha256
    keys = [f"signin-failures:account:{digest(email.encode()).hexdigest()[:32]}"]
    if ip_address:
        keys.append(f"signin-failures:ip:{digest(ip_address.encode()).hexdigest()[:32]}")
    return keys


# While Redis is down, failures are counted in this process instead: officers can still
# sign in (alerts are sent through this service), and guessing is still limited.
_local_failures: dict[str, list[float]] = {}


def _counts(keys: list[str]) -> tuple[list[int], int]:
    """Failures in the window for each key, and seconds until the oldest expires."""
    window = current_app.config["LOGIN_WINDOW_SECONDS"]
    try:
        counts = [int(c or 0) for c in redis_store.client.mget(keys)]
        return counts, max(redis_store.client.ttl(k) for k in keys)
    except RedisError:
        log.warning("sign-in throttle on this process only: Redis is down")
        now = time.monotonic()
        recent = [[t for t in _local_failures.get(k, []) if t > now - window] for k in keys]
        oldest = min((t for times in recent for t in times), default=now)
        return [len(times) for times in recent], int(oldest + window - now)


def _check_throttle(keys: list[str]) -> None:
    config = current_app.config
    # Per account: LOGIN_MAX_FAILURES. Per address, ten times that: a force's staff
    # often share one address behind its proxy, and one person's typos must not lock
    # everyone out.
    limits = [config["LOGIN_MAX_FAILURES"], config["LOGIN_MAX_FAILURES"] * 10]
    counts, wait = _counts(keys)
    if any(count >= limit for count, limit in zip(counts, limits, strict=False)):
        minutes = max(1, -(-max(wait, 0) // 60))
        raise TooManyAttempts(
            f"Too many wrong passwords. Wait {minutes} minute{'s' if minutes != 1 else ''} "
            "and try again, or ask an administrator to reset your password."
        )


def _count_failure(keys: list[str]) -> None:
    window = current_app.config["LOGIN_WINDOW_SECONDS"]
    try:
        pipe = redis_store.client.pipeline()
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()
    except RedisError:
        now = time.monotonic()
        for key in keys:
            times = [t for t in _local_failures.get(key, []) if t > now - window]
            _local_failures[key] = times + [now]


def create_officer(
    *, email: str, name: str, role: str, password: str, mobile: str | None = None
) -> Officer:
    """Raises ValueError (an unknown role) or ContactRefused (a mobile we cannot text)."""
    from app.services.contacts import normalise_phone

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    allow_drama = current_app.config["ENV_NAME"] != "production"
    officer = Officer(
        email=email.strip().lower(),
        name=name,
        role=role,
        password_hash=_hasher.hash(password),
        # Where "send a test to myself" also goes, by text.
        mobile=normalise_phone(mobile, need_mobile=True, allow_drama=allow_drama)
        if mobile
        else None,
    )
    db.session.add(officer)
    db.session.commit()
    return officer


def authenticate(email: str, password: str, ip_address: str | None = None) -> Officer:
    """The active officer with these credentials. Raises SignInRefused (TooManyAttempts
    after LOGIN_MAX_FAILURES wrong passwords for the account or from the address in
    LOGIN_WINDOW_SECONDS)."""
    keys = _throttle_keys((email or "").strip().lower(), ip_address)
    _check_throttle(keys)
    officer = db.session.scalar(
        select(Officer).where(func.lower(Officer.email) == (email or "").strip().lower())
    )
    try:
        _hasher.verify(officer.password_hash if officer else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        officer = None
    if officer is None or not officer.active:
        _count_failure(keys)
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


def set_officer_active(admin: Officer, officer_id: int, *, active: bool) -> Officer:
    """An admin disables (or enables again) a staff account. A disabled officer's
    sessions end at their next request (the session loader refuses inactive accounts).
    Raises AccountError."""
    if admin.role != "admin":
        raise AccountError("Only an administrator can do that.")
    if admin.id == officer_id and not active:
        raise AccountError("You cannot disable your own account.")
    officer = db.session.get(Officer, officer_id)
    if officer is None:
        raise AccountError("There is no such account.")
    return _set_active(officer, active, actor_id=admin.id)


def set_officer_active_by_email(email: str, *, active: bool) -> Officer:
    """The command-line version of set_officer_active (run by the force's IT team)."""
    officer = db.session.scalar(
        select(Officer).where(func.lower(Officer.email) == email.strip().lower())
    )
    if officer is None:
        raise AccountError(f"There is no account for {email}.")
    return _set_active(officer, active, actor_id=None, details={"by": "command line"})


def _set_active(
    officer: Officer, active: bool, *, actor_id: int | None, details: dict | None = None
) -> Officer:
    officer.active = active
    create_audit_event(
        "officer.enabled" if active else "officer.disabled",
        actor_id=actor_id,
        subject_type="officer",
        subject_id=officer.id,
        details=details,
    )
    db.session.commit()
    return officer


def find_officers() -> list[Officer]:
    return list(db.session.scalars(select(Officer).order_by(Officer.role, Officer.name)))
