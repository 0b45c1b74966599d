"""Is this process up (/healthz), and can it do its work (/readyz): the database
answers, Redis answers, the database's schema is the one this code was written
for (a deploy whose migrations have not run yet is not ready), and every force has
its boundary loaded (without it, nobody can sign up). The answers name the
checks only: no addresses, versions or errors a stranger could use."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask import current_app
from redis.exceptions import RedisError

from app.dao import health as dao
from app.extensions import db, redis_store
from app.logs import service_failure
from app.services.sso import forces_named
from app.services.transaction import read_only

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CHECK_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # name: "ok" or what is wrong, in a few words

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.checks.values())


@cache
def code_revision() -> str:
    """The newest migration this code carries (alembic's head)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def readiness() -> Readiness:
    checks: dict[str, str] = {}
    try:
        with read_only():
            dao.ping(db.session, CHECK_TIMEOUT_MS)
            revision = dao.find_schema_revision(db.session)
            current = revision == code_revision()
            # A guide followed without loading the force's boundary was "ready", and
            # every postcode read as outside the force (an outside check).
            without_area = dao.find_forces_without_an_area(db.session) if current else 0
            named = forces_named(current_app.config)
            of_none = (
                dao.find_slugs_of_no_force(db.session, list(named.values())) if current else set()
            )
        checks["database"] = "ok"
        if current:
            checks["migrations"] = "ok"
            checks["force_areas"] = (
                "ok"
                if not without_area
                else "no boundary loaded for a force: run flask geo load-places --kind force"
            )
            if named:
                # Every sign-in through a provider whose force is not there is refused.
                wrong = [setting for setting, slug in named.items() if slug in of_none]
                checks["sign_on"] = (
                    f"{', '.join(wrong)} names no force: every sign-in through it is refused"
                    if wrong
                    else "ok"
                )
        else:
            checks["migrations"] = "not current: run flask db upgrade"
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        current_app.logger.warning("readiness: database check failed: %s", service_failure(error))
        checks["database"] = "not answering"
        checks["migrations"] = "unknown"
    try:
        redis_store.client.ping()
        checks["redis"] = "ok"
        # A login that may not ask INFO (a hardened ACL) is not refused on that: the
        # version is then not known (it read as "not answering": a review).
        with contextlib.suppress(RedisError):
            version = str(redis_store.client.info("server").get("redis_version", ""))
            checks["redis"] = redis_version_refusal(version) or "ok"
            if checks["redis"] != "ok":  # the version for the operator, not the answer
                current_app.logger.warning("readiness: Redis %s is too old", version)
    except Exception as error:  # noqa: BLE001
        current_app.logger.warning("readiness: Redis check failed: %s", service_failure(error))
        checks["redis"] = "not answering"
    return Readiness(checks)


# PEXPIRE … GT (a resident's code waiting out a provider's wait: channels/holds.py).
REDIS_AT_LEAST = (7, 0)


def redis_version_refusal(version: str) -> str | None:
    """Why a Redis of this version will not do, or None. Without the version: /readyz
    answers anyone (it said "version 6.2.14": a review); the log names it.

    >>> redis_version_refusal("7.0.15"), redis_version_refusal("6.2.14")
    (None, 'too old: 7.0 or later is needed')
    """
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None  # a build that says something else: not refused on that
    if found < REDIS_AT_LEAST:
        return f"too old: {REDIS_AT_LEAST[0]}.{REDIS_AT_LEAST[1]} or later is needed"
    return None
