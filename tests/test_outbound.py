"""The one outbound engine: notices (codes, links) keep the same promise as alerts,
because they go through the same claim, record, reconcile and sweep."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ResidentNotice
from app.services import ledgers, notices
from tests.factories import an_import_notice


def a_code(number: str = "+447700900411") -> int:
    notice = notices.create_notice(
        resident_id=None, kind="code", channel="sms", address=number, body="123456 is your code"
    )
    db.session.commit()
    return notice.id


def notice(notice_id: int) -> ResidentNotice:
    db.session.rollback()
    return db.session.get(ResidentNotice, notice_id)


def test_a_code_whose_answer_never_came_is_found_at_the_provider_not_sent_twice(
    providers, run_worker, app, monkeypatch
):
    providers.gateway.slow_accept_for = {"+447700900411"}
    providers.gateway.slow_accept_s = 2.5  # past the 1 s read timeout
    providers.gateway.send_callbacks = False
    notice_id = a_code()
    assert notices.send_notices([notice_id])["unknown"] == 1
    # Not failed and not sent blindly again: the text may well be on its way.
    assert notice(notice_id).status == "unknown"
    assert notice(notice_id).body is not None  # kept until its fate is known

    monkeypatch.setitem(app.config, "RECONCILE_SECONDS", 0)
    assert ledgers.sweep()["notices_reconcile"] == 1
    run_worker()
    found = notice(notice_id)
    (taken,) = providers.gateway.accepted
    assert (found.status, found.provider_ref) == ("sent", taken.sid)
    assert found.body is None  # the code is dropped once its fate is known
    ledgers.sweep()
    run_worker()
    assert providers.gateway.accepted_to("Messages") == ["+447700900411"]


def test_a_code_is_retried_through_the_engine_and_settled_by_its_callback(providers, run_worker):
    providers.gateway.unavailable_for = {"+447700900412": 1}  # a 503: the engine retries
    notice_id = a_code("+447700900412")
    notices.queue_notices([notice_id])
    run_worker()
    deadline = time.monotonic() + 10
    while notice(notice_id).status != "delivered":
        assert time.monotonic() < deadline, notice(notice_id).status
        time.sleep(0.05)
    found = notice(notice_id)
    assert found.attempts == 2 and found.reason is None
    assert providers.gateway.accepted_to("Messages") == ["+447700900412"]
    assert found.body is None


def test_a_code_too_old_to_be_of_use_is_failed_not_sent_late(app_ctx, run_worker):
    from app.services.verification import CODE_MINUTES

    # Given up once the code has expired, not later: a provider's refusals for now are
    # tried for half an hour, and a code went out five minutes after it had expired.
    assert notices.GIVE_UP_MINUTES <= CODE_MINUTES
    notice_id = a_code("+447700900413")
    db.session.execute(
        ResidentNotice.__table__.update()
        .where(ResidentNotice.id == notice_id)
        .values(created_at=db.func.now() - db.text(f"interval '{CODE_MINUTES + 1} minutes'"))
    )
    db.session.commit()
    assert ledgers.sweep()["notices_given_up"] == 1
    run_worker()
    found = notice(notice_id)
    assert (found.status, found.reason, found.body) == ("failed", "not sent in time", None)
    assert db.session.scalars(select(ResidentNotice).where(ResidentNotice.attempts > 0)).all() == []


def made_ago(notice_id: int, seconds: float) -> None:
    db.session.execute(
        ResidentNotice.__table__.update()
        .where(ResidentNotice.id == notice_id)
        .values(created_at=db.func.now() - db.func.make_interval(0, 0, 0, 0, 0, 0, seconds))
    )
    db.session.commit()


LATE_KINDS = [
    ("verify_email", "email", "sam.link@example.com"),
    ("manage_link", "email", "sam.manage@example.com"),
    ("officer_answer", "sms", "+447700900415"),
]


@pytest.mark.parametrize(("kind", "channel", "address"), LATE_KINDS)
def test_a_link_or_an_answer_held_past_a_codes_time_is_sent_late_not_given_up(
    providers, run_worker, kind, channel, address
):
    """A mail relay away for ten minutes had every sign-up link asked for in that time
    failed "not sent in time", none sent when it took mail again (a review): a link
    works for days, and an officer's answer is read whenever it comes. Each is given
    up only once it is past its own use; a code beside it is given up as before."""
    of_use = dict(notices.OF_USE_FOR)[kind]
    late = notices.create_notice(
        resident_id=None, kind=kind, channel=channel, address=address, body="Open the link"
    )
    too_late = notices.create_notice(
        resident_id=None, kind=kind, channel=channel, address=address, body="Open it"
    )
    db.session.commit()
    code = a_code("+447700900416")
    made_ago(late.id, notices.GIVE_UP_MINUTES * 60 + 60)
    made_ago(too_late.id, of_use + 60)
    made_ago(code, notices.GIVE_UP_MINUTES * 60 + 60)
    assert ledgers.sweep()["notices_given_up"] == 2
    assert (notice(too_late.id).status, notice(too_late.id).reason) == (
        "failed",
        "not sent in time",
    )
    assert notice(code).status == "failed"
    assert notice(late.id).status == "queued"
    notices.queue_notices([late.id])
    run_worker()
    # A text's callback heard too (one on its way was taken for the next test's row).
    settled = "delivered" if channel == "sms" else "sent"
    deadline = time.monotonic() + 10
    while notice(late.id).status != settled:
        assert time.monotonic() < deadline, notice(late.id).status
        time.sleep(0.05)
    sent = providers.mail.messages if channel == "email" else None
    if sent is not None:
        assert [m["To"] for m in sent] == [address]
    else:
        assert providers.gateway.accepted_to("Messages") == [address]


def test_a_link_is_not_sent_once_it_no_longer_works():
    from app.services.verification import EMAIL_LINK_DAYS, MANAGE_LINK_HOURS

    of_use = dict(notices.OF_USE_FOR)
    assert of_use["verify_email"] < EMAIL_LINK_DAYS * 24 * 3600
    assert of_use["manage_link"] < MANAGE_LINK_HOURS * 3600


def test_an_answer_in_doubt_past_a_codes_time_is_sent_again_not_failed(
    providers, run_worker, app, monkeypatch
):
    """Asked about after its reply never came and the provider had no record of it,
    an officer's answer made more than a code's ten minutes ago was failed "not sent in
    time": whether a row is too late is its kind's own there too (an import's notice,
    a link, an answer), as when it waits in the queue."""
    number = "+447700900417"
    gateway = providers.gateway
    gateway.slow_refuse_for = {number}  # no answer in time, and never taken
    gateway.slow_accept_s = 2.5
    gateway.send_callbacks = False
    answer = notices.create_notice(
        resident_id=None, kind="officer_answer", channel="sms", address=number, body="Thanks"
    )
    db.session.commit()
    assert notices.send_notices([answer.id])["unknown"] == 1
    gateway.slow_refuse_for.clear()
    made_ago(answer.id, notices.GIVE_UP_MINUTES * 60 + 60)
    monkeypatch.setitem(app.config, "RECONCILE_SECONDS", 0)
    monkeypatch.setitem(app.config, "RECONCILE_NO_RECORD_SECONDS", 0)
    for _ in range(3):  # not there, still not there: sent again
        ledgers.sweep()
        run_worker()
    found = notice(answer.id)
    assert found.status in ("queued", "sent", "delivered"), (found.status, found.reason)
    ledgers.sweep()
    run_worker()
    assert notice(answer.id).status in ("sent", "delivered"), notice(answer.id).reason
    assert gateway.accepted_to("Messages") == [number]


def test_an_old_attempts_failure_does_not_move_a_newer_attempts_row(app_ctx):
    """A slow attempt whose row was taken for lost and claimed again: what it heard
    back (a 503, a refusal) belongs to the past attempt; the row stays the new
    attempt's, "sending", not queued for a third or failed under it."""
    from app.channels import TransportError
    from app.services import outbound

    ledger = ledgers.ledger("notices")
    notice_id = a_code("+447700900414")
    (first,) = outbound.claim(ledger, [notice_id])
    # Taken for a dead worker's and claimed again (attempt 2).
    db.session.execute(
        ResidentNotice.__table__.update()
        .where(ResidentNotice.id == notice_id)
        .values(status="queued")
    )
    db.session.commit()
    (second,) = outbound.claim(ledger, [notice_id])
    assert (first.attempts, second.attempts) == (1, 2)
    for error in (
        TransportError("Twilio 503: try again", permanent=False),
        TransportError("Twilio 21211: invalid number", permanent=True),
    ):
        outbound.record(ledger, [outbound.Outcome(first, error=error)])
        found = notice(notice_id)
        assert (found.status, found.attempts, found.reason) == ("sending", 2, None)
    # The new attempt's own outcome is recorded.
    outbound.record(
        ledger, [outbound.Outcome(second, error=TransportError("Twilio 503", permanent=False))]
    )
    assert notice(notice_id).status == "queued"


