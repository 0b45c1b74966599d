"""Alerts: preview who one reaches, write it, get it approved, schedule, send, follow
up, and follow its deliveries.

    drafts      what the officer composed (AlertDraft), parsed from the page's JSON
    targeting   who it reaches: the audience, the preview, counts as staff may read them
    compose     what it says on each channel, and the checks on the words and the time
    lifecycle   the transition table, its one audit helper, and the approval rules
    submitting  submit_alert: check, record, then hold, schedule or send
    approval    approve_alert, reject_alert, what waits for whom
    approval_requests  the supervisors on duty told that an alert waits
    cross_border  a neighbouring force asked to send it to its residents, and deciding
    review      what a supervisor reviews: each channel's words, count, cost and time
    sending     write the deliveries, queue them after the commit, test, release, cancel
    resend      its messages no provider ever took, sent again at an officer's asking
    threads     follow-ups and the original they hang off
    progress    how alerts are getting on: the newest, a status, the deliveries

Callers import from here (`from app.services.alerts import submit_alert`); the
cross-border module as a whole (`from app.services.alerts import cross_border`)."""

from app.services.alerts.approval import (
    approve_alert,
    approved_just_now,
    count_waiting_for,
    find_pending_approval,
    find_pending_reviews,
    reject_alert,
)
from app.services.alerts.compose import (
    MAX_BODY,
    MAX_SCHEDULE_DAYS,
    MAX_TITLE,
    check_schedule,
    check_words,
    compose_preview,
    own_recording,
)
from app.services.alerts.drafts import (
    ANSWERS_READ,
    AlertDraft,
    AlertInvalid,
    draft_from_json,
    json_flag,
    json_mode,
    json_strings,
    json_text,
    json_whole_number,
    written_again,
)
from app.services.alerts.lifecycle import (
    APPROVERS,
    TRANSITIONS,
    NotAllowed,
    Transition,
    approval_refusal,
    is_test,
    may_approve,
    needs_approval,
)
from app.services.alerts.progress import (
    FINISHED_STATUSES,
    alert_progress,
    failure_reasons,
    find_alert_status,
    find_recent_alerts,
    progress_shown,
)
from app.services.alerts.resend import (
    never_taken,
    send_again_refusal,
    send_again_to_never_taken,
    still_refused,
)
from app.services.alerts.review import review_alert
from app.services.alerts.sending import (
    SentAlert,
    SentTest,
    cancel_alert,
    enqueue_alert_deliveries,
    release_scheduled_alerts,
    send_test_to_self,
    take_down_public_page,
)
from app.services.alerts.submitting import submit_alert
from app.services.alerts.targeting import (
    Target,
    count_label,
    follow_up_refusal,
    hidden_label,
    place_boundary,
    preview_targets,
    recipients_label,
    recipients_phrase,
    resolve_target,
    stored_area_geojson,
    went,
)
from app.services.alerts.threads import (
    all_clear_sent,
    find_thread,
    find_thread_root,
    thread_root,
)

__all__ = [
    "ANSWERS_READ",
    "json_flag",
    "json_mode",
    "json_strings",
    "json_text",
    "json_whole_number",
    "written_again",
    "APPROVERS",
    "FINISHED_STATUSES",
    "MAX_BODY",
    "MAX_SCHEDULE_DAYS",
    "MAX_TITLE",
    "TRANSITIONS",
    "AlertDraft",
    "AlertInvalid",
    "NotAllowed",
    "SentAlert",
    "SentTest",
    "Target",
    "Transition",
    "alert_progress",
    "progress_shown",
    "failure_reasons",
    "all_clear_sent",
    "approval_refusal",
    "approve_alert",
    "approved_just_now",
    "cancel_alert",
    "take_down_public_page",
    "never_taken",
    "send_again_refusal",
    "send_again_to_never_taken",
    "still_refused",
    "check_schedule",
    "check_words",
    "compose_preview",
    "own_recording",
    "count_label",
    "count_waiting_for",
    "draft_from_json",
    "enqueue_alert_deliveries",
    "find_alert_status",
    "find_pending_approval",
    "find_pending_reviews",
    "find_recent_alerts",
    "find_thread",
    "find_thread_root",
    "follow_up_refusal",
    "went",
    "hidden_label",
    "is_test",
    "may_approve",
    "needs_approval",
    "place_boundary",
    "preview_targets",
    "recipients_label",
    "recipients_phrase",
    "reject_alert",
    "release_scheduled_alerts",
    "resolve_target",
    "review_alert",
    "send_test_to_self",
    "stored_area_geojson",
    "submit_alert",
    "thread_root",
]
