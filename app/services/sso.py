"""Single sign-on through the force's identity provider (OpenID Connect).

The authorisation code flow with PKCE (S256), through Authlib's Flask client: the
state, nonce and code verifier are kept in the signed session cookie between the
redirect out and the callback, and each is used once. The ID token is checked for its
issuer (the configured one, which discovery must agree with), audience (our client id),
expiry and signature, against the keys the provider publishes (JWKS, found through
discovery). Authlib caches the keys in this process and fetches them again when a
token names a key it has not seen: the provider has rotated them.

The token says who the person is (issuer + subject) and which groups or app roles they
have (SSO_ROLES_CLAIM). SSO_ROLE_MAP turns those into one of our roles, the highest
matched winning (ROLE_ORDER); the role is set again at every sign-in, so a change at
the provider takes effect at the next one. The first sign-in creates the account;
none is created, or signed in, when no value maps to a role. A disabled account stays
out whatever the provider says. An account that already exists with the same e-mail
address (a password account) is linked only when SSO_LINK_BY_EMAIL is on.

Every refusal is an audit event ("officer.sso_refused", with a reason) and a message
the person can act on. Nothing of the token, and no e-mail address, goes in the logs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import current_app, request
from flask_babel import gettext
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from app.dao import identity as identity_dao
from app.dao.audit import create_audit_event
from app.extensions import db
from app.i18n import police_of
from app.models import ROLES, Officer, OfficerIdentity
from app.services.contacts import ContactRefused, normalise_email
from app.services.forces import SLUG
from app.services.staff_sessions import start_session
from app.services.text import shown_text
from app.services.transaction import transaction

log = logging.getLogger(__name__)

# When the claim maps to several roles, the first of these wins: an admin may do
# everything; a supervisor what an officer may and approvals; an officer sends; an
# analyst only reads maps and reports.
ROLE_ORDER = ("admin", "supervisor", "officer", "analyst")
assert set(ROLE_ORDER) == set(ROLES)  # noqa: S101 (a new role must be placed here)

# Accounts made by single sign-on have no password: this is no argon2 hash, so no
# password ever matches it (the password check reads it as a wrong password).
NO_PASSWORD = "!single-sign-on"  # noqa: S105

# Clients built for each configuration (tests change it): each holds its provider's
# metadata and keys.
CLIENTS_KEPT = 4
_clients: OrderedDict[tuple, object] = OrderedDict()
_clients_lock = threading.Lock()


class SsoRefused(Exception):
    """Single sign-on did not sign this person in: `str()` is for them, `reason` for
    the audit log."""

    def __init__(self, reason: str, message: str, *, officer_id: int | None = None, **details):
        super().__init__(message)
        self.reason = reason
        self.officer_id = officer_id
        # What the provider sent, as the audit log can keep it: error=%00 failed the
        # event's insert, and the refusal went unrecorded (an outside check).
        self.details = {
            name: (shown_text(value, max_length=80) or "(nothing readable)")
            if isinstance(value, str)
            else value
            for name, value in details.items()
        }


@dataclass(frozen=True)
class SsoSettings:
    # "" for the first provider (SSO_*), else its name in SSO_PROVIDERS.
    key: str
    # The slug of the force whose staff it signs in (None: the default force).
    force: str | None
    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str | None
    scopes: str
    roles_claim: str
    role_map: dict[str, str]
    email_claim: str
    provider_name: str
    link_by_email: bool
    timeout: float


class SsoMisconfigured(ValueError):
    pass


def parse_role_map(text: str) -> dict[str, str]:
    """SSO_ROLE_MAP: "claim value=role" pairs, separated by commas or new lines (a
    claim value may hold "="; the last one separates). Raises SsoMisconfigured."""
    mapping = {}
    for part in (text or "").replace("\n", ",").split(","):
        if not part.strip():
            continue
        value, sep, role = part.strip().rpartition("=")
        value, role = value.strip(), role.strip().lower()
        if not sep or not value or role not in ROLES:
            raise SsoMisconfigured(
                f"SSO_ROLE_MAP: each entry is 'claim value=role', role one of {', '.join(ROLES)}"
            )
        mapping[value] = role
    return mapping


# A provider's name in SSO_PROVIDERS: its web addresses (/sso/<name>/login) and settings.
PROVIDER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def settings(key: str = "") -> SsoSettings | None:
    """A provider's settings: the first (SSO_*, key ""), or one named in SSO_PROVIDERS;
    None when it is not set up. Raises SsoMisconfigured when it is set up wrongly."""
    config = current_app.config
    if not key:
        issuer, client_id = config.get("SSO_ISSUER"), config.get("SSO_CLIENT_ID")
        if not issuer or not client_id:
            return None
        return _settings("", {name: config.get(f"SSO_{name}") for name in SETTINGS})
    values = (config.get("SSO_PROVIDERS") or {}).get(key)
    if values is None or not PROVIDER_NAME.match(key):
        return None
    for name in ("ISSUER", "CLIENT_ID", "ROLE_MAP"):
        if not values.get(name):
            raise SsoMisconfigured(f"{_setting(key, name)} is not set (SSO_PROVIDERS names {key})")
    # How a token is read may be shared with the first provider; who it is, its
    # secret, its roles and its force are each provider's own.
    shared = {
        name: config.get(f"SSO_{name}")
        for name in ("SCOPES", "ROLES_CLAIM", "EMAIL_CLAIM", "TIMEOUT_SECONDS")
    }
    return _settings(key, shared | dict(values) | {"FORCE": _force_slug(key)})


# Each provider's settings, as SSO_<name> (the first) or SSO_<PROVIDER>_<name>.
SETTINGS = (
    "ISSUER",
    "DISCOVERY_URL",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SCOPES",
    "ROLES_CLAIM",
    "ROLE_MAP",
    "EMAIL_CLAIM",
    "PROVIDER_NAME",
    "LINK_BY_EMAIL",
    "FORCE",
    "TIMEOUT_SECONDS",
)


def _force_slug(key: str, config=None) -> str | None:
    """The slug of the force a provider signs staff in to: the first's SSO_FORCE (None:
    the default force), another's FORCE setting, else its own name."""
    config = current_app.config if config is None else config
    if not key:
        return config.get("SSO_FORCE") or None
    values = (config.get("SSO_PROVIDERS") or {}).get(key) or {}
    return values.get("FORCE") or key


