"""An alert's lifecycle as one transition table, the approval rule in one place, the
follow-up thread, and the one transaction boundary services use."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, AuditEvent, InterestGroup, Officer
from app.models.alert import ALERT_STATUSES
from app.services.alerts import (
    TRANSITIONS,
    NotAllowed,
    approval_refusal,
    cancel_alert,
    find_thread,
    find_thread_root,
    may_approve,
)
from app.services.alerts.lifecycle import NOTHING_TO, refusal, transition
from app.services.transaction import read_only, transaction


def test_the_table_names_only_known_statuses_and_reaches_every_one():
    reached = {"draft"}  # where every alert starts
    for action, step in TRANSITIONS.items():
        assert set(step.sources) <= set(ALERT_STATUSES), action
        assert step.target is None or step.target in ALERT_STATUSES, action
        if step.target is not None:
            reached.add(step.target)
    assert reached == set(ALERT_STATUSES)


def test_a_refused_transition_says_where_the_alert_is_and_what_it_cannot_do(app_ctx):
    alert = Alert(status="pending_approval")
    assert refusal(alert, "reject") is None
    alert.status = "sent"
    assert refusal(alert, "approve") == "This alert is sent: nothing to approve."
    with pytest.raises(NotAllowed, match="This alert is sent: nothing to cancel."):
        transition(alert, "cancel", None)
    assert alert.status == "sent"
    # Every verb has its sentence, in Welsh too (it was English on Welsh pages).
    verbs = {step.verb for step in TRANSITIONS.values()} | {"ask"}
    assert verbs <= set(NOTHING_TO)
    with force_locale("cy"):
        assert (
            refusal(alert, "approve") == "Statws y rhybudd hwn yw “wedi anfon”: dim i'w gymeradwyo."
        )


@pytest.mark.parametrize(
    "role, author_id, status, refused",
    [
        ("supervisor", 2, "pending_approval", None),
        ("admin", 2, "pending_approval", None),
        ("officer", 2, "pending_approval", "Only a supervisor can approve alerts."),
        ("supervisor", 1, "pending_approval", "another supervisor must approve it"),
        ("supervisor", 2, "scheduled", "This alert is scheduled: nothing to approve."),
    ],
)
def test_a_supervisor_approves_only_someone_elses_waiting_alert(role, author_id, status, refused):
    officer = Officer(id=1, role=role)
    alert = Alert(status=status, created_by_id=author_id)
    answer = approval_refusal(officer, alert)
    assert (answer is None) if refused is None else (refused in answer)
    assert may_approve(officer, alert) is (refused is None)


def test_a_supervisor_may_reject_what_they_wrote_but_not_approve_it():
    officer = Officer(id=1, role="supervisor")
    alert = Alert(status="pending_approval", created_by_id=1)
    assert approval_refusal(officer, alert, "reject") is None
    assert not may_approve(officer, alert)


def _alert(officer: Officer, parent: Alert | None = None, status: str = "sent") -> Alert:
    alert = Alert(
        created_by_id=officer.id, title="T", body="B", shapes=[], status=status, parent=parent
    )
    db.session.add(alert)
    db.session.flush()
    return alert


def test_a_follow_up_of_a_follow_up_hangs_off_the_original(make_officer):
    officer = make_officer()
    original = _alert(officer)
    update = _alert(officer, parent=original)
    all_clear = _alert(officer, parent=update)
    db.session.commit()
    assert find_thread_root(all_clear.id) == original
    assert find_thread_root(original.id) == original
    assert find_thread_root(999_999) is None
    assert find_thread(all_clear)[0] == original


def test_cancelling_a_missing_or_finished_alert_changes_nothing(make_officer):
    officer = make_officer()
    sent = _alert(officer)
    db.session.commit()
    assert cancel_alert(officer, 999_999) == -1
    assert cancel_alert(officer, sent.id) == -1
    assert db.session.get(Alert, sent.id).status == "sent"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_transaction_commits_what_its_block_did_and_keeps_nothing_of_a_failure(app_ctx):
    with transaction():
        db.session.add(InterestGroup(slug="kept", name="Kept"))
    with pytest.raises(RuntimeError), transaction():
        db.session.add(InterestGroup(slug="dropped", name="Dropped"))
        db.session.flush()
        raise RuntimeError("refused")
    with read_only():
        db.session.add(InterestGroup(slug="read-only", name="Read only"))
        db.session.flush()
    assert db.session.scalars(select(InterestGroup.slug)).all() == ["kept"]
