import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from tests.factories import PASSWORDS


def token(client, path="/sign-in"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, make_officer):
    officer = make_officer()
    response = client.post(
        "/sign-in",
        data={"email": officer.email, "password": "wrong", "csrf_token": token(client)},
    )
    assert response.status_code == 400
    assert "The e-mail address or password is not right." in response.text.replace("&#39;", "'")
    # Both fields say they are at fault and point at the message (an outside check).
    assert response.text.count('aria-invalid="true" aria-describedby="sign-in-error"') == 2
    unknown = client.post(
        "/sign-in",
        data={"email": "nobody@police.example", "password": "x", "csrf_token": token(client)},
    )
    assert "The e-mail address or password is not right." in unknown.text
    nul = client.post(
        "/sign-in",
        data={"email": "a\x00b@police.example", "password": "x", "csrf_token": token(client)},
    )
    assert nul.status_code == 400
    assert "The e-mail address or password is not right." in nul.text.replace("&#39;", "'")
    # In the page's language (it was English on the Welsh sign-in page).
    welsh = client.post(
        "/sign-in?lang=cy",
        data={"email": officer.email, "password": "wrong", "csrf_token": token(client)},
    )
    assert "Nid yw'r cyfeiriad e-bost na'r cyfrinair yn gywir." in welsh.text.replace("&#39;", "'")
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert actions == ["officer.sign_in_refused"] * 4


def test_disabled_account_cannot_sign_in(client, make_officer):
    officer = make_officer()
    officer.active = False
    db.session.commit()
    response = client.post(
        "/sign-in",
        data={
            "email": officer.email,
            "password": PASSWORDS["officer"],
            "csrf_token": token(client),
        },
    )
    assert response.status_code == 400


def test_pages_need_a_signed_in_officer(client, app_ctx):
    for path in ("/officers/", "/officers/outbox", "/analysts/density"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/sign-in" in response.headers["Location"]
        assert "next=" in response.headers["Location"]


def test_a_staff_download_signed_out_is_answered_401_not_sent_to_sign_in(client, app):
    """Found by an outside check: signed out, the staff's CSV, SVG and GeoJSON
    addresses redirected to the sign-in page (302), whose HTML a program fetching a
    CSV would save as one. Every staff data address answers 401 with why."""
    from app.auth import DATA_FILE

    data = [
        rule
        for rule in app.url_map.iter_rules()
        if DATA_FILE.fullmatch(rule.rule) and rule.endpoint.split(".")[0] in ("analysts", "admin")
    ]
    assert len(data) >= 8, [r.rule for r in data]
    for rule in data:
        path = rule.rule.replace("<int:import_id>", "1")
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert "Sign in again" in answer.get_data(as_text=True), path
        assert answer.mimetype in ("text/plain", "application/json"), path
    assert client.get("/analysts/density.geojson").json["error"].startswith("Your session")
    assert client.get("/analysts/timeline").status_code == 302  # a page still redirects


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("analyst", "/officers/", 403),
        ("analyst", "/officers/outbox", 403),
        ("analyst", "/analysts/density", 200),
        ("officer", "/analysts/density", 403),
        ("officer", "/officers/", 200),
        ("supervisor", "/analysts/density", 200),
        ("admin", "/officers/outbox", 200),
    ],
)
def test_least_privilege_by_role(client, sign_in, role, path, status):
    sign_in(role)
    assert client.get(path).status_code == status


def test_analyst_cannot_send_an_alert(client, sign_in):
    sign_in("analyst")
    response = client.post("/officers/alerts", json={"shapes": [], "title": "t", "body": "b"})
    assert response.status_code in (400, 403)  # CSRF or role: refused either way
    assert (
        db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "alert.sent"))
        is None
    )


def test_sign_in_is_audited_and_sign_out_is_a_post(client, sign_in):
    officer = sign_in("officer")
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.signed_in")
    ).one()
    assert event.actor_id == officer.id
    assert client.get("/sign-out").status_code == 405
    client.post("/sign-out", data={"csrf_token": token(client, "/officers/")})
    assert client.get("/officers/").status_code == 302


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client, make_officer):
    officer = make_officer()
    for target, expected in (
        ("/officers/outbox", "/officers/outbox"),
        ("//evil.example/x", "/officers/"),
    ):
        client.post("/sign-out", data={"csrf_token": token(client, "/register")})
        response = client.post(
            f"/sign-in?next={target}",
            data={
                "email": officer.email,
                "password": PASSWORDS["officer"],
                "csrf_token": token(client, "/register"),
            },
        )
        assert response.headers["Location"] == expected
