"""Wording a team reuses: save the alert being written as a template, pick one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import CATEGORIES, AlertTemplate, Officer
from app.services.alerts import MAX_BODY, MAX_TITLE, AlertInvalid
from app.services.text import checked_field

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
    name = checked_field(errors, "template_name", name, "The template's name")
    title = checked_field(errors, "title", title, "The title")
    body = checked_field(errors, "body", body, "The message", multiline=True)
    title_cy = checked_field(errors, "title_cy", title_cy, "The Welsh title")
    body_cy = checked_field(errors, "body_cy", body_cy, "The Welsh message", multiline=True)
    if bool(title_cy) != bool(body_cy) and not ({"title_cy", "body_cy"} & set(errors)):
        errors["body_cy" if title_cy else "title_cy"] = (
            "Give the Welsh title and message both, or neither."
        )
    elif len(title_cy) > MAX_TITLE:
        errors["title_cy"] = f"Keep the Welsh title to {MAX_TITLE} characters."
    elif len(body_cy) > MAX_BODY:
        errors["body_cy"] = f"Keep the Welsh message to {MAX_BODY:,} characters."
    if "template_name" in errors:
        pass  # refused as text already
    elif not name:
        errors["template_name"] = "Name the template so your team can find it."
    elif len(name) > MAX_NAME:
        errors["template_name"] = f"Keep the name to {MAX_NAME} characters."
    if "title" in errors:
        pass
    elif not title:
        errors["title"] = "Give the template a title: it is empty."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title to {MAX_TITLE} characters: it has {len(title):,}."
    if "body" in errors:
        pass
    elif not body:
        errors["body"] = "Give the template a message: it is empty."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Keep the message to {MAX_BODY:,} characters: it has {len(body):,}."
    if category not in CATEGORIES:
        errors["category"] = "Choose what the alert is about."
    if errors:
        raise AlertInvalid(errors)
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
            {"template_name": f"There is already a template called “{name}”. Choose another name."}
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
