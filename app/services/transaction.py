"""Where a use case's transaction starts and ends, said once.

A service wraps its writes in `with transaction():` instead of calling commit and
rollback in each branch. Work that must see the committed rows (queueing a job) goes
after the block, never inside it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.extensions import db, replica_engine, replica_unavailable

log = logging.getLogger(__name__)


@contextmanager
def transaction() -> Iterator[None]:
    """Commit the session when the block ends; roll back when it raises (the exception
    goes on to the caller, and nothing of the block is kept). Returning from inside the
    block commits."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def release_connection() -> None:
    """End the session's transaction, its connection back to the pool: before a request
    waits on purpose (a sign-up answers no sooner than SIGN_UP_ANSWER_MS), not holding
    a connection idle in a transaction meanwhile (found by reading)."""
    db.session.rollback()


P = ParamSpec("P")
R = TypeVar("R")


def transactional(use_case: Callable[P, R]) -> Callable[P, R]:
    """The whole function is one transaction(): committed when it returns, rolled back
    when it raises (a refusal leaves nothing of what it had begun)."""

    @functools.wraps(use_case)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with transaction():
            return use_case(*args, **kwargs)

    return wrapper


@contextmanager
def read_only() -> Iterator[None]:
    """A block that only reads: its transaction is rolled back however the block ends,
    so no snapshot, lock or temporary table outlives it."""
    try:
        yield
    finally:
        db.session.rollback()


@contextmanager
def replica_reads(caught_up: Callable[[Session], bool] | None = None) -> Iterator[None]:
    """A block that only reads, run on the read replica (DATABASE_REPLICA_URL) when
    there is one: db.session is a read-only session there until the block ends.
    `caught_up`, asked of the replica's session first, says whether the replica has
    what the block must see (figures just recounted on the primary); when it has not,
    or there is no replica, the block reads the primary, as read_only() does."""
    replica = _replica_session(caught_up)
    if replica is None:
        with read_only():
            yield
        return
    registry = db.session.registry
    primary = registry() if registry.has() else None
    registry.set(replica)
    try:
        yield
    finally:
        if primary is not None:
            registry.set(primary)
        else:
            registry.clear()
        replica.rollback()
        replica.close()


def _replica_session(caught_up: Callable[[Session], bool] | None) -> Session | None:
    """A session on the replica, or None: no replica, it has not caught up, or it does
    not answer (then it is left alone a while, so nobody waits for it each time)."""
    engine = replica_engine()
    if engine is None:
        return None
    replica = Session(bind=engine)
    try:
        if caught_up is None:
            replica.connection()  # reachable? (a pooled connection is pinged)
        elif not caught_up(replica):
            replica.close()
            return None
    except OperationalError:
        log.warning("read replica unavailable; reading the primary")
        replica_unavailable()
        replica.close()
        return None
    return replica
