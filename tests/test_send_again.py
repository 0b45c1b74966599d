"""Sending an alert again to those no provider ever took it for (every try refused for
now, past the retry window): the same alert's failed rows queued again, to residents who
still want it, each sent once; refused when it would come after a later message of the
alert, when it is old news, and for a test to oneself. Through the real engine, the
Twilio SDK and a Twilio-compatible gateway on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Alert, AuditEvent, Delivery
from app.services.alerts import (
    NotAllowed,
    cancel_alert,
    never_taken,
    send_again_refusal,
    send_again_to_never_taken,
    submit_alert,
)
from app.services.alerts.sending import send_test_to_self
from app.services.dispatch import deliver
from tests.factories import decide_as_seen, empty_job_queues, form_token, send_all_clear

BS1_6AD = [-2.588230, 51.451967]
AREA = [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]
DOWN = "+447700900511"  # refused at every try
WRONG = "+447700900512"  # refused for good: not a number
FINE = "+447700900513"
LEFT = "+447700900514"  # refused at every try, then stopped texts
QUIET = "+447700900515"  # refused at every try, in quiet hours now
_UK = ZoneInfo("Europe/London")


@pytest.fixture
def failed_in_an_outage(app, providers, officer, make_resident, monkeypatch):
    """A routine alert to five residents by text, sent while the gateway refused three
    of them at every try: those three failed, never taken."""
    monkeypatch.setitem(app.config, "DELIVERY_MAX_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "RETRY_BASE_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "RETRY_MAX_SECONDS", 0.05)
    for number in (DOWN, WRONG, FINE, LEFT, QUIET):
        make_resident(postcode="BS1 6AD", sms=number)
    providers.gateway.unavailable_for = {DOWN: 100, LEFT: 100, QUIET: 100}
    providers.gateway.errors_for = {WRONG: (400, 21211, "Invalid 'To' Phone Number")}
    alert = submit_alert(
        officer, shapes=AREA, title="Lock sheds", body="Thefts.", category="crime_prevention"
    ).alert
    _off_the_queue()
    deliver(_ids(alert.id))
    assert _statuses(alert.id)[FINE] in ("sent", "delivered")
    assert _statuses(alert.id) == {
        DOWN: "failed",
        WRONG: "failed",
        FINE: _statuses(alert.id)[FINE],
        LEFT: "failed",
        QUIET: "failed",
    }
    # Quiet hours set since (it was tried at once): now is inside them.
    now = datetime.now(UTC)
    db.session.execute(
        text(
            "UPDATE residents SET quiet_from = CAST(:start AS time),"
            " quiet_until = CAST(:end AS time) WHERE id = (SELECT resident_id"
            " FROM resident_channels WHERE address = :n)"
        ),
        {
            "start": (now - timedelta(hours=1)).astimezone(_UK).strftime("%H:%M"),
            "end": (now + timedelta(hours=2)).astimezone(_UK).strftime("%H:%M"),
            "n": QUIET,
        },
    )
    db.session.commit()
    providers.gateway.unavailable_for = {}  # the outage is over
    return alert


def _off_the_queue() -> None:
    """As a worker that starts the batch's job: nothing else waits (a cross-border ask's
    notices to supervisors wait on the notices queue)."""

    empty_job_queues()


def _ids(alert_id: int) -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(select(Delivery.id).where(Delivery.alert_id == alert_id)))


def _rows(alert_id: int) -> dict[str, Delivery]:
    db.session.rollback()
    return {
        d.address: d
        for d in db.session.scalars(select(Delivery).where(Delivery.alert_id == alert_id))
    }


def released_ago(alert_id: int, interval: str) -> None:
    db.session.execute(
        text("UPDATE alerts SET sent_at = now() - CAST(:ago AS interval) WHERE id = :id"),
        {"ago": interval, "id": alert_id},
    )
    db.session.commit()


def _statuses(alert_id: int) -> dict[str, str]:
    return {address: d.status for address, d in _rows(alert_id).items()}


def test_only_the_never_taken_go_again_once_each_to_who_still_wants_them(
    providers, officer, failed_in_an_outage
):
    alert = failed_in_an_outage
    db.session.execute(
        text("UPDATE resident_channels SET unsubscribed_at = now() WHERE address = :n"),
        {"n": LEFT},
    )
    db.session.commit()
    assert send_again_refusal(db.session.get(Alert, alert.id)) is None
    # Offered as it would be sent: not to the one who stopped texts since (the page
    # offered them, and each press sent nothing: an outside check).
    assert never_taken(db.session.get(Alert, alert.id))[0] == 2
    assert send_again_to_never_taken(officer, alert.id) == 2  # DOWN, and QUIET held
    rows = _rows(alert.id)
    assert rows[DOWN].status == "queued" and rows[DOWN].next_attempt_at is None
    # A routine alert waits for the resident's quiet hours, as its first try did.
    assert rows[QUIET].status == "queued"
    assert rows[QUIET].next_attempt_at > datetime.now(UTC) + timedelta(minutes=30)
    assert rows[LEFT].status == "failed"  # stopped texts since: not sent again
    assert rows[WRONG].status == "failed"  # refused for good: would be refused again
    assert db.session.get(Alert, alert.id).status == "sending"
    deliver(_ids(alert.id))
    assert _statuses(alert.id)[DOWN] in ("sent", "delivered")
    accepted = providers.gateway.accepted_to("Messages")
    assert sorted(accepted) == sorted([FINE, DOWN])  # each once; nobody twice
    # Asked again: nothing more to send, and nothing sent.
    assert send_again_to_never_taken(officer, alert.id) == 0
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "alert.sent_again")
    ).one()
    assert (event.actor_id, event.subject_id, event.details["messages"]) == (
        officer.id,
        str(alert.id),
        2,
    )


def test_failing_again_they_are_marked_again(providers, officer, failed_in_an_outage):
    alert = failed_in_an_outage
    providers.gateway.unavailable_for = {DOWN: 100}
    assert send_again_to_never_taken(officer, alert.id) == 3
    deliver(_ids(alert.id))
    row = _rows(alert.id)[DOWN]
    assert (row.status, row.refused_every_try) == ("failed", True)
    # Its attempts were spent: the retry window, from when it was due again, decides
    # alone (none under the test settings: one more try).
    assert row.attempts == 4 and row.reason.startswith("gave up after 4 attempts")


def test_not_after_a_later_message_not_when_old_not_a_test_not_cancelled(
    app, providers, officer, failed_in_an_outage
):
    alert = failed_in_an_outage
    released_ago(alert.id, "25 hours")
    with pytest.raises(NotAllowed, match="more than 24 hours ago"):
        send_again_to_never_taken(officer, alert.id)
    released_ago(alert.id, "1 hour")
    send_all_clear(officer, db.session.get(Alert, alert.id))
    # It would reach them after the all-clear.
    with pytest.raises(NotAllowed, match="A later message of this alert has gone"):
        send_again_to_never_taken(officer, alert.id)
    assert "queued" not in _statuses(alert.id).values()
    test = send_test_to_self(officer, title="Test", body="Only to me.").alert
    assert send_again_refusal(test) == "A test to yourself is not sent again."
    other = submit_alert(officer, shapes=AREA, title="Later", body="Again.").alert
    cancel_alert(officer, other.id)
    with pytest.raises(NotAllowed, match="This alert is cancelled: nothing to send again."):
        send_again_to_never_taken(officer, other.id)


def test_the_alert_page_offers_it_and_asks_first(
    providers, officer, officer_client, failed_in_an_outage
):
    alert = failed_in_an_outage
    path = f"/officers/alerts/{alert.id}"
    page = officer_client.get(path).text
    start = page.index('id="never-taken"')
    said = page[start : page.index("</div>", start)]
    assert "3 of the failed messages were never taken by a provider" in said
    assert "and can be sent again: their residents still want alerts." in said
    # One is one ("1 of the failed messages were": an outside check).
    from sqlalchemy import text

    changed = db.session.scalars(
        text(
            "UPDATE deliveries SET refused_every_try = false WHERE id IN (SELECT id FROM "
            "deliveries WHERE alert_id = :a AND refused_every_try ORDER BY id LIMIT 2) "
            "RETURNING id"
        ),
        {"a": alert.id},
    ).all()
    db.session.commit()
    one = officer_client.get(path).text
    assert "1 of the failed messages was never taken by a provider" in one
    assert "and can be sent again: its resident still wants alerts." in one
    db.session.execute(
        text("UPDATE deliveries SET refused_every_try = true WHERE id = ANY(:ids)"),
        {"ids": changed},
    )
    db.session.commit()
    # Why, so a refusal of our own account is put right first.
    assert 'Why most were refused: <span lang="en">Twilio 503: try again</span>' in said
    assert 'id="send-again-form"' in said
    token = form_token(officer_client, path)
    refused = officer_client.post(
        f"{path}/send-again", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Nothing was sent: tick" in refused.text
    assert "queued" not in _statuses(alert.id).values()
    done = officer_client.post(
        f"{path}/send-again",
        data={"csrf_token": token, "confirm": "yes"},
        follow_redirects=True,
    )
    assert "3 messages are being sent again." in done.text
    assert list(_statuses(alert.id).values()).count("queued") == 3
    # None left to offer.
    assert 'id="never-taken"' not in officer_client.get(path).text


def test_the_page_says_so_while_the_provider_still_refuses_our_account(
    app, providers, officer, officer_client, failed_in_an_outage
):
    """An outside check pressed "Send it again" while Twilio still refused our account,
    and every message was refused again. The page now says, while the provider's last
    word was such a refusal (every worker tells Redis: channels/holds.py), and stops
    saying so once a message has been taken through it."""
    from app.channels import transport_name
    from app.channels.holds import SharedHolds
    from app.extensions import redis_store

    alert = failed_in_an_outage
    path = f"/officers/alerts/{alert.id}"
    assert "still-refused" not in officer_client.get(path).text
    assert transport_name("sms") == "twilio-sms"
    reason = "Twilio 20003: our account's credentials were refused"
    SharedHolds(redis_store.client).hold("twilio-sms", 60, reason, ours=True)
    SharedHolds(redis_store.client).hold("twilio-voice", 60, reason, ours=True)
    page = officer_client.get(path).text
    said = page[page.index('id="never-taken"') :]
    said = said[: said.index("</div>")]
    assert (
        "Twilio last refused our account at "
        in said[said.index('id="still-refused-1"') : said.index("</p>", said.index("still-"))]
    )
    assert "sent again before your IT team puts it right, they would be refused again." in said
    assert 'id="send-again-form"' in said  # said, not refused: it may be right by now
    assert "still-refused-2" not in said  # once for Twilio's texts and calls alike
    # A refusal for now that is not ours (a 429) is not said.
    SharedHolds(redis_store.client).hold("smtp", 60, "SMTP 421 4.7.0: try again", ours=False)
    assert "still-refused-2" not in officer_client.get(path).text
    SharedHolds(redis_store.client).took("twilio-sms")
    SharedHolds(redis_store.client).took("twilio-voice")
    assert "still-refused" not in officer_client.get(path).text


def test_an_all_clear_stops_what_is_being_sent_again_and_says_so(
    providers, officer, failed_in_an_outage
):
    from app.dao.outbound import NOT_AGAIN

    alert = failed_in_an_outage
    assert send_again_to_never_taken(officer, alert.id) == 3
    send_all_clear(officer, db.session.get(Alert, alert.id))
    rows = _rows(alert.id)
    # It said "while the provider was refusing it for now" (an outside check).
    for number in (DOWN, LEFT, QUIET):
        assert (rows[number].status, rows[number].reason) == ("cancelled", NOT_AGAIN)
    deliver(_ids(alert.id))
    assert providers.gateway.accepted_to("Messages").count(DOWN) == 0


def test_refused_the_page_does_not_say_they_can_be_sent_again(
    providers, officer, officer_client, failed_in_an_outage
):
    alert = failed_in_an_outage
    released_ago(alert.id, "2 days")
    page = officer_client.get(f"/officers/alerts/{alert.id}").text
    said = page[page.index('id="never-taken"') :]
    said = said[: said.index("</div>")]
    assert "3 of the failed messages were never taken by a provider" in said
    assert "can be sent again" not in said and 'id="send-again-form"' not in said
    assert "It went out more than 24 hours ago: send an update instead." in said


def test_sent_again_by_the_stops_of_the_force_that_reached_them(
    app, providers, officer, make_officer, make_resident, second_force, monkeypatch
):
    """A cross-border alert's never-taken messages go again to whoever has not stopped
    the force that reached them. Held to every force's stops, a resident of Bath who
    had stopped Wiltshire was never sent it again (a review)."""
    from app.services.alerts import cross_border

    monkeypatch.setitem(app.config, "DELIVERY_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "RETRY_BASE_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "RETRY_MAX_SECONDS", 0.05)
    bath, border, trowbridge, left = (f"+4477009005{n}" for n in (31, 32, 33, 34))
    people = {
        bath: make_resident(postcode="BA1 1RG", sms=bath),
        border: make_resident(postcode="BA1 1RG", also=("BA14 6AA",), sms=border),
        trowbridge: make_resident(postcode="BA14 6AA", sms=trowbridge),
        left: make_resident(postcode="BA1 1RG", sms=left),
    }

    def stop(number: str, force_id: int) -> None:
        db.session.execute(
            text("INSERT INTO resident_force_stops (resident_id, force_id) VALUES (:r, :f)"),
            {"r": people[number].id, "f": force_id},
        )
        db.session.commit()

    avon = officer.force_id
    stop(bath, second_force.id)  # heard it through Avon and Somerset
    stop(border, avon)  # heard it through Wiltshire, with their farm near Trowbridge
    supervisor = make_officer(role="supervisor", email="sgt@avon.example")
    theirs = make_officer(role="supervisor", email="sgt@wilts.example", force_id=second_force.id)
    providers.gateway.unavailable_for = dict.fromkeys(people, 100)
    shapes = [{"kind": "circle", "center": [-2.28, 51.35], "radius_m": 15_000}]
    alert = submit_alert(officer, shapes=shapes, title="Fire", body="Keep windows shut.").alert
    cross_border.ask_force(supervisor, alert.id, second_force.id)
    decide_as_seen(theirs, alert.id)
    _off_the_queue()
    deliver(_ids(alert.id))
    assert set(_statuses(alert.id).values()) == {"failed"}
    providers.gateway.unavailable_for = {}
    # Since: one stopped the force that reached them, each their own.
    stop(left, avon)
    stop(trowbridge, second_force.id)

    assert never_taken(db.session.get(Alert, alert.id))[0] == 2
    assert send_again_to_never_taken(officer, alert.id) == 2
    deliver(_ids(alert.id))
    assert sorted(providers.gateway.accepted_to("Messages")) == sorted([bath, border])
