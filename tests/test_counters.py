"""Counters in Redis name no number, e-mail or IP address that a copy of Redis gives
back: their keys are keyed with SECRET_KEY."""

import hashlib

from app.extensions import redis_store
from app.services import accounts
from app.services.verification import allow_per_hour


def keys(pattern: str) -> set[str]:
    return {key.decode() for key in redis_store.client.keys(pattern)}


def test_a_counters_key_cannot_be_found_by_hashing_every_number(app, app_ctx, monkeypatch):
    """Found by an outside check: the keys were plain SHA-256 of "kind:number", and
    hashing the 1,000 demo numbers named who had signed up or texted HELP that day."""
    before = keys("ratelimit:help-answer:*")
    assert allow_per_hour("help-answer", "+447700900048", 2)
    (key,) = keys("ratelimit:help-answer:*") - before
    plain = hashlib.sha256(b"help-answer:+447700900048").hexdigest()[:32]
    assert key != f"ratelimit:help-answer:{plain}"
    signin = [
        name
        for name, _ in accounts._throttle_keys(
            "sam@example.invalid", "192.0.2.7", trusted_device=False, known_network=False
        )
    ]
    for value in ("sam@example.invalid", "192.0.2.7", "sam@example.invalid 192.0.2.7"):
        plain = hashlib.sha256(value.encode()).hexdigest()
        assert not any(plain[:32] in name for name in signin), value
    # Another installation's secret: another key for the same number.
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-installation-secret")
    assert allow_per_hour("help-answer", "+447700900048", 2)
    assert len(keys("ratelimit:help-answer:*") - before) == 2
