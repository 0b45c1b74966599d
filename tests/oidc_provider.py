"""An OpenID Connect provider on loopback, for the app's real Authlib client to talk to.

A real HTTP server in a thread on 127.0.0.1 (a free port). It serves discovery
(/.well-known/openid-configuration), its public keys (/jwks), the authorisation
endpoint (/authorize: approves the test user at once, or shows a small page with an
"Approve" button) and the token endpoint (/token: client secret, one use of each code,
the redirect URI and PKCE S256 checked). ID tokens are signed with RS256 by joserfc.

It misbehaves when asked, for the tests: `claim_overrides` go into every ID token (a
wrong audience, an expiry in the past, another nonce), `sign_with_foreign_key` signs
with a key it does not publish (under the published key's id), and `rotate()` starts
signing with a new key under a new id.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def _new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: dict
    used: bool = False


@dataclass
class LoopbackProvider:
    client_id: str = "community-alerts"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    redirect_uris: list[str] = field(default_factory=list)
    # The person who signs in: the claims that go into the ID token.
    user: dict = field(
        default_factory=lambda: {
            "sub": "00000000-aaaa-4bbb-8ccc-000000000001",
            "email": "pc.jones@police.example",
            "name": "PC Jones",
            "roles": ["CA.Officer"],
        }
    )
    auto_approve: bool = True
    claim_overrides: dict = field(default_factory=dict)
    sign_with_foreign_key: bool = False

    def __post_init__(self):
        self._lock = threading.Lock()
        self._generation = 1
        self.keys = [_new_key("key-1")]
        self.foreign_key = _new_key("key-1")  # same id, not published
        self.grants: dict[str, Grant] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.token_errors: list[str] = []
        self.jwks_requests = 0
        self.discovery_requests = 0
        self._server = None

    # --- running ----------------------------------------------------------------------
    def start(self) -> LoopbackProvider:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    # --- misbehaving on request ---------------------------------------------------------
    def rotate(self, *, keep_old: bool = False) -> str:
        """Sign with a new key under a new id from now on (and publish it)."""
        with self._lock:
            self._generation += 1
            key = _new_key(f"key-{self._generation}")
            self.keys = [key, *self.keys] if keep_old else [key]
            return key.kid

    # --- the endpoints ------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        routes = {
            "/.well-known/openid-configuration": self._discovery,
            "/jwks": self._jwks,
            "/authorize": self._authorize,
            "/token": self._token,
        }
        handler = routes.get(request.path)
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def _discovery(self, request: Request) -> Response:
        self.discovery_requests += 1
        return _json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "profile", "email"],
            }
        )

    def _jwks(self, request: Request) -> Response:
        self.jwks_requests += 1
        with self._lock:
            keys = list(self.keys)
        return _json(KeySet(keys).as_dict(private=False))

    def _authorize(self, request: Request) -> Response:
        params = request.values.to_dict()
        if request.method == "GET":
            self.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return Response("Unknown client or redirect URI.", status=400)
        problem = None
        if params.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif "openid" not in params.get("scope", "").split():
            problem = "invalid_scope"
        elif params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            problem = "invalid_request"  # PKCE S256 is required here
        if problem:
            return _redirect(redirect_uri, error=problem, state=params.get("state"))
        if request.method == "GET" and not self.auto_approve:
            return self._approval_page(params)
        if request.method == "POST" and request.form.get("decision") != "approve":
            return _redirect(redirect_uri, error="access_denied", state=params.get("state"))
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce"),
            user=dict(self.user),
        )
        return _redirect(redirect_uri, code=code, state=params.get("state"))

    def _approval_page(self, params: dict) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loopback identity provider</title></head><body><main>
<h1>Loopback identity provider</h1>
<p>Sign in to Community Alerts as {html.escape(self.user.get("name", ""))}?</p>
<form method="post" action="/authorize">{hidden}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></main></body></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username
            secret = request.authorization.password
        if client_id != self.client_id or secret != self.client_secret:
            return self._token_error("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return self._token_error("unsupported_grant_type")
        grant = self.grants.get(form.get("code", ""))
        if grant is None or grant.used:
            return self._token_error("invalid_grant")
        grant.used = True  # a code is good once
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._token_error("invalid_grant")
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if not verifier or challenge != grant.code_challenge:
            return self._token_error("invalid_grant")  # PKCE: not the one who asked
        access_token = secrets.token_urlsafe(24)
        return _json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self._id_token(grant),
            }
        )

    def _token_error(self, error: str, status: int = 400) -> Response:
        self.token_errors.append(error)
        return _json({"error": error}, status=status)

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 600,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **grant.user,
        }
        claims.update(self.claim_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        with self._lock:
            key = self.foreign_key if self.sign_with_foreign_key else self.keys[0]
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


def _json(value, status: int = 200) -> Response:
    return Response(
        json.dumps(value),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _redirect(uri: str, **params) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(status=302, headers={"Location": f"{uri}{'&' if '?' in uri else '?'}{query}"})


@contextmanager
def sso_configured(app, *, public_base_url: str | None = None, **overrides):
    """A started provider, and the app set up to sign in with it; both undone after."""
    provider = LoopbackProvider(**overrides).start()
    base = public_base_url or app.config["PUBLIC_BASE_URL"]
    provider.redirect_uris = [base.rstrip("/") + "/sso/callback"]
    settings = {
        "PUBLIC_BASE_URL": base,
        "SSO_ISSUER": provider.issuer,
        "SSO_DISCOVERY_URL": None,
        "SSO_CLIENT_ID": provider.client_id,
        "SSO_CLIENT_SECRET": provider.client_secret,
        "SSO_SCOPES": "openid profile email",
        "SSO_ROLES_CLAIM": "roles",
        "SSO_ROLE_MAP": ROLE_MAP,
        "SSO_EMAIL_CLAIM": "email",
        "SSO_PROVIDER_NAME": "Loopback ID",
        "SSO_LINK_BY_EMAIL": False,
        "SSO_TIMEOUT_SECONDS": 5.0,
    }
    saved = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    try:
        yield provider
    finally:
        app.config.update(saved)
        provider.stop()


ROLE_MAP = "CA.Officer=officer, CA.Supervisor=supervisor, CA.Analyst=analyst, CA.Admin=admin"
