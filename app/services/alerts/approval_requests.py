"""Asking for approval: when an alert waits, the supervisors on duty are sent a text or
an e-mail with a link to it, a missing-person alert marked URGENT. The messages are
notices, sent by the one outbound engine (services/notices.py)."""

from __future__ import annotations

from flask import current_app, url_for

from app.extensions import db
from app.models import Alert, Officer
from app.services import forces, message_text, teams
from app.services.accounts import find_active, find_on_duty
from app.services.alerts.lifecycle import APPROVERS
from app.services.alerts.targeting import count_label
from app.services.notices import create_notice

# The request is marked URGENT for these: the first hours of a search matter most.
URGENT_REQUESTS = ("missing_person",)
NOTICE_KIND = "approval_request"


def approvers_to_ask(author: Officer, alert: Alert | None = None) -> list[Officer]:
    """Who is asked to approve the author's alert. An alert of a team: the supervisors
    of its teams on duty (accounts.find_on_duty: signed in this shift, not signed out),
    or, when none is, every active one of them; a team with no supervisor falls back to
    the administrators, so that an alert never waits unseen. An alert of no team: every
    supervisor and admin on duty, or every active one. Never the author, who may not
    approve their own."""
    team_approvers = teams.approvers_for(alert) if alert is not None else None
    if team_approvers is not None:
        chosen = [o for o in team_approvers if o.id != author.id]
        if chosen:
            on_duty = {o.id for o in find_on_duty(APPROVERS, except_id=author.id)}
            return [o for o in chosen if o.id in on_duty] or chosen
        roles: tuple[str, ...] = ("admin",)
    else:
        roles = APPROVERS
    return find_on_duty(roles, except_id=author.id) or find_active(roles, except_id=author.id)


def create_approval_requests(alert: Alert, author: Officer) -> list[int]:
    """One message to each approver asked, added in the caller's transaction: a text
    to their mobile when they have one (it is seen first), else an e-mail. The link is
    PUBLIC_BASE_URL and the alert's page, which asks them to sign in: it carries the
    alert's number and nothing about anyone. The caller queues the notices
    (notices.queue_notices) once it has committed. Returns their ids."""
    config = current_app.config
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        link = url_for("officers.alert", alert_id=alert.id, _external=True)
    urgent = alert.category in URGENT_REQUESTS
    text = message_text.approval_request_text(
        title=alert.title,
        category=alert.category_label,
        author=author.name,
        residents=count_label(alert.recipient_count or 0),
        link=link,
        urgent=urgent,
        exercise=alert.mode == "exercise",
    )
    subject = message_text.approval_request_subject(
        title=alert.title, category=alert.category_label, urgent=urgent
    )
    force = forces.force_by_id(alert.force_id).name
    signed = f"{text}\n\n{force} Police {config['SERVICE_NAME']}"
    notices = []
    for approver in approvers_to_ask(author, alert):
        if approver.mobile:
            by = {"channel": "sms", "address": approver.mobile, "body": text}
        else:
            by = {"channel": "email", "address": approver.email, "subject": subject, "body": signed}
        notices.append(
            create_notice(resident_id=None, kind=NOTICE_KIND, force_id=alert.force_id, **by)
        )
    db.session.flush()
    return [notice.id for notice in notices]
