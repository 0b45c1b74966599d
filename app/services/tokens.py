"""Tokens that travel in links (unsubscribe, confirm an e-mail address, open the
resident's page): opaque, tamper-proof, versioned and expiring.

Each is the payload encrypted and authenticated with Fernet (AES and HMAC, from
`cryptography`) under a key derived from SECRET_KEY and the token's purpose, so a token
made for one purpose is worthless for another, and nobody can read who it is for.
The leading version lets a later format live beside this one.

The interface is itsdangerous's (dumps, loads with max_age, its exceptions), so callers
read as they did with signed-but-readable tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired

VERSION = "1"


class SealedSerializer:
    def __init__(self, purpose: str):
        secret = current_app.config["SECRET_KEY"]
        digest = hashlib.sha256(f"{secret}\x00{purpose}\x00v{VERSION}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def dumps(self, payload) -> str:
        sealed = self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode())
        return VERSION + sealed.decode().rstrip("=")

    def loads(self, token: str, max_age: int | None = None):
        """The payload. Raises SignatureExpired (older than max_age seconds) or
        BadSignature (anything else)."""
        if not isinstance(token, str) or not token.startswith(VERSION) or len(token) > 2000:
            raise BadSignature("not one of our tokens")
        body = token[len(VERSION) :]
        body += "=" * (-len(body) % 4)
        try:
            data = self._fernet.decrypt(body.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError, ValueError):
            raise BadSignature("not one of our tokens") from None
        if max_age is not None:
            try:
                self._fernet.decrypt(body.encode("ascii"), ttl=max_age)
            except InvalidToken:
                raise SignatureExpired("expired") from None
        return json.loads(data)

    def load_fields(self, token: str, max_age: int | None, *types: type, optional: int = 0):
        """The payload as a list of these types (the last `optional` of them may be
        missing). Raises SignatureExpired, or BadSignature for anything else: a token
        of ours whose payload is not that shape too (a genuine token with another
        payload gave a 500 where the checks came after the decoding: an outside
        check)."""
        fields = self.loads(token, max_age)
        if (
            not isinstance(fields, list)
            or not len(types) - optional <= len(fields) <= len(types)
            or any(type(value) is not kind for value, kind in zip(fields, types, strict=False))
        ):
            raise BadSignature("not the payload expected")
        return fields
