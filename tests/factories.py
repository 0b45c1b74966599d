"""Keyword-only factories with obvious defaults, and helpers for signing in and
running the worker."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pyotp
import pytest
from flask import has_app_context
from rq import SimpleWorker
from sqlalchemy import func, text, update

from app.extensions import db, redis_store
from app.jobs import worker_queues
from app.models import Alert, InterestGroup, Officer, Resident, ResidentChannel, ResidentLocation
from app.services.accounts import create_officer
from app.services.postcode_check import check_postcode


def kept_database(variable: str) -> str:
    """The URL in `variable`: a database `make test` keeps for one kind of test (a
    restore, a migration over old rows), which it empties as it likes."""
    return own_server_setting(variable)


def own_server_setting(variable: str) -> str:
    """What `variable` holds: a database kept for a test, or the command that runs psql
    as the server's superuser. Skips the test when unset: `make test` sets these on the
    PostgreSQL it runs itself (scripts/services.sh makes the databases), and leaves them
    unset when you give DATABASE_URL, because it makes no databases or roles on a
    server of yours."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(
            f"runs when {variable} is set: make test sets it on the PostgreSQL it runs"
            " itself, and leaves it unset when DATABASE_URL is yours"
        )
    return value


def default_force_id() -> int:
    """The installation's default force (migration 0034 makes it)."""
    return db.session.scalar(text("SELECT default_force_id()"))


@pytest.fixture
def second_force(app_ctx):
    """The demo's second force, Wiltshire (its boundary is shipped reference data)."""
    from app.cli.demo import SECOND_FORCE
    from app.services.forces import add_force

    force, _moved = add_force(**SECOND_FORCE)
    return force


PASSWORDS = {
    role: f"{role}-test-password" for role in ("officer", "supervisor", "analyst", "admin")
}


@pytest.fixture
def make_officer(app_ctx):
    def make(
        *,
        role: str = "officer",
        email: str | None = None,
        name: str | None = None,
        force_id: int | None = None,
    ):
        return create_officer(
            email=email or f"{role}@police.example",
            name=name or f"Test {role.title()}",
            role=role,
            password=PASSWORDS[role],
            force_id=force_id,
        )

    return make


@pytest.fixture
def make_resident(app_ctx):
    def make(
        *,
        postcode: str = "BS1 6AD",
        sms: str | None = "+447700900001",
        voice: str | None = None,
        email: str | None = None,
        groups: tuple[str, ...] = (),
        name: str = "Test Resident",
        verified: bool = True,
        also: tuple[str, ...] = (),
    ) -> Resident:
        """`also`: more places of theirs (postcodes), besides `postcode`."""
        resident = Resident(name=name, confirmed_at=func.now() if verified else None)
        for n, each in enumerate((postcode, *also)):
            located = check_postcode(each).postcode
            resident.locations.append(
                ResidentLocation(
                    label="Home" if n == 0 else f"Place {n + 1}",
                    postcode=located.postcode,
                    location=located.location,
                )
            )
        for channel, address in (("sms", sms), ("voice", voice), ("email", email)):
            if address:
                resident.channels.append(
                    ResidentChannel(
                        channel=channel,
                        address=address,
                        verified_at=func.now() if verified else None,
                    )
                )
        for slug in groups:
            group = db.session.query(InterestGroup).filter_by(slug=slug).one_or_none()
            resident.groups.append(group or InterestGroup(slug=slug, name=slug.title()))
        db.session.add(resident)
        db.session.commit()
        return resident

    return make


def second_factor_secret(app, officer_id: int) -> str:
    """The account's TOTP secret, set up first if it has none (as the demo's are)."""
    from app.services.second_factor import enrol, has_second_factor

    with app.app_context():
        officer = db.session.get(Officer, officer_id)
        secret = officer.totp_secret if has_second_factor(officer) else enrol(officer, by="tests")
        db.session.remove()
    if has_app_context():  # the test's own session must not keep the account as it was
        db.session.expire_all()
    return secret


def a_wrong_code(*right: str) -> str:
    """A 6-digit code that is none of these: a fixed guess such as "000000" is the
    right code one time in a million (a clean-clone run failed so)."""
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in right)


def a_wrong_totp(secret: str) -> str:
    """A code no step within two of now takes, so it stays wrong while the test runs."""
    totp = pyotp.TOTP(secret)
    now = totp.timecode(datetime.now(UTC))
    return a_wrong_code(*(totp.generate_otp(step) for step in range(now - 2, now + 3)))


def totp_code(app, officer_id: int) -> str:
    """A code the account's app would show now, and one the account has not used yet:
    signing the same account in twice within 30 seconds would otherwise replay a code
    (refused), so the last step used is forgotten, as if the clock had moved on."""
    with app.app_context():
        officer = db.session.get(Officer, officer_id)
        totp = pyotp.TOTP(officer.totp_secret)
        now = totp.timecode(datetime.now(UTC))
        if officer.totp_last_step is not None and officer.totp_last_step >= now:
            db.session.execute(
                update(Officer).where(Officer.id == officer_id).values(totp_last_step=None)
            )
            db.session.commit()
        db.session.remove()
        return totp.now()


