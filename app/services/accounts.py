"""Staff accounts: create, sign in, invite, reset, roles, disable.

Signing in is two steps for a password account: the password (check_password), then
the second factor (services/second_factor.py). Whatever the method, a session begins
in one place, complete_sign_in(officer, method): single sign-on calls it too."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context, url_for
from flask_babel import gettext, ngettext
from redis.exceptions import RedisError
from sqlalchemy import delete, func, or_, select, update

from app.dao import officers as officers_dao
from app.dao import teams as teams_dao
from app.dao.audit import create_audit_event
from app.dao.locks import lock_until_commit
from app.extensions import db, redis_store
from app.i18n import current, in_language, police_of, role_name
from app.models import ROLES, AuditEvent, Officer
from app.models.officer import AccountLink, RecoveryCode
from app.services import forces, message_text
from app.services.counters import key_digest
from app.services.passwords import MIN_LENGTH as MIN_PASSWORD_LENGTH
from app.services.passwords import PasswordRefused, check_password_policy, normalise
from app.services.staff_sessions import end_session, end_sessions_of, start_session
from app.services.teams import (
    TeamRefused,
    add_new_member,
    in_no_team,
    leave_teams_for_role,
    team_for_new_account,
)
from app.services.text import TextRefused, checked_text, unseen_dropped
from app.services.transaction import transaction

# The policy's minimum and refusal, for callers that know only this module.
__all__ = ["MIN_PASSWORD_LENGTH", "PasswordRefused"]

# argon2's recommended parameters (RFC 9106's second choice); its cheapest for tests
# (PASSWORD_HASH_CHEAPEST, TestingConfig's alone).
_HASHERS = {False: PasswordHasher(), True: PasswordHasher.from_parameters(profiles.CHEAPEST)}
# Verifying against a real hash when the account does not exist keeps the time the
# same, so response times don't reveal which e-mail addresses have accounts.
_DUMMY_HASHES = {cheap: hasher.hash("not-a-real-password") for cheap, hasher in _HASHERS.items()}


def _cheapest() -> bool:
    return has_app_context() and bool(current_app.config.get("PASSWORD_HASH_CHEAPEST"))


def _hasher() -> PasswordHasher:
    return _HASHERS[_cheapest()]


log = logging.getLogger(__name__)


class SignInRefused(ValueError):
    pass


class TooManyAttempts(SignInRefused):
    """Too many wrong passwords lately: wait, then try again."""


class AccountError(ValueError):
    """An account change that cannot be made, with the reason; `field`, the form's box
    at fault when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _throttle_keys(
    email: str, ip_address: str | None, *, trusted_device: bool, known_network: bool
) -> list[tuple[str, int]]:
    """The counters one sign-in attempt is held to, each with its free failures.

    Counters others can fill must not keep the owner out (an outside check kept a
    supervisor out for 18 minutes, 72 tries of 72, with one wrong password every five
    minutes): the address's is not held to a browser the account signed in from
    before (someone on the same network could fill it), nor the account's to that
    browser or to a network the account signed in from before."""
    config = current_app.config
    ip = ip_address or "unknown"
    # This account from this address: the owner's own typos, or a guesser there.
    keys = [(f"signin:pair:{key_digest(email + ' ' + ip)}", config["LOGIN_FREE_FAILURES"])]
    if not trusted_device:
        # This address, whatever the account: a force's staff often share one address
        # behind its proxy, so ten times an account's allowance.
        keys.append((f"signin:ip:{key_digest(ip)}", config["LOGIN_MAX_FAILURES"] * 10))
    if not (trusted_device or known_network):
        # This account from anywhere: slows a guesser with many addresses.
        keys.append((f"signin:account:{key_digest(email)}", config["LOGIN_MAX_FAILURES"]))
    return keys


def _known_network_key(officer: Officer, network: str) -> str:
    # Bound to the password as a browser's trust is: a new one forgets them.
    return f"signin:known:{key_digest(f'{officer.id} {credentials_version(officer)} {network}')}"


def remember_network(officer: Officer, network: str | None) -> None:
    """The account signed in (both factors) from this network (an IPv4 address or an
    IPv6 /64): guesses at the account from elsewhere no longer hold sign-ins from it,
    for LOGIN_DEVICE_DAYS or until the password changes, as a browser that signed in
    is not held."""
    if not network:
        return
    days = current_app.config["LOGIN_DEVICE_DAYS"]
    try:
        redis_store.client.set(_known_network_key(officer, network), 1, ex=days * 86400)
    except RedisError:
        log.warning("sign-in network not remembered: Redis is down")


