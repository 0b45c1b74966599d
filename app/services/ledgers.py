"""The outbound engine's ledgers by name, and one sweep over all of them."""

from __future__ import annotations

from app.services import dispatch, notices, outbound

LEDGERS = {ledger.name: ledger for ledger in (dispatch.ALERTS, notices.NOTICES)}


def ledger(name: str) -> outbound.Ledger:
    return LEDGERS[name]


def sweep() -> dict[str, int]:
    """Sweep every ledger (outbound.sweep). Alerts' figures keep their names; the
    others' are prefixed with the ledger's name ("notices_requeued")."""
    found: dict[str, int] = {}
    for name, each in LEDGERS.items():
        for key, count in outbound.sweep(each).items():
            found[key if name == "alerts" else f"{name}_{key}"] = count
    return found
