"""An officer submits an alert: it is checked, recorded, and then, as its rules say,
sent now, scheduled, or held for a supervisor's approval (and the supervisors on duty
are told)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import func

from app.dao import places as places_dao
from app.dao.audit import create_audit_event
from app.dao.locks import lock_until_commit
from app.dao.targeting import count_targets, suppressed
from app.extensions import db
from app.i18n import force_name
from app.models import Alert, Officer
from app.services.alerts.approval_requests import create_approval_requests
from app.services.alerts.compose import check_own_recording, check_schedule, check_words
from app.services.alerts.drafts import AlertDraft, AlertInvalid
from app.services.alerts.lifecycle import audit, needs_approval, transition
from app.services.alerts.repeats import repeat_key, same_words_moments_ago, sent_moments_ago
from app.services.alerts.sending import SentAlert, enqueue_safely, send_now_or_later
from app.services.alerts.targeting import Target, count_label, resolve_target
from app.services.alerts.threads import all_clear_taken, find_thread_root, on_thread_root
from app.services.notices import queue_notices
from app.services.transaction import transaction
from geo.areas import clean_shapes, wholly_outside
from geo.projection import BNG


class _NobodyInside(Exception):
    """Nobody registered is inside the area: refused, and who asked is recorded."""

    def __init__(self, target: Target):
        self.target = target


def _nobody_inside_words(officer: Officer, target: Target) -> str:
    """Why nobody is inside: all of the area outside the force, as the preview says
    (the send said only "nobody registered", with the map saying why: an outside
    check), or nobody registered there."""
    area = target.area_wkb
    if target.audience.parent_alert_id is not None:
        # A follow-up to those the alert reached has no area to make larger (it said
        # so: an outside check).
        return gettext(
            "Nobody the alert reached can be sent this: each has stopped or paused "
            "alerts since, or none of its messages went."
        )
    outside = places_dao.area_outside_km2(officer.force_id, area) if area else None
    if wholly_outside(target.area_km2, outside):
        return gettext(
            "All of this area is outside %(force)s: its alerts reach nobody there. Move "
            "the area into %(force)s to reach its residents.",
            force=force_name(),  # the officer's own, in the page's language
        )
    return gettext("Nobody registered is inside this area. Make it larger or move it.")


def submit_alert(
    officer: Officer,
    draft: AlertDraft | None = None,
    **fields: Any,
) -> SentAlert:
    """Record the alert, then, as its rules say: send it now (every delivery written
    in this transaction, then queued), schedule it, or hold it for a supervisor's
    approval. Raises AlertInvalid."""
    draft = on_thread_root(draft or AlertDraft(**fields))
    key = repeat_key(officer, draft)
    try:
        with transaction():
            earlier = sent_moments_ago(officer, key)
            if earlier is not None and earlier.created_by_id == officer.id:
                return SentAlert(alert=earlier, deliveries=0, repeated=True)
            if earlier is not None:
                raise AlertInvalid(
                    {
                        "send": gettext(
                            "%(name)s sent this same alert to the same residents a moment ago "
                            "(alert %(id)s). It was not sent again.",
                            name=earlier.created_by.name if earlier.created_by else "",
                            id=earlier.id,
                        )
                    }
                )
            title, body, target = _checked(officer, draft)
            _check_not_sent_with_these_words(officer, title, body, target)
            _check_one_all_clear(draft)
            residents = count_targets(db.session, target.audience)["residents"]
            if residents == 0:
                raise _NobodyInside(target)
            _check_count_unchanged(draft, residents)
            alert = _record(officer, draft, title, body, target, residents)
            alert.repeat_key = key
            alert_id = alert.id
            notice_ids: list[int] = []
            if needs_approval(draft.category, residents):
                # The supervisors' messages are written with the request, so both or
                # neither are kept, and queued only once both are committed.
                notice_ids = create_approval_requests(alert, officer)
                transition(alert, "request_approval", officer, {"approvers_told": len(notice_ids)})
                deliveries = None
            else:
                deliveries = send_now_or_later(alert, officer, later=draft.send_at is not None)
    except _NobodyInside as nobody:
        # The preview said "fewer than 5"; this answer says "none". Tried on a tiny area
        # it would say whether anyone is registered there, so who asked is recorded.
        with transaction():
            create_audit_event(
                "alert.refused_nobody_inside",
                actor_id=officer.id,
                details={"area_km2": nobody.target.area_km2, "audience": draft.audience},
            )
        raise AlertInvalid({"area": _nobody_inside_words(officer, nobody.target)}) from None
    queue_notices(notice_ids)
    if deliveries is not None:
        enqueue_safely(alert_id)
    return SentAlert(alert=alert, deliveries=deliveries or 0)


def _checked(officer: Officer, draft: AlertDraft) -> tuple[str, str, Target]:
    """The cleaned title and message and the audience. Raises AlertInvalid with every
    mistake at once. The quick question is left cleaned in the draft (check_words)."""
    errors: dict[str, str] = {}
    at: dict[str, int] = {}
    title, body = check_words(draft, errors, at)
    check_own_recording(officer, draft, errors)
    check_schedule(draft, errors)
    # Outside the officer's teams' permitted areas: refused, nothing written.
    target = resolve_target(draft, errors, officer)
    if errors or target is None:
        raise AlertInvalid(errors, {"refused_answer": at})
    return title, body, target


def _check_not_sent_with_these_words(officer: Officer, title: str, body: str, target) -> None:
    """Refuse the words an alert of the force sent moments ago to an overlapping area
    (not the very same alert: sent_moments_ago has that). Raises AlertInvalid."""
    if target.area_wkb is None:
        return
    earlier = same_words_moments_ago(
        officer, title, body, target.area_wkb, target.audience.channels
    )
    if earlier is None:
        return
    seconds = max(1, int((db.session.scalar(func.now()) - earlier.created_at).total_seconds()))
    # ngettext: "1 seconds ago" (an outside check).
    raise AlertInvalid(
        {
            "send": ngettext(
                "You sent these same words %(num)s second ago (alert %(id)s) to an area "
                "that overlaps this one: the residents of both would get them twice, so this "
                "was not sent. To reach more residents, send an update of that alert, or "
                "change the words.",
                "You sent these same words %(num)s seconds ago (alert %(id)s) to an area "
                "that overlaps this one: the residents of both would get them twice, so this "
                "was not sent. To reach more residents, send an update of that alert, or "
                "change the words.",
                seconds,
                id=earlier.id,
            )
            if earlier.created_by_id == officer.id
            else ngettext(
                "%(name)s sent these same words %(num)s second ago (alert %(id)s) to an "
                "area that overlaps this one: the residents of both would get them twice, so "
                "this was not sent. To reach more residents, send an update of that alert, or "
                "change the words.",
                "%(name)s sent these same words %(num)s seconds ago (alert %(id)s) to an "
                "area that overlaps this one: the residents of both would get them twice, so "
                "this was not sent. To reach more residents, send an update of that alert, or "
                "change the words.",
                seconds,
                name=earlier.created_by.name if earlier.created_by else "",
                id=earlier.id,
            )
        }
    )


def _check_one_all_clear(draft: AlertDraft) -> None:
    """One all-clear a thread: the submissions of all-clears of one thread take turns
    (a lock until the transaction ends), so two at once cannot both find none. Raises
    AlertInvalid."""
    if draft.category != "all_clear" or draft.parent_id is None:
        return
    root = find_thread_root(draft.parent_id)  # there is one: _checked found the parent
    lock_until_commit(db.session, f"all-clear:{root.id}")
    if all_clear_taken(root.id):
        raise AlertInvalid(
            {
                "category": gettext(
                    "This alert's all-clear has gone already, or is waiting to go. Send an "
                    "update instead."
                )
            }
        )


def _check_count_unchanged(draft: AlertDraft, residents: int) -> None:
    """Someone registered or left since the officer saw the count: they must confirm
    the number that will actually be sent. Compared as the officer saw it: "fewer than
    5" (the page sends 0) matches any count under the minimum. Raises AlertInvalid."""
    if draft.expected_residents is None:
        return
    if suppressed(residents) != suppressed(draft.expected_residents):
        raise AlertInvalid(
            {
                "area": gettext(
                    "The area now reaches %(now)s residents, not %(before)s. Check the new "
                    "count and send again.",
                    now=count_label(residents),
                    before=count_label(draft.expected_residents),
                )
            }
        )