def test_what_is_read_from_twilios_refusals_is_as_its_examples_say():
    """The examples of reading an error's body and Retry-After (app/ is not searched
    for doctests)."""
    import doctest

    import app.channels.reasons
    import app.channels.twilio

    results = doctest.testmod(app.channels.twilio)
    assert results.attempted >= 9 and results.failed == 0
    # And which refusals are the address's own (the confirm page says them).
    results = doctest.testmod(app.channels.reasons)
    assert results.attempted >= 20 and results.failed == 0


def test_codes_go_before_the_alerts_jobs_first_asked_first_sent(
    providers, app_ctx, make_officer, make_resident, run_worker
):
    """Found by outside checks: a code asked for during an incident waited behind the
    incident's jobs, and came after its last text (13 to 63 s). Put at the front of the
    alerts queue, it still waited 5.6 to 11.1 s: the incident's batches put back at the
    front after it went first (the front is last in, first out), and codes waiting
    together went newest first. Codes and links wait on a queue of their own, which
    workers take first, in the order they were asked for."""
    from app import jobs
    from app.models import Delivery
    from app.services import dispatch, outbound
    from app.services.alerts import submit_alert

    area = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 800}]
    make_resident(postcode="BS1 6AD", sms="+447700900415")
    submit_alert(make_officer(), shapes=area, title="Fire", body="Keep windows shut.")
    assert jobs.waiting(jobs.URGENT), "the alert's jobs were to wait"
    codes = [a_code("+447700900413"), a_code("+447700900414")]
    for each in codes:
        notices.queue_notices([each])
    # The incident's texts put back at the front after the codes were asked for.
    rows = list(db.session.scalars(select(Delivery.id)))
    outbound.enqueue(dispatch.ALERTS, rows, at_front=True)
    assert jobs.waiting(jobs.NOTICES) == 2
    run_worker()
    assert [sent.to for sent in providers.gateway.accepted] == [
        "+447700900413",
        "+447700900414",
        "+447700900415",
    ]


