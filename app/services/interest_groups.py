"""The groups residents may join (Neighbourhood Watch, Farm Watch...): the force's IT
team sets them up (`flask groups add`); residents choose them on signing up, officers
send to them, and an import's `groups` column names them. The demo seeds four; a
real installation had no way to make any (an outside check)."""

from __future__ import annotations

from sqlalchemy import select

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import InterestGroup
from app.services.forces import SLUG, slug_for
from app.services.text import TextRefused, checked_text, other_alphabet_refusal, plain_letters
from app.services.transaction import read_only, transaction

MAX_NAME = 80


class GroupRefused(ValueError):
    """A group that cannot be added, and why, for the person adding it."""


def find_groups() -> list[InterestGroup]:
    with read_only():
        return list(db.session.scalars(select(InterestGroup).order_by(InterestGroup.name)))


def add_group(*, name: str, name_cy: str | None = None, slug: str | None = None) -> InterestGroup:
    """A new group, by its name (and its Welsh name: without it, Welsh pages show the
    English). Raises GroupRefused for a missing or too long name, a slug that is not
    one, or a name or slug another group has."""
    try:
        # Control characters, text turned round, invisible characters (zero-width ones
        # are taken out): a name with a BEL, U+202E or a zero-width space was stored,
        # and "Farm\u200bWatch" passed as another group (an outside re-check).
        name = " ".join(checked_text(name, "The group's name").split())
        name_cy = " ".join(checked_text(name_cy, "Its Welsh name").split()) or None
    except TextRefused as refusal:
        raise GroupRefused(str(refusal)) from None
    # A Cyrillic "а" in "Farm Watch" passed as a new group beside the real one.
    for value, label in ((name, "The group's name"), (name_cy or "", "Its Welsh name")):
        if refused := other_alphabet_refusal(value, label):
            raise GroupRefused(refused)
    slug = slug or slug_for(name)
    if not name or len(name) > MAX_NAME or (name_cy and len(name_cy) > MAX_NAME):
        raise GroupRefused(f"Give the group's name, at most {MAX_NAME} characters.")
    if not SLUG.match(slug) or len(slug) > 40:
        raise GroupRefused(
            "The slug names the group in imports and links: lower-case letters, digits, "
            "hyphens, at most 40."
        )
    with transaction():
        # The same name with accents or in other case reads as the same group on the
        # sign-up form ("Farm Wátch" beside "Farm Watch": an outside re-check).
        plain = plain_letters(name)
        same = next(
            (
                group
                for group in db.session.scalars(select(InterestGroup).order_by(InterestGroup.id))
                if group.slug == slug or plain_letters(group.name) == plain
            ),
            None,
        )
        if same is not None:
            raise GroupRefused(f"There is already a group {same.name} ({same.slug}).")
        group = InterestGroup(slug=slug, name=name, name_cy=name_cy)
        db.session.add(group)
        db.session.flush()
        create_audit_event(
            "group.added",
            actor_id=None,
            subject_type="interest_group",
            subject_id=group.id,
            details={"slug": slug, "name": name},
        )
    return group