def _is_known_network(officer: Officer, network: str | None) -> bool:
    if not network:
        return False
    try:
        return bool(redis_store.client.exists(_known_network_key(officer, network)))
    except RedisError:
        return False


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


def _refusal(wait: float, what: str = "passwords") -> TooManyAttempts:
    """In the page's language (a Welsh sign-in page said it in English)."""
    seconds = max(1, math.ceil(wait))
    minutes = math.ceil(seconds / 60)
    when = (
        ngettext("%(num)s second", "%(num)s seconds", seconds)
        if seconds < 60
        else ngettext("%(num)s minute", "%(num)s minutes", minutes)
    )
    # The advice fits what was wrong: the code step's was about a forgotten password.
    if what == "passwords":
        said = gettext(
            "Too many wrong passwords. Wait %(when)s and try again. Forgotten your "
            "password? Ask an administrator to send you a reset link.",
            when=when,
        )
    else:
        said = gettext(
            "Too many wrong codes. Wait %(when)s and try again. Lost your phone? Use one "
            "of your recovery codes, or ask an administrator to reset your account.",
            when=when,
        )
    return TooManyAttempts(said)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def find_by_email(email: str) -> Officer | None:
    return db.session.scalar(
        select(Officer).where(
            func.lower(Officer.email) == unseen_dropped(email or "").strip().lower()
        )
    )


def create_officer(**account) -> Officer:
    """A new staff account, committed (see _add_officer for what it takes and
    raises)."""
    with transaction():
        return _add_officer(**account)


def _add_officer(
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    mobile: str | None = None,
    actor_id: int | None = None,
    audit: bool = False,
    force_id: int | None = None,
    team_id: int | None = None,
) -> Officer:
    """A new staff account. Without a password it cannot sign in with one: it is
    invited (send_invitation) or signs in only through single sign-on. Raises
    ValueError: an unknown role, PasswordRefused (the password policy), AccountError
    (the address has an account), or ContactRefused (an e-mail address we cannot use,
    a mobile we cannot text)."""
    from app.services.contacts import normalise_email, normalise_phone

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    name = _checked_name(name)
    email = normalise_email(email).lower()
    if password is not None:
        password = check_password_policy(password, email=email, name=name)
    # One account made for an address at a time: an invitation sent twice at once
    # found the address free both times, and the second broke the unique index.
    lock_until_commit(db.session, f"officer-email:{email}")
    with forces.unscoped():  # one account per address, whichever force it is in
        holder = find_by_email(email)
    own_force = force_id or forces.default_force().id
    if holder is not None and holder.force_id != own_force:
        # Said without telling which force has it: "there is already an account" told
        # another force's admin who works at a neighbouring force (an outside check).
        raise AccountError(
            gettext(
                "%(email)s cannot have an account here. If it should, ask your IT team.",
                email=email,
            ),
            field="email",
        )
    if holder is not None:
        raise AccountError(
            gettext("There is already an account for %(email)s.", email=email), field="email"
        )
    allow_drama = current_app.config["ENV_NAME"] != "production"
    officer = Officer(
        email=email,
        name=name,
        role=role,
        # The default force's, unless the service says (an administrator's own force).
        force_id=force_id or forces.default_force().id,
        password_hash=_hasher().hash(password) if password is not None else None,
        # Where "send a test to myself" also goes, by text.
        mobile=normalise_phone(mobile, need_mobile=True, allow_drama=allow_drama)
        if mobile
        else None,
    )
    db.session.add(officer)
    if audit:
        db.session.flush()
        create_audit_event(
            "officer.created",
            actor_id=actor_id,
            subject_type="officer",
            subject_id=officer.id,
            details={"role": role, "password": password is not None},
        )
    if team_id is not None:  # in the same transaction: never an account without its team
        db.session.flush()
        add_new_member(actor_id, team_id, officer.id)
    db.session.flush()
    return officer