def test_a_code_never_queued_is_put_back_while_an_incidents_jobs_wait(
    app, app_ctx, make_officer, make_resident, monkeypatch
):
    """Found by reading: a code Redis could not take when asked for (recorded, not
    queued) was put back by the sweeper only once the alerts queue was empty: during
    an incident, after the code had expired. Its own queue empty, it goes back."""
    from app import jobs
    from app.services.alerts import submit_alert

    area = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 800}]
    make_resident(postcode="BS1 6AD", sms="+447700900416")
    submit_alert(make_officer(), shapes=area, title="Fire", body="Keep windows shut.")
    assert jobs.waiting(jobs.URGENT), "the incident's jobs were to wait"
    notice_id = a_code("+447700900417")  # recorded; Redis did not take its job
    # An import's job waiting too, and one of its notices forgotten: that one waits
    # for the bulk queue (it waited for an import's jobs, the code too: from reading).
    jobs.enqueue("outbound.deliver_batch", "notices", [987654], on=jobs.BULK)
    an_import_notice("+447700900419")
    monkeypatch.setitem(app.config, "REQUEUE_SECONDS", 0)
    assert ledgers.sweep()["notices_requeued"] == 1
    assert [job.args for job in jobs.notices_queue().jobs] == [("notices", [notice_id])]
    assert jobs.waiting(jobs.BULK) == 1
    jobs.bulk_queue().empty()  # the import's job done: its forgotten notice goes back
    assert ledgers.sweep()["notices_requeued"] == 1
    assert jobs.waiting(jobs.BULK) == 1
    for each in jobs.QUEUES.values():
        each().empty()