def _setting(key: str, name: str) -> str:
    """A provider's setting as the environment names it: SSO_TIMEOUT_SECONDS,
    SSO_WILTSHIRE_TIMEOUT_SECONDS."""
    return f"SSO_{key.upper().replace('-', '_')}_{name}" if key else f"SSO_{name}"


def _settings(key: str, values: dict) -> SsoSettings:
    issuer = values["ISSUER"]
    link = values.get("LINK_BY_EMAIL")
    try:
        timeout = float(values.get("TIMEOUT_SECONDS") or 10)
    except (TypeError, ValueError):
        timeout = float("nan")
    if not 0 < timeout <= 120:  # nan, inf, 0 (no timeout at all) and negatives too
        raise SsoMisconfigured(
            f"{_setting(key, 'TIMEOUT_SECONDS')} must be a number of seconds from 1 to 120"
        )
    return SsoSettings(
        key=key,
        force=values.get("FORCE") or None,
        issuer=issuer,
        discovery_url=values.get("DISCOVERY_URL")
        or issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_id=values["CLIENT_ID"],
        client_secret=values.get("CLIENT_SECRET"),
        scopes=values.get("SCOPES") or "openid profile email",
        roles_claim=values.get("ROLES_CLAIM") or "roles",
        role_map=parse_role_map(values.get("ROLE_MAP") or ""),
        email_claim=values.get("EMAIL_CLAIM") or "email",
        provider_name=values.get("PROVIDER_NAME") or _force_account(values.get("FORCE")),
        link_by_email=link is True or str(link or "").strip().lower() in TRUE,
        timeout=timeout,
    )


