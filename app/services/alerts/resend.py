"""Sending an alert again to the residents no provider ever took its message for: every
try refused for now (an outage longer than DELIVERY_RETRY_WINDOW_SECONDS) until it
failed. Those rows are queued again under the same alert, so its page, its counts and
the public pages stay one alert; nobody can get it twice, since no provider took it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import exists, select

from app.channels import transport_name
from app.channels.holds import still_refusing
from app.dao import figures as figures_dao
from app.dao import forces as forces_dao
from app.dao import resend as resend_sql
from app.dao.targeting import Audience
from app.extensions import db, redis_store
from app.i18n import when
from app.models import CHANNELS, Alert, Officer
from app.services.alerts.lifecycle import NotAllowed, is_test, lock_alert, refusal, transition
from app.services.alerts.sending import enqueue_safely
from app.services.alerts.targeting import audience_of
from app.services.alerts.threads import GONE_STATUSES, is_urgent, thread_root
from app.services.reports import reason_group
from app.services.transaction import read_only, transaction


def never_taken(alert: Alert) -> tuple[int, str]:
    """How many of the alert's messages failed with every try refused for now, to
    addresses it still reaches (those "Send it again" would send), and why most of them
    failed, as staff may read it (no address or number): a refusal of our own account
    or server says so, and sending again before it is put right is refused again (an
    outside check pressed it so)."""
    with read_only():
        count, kept = resend_sql.never_taken(alert.id, alert.created_at, _audiences(alert))
    return count, reason_group(kept)


def still_refused(alert: Alert) -> list[str]:
    """What the page says beside "Send it again" of each provider of the alert's
    channels whose last word was a refusal of our own account or server, nothing taken
    through it since: sent again now, the messages would be refused again (an outside
    check pressed it during the fault). Said, not refused: once the fault is put
    right, nothing is taken through that provider until something is sent."""
    channels = (alert.filters or {}).get("channels") or CHANNELS
    names = sorted({transport_name(channel) for channel in channels})
    said, providers = [], set()
    latest_first = sorted(still_refusing(redis_store.client, names), key=lambda r: -r.since)
    for refusing in latest_first:
        # Once a provider: Twilio's texts and calls are one account (it was said twice).
        provider = "mail" if refusing.name == "smtp" else "twilio"
        if provider in providers:
            continue
        providers.add(provider)
        at = when(datetime.fromtimestamp(refusing.since, UTC), "short")
        if refusing.name == "smtp":
            said.append(
                gettext(
                    "The mail server last refused our server or account at %(time)s, and"
                    " has taken no message since: sent again before your IT team puts it"
                    " right, they would be refused again.",
                    time=at,
                )
            )
        else:
            said.append(
                gettext(
                    "Twilio last refused our account at %(time)s, and has taken no"
                    " message since: sent again before your IT team puts it right, they"
                    " would be refused again.",
                    time=at,
                )
            )
    return said


def _audiences(alert: Alert) -> list[Audience]:
    """Who the alert is for now, as each force that sent it would find them: its own
    and each neighbour that approved it (a resident who stopped one force may hear
    through the other, as the send found them)."""
    own = audience_of(alert)
    return [own] + [
        replace(own, force_id=part.force_id)
        for part in forces_dao.find_asks(alert.id)
        if part.status == "approved" and part.sent_at is not None
    ]


def send_again_refusal(alert: Alert) -> str | None:
    """Why the alert's never-taken messages may not be sent again now, or None."""
    if is_test(alert):
        return gettext("A test to yourself is not sent again.")
    refused = refusal(alert, "send_again")
    if refused is not None:
        return refused
    hours = current_app.config["SEND_AGAIN_WITHIN_HOURS"]
    released = alert.sent_at
    if released is None or datetime.now(UTC) - released > timedelta(hours=hours):
        return ngettext(
            "It went out more than %(num)s hour ago: send an update instead.",
            "It went out more than %(num)s hours ago: send an update instead.",
            hours,
        )
    if _later_message_gone(alert):
        # Sent now, it would reach them after what came next (an update, the all-clear).
        return gettext("A later message of this alert has gone since: send an update instead.")
    return None


def _later_message_gone(alert: Alert) -> bool:
    root = thread_root(alert)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Alert.parent_id == root.id,
                    Alert.id != alert.id,
                    Alert.created_at > alert.created_at,
                    Alert.status.in_(GONE_STATUSES),
                )
            )
        )
    )


def send_again_to_never_taken(officer: Officer, alert_id: int) -> int:
    """Queue the alert's never-taken messages again, to residents who still want it;
    how many. Raises NotAllowed (send_again_refusal's words)."""
    with transaction():
        # The thread's original locked too: an update or all-clear sent at the same
        # moment goes either before this (and refuses it) or after.
        alert = lock_alert(alert_id)
        refused = send_again_refusal(alert)
        if refused is not None:
            raise NotAllowed(refused)
        ids = resend_sql.requeue_never_taken(
            alert.id,
            alert.created_at,
            _audiences(alert),
            urgent=is_urgent(alert),
        )
        if not ids:
            return 0
        figures_dao.count_alert_again(db.session, alert.id)
        transition(alert, "send_again", officer, {"messages": len(ids)})
    enqueue_safely(alert_id)
    return len(ids)
