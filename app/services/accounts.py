"""Staff accounts: create, authenticate."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app.dao import officers as officers_dao
from app.dao.audit import create_audit_event
from app.extensions import db, redis_store
from app.models import ROLES, Officer
from app.services.staff_sessions import end_session, end_sessions_of, start_session

# NCSC: length, not composition rules (the full policy comes with single sign-on).
MIN_PASSWORD_LENGTH = 12

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


def _throttle_keys(email: str, ip_address: str | None, *, trusted: bool) -> list[tuple[str, int]]:
    """The counters one sign-in attempt is held to, each with its free failures.
    Hashed: Redis holds no e-mail addresses or IP addresses in the clear."""
    config = current_app.config

    def digest(value: str) -> str:
        return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]

    ip = ip_address or "unknown"
    keys = [
        # This account from this address: the owner's own typos, or a guesser there.
        (f"signin:pair:{digest(email + ' ' + ip)}", config["LOGIN_FREE_FAILURES"]),
        # This address, whatever the account: a force's staff often share one address
        # behind its proxy, so ten times an account's allowance.
        (f"signin:ip:{digest(ip)}", config["LOGIN_MAX_FAILURES"] * 10),
    ]
    if not trusted:
        # This account from anywhere: slows a guesser with many addresses, but only
        # for browsers the account has not signed in from before.
        keys.append((f"signin:account:{digest(email)}", config["LOGIN_MAX_FAILURES"]))
    return keys


# Atomically: either every counter allows the attempt and each counts it (before the
# password is checked, so parallel guesses cannot all pass), or none does and the
# longest wait is returned. Counters are hashes {n: attempts since a success, last}.
_TAKE_ATTEMPT = """
local now, base, cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local wait = 0
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[4 + i])
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  if n >= free then
    local last = tonumber(redis.call('HGET', key, 'last') or '0')
    local w = last + math.min(base * 2 ^ (n - free), cap) - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'last', ARGV[1])
  redis.call('EXPIRE', key, ttl)
end
return '0'
"""

# While Redis is down, attempts are counted in this process instead: officers can
# still sign in (alerts are sent through this service), and guessing is still slowed.
_local_counts: dict[str, tuple[int, float]] = {}
_local_lock = threading.Lock()
LOCAL_COUNTS_KEPT = 50_000


def _take_attempt(keys: list[tuple[str, int]]) -> float:
    """Count an attempt against every key, or return the seconds to wait first."""
    config = current_app.config
    base, cap = config["LOGIN_DELAY_SECONDS"], config["LOGIN_MAX_DELAY_SECONDS"]
    ttl = config["LOGIN_WINDOW_SECONDS"] + cap
    now = time.time()
    try:
        script = redis_store.client.register_script(_TAKE_ATTEMPT)
        names = [name for name, _ in keys]
        return float(script(keys=names, args=[now, base, cap, ttl, *[f for _, f in keys]]))
    except RedisError:
        log.warning("sign-in throttle on this process only: Redis is down")
    with _local_lock:
        if len(_local_counts) > LOCAL_COUNTS_KEPT:
            # A long outage with many addresses must not grow this without end.
            for name in [k for k, (_, last) in _local_counts.items() if last < now - ttl]:
                del _local_counts[name]
            while len(_local_counts) > LOCAL_COUNTS_KEPT:
                _local_counts.pop(next(iter(_local_counts)))
        wait = 0.0
        for name, free in keys:
            n, last = _local_counts.get(name, (0, 0.0))
            if last < now - ttl:
                n = 0
            if n >= free:
                wait = max(wait, last + min(base * 2 ** (n - free), cap) - now)
        if wait > 0:
            return wait
        for name, _ in keys:
            n, last = _local_counts.get(name, (0, 0.0))
            _local_counts[name] = ((0 if last < now - ttl else n) + 1, now)
    return 0.0


def _forget_attempts(keys: list[tuple[str, int]]) -> None:
    """A right password: this account's counters start again (the address's keeps
    the others' failures, less this one)."""
    account_keys = [name for name, _ in keys if not name.startswith("signin:ip:")]
    ip_keys = [name for name, _ in keys if name.startswith("signin:ip:")]
    try:
        pipe = redis_store.client.pipeline()
        pipe.delete(*account_keys)
        for name in ip_keys:
            pipe.hincrby(name, "n", -1)
        pipe.execute()
    except RedisError:
        with _local_lock:
            for name in account_keys:
                _local_counts.pop(name, None)