def configuration_problems(config) -> list[str]:
    """What is wrong with the providers set up, found at start without the database: a
    role map that does not read, a provider named with no issuer (found at a member of
    staff's first sign-in, not at deployment: an outside check of the install)."""
    problems = []
    found = []
    if config.get("SSO_ISSUER") or config.get("SSO_CLIENT_ID"):
        found.append(("", {name: config.get(f"SSO_{name}") for name in SETTINGS}))
    for key, values in sorted((config.get("SSO_PROVIDERS") or {}).items()):
        if not PROVIDER_NAME.match(key):
            problems.append(
                f"SSO_PROVIDERS names {key[:40]!r}: a provider's name is lower-case letters, "
                "digits and hyphens."
            )
            continue
        found.append((key, values))
    for key, values in found:
        for name in ("ISSUER", "CLIENT_ID") + (("ROLE_MAP",) if key else ()):
            if not values.get(name):
                problems.append(f"{_setting(key, name)} is not set.")
        try:
            parse_role_map(values.get("ROLE_MAP") or "")
        except SsoMisconfigured as wrong:
            problems.append(f"{_setting(key, 'ROLE_MAP')}: {str(wrong).split(': ', 1)[1]}.")
        link = values.get("LINK_BY_EMAIL")
        if isinstance(link, str) and link.strip().lower() not in TRUE + FALSE:
            problems.append(f"{_setting(key, 'LINK_BY_EMAIL')} must be 1 or 0, not {link!r}.")
        try:
            timeout = float(values.get("TIMEOUT_SECONDS") or 10)
        except (TypeError, ValueError):
            timeout = float("nan")
        if not 0 < timeout <= 120:
            problems.append(f"{_setting(key, 'TIMEOUT_SECONDS')} must be 1 to 120 seconds.")
        if "openid" not in (values.get("SCOPES") or "openid").split():
            # Without it the provider gives no ID token, and every sign-in failed.
            problems.append(f"{_setting(key, 'SCOPES')} must include openid.")
        force = values.get("FORCE")
        if force and not SLUG.match(force):
            # Whether it names a force, the database says: /readyz's sign_on.
            problems.append(
                f"{_setting(key, 'FORCE')} must be a force's slug (lower-case letters, "
                "digits and hyphens, as the admin's forces page shows it)."
            )
    return problems


def forces_named(config) -> dict[str, str]:
    """{setting: slug} of the forces the providers set up sign staff in to, as each
    sign-in finds them (_force_slug): the first's SSO_FORCE when set, each other's
    FORCE, else its own name. Whether each names a force, the database says (/readyz):
    one that named none refused every sign-in, found only then (an outside check)."""
    keys = [""] if config.get("SSO_ISSUER") else []
    keys += [key for key in sorted(config.get("SSO_PROVIDERS") or {}) if PROVIDER_NAME.match(key)]
    named = {_setting(key, "FORCE"): _force_slug(key, config) for key in keys}
    return {setting: slug for setting, slug in named.items() if slug}


@dataclass(frozen=True)
class Button:
    """A "Sign in with …" button of the sign-in page."""

    key: str
    name: str


def buttons() -> list[Button]:
    """The sign-in page's buttons: one per provider set up, the first first. A
    provider set up wrongly gets none (its error is logged when it is tried)."""
    config = current_app.config
    found = []
    if config.get("SSO_ISSUER") and config.get("SSO_CLIENT_ID"):
        found.append(
            Button("", config.get("SSO_PROVIDER_NAME") or _force_account(config.get("SSO_FORCE")))
        )
    for key, values in sorted((config.get("SSO_PROVIDERS") or {}).items()):
        if not PROVIDER_NAME.match(key):
            if key not in _said_wrong:
                _said_wrong.add(key)
                log.error(
                    "single sign-on: SSO_PROVIDERS names %r, which is not a name of lower-case "
                    "letters, digits and hyphens: no button for it",
                    key[:40],
                )
            continue
        if values.get("ISSUER") and values.get("CLIENT_ID"):
            name = values.get("PROVIDER_NAME") or _force_account(_force_slug(key))
            found.append(Button(key, name))
    return found


_said_wrong: set[str] = set()  # provider names already logged as wrong


def _force_account(slug: str | None) -> str:
    """What a provider with no PROVIDER_NAME is called, in the page's language: its
    force's account, or "your force account"."""
    from app.services import forces

    force = forces.force_named(slug) if slug else None
    if force is None:
        return gettext("your force account")
    return gettext("%(police)s account", police=police_of(force))


def is_provider(key: str) -> bool:
    """Whether /sso/<key>/… names a provider of SSO_PROVIDERS."""
    return bool(PROVIDER_NAME.match(key)) and key in (current_app.config.get("SSO_PROVIDERS") or {})


