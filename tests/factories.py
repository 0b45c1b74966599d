"""Keyword-only factories with obvious defaults, and helpers for signing in and
running the worker."""

from __future__ import annotations

import re

import pytest
from rq import SimpleWorker
from sqlalchemy import func

from app.extensions import db, redis_store
from app.jobs import queue
from app.models import InterestGroup, Resident, ResidentChannel, ResidentLocation
from app.services.accounts import create_officer
from app.services.postcode_check import check_postcode

PASSWORDS = {
    role: f"{role}-test-password" for role in ("officer", "supervisor", "analyst", "admin")
}


@pytest.fixture
def make_officer(app_ctx):
    def make(*, role: str = "officer", email: str | None = None, name: str | None = None):
        return create_officer(
            email=email or f"{role}@police.example",
            name=name or f"Test {role.title()}",
            role=role,
            password=PASSWORDS[role],
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
    ) -> Resident:
        located = check_postcode(postcode).postcode
        resident = Resident(name=name, confirmed_at=func.now() if verified else None)
        resident.locations.append(
            ResidentLocation(postcode=located.postcode, location=located.location)
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


@pytest.fixture
def sign_in(client, make_officer):
    """Sign the test client in as a new officer of the given role."""

    def do(role: str = "officer"):
        officer = make_officer(role=role)
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/sign-in",
            data={"email": officer.email, "password": PASSWORDS[role], "csrf_token": token},
        )
        assert response.status_code == 302, response.text
        return officer

    return do


def csrf_token(client) -> str:
    page = client.get("/register")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def run_worker(app_ctx):
    """Run a real RQ worker (in this process) until the queue is empty."""

    def run() -> bool:
        """True when the worker did any work."""
        worker = SimpleWorker([queue()], connection=redis_store.client)
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
                " location, source) VALUES (:key, :display, :district, :terminated,"
                " CASE WHEN CAST(:e AS float8) IS NULL THEN NULL"
                " ELSE ST_SetSRID(ST_MakePoint(:e, :n), 27700) END, 'test')"
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
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/sign-in", data={"email": officer.email, "password": PASSWORDS[role], "csrf_token": token}
    )
    assert response.status_code == 302, response.text
    page = client.get("/officers/")
    client.environ_base["HTTP_X_CSRFTOKEN"] = re.search(
        r'name="csrf-token" content="([^"]+)"', page.text
    ).group(1)
    return client


def form_token(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


@pytest.fixture
def officer(make_officer):
    return make_officer(role="officer")


@pytest.fixture
def officer_client(app, officer):
    return signed_in(app, officer, "officer")


@pytest.fixture
def supervisor_client(app, make_officer):
    return signed_in(app, make_officer(role="supervisor"), "supervisor")
