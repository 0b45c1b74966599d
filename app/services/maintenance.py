"""Upkeep the database needs now and then, run from the command line."""

from __future__ import annotations

import time

from app.dao.targeting import reorder_targets
from app.extensions import db
from app.services.transaction import transaction


def reorder_targets_now() -> float:
    """The targets table rewritten in its spatial index's order; the seconds it took."""
    started = time.perf_counter()
    with transaction():
        reorder_targets(db.session)
    return time.perf_counter() - started