def role_for(values, role_map: dict[str, str]) -> str | None:
    """Our role for the claim's values (a list, or one string): the highest mapped."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple):
        return None
    mapped = {role_map[v] for v in values if isinstance(v, str) and v in role_map}
    return next((role for role in ROLE_ORDER if role in mapped), None)


def _new_client(s: SsoSettings):
    oauth = OAuth()
    oauth.app = current_app._get_current_object()  # no registry in app.extensions
    # Each provider's name keeps its state in the session apart: an answer from one
    # provider is never checked against a sign-in started with another.
    return oauth.register(
        "sso" if not s.key else "sso_" + s.key.replace("-", "_"),
        client_id=s.client_id,
        client_secret=s.client_secret,
        server_metadata_url=s.discovery_url,
        client_kwargs={
            "scope": s.scopes,
            "code_challenge_method": "S256",
            "default_timeout": s.timeout,
        },
    )


def _client(s: SsoSettings):
    key = (s.key, s.discovery_url, s.issuer, s.client_id, s.client_secret, s.scopes, s.timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(s)
            while len(_clients) > CLIENTS_KEPT:
                _clients.popitem(last=False)
    metadata = client.load_server_metadata()
    if metadata.get("issuer") != s.issuer:
        raise SsoMisconfigured("the provider's discovery document names another issuer")
    # Signed with the provider's keys only: never "none", never a shared secret.
    metadata["id_token_signing_alg_values_supported"] = ["RS256", "PS256", "ES256"]
    return client


def _unavailable(s: SsoSettings | None) -> SsoRefused:
    name = s.provider_name if s else gettext("single sign-on")
    return SsoRefused(
        "provider_unreachable",
        gettext(
            "Signing in with %(provider)s is not working just now. Try again in a minute, "
            "or sign in with your e-mail address and password if you have them.",
            provider=name,
        ),
    )


def _not_set_up() -> SsoRefused:
    return SsoRefused(
        "not_configured",
        gettext(
            "Single sign-on is not set up here. Sign in with your e-mail address and password."
        ),
    )


def begin(redirect_uri: str, key: str = ""):
    """The redirect to provider `key`'s sign-in page (a Flask response), with a new
    state, nonce and PKCE challenge kept in the session. Raises SsoRefused."""
    s = None
    try:
        s = settings(key)
        if s is None:
            raise _not_set_up()
        return _client(s).authorize_redirect(redirect_uri)
    except SsoRefused as refusal:
        _record_refusal(refusal, key)
        raise
    except SsoMisconfigured as problem:
        log.error("single sign-on is misconfigured: %s", problem)
        refusal = _unavailable(None)
        refusal.reason = "misconfigured"
        _record_refusal(refusal, key)
        raise refusal from None
    except (requests.RequestException, ValueError):
        log.warning("single sign-on: the provider's discovery document could not be read")
        refusal = _unavailable(s)
        _record_refusal(refusal, key)
        raise refusal from None


def finish(user_agent: str, key: str = "") -> Officer:
    """The callback from provider `key`: check what it sent back and sign the person
    in. Returns the officer, with a new staff session's token in officer.session_token.
    Raises SsoRefused (audited)."""
    try:
        s = settings(key)
        if s is None:
            raise _not_set_up()
        claims = _checked_claims(s)
        with transaction():
            return _sign_in(s, claims, user_agent)
    except SsoRefused as refusal:
        _record_refusal(refusal, key)
        raise
    except SsoMisconfigured as problem:
        log.error("single sign-on is misconfigured: %s", problem)
        refusal = _unavailable(None)
        refusal.reason = "misconfigured"
        _record_refusal(refusal, key)
        raise refusal from None


def _record_refusal(refusal: SsoRefused, key: str) -> None:
    log.info("single sign-on refused: %s", refusal.reason)
    if refusal.reason == "not_configured":
        return  # nobody tried to sign in: a link followed where there is none
    with transaction():
        # Nobody's account: the provider's force's log, not the default force's.
        force_id = None if refusal.officer_id else _provider_force_id(key)
        event = create_audit_event(
            "officer.sso_refused",
            actor_id=None,
            subject_type="officer" if refusal.officer_id else None,
            subject_id=refusal.officer_id,
            details={"reason": refusal.reason, **_provider(key), **refusal.details},
        )
        if force_id is not None:
            event.force_id = force_id  # before it is written (append-only)


def _provider_force_id(key: str) -> int | None:
    """The force a provider signs in to, as far as its settings say (None: unknown)."""
    from app.services import forces

    slug = _force_slug(key)
    force = forces.force_named(slug) if slug else forces.default_force()
    return force.id if force is not None else None


def _provider(key: str) -> dict:
    # Which provider, in the audit log, when there are several.
    return {"provider": key} if key else {}


def _checked_claims(s: SsoSettings) -> dict:
    """The ID token's claims, once the state, token and its signature have been
    checked. Raises SsoRefused."""
    not_verified = gettext(
        "Your sign-in with %(provider)s could not be verified, so you are not signed in. "
        "Try again; if it happens again, tell your IT team.",
        provider=s.provider_name,
    )
    if not request.args.get("error") and not (
        request.args.get("code") and request.args.get("state")
    ):
        raise SsoRefused(
            "incomplete_callback",
            gettext(
                "That sign-in link is not complete. Start again with “%(button)s”.",
                button=gettext("Sign in with %(provider)s", provider=s.provider_name),
            ),
        )
    claims_options = {
        "iss": {"essential": True, "value": s.issuer},
        "aud": {"essential": True, "value": s.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }
    try:
        client = _client(s)
        token = client.authorize_access_token(claims_options=claims_options, leeway=60)
    except MismatchingStateError:
        raise SsoRefused(
            "state_mismatch",
            gettext(
                "That sign-in has already been used, or was started in another browser or "
                "too long ago. Start again with “%(button)s”.",
                button=gettext("Sign in with %(provider)s", provider=s.provider_name),
            ),
        ) from None
    except OAuthError as error:
        # The provider said no (the person cancelled, or is not allowed the app), or
        # refused the code: its error code only, never its description (it may hold
        # names or addresses).
        raise SsoRefused(
            "provider_refused",
            gettext(
                "%(provider)s did not sign you in. Try again; if it happens again, tell "
                "your IT team.",
                provider=_capital(s.provider_name),
            ),
            error=str(error.error)[:60],
        ) from None
    except ExpiredTokenError:
        raise SsoRefused(
            "expired_token",
            gettext(
                "Your sign-in with %(provider)s had expired by the time it reached us. Sign "
                "in again; if it happens again, tell your IT team (the server's clock may be "
                "wrong).",
                provider=s.provider_name,
            ),
        ) from None
    except (InvalidClaimError, MissingClaimError) as error:
        claim = getattr(error, "claim", None) or "unknown"
        reason = {
            "aud": "wrong_audience",
            "azp": "wrong_audience",
            "iss": "wrong_issuer",
            "nonce": "nonce_mismatch",
        }.get(claim.split(",")[0], "invalid_claim")
        raise SsoRefused(reason, not_verified, claim=claim[:40]) from None
    except BadSignatureError:
        raise SsoRefused("bad_signature", not_verified) from None
    except InvalidKeyIdError:
        raise SsoRefused("unknown_key", not_verified) from None
    except JoseError as error:
        raise SsoRefused("invalid_token", not_verified, error=type(error).__name__) from None
    except SsoMisconfigured:
        raise
    except (requests.RequestException, ValueError):
        log.warning("single sign-on: the provider could not be reached or answered badly")
        raise _unavailable(s) from None
    userinfo = token.get("userinfo") if isinstance(token, dict) else None
    if not userinfo:
        raise SsoRefused("no_id_token", not_verified)
    subject = userinfo.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255 or not subject.isprintable():
        # OpenID Connect's subject: at most 255 characters. One of 10,000, or with a
        # NUL, was "check what you entered" (the person entered nothing) and no trace
        # in the log (an outside check).
        raise SsoRefused("invalid_claim", not_verified, claim="sub")
    return dict(userinfo)


def _sign_in(s: SsoSettings, claims: dict, user_agent: str) -> Officer:
    """Find or create the account for these (checked) claims, and start its session.
    Runs in the caller's transaction."""
    issuer, subject = claims["iss"], str(claims["sub"])
    who = {"issuer": issuer[:200], "subject": subject[:200]}
    role = role_for(claims.get(s.roles_claim), s.role_map)
    identity = identity_dao.find_identity(issuer, subject)
    officer = db.session.get(Officer, identity.officer_id) if identity else None
    force = _sso_force(s)
    if officer is not None and officer.force_id != force.id:
        # A provider signs in its own force's staff only (its settings may have moved
        # it to another force since this account was made).
        raise _other_force(officer, force, who)
    if officer is not None and not officer.active:
        raise _disabled(officer, who)
    if role is None:
        raise SsoRefused(
            "no_role",
            gettext(
                "Your account is not in a group that may use %(service)s. Ask your IT team "
                "to add you to the right group, then sign in again.",
                service=current_app.config["SERVICE_NAME"],
            ),
            officer_id=officer.id if officer else None,
            **who,
        )
    if officer is None:
        officer = _link_or_create(s, claims, role, force, who)
        if not officer.active:
            raise _disabled(officer, who)
        identity = OfficerIdentity(officer_id=officer.id, issuer=issuer, subject=subject)
        db.session.add(identity)
    if officer.role != role:
        create_audit_event(
            "officer.role_changed",
            actor_id=None,
            subject_type="officer",
            subject_id=officer.id,
            details={"from": officer.role, "to": role, "by": "single sign-on"},
        )
        officer.role = role
    try:
        db.session.flush()
    except IntegrityError:
        # The same person's first sign-in twice at once: the other one made the rows.
        raise SsoRefused(
            "busy", gettext("Signing in took two tries at once. Sign in again.")
        ) from None
    identity.last_used_at = func.now()
    officer.last_login_at = func.now()
    officer.session_token = start_session(officer, user_agent)
    create_audit_event(
        "officer.signed_in",
        actor_id=officer.id,
        subject_type="officer",
        subject_id=officer.id,
        details={"method": "single sign-on", **_provider(s.key)},
    )
    return officer


