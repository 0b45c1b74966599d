"""The second factor of a password account: a TOTP authenticator app (RFC 6238, 30 s
steps, six digits), with ten one-time recovery codes for a lost phone.

Set up at the first sign-in (and again after an administrator's reset): a secret is
drawn, shown as a QR code we draw ourselves (segno, inline SVG: no other site sees it)
and as text, and is in use once a first code from it is typed. A code is accepted one
step either side of now, and never twice: the last step accepted is kept, and only a
later one is accepted after it. Wrong codes are throttled per account as wrong
passwords are (accounts._take_attempt). Accounts that sign in through the force's
identity provider have no password and need none of this: their provider does MFA.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import Officer
from app.models.officer import RecoveryCode
from app.services import forces
from app.services.accounts import (
    SignInRefused,
    _first_refusal_a_while,
    _forget_attempts,
    _forget_second_factor,
    _refusal,
    _take_attempt,
    complete_sign_in,
    credentials_version,
)
from app.services.text import ascii_digits

RECOVERY_CODES = 10
# How long after the password the second step may be finished.
PENDING_SECONDS = 300
_CODE = re.compile(r"^[0-9]{6}$")
_RECOVERY = re.compile(r"^[a-z2-7]{12}$")


class SecondFactorRefused(SignInRefused):
    """A wrong, replayed or malformed code."""


@dataclass(frozen=True)
class Setup:
    secret: str
    uri: str
    qr_svg: str  # an <svg> element, safe to put in the page as it is

    @property
    def secret_groups(self) -> str:
        """The secret in groups of four, easier to type into an app by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def is_required() -> bool:
    """Whether a password account must set up a second factor before it signs in.
    Always in production, whatever the setting."""
    config = current_app.config
    return config["ENV_NAME"] == "production" or bool(config.get("STAFF_TOTP_REQUIRED", True))


def has_second_factor(officer: Officer) -> bool:
    return officer.totp_secret is not None and officer.totp_confirmed_at is not None


def next_step(officer: Officer) -> str | None:
    """After a right password: "code" (type a code), "setup" (set one up first), or
    None (no second factor asked: only where none is required and none is set up)."""
    if has_second_factor(officer):
        return "code"
    return "setup" if is_required() else None


# --- the pending sign-in between the password and the code --------------------------


def pending_for(officer: Officer) -> dict:
    """What the browser's (signed) session holds between the two steps."""
    return {"id": officer.id, "cv": credentials_version(officer), "at": int(time.time())}


def pending_officer(pending: object) -> Officer | None:
    """The officer a pending sign-in is for, while it is fresh, the account active and
    its password unchanged; else None (start again with the password)."""
    if not isinstance(pending, dict):
        return None
    officer_id, version, at = pending.get("id"), pending.get("cv"), pending.get("at")
    if type(officer_id) is not int or not isinstance(at, int) or not isinstance(version, str):
        return None
    if not 0 <= time.time() - at <= PENDING_SECONDS or not 0 < officer_id < 2**31:
        return None
    officer = db.session.get(Officer, officer_id)
    if officer is None or not officer.active or officer.password_hash is None:
        return None
    if not hmac.compare_digest(credentials_version(officer), version):
        return None
    return officer


# --- setting it up ------------------------------------------------------------------


def _issuer(officer: Officer) -> str:
    """What the authenticator app calls the account: the officer's force's service."""
    config = current_app.config
    return f"{forces.force_of(officer).name} {config['SERVICE_NAME']}"


def draw_qr(uri: str) -> str:
    """Its size, and a viewBox, so that it shrinks to a narrow screen (CSS max-width):
    at 320 pixels with 200% text, its fixed width took the page sideways (an outside
    check)."""
    qr = segno.make(uri, error="m")
    width, height = qr.symbol_size(scale=4, border=4)
    drawn = qr.svg_inline(
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        title="QR code for your authenticator app",
        omitsize=True,
    )
    return drawn.replace("<svg ", f'<svg width="{width}" height="{height}" ', 1)


def begin_setup(officer: Officer) -> Setup:
    """The secret being set up for this account (drawn once, kept until confirmed)."""
    if officer.totp_pending_secret is None:
        officer.totp_pending_secret = pyotp.random_base32(32)
        db.session.commit()
    secret = officer.totp_pending_secret
    uri = pyotp.TOTP(secret).provisioning_uri(name=officer.email, issuer_name=_issuer(officer))
    return Setup(secret=secret, uri=uri, qr_svg=draw_qr(uri))


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (one either side of now) whose code this is, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now or time.time(), UTC))
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _clean(code: str) -> str:
    """What was typed, without spaces or dashes; digits typed on another keyboard
    (fullwidth) are digits."""
    return re.sub(r"[\s-]", "", ascii_digits((code or "")[:64])).lower()


def _throttle(officer: Officer, *, trusted_device: bool = False):
    # A browser the account signed in from before counts its own wrong codes: someone
    # with the password could otherwise keep the owner from finishing signing in
    # anywhere (an outside check). Theirs are still held to the account's count.
    key = f"signin:code:{officer.id}" + (":trusted" if trusted_device else "")
    keys = [(key, current_app.config["LOGIN_FREE_FAILURES"])]
    wait = _take_attempt(keys)
    if wait > 0:
        # One row a minute, as for passwords: each refused code wrote one.
        if _first_refusal_a_while(f"code {officer.id}", key):
            create_audit_event(
                "officer.second_factor_throttled",
                actor_id=None,
                subject_type="officer",
                subject_id=officer.id,
                force_id=officer.force_id,
            )
            db.session.commit()
        raise _refusal(wait, "codes")
    return keys