def test_a_code_waits_out_a_providers_wait_in_its_job_and_goes_back_ahead(
    providers, app_ctx, app, monkeypatch
):
    """Found by an outside check: a code asked for during an incident, with the
    provider asking for 8 s waits, was handed back at each, came back behind the
    incident's jobs, met its texts' next wait each time (12 times) and came after two
    minutes. It waits out a wait of up to NOTICE_HOLD_IN_PLACE_SECONDS in its job
    (past the alerts' HOLD_IN_PLACE_SECONDS). (What goes back waits on the notices
    queue, which workers take first: test_codes_go_before_the_alerts_jobs...)"""
    from app.channels.holds import HELD, PROBE, SharedHolds
    from app.extensions import redis_store

    monkeypatch.setitem(app.config, "HOLD_IN_PLACE_SECONDS", 1)  # less than the wait
    notice_id = a_code("+447700900416")
    SharedHolds(redis_store.client).hold("twilio-sms", 1.5, "429 Too Many Requests", ours=False)
    started = time.monotonic()
    outcome = notices.send_notices([notice_id])
    assert outcome["sent"] == 1 and outcome["retry"] == 0, outcome
    assert time.monotonic() - started >= 1.2  # it waited the wait out
    assert providers.gateway.accepted_to("Messages") == ["+447700900416"]
    assert notice(notice_id).attempts_held == 0
    # Not an import's "you are registered", which would hold the general worker (a
    # re-check): it goes back to the queue, as an alert's text does.
    imported = an_import_notice("+447700900417")
    SharedHolds(redis_store.client).hold("twilio-sms", 1.5, "429 Too Many Requests", ours=False)
    outcome = notices.send_notices([imported])
    assert outcome["retry"] == 1, outcome  # handed back, not waited out by the send
    assert notice(imported).attempts_held == 1
    for prefix in (HELD, PROBE):
        for key in redis_store.client.scan_iter(prefix + "*"):
            redis_store.client.delete(key)


def test_a_job_waiting_for_a_retry_holds_no_transaction_open(providers, app, app_ctx, monkeypatch):
    """A job waiting in place for its retry (no other job waiting) sleeps with no
    transaction open: it would hold a connection idle in one for up to
    HOLD_IN_JOB_SECONDS (a review asked whether it did)."""
    import threading

    providers.gateway.unavailable_for = {"+447700900418": 1}  # a 503: retried in a moment
    monkeypatch.setitem(app.config, "RETRY_BASE_SECONDS", 1.5)
    notice_id = a_code("+447700900418")
    db.session.rollback()
    sending = threading.Thread(target=lambda: _send_in_app(app, notice_id))
    sending.start()
    idle = idle_in_transaction(sending.is_alive)
    assert notice(notice_id).attempts == 2, "it was to wait for its retry in the job"
    assert len(idle) >= 3 and max(idle) == 0, idle


def idle_in_transaction(going, for_seconds: float = 60.0) -> list[int]:
    """How many connections have sat idle in a transaction for more than 150 ms, sampled
    every 50 ms while `going()` and for at most `for_seconds`."""
    from sqlalchemy import text

    idle: list[int] = []
    until = time.monotonic() + for_seconds
    with db.engine.connect() as connection:
        while going() and time.monotonic() < until:
            idle.append(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND state LIKE 'idle in transaction%'"
                        " AND now() - state_change > interval '150 milliseconds'"
                        " AND pid <> pg_backend_pid()"
                    )
                ).scalar()
            )
            connection.rollback()
            time.sleep(0.05)
    return idle