def pass_second_factor(app, client, officer_id: int, response):
    """After the password step: give the code the sign-in asks for."""
    assert response.status_code == 302, response.text
    if not response.headers["Location"].startswith("/sign-in/code"):
        return response
    page = client.get("/sign-in/code")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/sign-in/code", data={"code": totp_code(app, officer_id), "csrf_token": token}
    )
    assert answer.status_code == 302, answer.text
    return answer


def had_second_factor(app, officer_id: int) -> bool:
    from app.services.second_factor import has_second_factor

    with app.app_context():
        had = has_second_factor(db.session.get(Officer, officer_id))
        db.session.remove()
    return had


def forget_second_factor(app, officer_id: int) -> None:
    """Leave an account as the helper found it: without a second factor, so that a
    test that goes on to sign it in by password alone (tests don't require one, see
    TestingConfig) still can."""
    from app.services.second_factor import start_again

    with app.app_context():
        start_again(db.session.get(Officer, officer_id))
        db.session.remove()
    if has_app_context():
        db.session.expire_all()


def password_and_code(app, client, officer, password: str, *, next_=None, **kwargs):
    """Both steps of signing in: the password, then a code from the account's app
    (set up for the sign-in if it has none, and forgotten again after). Returns the
    final response."""
    officer_id = officer.id
    had = had_second_factor(app, officer_id)
    second_factor_secret(app, officer_id)
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/sign-in" + (f"?next={next_}" if next_ is not None else ""),
        data={"email": officer.email, "password": password, "csrf_token": token},
        **kwargs,
    )
    answer = pass_second_factor(app, client, officer_id, response)
    if not had:
        forget_second_factor(app, officer_id)
    return answer


@pytest.fixture
def sign_in(app, client, make_officer):
    """Sign the test client in as a new officer of the given role: password, then a
    code from the officer's authenticator app (pyotp)."""

    def do(role: str = "officer"):
        officer = make_officer(role=role)
        response = password_and_code(app, client, officer, PASSWORDS[role])
        assert response.status_code == 302, response.text
        return officer

    return do


def csrf_token(client) -> str:
    page = client.get("/register")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def postcode_place(client, postcode: str):
    """The sign-up form's "what is this postcode?", posted as register.js posts it."""
    return client.post(
        "/register/postcode", data={"postcode": postcode, "csrf_token": csrf_token(client)}
    )


@pytest.fixture
def run_worker(app_ctx):
    """Run a real RQ worker (in this process) until the queue is empty."""

    def run() -> bool:
        """True when the worker did any work."""
        worker = SimpleWorker(worker_queues(), connection=redis_store.client)
        return worker.work(burst=True)

    return run


@pytest.fixture
def make_postcode(app_ctx):
    """Add a made-up postcode (removed after the test): terminated, or with no location."""
    from sqlalchemy import text

    added: list[str] = []

    def make(
        *,
        postcode: str,
        terminated_on: str | None = None,
        easting: float | None = 358900,
        northing: float | None = 172800,
        district: str = "E06000023",
    ) -> str:
        key = postcode.replace(" ", "")
        db.session.execute(
            text(
                "INSERT INTO postcodes (postcode, display, admin_district_code, terminated_on,"
                " location, location_wgs84, source) SELECT :key, :display, :district,"
                " :terminated, point, ST_Transform(point, 4326), 'test' FROM (SELECT"
                " CASE WHEN CAST(:e AS float8) IS NULL THEN NULL"
                " ELSE ST_SetSRID(ST_MakePoint(:e, :n), 27700) END AS point) AS given"
            ),
            {
                "key": key,
                "display": postcode,
                "district": district,
                "terminated": terminated_on,
                "e": easting,
                "n": northing,
            },
        )
        db.session.commit()
        added.append(key)
        return postcode

    yield make
    db.session.rollback()
    for key in added:
        db.session.execute(text("DELETE FROM postcodes WHERE postcode = :k"), {"k": key})
    db.session.commit()


def signed_in(app, officer, role: str):
    """A test client of its own, signed in as this officer, sending the CSRF token."""
    client = app.test_client()
    response = password_and_code(app, client, officer, PASSWORDS[role])
    assert response.status_code == 302, response.text
    page = client.get("/officers/")
    client.environ_base["HTTP_X_CSRFTOKEN"] = re.search(
        r'name="csrf-token" content="([^"]+)"', page.text
    ).group(1)
    return client


