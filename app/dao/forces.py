"""Forces (app/models/force.py): lookups that read as questions."""

from __future__ import annotations

from sqlalchemy import select, text

from app.extensions import db
from app.models import Force


def find_default_force() -> Force | None:
    return db.session.scalars(select(Force).where(Force.is_default)).first()


def find_force(force_id: int) -> Force | None:
    return db.session.get(Force, force_id)


def find_force_by_slug(slug: str) -> Force | None:
    return db.session.scalars(select(Force).where(Force.slug == slug)).first()


def find_force_by_code(code: str) -> Force | None:
    return db.session.scalars(select(Force).where(Force.code == code)).first()


def find_forces() -> list[Force]:
    """Every force, the default first, then by name."""
    return list(db.session.scalars(select(Force).order_by(Force.is_default.desc(), Force.name)))


def reassign_location_forces() -> int:
    """Every resident's place given its force again (migration 0034); how many moved."""
    return db.session.scalar(text("SELECT reassign_location_forces()")) or 0
