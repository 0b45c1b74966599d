"""Reading the development outbox, which is residents' data: every view is audited."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import Alert, Officer, OutboxMessage, ResidentNotice
from app.services import authorisation
from app.services.notices import STAFF_KINDS

# Notices that carry a member of staff's set-password link.
ACCOUNT_LINK_KINDS = frozenset({"staff_invite", "staff_reset"})

PAGE_SIZE = 50  # a phone's screenful or ten; older ones a page at a time

# A link's path segment that is a token (an unsubscribe, answer or sign-in link's):
# long runs of a token's letters. It acts for the resident it was sent to.
_TOKEN_IN_LINK = re.compile(r"(https?://[^\s/]+(?:/[^\s/]+)*?/)([A-Za-z0-9_.=~-]{20,})")


@dataclass(frozen=True)
class ShownMessage:
    """An outbox message as the page shows it."""

    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    alert_id: int | None
    created_at: object
    for_staff: bool = False  # a notice to a member of staff (an invitation, a request)


def hide_links(body: str) -> str:
    """The body with every link's token hidden: a link in a resident's message acts for
    that resident (stops their alerts, answers for them), so staff reading the outbox
    see where it leads, not the link itself."""
    return _TOKEN_IN_LINK.sub(lambda found: found.group(1) + "[hidden]", body)


def view_outbox(officer: Officer, *, alert_id: int | None = None, before_id: int | None = None):
    """The newest messages (optionally of one alert; with before_id, those older than
    that one), how many there are in all, and whether older ones are left. Notices to
    residents (codes, sign-in links) are shown only outside production, where the
    demo's residents have no other way to read them."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE + 1)
    if before_id:
        query = query.where(OutboxMessage.id < before_id)
    count_query = select(func.count()).select_from(OutboxMessage)
    production = current_app.config["ENV_NAME"] == "production"
    if production:
        query = query.where(OutboxMessage.notice_id.is_(None))
        count_query = count_query.where(OutboxMessage.notice_id.is_(None))
    if alert_id:
        query = query.where(OutboxMessage.alert_id == alert_id)
        count_query = count_query.where(OutboxMessage.alert_id == alert_id)
    else:
        # The alerts' messages of the officer's teams only, as each alert's own page
        # (its messages were all here for anyone: an outside check).
        visible = OutboxMessage.alert_id.is_(None) | OutboxMessage.alert_id.in_(
            select(Alert.id).where(authorisation.list_filter(officer, "outbox"))
        )
        query = query.where(visible)
        count_query = count_query.where(visible)
    # A member of staff's set-password link takes their account: only administrators
    # (who may send one anyway) see it, in any environment. Every officer could open an
    # invited administrator's in the demo (found by an outside probe).
    admin = officer.role == "admin"
    query = query.add_columns(ResidentNotice.kind).outerjoin(
        ResidentNotice, ResidentNotice.id == OutboxMessage.notice_id
    )
    messages = [
        ShownMessage(
            id=m.id,
            channel=m.channel,
            recipient=m.recipient,
            subject=m.subject,
            # Outside production the demo's residents are made up and have no other way
            # to follow their links; in production the links are real residents'.
            body=(
                hide_links(m.body)
                if production or (kind in ACCOUNT_LINK_KINDS and not admin)
                else m.body
            ),
            alert_id=m.alert_id,
            created_at=m.created_at,
            for_staff=kind in STAFF_KINDS,
        )
        for m, kind in db.session.execute(query)
    ]
    older = len(messages) > PAGE_SIZE
    messages = messages[:PAGE_SIZE]
    total = db.session.scalar(count_query)
    create_audit_event(
        "outbox.viewed",
        actor_id=officer.id,
        subject_type="alert" if alert_id else None,
        subject_id=alert_id,
        # Which messages, so that whose were seen can be told.
        details={"messages_shown": len(messages), "message_ids": [m.id for m in messages]},
    )
    db.session.commit()
    return messages, total, older