def _send_in_app(app, notice_id: int) -> None:
    with app.app_context():
        notices.send_notices([notice_id])


def test_an_imports_notices_are_queued_in_a_job_of_each_channel(app_ctx):
    """Found by a review: an import's batch of texts and e-mails stopped at its first
    text while an incident's texts went, its e-mails waiting as long with it."""
    from app import jobs
    from tests.factories import an_import_notice, empty_job_queues

    texted = an_import_notice("+447700900491")
    mailed = [an_import_notice(f"import{n}@example.invalid") for n in range(2)]
    notices.queue_notices([texted, *mailed], bulk=True)
    batches = sorted(sorted(job.args[1]) for job in jobs.bulk_queue().jobs)
    assert batches == sorted([sorted(mailed), [texted]])
    empty_job_queues()


def test_after_a_providers_wait_a_code_that_waited_goes_before_an_incidents_texts(
    providers, app, app_ctx, monkeypatch, make_officer, make_resident
):
    """Found by an outside check: a code and an incident's texts waited out the same
    provider's wait, and when it ended the incident's texts took the first turns; one
    drew a new 429, and the code waited a whole wait more (23 s at Retry-After 8). The
    other sends waiting let the code go first."""
    import threading

    from app.channels.holds import CODE_WAITS, HELD, PROBE, SharedHolds
    from app.extensions import redis_store
    from app.models import Delivery
    from app.services import dispatch, outbound
    from app.services.alerts import submit_alert
    from tests.factories import empty_job_queues

    monkeypatch.setitem(app.config, "HOLD_IN_PLACE_SECONDS", 3)
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+4477009004{n + 60}", email=None, voice=None)
    area = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 500}]
    submit_alert(make_officer(), shapes=area, title="Fire", body="Keep windows shut.")
    empty_job_queues()
    rows = list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
    code = a_code("+447700900499")
    db.session.rollback()
    SharedHolds(redis_store.client).hold("twilio-sms", 1.5, "429 Too Many Requests", ours=False)

    def in_app(work):
        def run():
            with app.app_context():
                work()

        return threading.Thread(target=run)

    texts = in_app(lambda: outbound.deliver(dispatch.ALERTS, rows))
    texts.start()
    time.sleep(0.3)  # the incident's texts wait first
    coded = in_app(lambda: notices.send_notices([code]))
    coded.start()
    texts.join(30)
    coded.join(30)
    sent = providers.gateway.accepted_to("Messages")
    assert len(sent) == 7 and sent[0] == "+447700900499", sent
    assert not redis_store.client.exists(CODE_WAITS + "twilio-sms")
    for prefix in (HELD, PROBE):
        for key in redis_store.client.scan_iter(prefix + "*"):
            redis_store.client.delete(key)


def test_each_code_waiting_to_go_first_has_its_own_word(app_ctx):
    """Found by a review: one word said a code waited; the first code to go after a
    wait cleared it while another code still waited, and the incident's texts took
    the turns before that one. Each code's word is its own, and lapses on its own."""
    from app.channels.holds import CODE_WAITS, SharedHolds
    from app.extensions import redis_store

    holds = SharedHolds(redis_store.client)
    holds.code_waits("twilio-sms", 5, "first")
    holds.code_waits("twilio-sms", 5, "second")
    holds.code_waits("twilio-sms", 0.2, "third")
    holds.code_went("twilio-sms", "first")
    assert holds.code_waiting("twilio-sms")  # the second still waits
    assert not holds.code_waiting("twilio-voice")
    holds.code_went("twilio-sms", "second")
    assert holds.code_waiting("twilio-sms")  # the third's word, not yet lapsed
    time.sleep(0.3)
    assert not holds.code_waiting("twilio-sms")  # lapsed: its code handed back
    # The key itself lapses with its longest word.
    assert 0 < redis_store.client.pttl(CODE_WAITS + "twilio-sms") <= 5000
    holds.code_went("twilio-sms", "third")
    assert not redis_store.client.exists(CODE_WAITS + "twilio-sms")
