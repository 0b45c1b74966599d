"""What the health checks and the metrics read from the database. Reads only."""

from __future__ import annotations

from sqlalchemy import text

from app.dao.limits import limit_statement_time


def ping(session, timeout_ms: int) -> None:
    """One round trip, given up after timeout_ms."""
    limit_statement_time(session, timeout_ms)
    session.execute(text("SELECT 1"))


def find_schema_revision(session) -> str | None:
    """The migration the database is at (alembic's record), or None before any: an
    empty database answers, and was called "not answering" (an outside check)."""
    if session.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return None
    return session.execute(text("SELECT version_num FROM alembic_version")).scalar()


def find_forces_without_an_area(session) -> int:
    """How many forces have no boundary loaded (a place of kind "force" with the
    force's code): every postcode reads as outside such a force, and nobody can sign up."""
    return session.execute(
        text(
            "SELECT count(*) FROM forces f WHERE NOT EXISTS (SELECT 1 FROM places p"
            " WHERE p.kind = 'force' AND p.code = f.code AND NOT ST_IsEmpty(p.boundary))"
        )
    ).scalar_one()


def find_slugs_of_no_force(session, slugs: list[str]) -> set[str]:
    """Of these slugs, those no force has."""
    return set(slugs) - set(
        session.execute(
            text("SELECT slug FROM forces WHERE slug = ANY(:slugs)"), {"slugs": slugs}
        ).scalars()
    )


def count_unfinished_deliveries(session) -> list[tuple[str, str, int]]:
    """(channel, status, n) of the deliveries still on their way: queued, sending, or
    unknown (sent, maybe, and waiting for the provider). The partial index
    ix_deliveries_unfinished holds exactly these, so this stays cheap however large
    the ledger."""
    rows = session.execute(
        text(
            "SELECT channel, status, count(*) FROM deliveries"
            " WHERE status IN ('queued', 'sending', 'unknown') GROUP BY 1, 2"
        )
    ).all()
    return [(channel, status, int(n)) for channel, status, n in rows]


def find_oldest_unfinished_age(session) -> float | None:
    """Seconds since the oldest unfinished delivery last moved, or None."""
    return session.execute(
        text(
            "SELECT extract(epoch FROM now() - min(updated_at)) FROM deliveries"
            " WHERE status IN ('queued', 'sending', 'unknown')"
        )
    ).scalar()