def check_password(
    email: str,
    password: str,
    ip_address: str | None = None,
    *,
    user_agent: str = "",
    trusted_devices: dict[int, str] | None = None,
) -> Officer:
    """The first step of signing in: the active officer with these credentials (not yet
    signed in: the second factor comes next, then complete_sign_in). Raises
    SignInRefused (TooManyAttempts while this account or address must wait).
    `trusted_devices` holds the accounts a signed device cookie says this browser
    signed in to before: account id -> the credentials_version it signed in with (a
    new password ends the trust)."""
    # What a paste brings along unseen (a zero-width space, a soft hyphen) is not part
    # of the address: refused as a wrong one (an outside check).
    email = unseen_dropped(email or "").strip().lower()
    # No address holds a NUL (PostgreSQL's text cannot): not looked up, refused as any
    # wrong address is (it was a general "bad request": an outside check).
    usable = len(email) <= 254 and "\x00" not in email
    officer = find_by_email(email) if usable else None
    trusted = officer is not None and (trusted_devices or {}).get(officer.id) == (
        credentials_version(officer)
    )
    known = officer is not None and not trusted and _is_known_network(officer, ip_address)
    keys = _throttle_keys(email[:254], ip_address, trusted_device=trusted, known_network=known)
    wait = _take_attempt(keys)
    if wait > 0:
        # Keyed on the address alone when there is no such account: made-up
        # addresses, one per request, each wrote a row (a re-check).
        if _first_refusal_a_while(email if officer is not None else "", ip_address):
            _audit_refused("officer.sign_in_throttled", officer)
        raise _refusal(wait)
    password = normalise(password or "")[:1024]
    account = officer
    hashed = officer.password_hash if officer is not None else None
    try:
        _hasher().verify(hashed or _DUMMY_HASHES[_cheapest()], password)
    except (VerificationError, InvalidHashError):
        officer = None
    if officer is None or hashed is None or not officer.active:
        _audit_refused("officer.sign_in_refused", account)
        raise SignInRefused(gettext("The e-mail address or password is not right."))
    _forget_attempts(keys)
    if _hasher().check_needs_rehash(officer.password_hash):
        officer.password_hash = _hasher().hash(password)
        db.session.commit()
    return officer


def _audit_refused(action: str, account: Officer | None) -> None:
    """A refused sign-in, in the log of the account's force and naming the account
    when there is one (they were all in the first force's log, naming nobody: its
    administrators could not tell whose account was guessed at, and another force's
    never read of guesses at theirs)."""
    create_audit_event(
        action,
        actor_id=None,
        subject_type="officer" if account is not None else None,
        subject_id=account.id if account is not None else None,
        force_id=account.force_id if account is not None else None,
    )
    db.session.commit()


# A refusal while waiting is audited once a minute per account and address, not for
# each request: 1,062 refused requests in 10 s wrote as many rows to the append-only
# log (an outside check).
THROTTLED_AUDIT_SECONDS = 60


def _first_refusal_a_while(email: str, ip_address: str | None) -> bool:
    key = f"signin:throttled-audited:{key_digest(email + ' ' + (ip_address or 'unknown'))}"
    try:
        return bool(redis_store.client.set(key, 1, nx=True, ex=THROTTLED_AUDIT_SECONDS))
    except RedisError:
        return True


# The password step's old name: it no longer signs in on its own.
authenticate = check_password


def complete_sign_in(
    officer: Officer, method: str, *, user_agent: str, details: dict | None = None
) -> Officer:
    """Sign in an officer whose identity has been proved by `method`: the one place a
    staff session begins. Password accounts come here after their second factor
    ("password+totp", "password+recovery_code", "password+totp_setup"; "password" only
    where no second factor is required); single sign-on comes here with its own method
    (e.g. "oidc") once the provider has vouched for the officer, who then needs no
    TOTP of ours. Starts a server-side session (its token in officer.session_token),
    records the sign-in and commits. Raises SignInRefused for a disabled account."""
    if not officer.active:
        create_audit_event(
            "officer.sign_in_refused",
            actor_id=None,
            subject_type="officer",
            subject_id=officer.id,
            details={"method": method, "reason": "disabled"},
            force_id=officer.force_id,
        )
        db.session.commit()
        raise SignInRefused(gettext("This account is disabled. Ask an administrator."))
    officer.last_login_at = func.now()
    officer.session_token = start_session(officer, user_agent)
    create_audit_event(
        "officer.signed_in",
        actor_id=officer.id,
        subject_type="officer",
        subject_id=officer.id,
        details={"method": method, **(details or {})},
    )
    db.session.commit()
    return officer