def _capital(name: str) -> str:
    """ "single sign-on" -> "Single sign-on", to begin a sentence."""
    return name[:1].upper() + name[1:]


def _disabled(officer: Officer, who: dict) -> SsoRefused:
    return SsoRefused(
        "disabled",
        gettext(
            "Your account here has been disabled, so you cannot sign in, whatever your "
            "force account allows. Ask an administrator if you think that is wrong."
        ),
        officer_id=officer.id,
        **who,
    )


def _other_force(officer: Officer, force, who: dict) -> SsoRefused:
    return SsoRefused(
        "other_force",
        gettext(
            "Your account here is another force's, and this single sign-on signs in "
            "%(police)s staff only. Sign in with your own force's button, or with your "
            "password.",
            police=police_of(force),
        ),
        officer_id=officer.id,
        **who,
    )


def _sso_force(s: SsoSettings):
    """The force a provider signs staff in to (its FORCE setting: for the first,
    SSO_FORCE, else the default force; for another, its name unless it says)."""
    from app.services import forces

    if not s.force:
        return forces.default_force()
    found = forces.force_named(s.force)
    if found is None:
        raise SsoRefused(
            "no_force",
            gettext(
                "Single sign-on is not set up for a force here yet. Tell your IT team "
                "(%(setting)s names no force).",
                setting=_setting(s.key, "FORCE"),
            ),
        )
    return found