def _failed(officer: Officer, reason: str, message: str) -> SecondFactorRefused:
    create_audit_event(
        "officer.second_factor_failed",
        actor_id=None,
        subject_type="officer",
        subject_id=officer.id,
        details={"reason": reason},
    )
    db.session.commit()
    return SecondFactorRefused(str(message))


WRONG_CODE = _l(
    "That code is not right. Type the 6-digit code your authenticator app shows now, "
    "or one of your recovery codes."
)


def confirm_setup(officer: Officer, code: str, *, user_agent: str) -> list[str]:
    """The first code from the secret being set up: the secret is now in use, ten new
    recovery codes replace any old ones (returned, to be shown once), and the officer
    is signed in. Raises SecondFactorRefused, TooManyAttempts."""
    keys = _throttle(officer)
    code = _clean(code)
    secret = officer.totp_pending_secret
    if secret is None:
        raise _failed(officer, "no_setup", gettext("Start again: sign in with your password."))
    if not _CODE.match(code):
        raise _failed(
            officer, "malformed", gettext("Type the 6 digits your authenticator app shows.")
        )
    step = _matching_step(secret, code)
    if step is None:
        raise _failed(
            officer,
            "wrong_code",
            gettext(
                "That code is not right. Check the app shows this account, and that your "
                "phone's clock is set automatically, then type the code it shows now."
            ),
        )
    _forget_attempts(keys)
    officer.totp_secret, officer.totp_pending_secret = secret, None
    officer.totp_confirmed_at, officer.totp_last_step = func.now(), step
    codes = _new_recovery_codes(officer)
    create_audit_event(
        "officer.second_factor_set_up",
        actor_id=officer.id,
        subject_type="officer",
        subject_id=officer.id,
    )
    complete_sign_in(officer, "password+totp_setup", user_agent=user_agent)
    return codes


def _recovery_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _new_recovery_codes(officer: Officer) -> list[str]:
    """Ten fresh codes (12 letters and digits, shown as xxxx-xxxx-xxxx); only hashes are
    kept. The caller commits."""
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.officer_id == officer.id))
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    codes = ["".join(secrets.choice(alphabet) for _ in range(12)) for _ in range(RECOVERY_CODES)]
    db.session.add_all(
        RecoveryCode(officer_id=officer.id, code_hash=_recovery_digest(c)) for c in codes
    )
    return [f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in codes]


def recovery_codes_left(officer: Officer) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.officer_id == officer.id, RecoveryCode.used_at.is_(None))
    )


def verify_and_sign_in(
    officer: Officer, code: str, *, user_agent: str, trusted_device: bool = False
) -> str:
    """The second step: a code from the app (one step either side of now, never one
    accepted before) or an unused recovery code. Signs the officer in; returns the
    method ("password+totp" or "password+recovery_code"). `trusted_device`: the
    browser signed in to the account before (its wrong codes are counted apart).
    Raises SecondFactorRefused, TooManyAttempts."""
    if not has_second_factor(officer):
        raise SecondFactorRefused(gettext("Start again: sign in with your password."))
    keys = _throttle(officer, trusted_device=trusted_device)
    code = _clean(code)
    if _CODE.match(code):
        step = _matching_step(officer.totp_secret, code)
        if step is None:
            raise _failed(officer, "wrong_code", WRONG_CODE)
        # Compare-and-swap: two requests with the same code cannot both pass.
        taken = db.session.execute(
            update(Officer)
            .where(
                Officer.id == officer.id,
                (Officer.totp_last_step.is_(None)) | (Officer.totp_last_step < step),
            )
            .values(totp_last_step=step)
        )
        if taken.rowcount != 1:
            raise _failed(
                officer,
                "replayed",
                gettext(
                    "That code has been used already. Wait for your app to show a new one, "
                    "then type it."
                ),
            )
        method = "password+totp"
    elif _RECOVERY.match(code):
        used = db.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.officer_id == officer.id,
                RecoveryCode.code_hash == _recovery_digest(code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=func.now())
        )
        if used.rowcount != 1:
            raise _failed(officer, "wrong_recovery_code", WRONG_CODE)
        create_audit_event(
            "officer.recovery_code_used",
            actor_id=officer.id,
            subject_type="officer",
            subject_id=officer.id,
            details={"left": recovery_codes_left(officer)},
        )
        method = "password+recovery_code"
    else:
        raise _failed(officer, "malformed", WRONG_CODE)
    _forget_attempts(keys)
    complete_sign_in(officer, method, user_agent=user_agent)
    return method


def start_again(officer: Officer) -> None:
    """Forget the account's second factor: it sets one up at its next sign-in."""
    _forget_second_factor(officer)
    db.session.commit()


# --- the demo, the command line and tests -------------------------------------------


def enrol(officer: Officer, secret: str | None = None, *, by: str = "command line") -> str:
    """Give an account a second factor without a first code (the demo's accounts, and
    the tests' sign-in helpers). Returns the secret."""
    secret = secret or pyotp.random_base32(32)
    officer.totp_secret, officer.totp_pending_secret = secret, None
    officer.totp_confirmed_at, officer.totp_last_step = func.now(), None
    create_audit_event(
        "officer.second_factor_set_up",
        actor_id=None,
        subject_type="officer",
        subject_id=officer.id,
        details={"by": by},
    )
    db.session.commit()
    return secret


def current_code(officer: Officer) -> str | None:
    """The code an account's app shows now (development only: the CLI refuses
    elsewhere)."""
    return pyotp.TOTP(officer.totp_secret).now() if officer.totp_secret else None