def has_role(officer: Officer, roles: tuple[str, ...]) -> bool:
    """Whether the officer may use what these roles may (an admin may use everything)."""
    return officer.role in roles or officer.role == "admin"


def credentials_version(officer: Officer) -> str:
    """Changes when the password does: what a browser's trust is bound to."""
    return hashlib.sha256((officer.password_hash or "no password").encode()).hexdigest()[:16]


def sign_out(token: str | None) -> None:
    end_session(token, "signed_out")
    db.session.commit()


def _new_password(officer: Officer, password: str) -> None:
    """Set a password the policy accepts (raises PasswordRefused). The caller commits."""
    password = check_password_policy(password, email=officer.email, name=officer.name)
    officer.password_hash = _hasher().hash(password)


def set_password(email: str, password: str, *, actor_id: int | None = None) -> Officer:
    """A new password for an account (the force's IT team, from the shell). Every
    session of the account ends at once. Raises AccountError."""
    officer = find_by_email(email)
    if officer is None:
        raise AccountError(gettext("There is no account for %(email)s.", email=email))
    try:
        _new_password(officer, password)
    except PasswordRefused as refusal:
        raise AccountError(str(refusal)) from None
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


def _admin_and_subject(admin: Officer, officer_id: int) -> Officer:
    """The account an administrator changes, read after taking the force's lock on
    its administrators: two changes at once (demote one admin, disable the other) each
    counted the other admin and left the force with none (an outside check). Each now
    waits for the other's commit, and counts again."""
    lock_until_commit(db.session, f"administrators:{admin.force_id}")
    db.session.refresh(admin)
    if admin.role != "admin" or not admin.active:
        raise AccountError(gettext("Only an administrator can do that."))
    officer = db.session.get(Officer, officer_id, populate_existing=True)
    if officer is None:
        raise AccountError(gettext("There is no such account."))
    return officer


def _other_active_admins(officer: Officer) -> int:
    """Other administrators of the officer's force who can sign in: with a password, or
    signed in before (single sign-on). An account invited but never used is not one: a
    force was left with no administrator able to sign in (an outside check). Another
    force's are not either: they cannot manage this force's staff."""
    return db.session.scalar(
        select(func.count())
        .select_from(Officer)
        .where(
            Officer.role == "admin",
            Officer.active.is_(True),
            Officer.id != officer.id,
            Officer.force_id == officer.force_id,
            or_(Officer.password_hash.is_not(None), Officer.last_login_at.is_not(None)),
        )
    )


def set_officer_active(admin: Officer, officer_id: int, *, active: bool) -> Officer:
    """An admin disables (or enables again) a staff account. A disabled officer's
    sessions end at once. Raises AccountError."""
    officer = _admin_and_subject(admin, officer_id)
    if admin.id == officer_id and not active:
        raise AccountError(gettext("You cannot disable your own account."))
    if not active and officer.role == "admin" and not _other_active_admins(officer):
        raise AccountError(gettext("That is the last active administrator: make another first."))
    return _set_active(officer, active, actor_id=admin.id)


def set_officer_active_by_email(email: str, *, active: bool) -> Officer:
    """The command-line version of set_officer_active (run by the force's IT team)."""
    officer = find_by_email(email)
    if officer is None:
        raise AccountError(gettext("There is no account for %(email)s.", email=email))
    if officer.active == active:
        # Said so: "Disabled" of an account disabled long ago read as done now.
        raise AccountError(
            f"{email} is already {'enabled' if active else 'disabled'}: nothing changed."
        )
    if not active and officer.role == "admin" and not _other_active_admins(officer):
        # The page refused it; the command did it, and the force had no administrator
        # left, nor a command to enable one again (an outside check).
        raise AccountError(
            "That is the last active administrator of its force: make another first "
            "(flask officers create --role admin)."
        )
    return _set_active(officer, active, actor_id=None, details={"by": "command line"})