def _record(
    officer: Officer, draft: AlertDraft, title: str, body: str, target: Target, residents: int
) -> Alert:
    """The alert as a draft, with its audit event, in the caller's transaction."""
    alert = Alert(
        created_by_id=officer.id,
        force_id=officer.force_id,
        title=title,
        body=body,
        title_cy=draft.title_cy,
        language=draft.language,
        body_cy=draft.body_cy,
        category=draft.category,
        mode=draft.mode,
        shapes=clean_shapes(draft.shapes) if draft.audience == "area" else [],
        filters={
            "groups": list(target.audience.groups),
            "channels": list(target.audience.channels),
        },
        area=func.ST_GeomFromWKB(target.area_wkb, BNG) if target.area_wkb else None,
        parent_id=draft.parent_id,
        audience="parent" if draft.audience == "parent" else "area",
        send_at=draft.send_at,
        recording_id=draft.recording_id,
        question=draft.question,
        answer_options=draft.answer_options,
        question_cy=draft.question_cy,
        answer_options_cy=draft.answer_options_cy,
        confirm_receipt=draft.confirm_receipt,
        recipient_count=residents,
        status="draft",
    )
    db.session.add(alert)
    db.session.flush()
    details = {
        "title": title,
        "category": draft.category,
        "mode": draft.mode,
        "residents": residents,
        "shapes": len(draft.shapes),
        "parent_id": draft.parent_id,
    }
    audit(alert, "alert.drafted", officer, details)
    return alert