def _refusal(wait: float) -> TooManyAttempts:
    seconds = max(1, math.ceil(wait))
    when = (
        f"{seconds} second{'s' if seconds != 1 else ''}"
        if seconds < 60
        else f"{math.ceil(seconds / 60)} minute{'s' if seconds > 60 else ''}"
    )
    return TooManyAttempts(f"Too many wrong passwords. Wait {when} and try again.")


def create_officer(
    *, email: str, name: str, role: str, password: str, mobile: str | None = None
) -> Officer:
    """Raises ValueError (an unknown role) or ContactRefused (an e-mail address we
    cannot use, a mobile we cannot text)."""
    from app.services.contacts import normalise_email, normalise_phone

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    allow_drama = current_app.config["ENV_NAME"] != "production"
    officer = Officer(
        email=normalise_email(email).lower(),
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


def authenticate(
    email: str,
    password: str,
    ip_address: str | None = None,
    *,
    user_agent: str = "",
    trusted_devices: dict[int, str] | None = None,
) -> Officer:
    """The active officer with these credentials, signed in: a new server-side session
    whose token is in officer.session_token. Raises SignInRefused (TooManyAttempts
    while this account or address must wait). `trusted_devices` holds the accounts a
    signed device cookie says this browser signed in to before: account id -> the
    credentials_version it signed in with (a new password ends the trust)."""
    email = (email or "").strip().lower()
    officer = db.session.scalar(select(Officer).where(func.lower(Officer.email) == email))
    trusted = officer is not None and (trusted_devices or {}).get(officer.id) == (
        credentials_version(officer)
    )
    keys = _throttle_keys(email, ip_address, trusted=trusted)
    wait = _take_attempt(keys)
    if wait > 0:
        create_audit_event("officer.sign_in_throttled", actor_id=None, details={})
        db.session.commit()
        raise _refusal(wait)
    try:
        _hasher.verify(officer.password_hash if officer else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        officer = None
    if officer is None or not officer.active:
        create_audit_event("officer.sign_in_refused", actor_id=None, details={})
        db.session.commit()
        raise SignInRefused("The e-mail address or password is not right.")
    _forget_attempts(keys)
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = _hasher.hash(password)
    officer.last_login_at = func.now()
    officer.session_token = start_session(officer, user_agent)
    create_audit_event(
        "officer.signed_in", actor_id=officer.id, subject_type="officer", subject_id=officer.id
    )
    db.session.commit()
    return officer


def has_role(officer: Officer, roles: tuple[str, ...]) -> bool:
    """Whether the officer may use what these roles may (an admin may use everything)."""
    return officer.role in roles or officer.role == "admin"


def credentials_version(officer: Officer) -> str:
    """Changes when the password does: what a browser's trust is bound to."""
    return hashlib.sha256(officer.password_hash.encode()).hexdigest()[:16]


def sign_out(token: str | None) -> None:
    end_session(token, "signed_out")
    db.session.commit()


def set_password(email: str, password: str, *, actor_id: int | None = None) -> Officer:
    """A new password for an account (the force's IT team, from the shell). Every
    session of the account ends at once. Raises AccountError."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    officer = db.session.scalar(
        select(Officer).where(func.lower(Officer.email) == email.strip().lower())
    )
    if officer is None:
        raise AccountError(f"There is no account for {email}.")
    officer.password_hash = _hasher.hash(password)
    ended = end_sessions_of(officer.id, "password_changed")
    create_audit_event(
        "officer.password_changed",
        actor_id=actor_id,
        subject_type="officer",
        subject_id=officer.id,
        details={"sessions_ended": ended},
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
    if not active:
        end_sessions_of(officer.id, "disabled")
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


def find_on_duty(roles: tuple[str, ...], *, except_id: int | None = None) -> list[Officer]:
    """Staff of these roles on duty now. No rota is kept, so signing in is how staff
    come on duty: an active account that signed in within the last shift
    (SESSION_ABSOLUTE_HOURS, when a session ends however busy) and has not signed out
    since. Being idle is not going off duty."""
    since = datetime.now(UTC) - timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
    return officers_dao.find_officers_signed_in_since(roles, since=since, except_id=except_id)


def find_active(roles: tuple[str, ...], *, except_id: int | None = None) -> list[Officer]:
    """Every active account of these roles, on duty or not."""
    return officers_dao.find_active_officers(roles, except_id=except_id)