def _set_active(
    officer: Officer, active: bool, *, actor_id: int | None, details: dict | None = None
) -> Officer:
    if officer.active == active:
        return officer
    officer.active = active
    ended = 0
    cancelled: list[int] = []
    if not active:
        ended = end_sessions_of(officer.id, "disabled")
        # Its unused reset or invitation link dies too: enabled again, the account
        # had its old link working again (an outside check).
        _void_links(officer.id)
        # Nor does an alert of theirs go later: one scheduled by an officer disabled a
        # second after went to residents at its time (an outside check).
        cancelled = officers_dao.cancel_scheduled_alerts_of(officer.id, actor_id)
        for alert_id in cancelled:
            create_audit_event(
                "alert.cancelled",
                actor_id=actor_id,
                subject_type="alert",
                subject_id=alert_id,
                details={"reason": "its author's account was disabled"},
            )
    gone = {"sessions_ended": ended, "scheduled_alerts_cancelled": len(cancelled)}
    create_audit_event(
        "officer.enabled" if active else "officer.disabled",
        actor_id=actor_id,
        subject_type="officer",
        subject_id=officer.id,
        details={**(details or {}), **(gone if not active else {})},
    )
    db.session.commit()
    return officer


def change_role(admin: Officer, officer_id: int, role: str) -> Officer:
    """An admin gives an account another role. The account's sessions end, so that
    what it may do changes at once. Raises AccountError."""
    officer = _admin_and_subject(admin, officer_id)
    if role not in ROLES:
        raise AccountError(
            gettext(
                "Choose one of the roles: %(roles)s.",
                roles=", ".join(role_name(role) for role in ROLES),
            )
        )
    officer.left_teams = {"members": [], "supervisors": []}
    officer.in_no_team = False
    if officer.role == role:
        return officer
    if officer.role == "admin" and officer.active and not _other_active_admins(officer):
        raise AccountError(gettext("That is the last active administrator: make another first."))
    before, officer.role = officer.role, role
    ended = end_sessions_of(officer.id, "role_changed") if officer.id != admin.id else 0
    create_audit_event(
        "officer.role_changed",
        actor_id=admin.id,
        subject_type="officer",
        subject_id=officer.id,
        details={"from": before, "to": role, "sessions_ended": ended},
    )
    # The teams its new role is in none of, for the admin's page to say; and whether,
    # sending now, it is in no team of a force that has teams: it may send anywhere (an
    # officer made an analyst, then an officer again, was, without a word: an outside
    # check).
    left = leave_teams_for_role(admin.id, officer.id, role)
    officer.in_no_team = in_no_team(officer)
    db.session.commit()
    officer.left_teams = left
    return officer


def set_mobile(admin: Officer, officer_id: int, mobile: str) -> Officer:
    """An admin gives an account the mobile that approval requests, another force's
    asks and "send a test to myself" by text or call reach (empty: none). Only `flask
    officers create --mobile` could set one: an account invited here or made by single
    sign-on never had one (an outside check of the install). Raises AccountError,
    ContactRefused (a number we cannot text)."""
    from app.services.contacts import normalise_phone

    officer = _admin_and_subject(admin, officer_id)
    typed = (mobile or "").strip()
    allow_drama = current_app.config["ENV_NAME"] != "production"
    number = normalise_phone(typed, need_mobile=True, allow_drama=allow_drama) if typed else None
    if number == officer.mobile:
        return officer
    officer.mobile = number
    create_audit_event(
        "officer.mobile_changed",
        actor_id=admin.id,
        subject_type="officer",
        subject_id=officer.id,
        details={"mobile": "set" if number else "removed"},  # the number is theirs
    )
    db.session.commit()
    return officer


def find_officers() -> list[Officer]:
    return list(db.session.scalars(select(Officer).order_by(Officer.role, Officer.name)))


def view_officers(admin: Officer) -> list[Officer]:
    """The force's staff accounts, for its administrator: names and work addresses are
    personal data too, so each reading is audited (as residents' are)."""
    create_audit_event("officers.viewed", actor_id=admin.id, details={})
    db.session.commit()
    return find_officers()


def view_officer(admin: Officer, account: Officer) -> None:
    """Audit an administrator's opening of one staff account."""
    create_audit_event(
        "officer.viewed", actor_id=admin.id, subject_type="officer", subject_id=account.id
    )
    db.session.commit()


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


# --- invitations and reset links ------------------------------------------------------
#
# There is no self-service reset by e-mail alone: only an administrator sends a link.
# The link holds a random token; the database holds its hash. It works once, for
# ACCOUNT_LINK_HOURS, and a newer link for the same account replaces it.