def _link_or_create(s: SsoSettings, claims: dict, role: str, force, who: dict) -> Officer:
    """The account a first sign-in with this identity is for: an existing one with the
    same e-mail address only when SSO_LINK_BY_EMAIL is on, else a new one."""
    try:
        email = normalise_email(str(claims.get(s.email_claim) or "")).lower()
    except ContactRefused:
        raise SsoRefused(
            "no_email",
            gettext(
                "%(provider)s did not tell us a usable e-mail address for you, so no "
                "account can be made. Tell your IT team.",
                provider=_capital(s.provider_name),
            ),
            **who,
        ) from None
    existing = identity_dao.find_officer_by_email(email)
    if existing is not None:
        if existing.force_id != force.id:
            raise _other_force(existing, force, who)
        if not s.link_by_email:
            raise SsoRefused(
                "email_taken",
                gettext(
                    "There is already an account here with your e-mail address, so single "
                    "sign-on cannot sign you in to it. Sign in with your password, or ask "
                    "an administrator to link the accounts."
                ),
                officer_id=existing.id,
                **who,
            )
        create_audit_event(
            "officer.sso_linked",
            actor_id=None,
            subject_type="officer",
            subject_id=existing.id,
            details={"by": "e-mail address", **who},
        )
        return existing
    # As a typed name is kept: escape codes, text turned round or nothing visible was
    # stored as an officer's name, shown in every page and log (an outside check).
    name = shown_text(claims.get("name"), max_length=200) or email.split("@")[0]
    officer = Officer(
        email=email, name=name, role=role, password_hash=NO_PASSWORD, force_id=force.id
    )
    db.session.add(officer)
    db.session.flush()
    create_audit_event(
        "officer.created",
        actor_id=None,
        subject_type="officer",
        subject_id=officer.id,
        details={"by": "single sign-on", "role": role},
    )
    return officer