def form_token(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def approval_form(client, path: str) -> dict:
    """What an approval's page sends with it: its token and the count it showed."""
    page = client.get(path).text
    return {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "expected_residents": re.search(r'name="expected_residents" value="(\d+)"', page).group(1),
    }


def approve_as_seen(supervisor, alert_id: int):
    """approve_alert with the count its page would show the supervisor now."""
    from app.services.alerts.approval import approve_alert
    from app.services.alerts.review import review_alert

    with db.session.no_autoflush:
        seen = review_alert(db.session.get(Alert, alert_id))["residents_seen"]
    return approve_alert(supervisor, alert_id, expected=seen)


def decide_as_seen(officer, alert_id: int):
    """cross_border.decide_for_force's approval with the count its page would show
    the officer now (0 when they may not see it)."""
    from app.services.alerts import cross_border

    asked = cross_border.find_asked_alert(officer, alert_id)
    seen = asked.residents_seen if asked and asked.residents_seen is not None else 0
    return cross_border.decide_for_force(officer, alert_id, approve=True, expected=seen)


@pytest.fixture
def officer(make_officer):
    return make_officer(role="officer")


@pytest.fixture
def officer_client(app, officer):
    return signed_in(app, officer, "officer")


@pytest.fixture
def supervisor_client(app, make_officer):
    return signed_in(app, make_officer(role="supervisor"), "supervisor")


@pytest.fixture
def residents_in_three_wards(make_resident):
    """7, 12 and 2 confirmed residents in the first three wards (by code) that have a
    live postcode with a location; the ward codes, in that order."""
    wards = db.session.execute(
        text(
            "SELECT p.admin_ward_code, min(p.display) FROM postcodes p"
            " JOIN places w ON w.kind = 'ward' AND w.code = p.admin_ward_code"
            " WHERE p.location IS NOT NULL AND p.terminated_on IS NULL"
            " GROUP BY 1 ORDER BY 1 LIMIT 3"
        )
    ).all()
    for (_, postcode), n in zip(wards, (7, 12, 2), strict=True):
        for i in range(n):
            make_resident(postcode=postcode, sms=f"+4477006{n:02d}{i:03d}")
    return [ward for ward, _ in wards]


def error_tied_to(page: str, field: str) -> str:
    """The error a form's page gives the box with id `field`, checked to be tied to it
    as a screen reader needs: the summary at the top links to the box, and the box is
    marked invalid and described by the same words beside it."""
    import lxml.html

    doc = lxml.html.fromstring(page)
    (box,) = doc.xpath(f'//*[@id="{field}"]')
    assert box.get("aria-invalid") == "true", f"#{field} is not marked invalid"
    described = [doc.get_element_by_id(i) for i in box.get("aria-describedby", "").split()]
    errors = [
        d.text_content().removeprefix("Error:").strip()
        for d in described
        if "field-error" in (d.get("class") or "")
    ]
    assert len(errors) == 1, f"#{field} is not described by its error"
    links = doc.xpath(f'//*[@id="error-summary"]//a[@href="#{field}"]')
    assert [link.text_content().strip() for link in links] == errors, "no summary link to it"
    return errors[0]


def untied_errors(page: str) -> list[str]:
    """The ids of a page's field errors that no control is described by: a screen
    reader on the box, the ticks or the choices at fault hears nothing of them (the
    channels' ticks and the quiet hours' From, on the sign-up page: an outside check)."""
    import lxml.html

    doc = lxml.html.fromstring(page)
    described = {
        each
        for element in doc.xpath("//*[@aria-describedby]")
        for each in element.get("aria-describedby").split()
    }
    errors = doc.xpath('//*[contains(concat(" ", @class, " "), " field-error ")][@id]')
    return [error.get("id") for error in errors if error.get("id") not in described]


def send_all_clear(officer: Officer, alert, *, body: str = "Over."):
    """The all-clear of an alert (to the residents it reached), as its officer sends it."""
    from app.services.alerts import submit_alert

    return submit_alert(
        officer,
        parent_id=alert.id,
        audience="parent",
        category="all_clear",
        title="All clear",
        body=body,
    ).alert


def empty_job_queues() -> None:
    """Empty the notices, urgent and alerts queues: as a worker that starts a job finds
    nothing else waiting (a job hands its rest back while other jobs wait)."""
    from app import jobs

    for name in (jobs.NOTICES, jobs.URGENT, jobs.ALERTS):
        jobs.QUEUES[name]().empty()


def an_import_notice(address: str) -> int:
    """An import's "you are registered" text to this number (or e-mail to this
    address), recorded and committed."""
    from app.services import notices

    notice = notices.create_notice(
        resident_id=None,
        kind="import_notice",
        channel="email" if "@" in address else "sms",
        address=address,
        subject="Registered" if "@" in address else None,
        body="You are registered",
    )
    db.session.commit()
    return notice.id


def refused_after_the_lock(app, lock: str, use_case, refusal, then_sql: str, params=None) -> list:
    """What `use_case` (run in a thread, in an app context of its own) is refused with
    (`refusal`'s words), while another transaction holds the advisory lock `lock`
    (lock_until_commit's), runs `then_sql` and commits: the use case waits for the lock,
    not looking yet, and then sees what was written."""
    import threading

    from app.dao.locks import lock_until_commit

    holder = db.engine.connect()
    holder.begin()
    lock_until_commit(holder, lock)
    said: list[str] = []

    def run():
        with app.app_context():
            try:
                use_case()
            except refusal as refused:
                said.append(str(refused))
            finally:
                db.session.rollback()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(0.5)
    try:
        assert thread.is_alive(), "it did not wait for the lock"
        holder.execute(text(then_sql), params or {})
        holder.commit()
    finally:
        holder.close()
        thread.join(10)
    return said