LINK_KINDS = {"invite": "officer.invited", "reset": "officer.reset_sent"}
MAX_TOKEN_LENGTH = 100


def _forget_second_factor(officer: Officer) -> None:
    """The account sets up its second factor again at its next sign-in. Caller commits."""
    officer.totp_secret = officer.totp_pending_secret = None
    officer.totp_confirmed_at = officer.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.officer_id == officer.id))


def forget_second_factor_by_email(email: str) -> Officer:
    """The command line's way back in for a lost phone with no recovery codes (the
    force's IT team): the account sets up a second factor at its next sign-in, and its
    sessions end. Raises AccountError."""
    officer = find_by_email(email)
    if officer is None:
        raise AccountError(gettext("There is no account for %(email)s.", email=email))
    _forget_second_factor(officer)
    ended = end_sessions_of(officer.id, "reset")
    create_audit_event(
        "officer.second_factor_reset",
        actor_id=None,
        subject_type="officer",
        subject_id=officer.id,
        details={"by": "command line", "sessions_ended": ended},
    )
    db.session.commit()
    return officer


def _void_links(officer_id: int) -> None:
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.officer_id == officer_id, AccountLink.used_at.is_(None))
        .values(used_at=func.now())
    )


def _send_link(officer: Officer, kind: str, *, actor_id: int | None) -> int:
    """Record a new link and an e-mail carrying it (a notice, sent by the one outbound
    engine after commit). Returns the notice's id. The caller commits."""
    from app.services.notices import create_notice

    config = current_app.config
    token = secrets.token_urlsafe(32)
    _void_links(officer.id)
    db.session.add(
        AccountLink(
            officer_id=officer.id,
            kind=kind,
            token_hash=_digest(token),
            created_by_id=actor_id,
            expires_at=datetime.now(UTC) + timedelta(hours=config["ACCOUNT_LINK_HOURS"]),
        )
    )
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        link = url_for("auth.account_link", token=token, _external=True)
    # In the language of the admin's page; from a Welsh page, with the English after
    # it (a Welsh force's staff had an English e-mail alone, and not all read Welsh).
    languages = ("cy", "en") if current() == "cy" else ("en",)
    written = [_link_email(officer, kind, link, language) for language in languages]
    subject = " / ".join(subject for subject, _ in written)
    body = message_text.WELSH_THEN_ENGLISH.join(body for _, body in written)
    notice = create_notice(
        resident_id=None,
        kind=f"staff_{kind}",
        channel="email",
        address=officer.email,
        subject=subject,
        body=body,
        force_id=officer.force_id,
    )
    db.session.flush()
    return notice.id


def _link_email(officer: Officer, kind: str, link: str, language: str) -> tuple[str, str]:
    """An invitation's or a reset's subject and words in a language."""
    config = current_app.config
    with in_language(language):
        name = config["SERVICE_NAME"]
        service = f"{police_of(forces.force_by_id(officer.force_id))} {name}"
        if kind == "invite":
            subject = gettext("Your %(service)s account", service=name)
            opening = gettext(
                "An administrator has made you an account on %(service)s.", service=service
            )
        else:
            subject = gettext("Reset your %(service)s password", service=name)
            opening = gettext(
                "An administrator has sent you a link to set a new password for %(service)s.",
                service=service,
            )
        set_it = gettext(
            "Set your password here (the link works once, for %(hours)s hours):",
            hours=config["ACCOUNT_LINK_HOURS"],
        )
        then = gettext(
            "You will then set up your second factor: an authenticator app on your work phone."
        )
        ending = gettext("If you did not expect this, tell your administrator.")
    return subject, f"{opening}\n\n{set_it}\n{link}\n\n{then}\n\n{ending}"


def _queue(notice_id: int) -> None:
    from app.services.notices import queue_notices

    queue_notices([notice_id])


def sso_set_up() -> bool:
    """Whether any single sign-on provider is set up (its button shows)."""
    from app.services.sso import buttons

    return bool(buttons())


def _checked_name(name: str) -> str:
    """A staff member's name as kept, or AccountError for its box."""
    try:
        checked = checked_text(name, gettext("The name"))
    except TextRefused as refusal:  # a NUL, a line break, a character turning text round
        raise AccountError(str(refusal), field="name") from None
    if not checked or len(checked) > 200:
        raise AccountError(
            gettext("Give the person's name (at most 200 characters)."), field="name"
        )
    return checked


