"""Wording a team reuses: save the alert being written as a template, pick one."""

from __future__ import annotations

import unicodedata

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.dao.audit import create_audit_event
from app.dao.locks import lock_until_commit
from app.extensions import db
from app.models import CATEGORIES, AlertTemplate, Officer
from app.services.alerts import MAX_BODY, MAX_TITLE, AlertInvalid
from app.services.text import checked_field, other_alphabet_refusal, plain_letters

MAX_NAME = 80


def save_template(
    officer: Officer,
    *,
    name: str,
    category: str,
    title: str,
    body: str,
    title_cy: str = "",
    body_cy: str = "",
):
    """Save a template under a name nobody has used, with its Welsh when it has both a
    Welsh title and message. Raises AlertInvalid."""
    errors: dict[str, str] = {}
    name = checked_field(errors, "template_name", name, gettext("The template's name"))
    # Full-width and other compatibility forms as the letters they are, as a team's.
    name = " ".join(unicodedata.normalize("NFKC", name or "").split())
    title = checked_field(errors, "title", title, gettext("The title"))
    body = checked_field(errors, "body", body, gettext("The message"), multiline=True)
    title_cy = checked_field(errors, "title_cy", title_cy, gettext("The Welsh title"))
    body_cy = checked_field(
        errors, "body_cy", body_cy, gettext("The Welsh message"), multiline=True
    )
    if bool(title_cy) != bool(body_cy) and not ({"title_cy", "body_cy"} & set(errors)):
        errors["body_cy" if title_cy else "title_cy"] = gettext(
            "Give the Welsh title and message both, or neither."
        )
    elif len(title_cy) > MAX_TITLE:
        errors["title_cy"] = gettext("Keep the Welsh title to %(most)s characters.", most=MAX_TITLE)
    elif len(body_cy) > MAX_BODY:
        errors["body_cy"] = gettext(
            "Keep the Welsh message to %(most)s characters.", most=f"{MAX_BODY:,}"
        )
    if "template_name" in errors:
        pass  # refused as text already
    elif not name:
        errors["template_name"] = gettext("Name the template so your team can find it.")
    elif len(name) > MAX_NAME:
        errors["template_name"] = gettext("Keep the name to %(most)s characters.", most=MAX_NAME)
    elif refused := other_alphabet_refusal(name, gettext("The template's name")):
        # "Burglаry" with a Cyrillic "а" was a second template reading the same in the
        # composer's list, as team names were (an outside check of those).
        errors["template_name"] = refused
    if "title" in errors:
        pass
    elif not title:
        errors["title"] = gettext("Give the template a title: it is empty.")
    elif len(title) > MAX_TITLE:
        errors["title"] = gettext(
            "Keep the title to %(most)s characters (it is %(count)s).",
            most=MAX_TITLE,
            count=f"{len(title):,}",
        )
    if "body" in errors:
        pass
    elif not body:
        errors["body"] = gettext("Give the template a message: it is empty.")
    elif len(body) > MAX_BODY:
        errors["body"] = gettext(
            "Keep the message to %(most)s characters (it is %(count)s).",
            most=f"{MAX_BODY:,}",
            count=f"{len(body):,}",
        )
    if category not in CATEGORIES:
        errors["category"] = gettext("Choose what the alert is about.")
    if errors:
        raise AlertInvalid(errors)
    # One naming at a time in a force, so that two saving names alike at once do not
    # both find the name free; one reading as another (case and accents aside, "Straße"
    # and "STRASSE") is refused naming the one there.
    lock_until_commit(db.session, f"template-names:{officer.force_id}")
    plain = plain_letters(name)
    if alike := next((t for t in find_templates() if plain_letters(t["name"]) == plain), None):
        db.session.rollback()
        raise AlertInvalid(
            {
                "template_name": gettext(
                    "There is already a template called “%(name)s”. Choose another name.",
                    name=alike["name"],
                )
            }
        )
    template = AlertTemplate(
        name=name,
        category=category,
        title=title,
        body=body,
        title_cy=title_cy or None,
        body_cy=body_cy or None,
        created_by_id=officer.id,
        force_id=officer.force_id,
    )
    db.session.add(template)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AlertInvalid(
            {
                "template_name": gettext(
                    "There is already a template called “%(name)s”. Choose another name.",
                    name=name,
                )
            }
        ) from None
    create_audit_event(
        "template.saved", actor_id=officer.id, subject_type="template", subject_id=template.id
    )
    db.session.commit()
    return template


def find_templates() -> list[dict]:
    rows = db.session.scalars(select(AlertTemplate).order_by(AlertTemplate.name))
    return [
        {
            "id": t.id,
            "name": t.name,
            "category": t.category,
            "title": t.title,
            "body": t.body,
            "title_cy": t.title_cy or "",
            "body_cy": t.body_cy or "",
        }
        for t in rows
    ]