def _role_refusal() -> str:
    return gettext(
        "Choose one of the roles: %(roles)s.",
        roles=", ".join(role_name(role) for role in ROLES),
    )


def _no_sso_refusal() -> str:
    return gettext(
        "Single sign-on is not set up for this installation: they could never sign "
        "in. Choose a password instead."
    )


def invitation_mistakes(
    *, email: str, name: str, role: str, sign_in: str, team: str = ""
) -> dict[str, str]:
    """Every mistake in an invitation's boxes at once, by box (the form said one a try:
    an outside check). Reads only the force's teams; invite_officer checks again, and
    what only it can tell (the address has an account) is said then."""
    from app.services.contacts import ContactRefused, normalise_email

    mistakes: dict[str, str] = {}
    try:
        _checked_name(name)
    except AccountError as refusal:
        mistakes["name"] = str(refusal)
    try:
        normalise_email(email)
    except ContactRefused as refusal:
        mistakes["email"] = str(refusal)
    if role not in ROLES:
        mistakes["role"] = _role_refusal()
    if sign_in not in ("password", "sso"):
        mistakes["sign_in"] = gettext("Choose how they sign in: with a password or single sign-on.")
    elif sign_in == "sso" and not sso_set_up():
        mistakes["sign_in"] = _no_sso_refusal()
    try:
        team_for_new_account(team, role if role in ROLES else "officer")
    except TeamRefused as refusal:
        mistakes["team"] = str(refusal)
    return mistakes


# A form sent again within this long, with the same details, is the same invitation.
INVITE_REPEAT_SECONDS = 60


def invitation_just_made(
    admin: Officer, *, email: str, name: str, role: str, team: str = "", sso_only: bool = False
) -> int | None:
    """The account this admin made a moment ago with these very details, when the form
    came again (a double tap without the page's script, a retry on a slow link: the
    admin was shown "has been sent a link" over "There is already an account": an
    outside check); else None."""
    from app.services.contacts import ContactRefused, normalise_email

    try:
        email, name = normalise_email(email).lower(), _checked_name(name)
    except (ContactRefused, AccountError, ValueError):
        return None
    holder = find_by_email(email)
    if holder is None or (holder.force_id, holder.name, holder.role) != (
        admin.force_id,
        name,
        role,
    ):
        return None
    made = set(
        db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.action.in_(("officer.created", LINK_KINDS["invite"])),
                AuditEvent.actor_id == admin.id,
                AuditEvent.subject_type == "officer",
                AuditEvent.subject_id == str(holder.id),
                AuditEvent.at > func.now() - timedelta(seconds=INVITE_REPEAT_SECONDS),
            )
        )
    )
    # The same team and way of signing in too (another team, sent again, was taken for
    # the first and said nothing: a review).
    teams = teams_dao.member_team_ids(holder.id)
    same = teams == ({int(team)} if team.isascii() and team.isdigit() else set()) and (
        (LINK_KINDS["invite"] in made) != sso_only
    )
    return holder.id if "officer.created" in made and same else None


def invite_officer(
    admin: Officer,
    *,
    email: str,
    name: str,
    role: str,
    sso_only: bool = False,
    team: str = "",
) -> Officer:
    """An admin makes an account: with an e-mailed link to set a password, or for
    single sign-on only (no password, no link); in a team of the force when `team` (its
    id, as the form sends it) is given. Raises AccountError, ContactRefused."""
    if admin.role != "admin" or not admin.active:
        raise AccountError(gettext("Only an administrator can do that."))
    if role not in ROLES:
        raise AccountError(_role_refusal(), field="role")
    if sso_only and not sso_set_up():
        raise AccountError(_no_sso_refusal(), field="sign_in")
    try:
        team_id = team_for_new_account(team, role)
    except TeamRefused as refusal:
        raise AccountError(str(refusal), field="team") from None
    # The account, its team, its link and their audit events in one transaction: made
    # in two, a worker killed between left an account with no link to sign in by.
    with transaction():
        officer = _add_officer(
            email=email,
            name=name,
            role=role,
            password=None,
            actor_id=admin.id,
            audit=True,
            force_id=admin.force_id,
            team_id=team_id,
        )
        if sso_only:
            return officer
        notice_id = _send_link(officer, "invite", actor_id=admin.id)
        create_audit_event(
            LINK_KINDS["invite"], actor_id=admin.id, subject_type="officer", subject_id=officer.id
        )
    _queue(notice_id)
    return officer


def send_reset(admin: Officer, officer_id: int) -> Officer:
    """An admin sends an account a one-time link to set a new password. The account's
    sessions and its password end now (an admin resetting an account they fear is in
    someone else's hands found the old password still let them in: an outside check);
    its second factor is set up again once the link is used. Raises AccountError."""
    officer = _admin_and_subject(admin, officer_id)
    if not officer.active:
        raise AccountError(gettext("Enable the account before sending it a reset link."))
    # A second tap, or the form sent again, within moments sends nothing more: seven
    # in a row were seven e-mails, each ending the account's sessions (an outside
    # check). A link lost in the post is sent again after RESET_REPEAT_SECONDS.
    lock_until_commit(db.session, f"officer-reset:{officer.id}")
    if _recent_reset(officer.id):
        db.session.rollback()
        raise AccountError(
            gettext(
                "A reset link went to %(name)s less than two minutes ago and has not been "
                "used: if it does not come, send another in a minute or two.",
                name=officer.name,
            )
        )
    notice_id = _send_link(officer, "reset", actor_id=admin.id)
    officer.password_hash = None
    ended = end_sessions_of(officer.id, "reset")
    create_audit_event(
        LINK_KINDS["reset"],
        actor_id=admin.id,
        subject_type="officer",
        subject_id=officer.id,
        details={"sessions_ended": ended},
    )
    db.session.commit()
    _queue(notice_id)
    return officer


# A reset link not used yet: another is not sent for this long.
RESET_REPEAT_SECONDS = 120


def _recent_reset(officer_id: int) -> bool:
    """Whether a reset link made for the account in the last RESET_REPEAT_SECONDS is
    still unused."""
    since = datetime.now(UTC) - timedelta(seconds=RESET_REPEAT_SECONDS)
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AccountLink)
            .where(
                AccountLink.officer_id == officer_id,
                AccountLink.kind == "reset",
                AccountLink.used_at.is_(None),
                AccountLink.created_at > since,
            )
        )
        > 0
    )


def awaiting_password(officer: Officer) -> bool:
    """An account with no password yet and a live link to set one (invited by e-mail,
    not for single sign-on only)."""
    if officer.password_hash is not None:
        return False
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AccountLink)
            .where(
                AccountLink.officer_id == officer.id,
                AccountLink.used_at.is_(None),
                AccountLink.expires_at > datetime.now(UTC),
            )
        )
        > 0
    )


LINK_REFUSED = (
    "This link has expired or has already been used. Ask an administrator to send you a new one."
)


def find_link(token: str) -> AccountLink:
    """The live link this token opens. Raises AccountError (unknown, used, expired,
    or its account disabled)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise AccountError(LINK_REFUSED)
    link = db.session.scalar(select(AccountLink).where(AccountLink.token_hash == _digest(token)))
    if link is None or link.used_at is not None or link.expires_at <= datetime.now(UTC):
        raise AccountError(LINK_REFUSED)
    officer = db.session.get(Officer, link.officer_id)
    if officer is None or not officer.active:
        raise AccountError(LINK_REFUSED)
    return link


def use_link(token: str, password: str, confirm: str) -> Officer:
    """Set the password a link allows: once. The account's sessions end and its second
    factor is set up again at the next step. Raises AccountError, PasswordRefused."""
    link = find_link(token)
    officer = db.session.get(Officer, link.officer_id)
    if (password or "") != (confirm or ""):
        raise PasswordRefused(
            gettext("The two passwords are not the same. Type the same one twice."),
            field="confirm",
        )
    _new_password(officer, password)
    # Used, whatever happens next: a second request with the same link finds it spent.
    claimed = db.session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
        .values(used_at=func.now())
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise AccountError(LINK_REFUSED)
    _void_links(officer.id)
    _forget_second_factor(officer)
    ended = end_sessions_of(officer.id, "password_reset")
    create_audit_event(
        "officer.password_set",
        actor_id=officer.id,
        subject_type="officer",
        subject_id=officer.id,
        details={"link": link.kind, "sessions_ended": ended},
    )
    db.session.commit()
    return officer
