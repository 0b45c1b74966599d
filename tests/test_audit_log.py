"""The audit log's admin page (issue 13): only administrators read it; filtered by
person, event and UK days, newest first, a page at a time; downloaded as CSV that a
spreadsheet never runs; contact details masked; reading it is audited; nothing in the
app changes it."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditEvent
from app.services.audit_log import PAGE_SIZE, mask_contacts
from app.services.spreadsheet import FORMULA_STARTS, csv_text, safe_cell
from tests.factories import signed_in

ROLES = ("officer", "supervisor", "analyst", "admin")


@pytest.fixture
def admin(make_officer):
    return make_officer(role="admin")


@pytest.fixture
def admin_client(app, admin):
    return signed_in(app, admin, "admin")


def add_event(action="test.happened", *, at=None, actor=None, **fields) -> AuditEvent:
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor else None,
        at=at or datetime.now(UTC),
        details=fields.pop("details", {}),
        **fields,
    )
    db.session.add(event)
    db.session.commit()
    return event


def shown(page) -> str:
    return html.unescape(page.text)


def actions_on(page) -> list[str]:
    return re.findall(r'<code class="muted">([^<]+)</code>', page.text)


def read_csv(answer) -> list[list[str]]:
    return list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))


def events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


# --- who may read it ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit.csv"])
def test_only_administrators_read_the_audit_log(app, make_officer, path):
    # A page goes to the sign-in page; a download is answered 401.
    assert app.test_client().get(path).status_code == (401 if path.endswith(".csv") else 302)
    admin_ids = set()
    for role in ROLES:
        officer = make_officer(role=role, email=f"{role}@audit.example")
        answer = signed_in(app, officer, role).get(path)
        assert answer.status_code == (200 if role == "admin" else 403), role
        if role == "admin":
            admin_ids.add(officer.id)
    readings = events("audit.viewed") + events("audit.exported")
    assert len(readings) == 1 and {e.actor_id for e in readings} == admin_ids


def test_the_page_says_when_the_apps_own_login_could_wipe_the_log(admin_client):
    """Found by an outside check: the page said nobody could change or remove an event
    on an installation not hardened, where the app's own login could (switching the
    triggers off). tests/test_audit_hardening.py checks the hardened side."""
    page = admin_client.get("/admin/audit").text
    assert 'id="log-not-hardened"' in page and "scripts/harden_audit.sql" in page
    assert "Nobody can change or remove an event" not in page


def test_a_refused_page_or_action_is_audited_by_its_route_at_most_so_often(
    app, make_officer, second_force, monkeypatch
):
    """Found by an outside check: 516 refusals (403s and 404s) to staff trying pages
    beyond their role or another force's records left no event: an admin walking
    through another force's officers could not be told from noise. Each is audited as
    its route's pattern (not the ids tried), at most REFUSALS_AUDITED_AN_HOUR an hour."""
    from app.services import audit_log

    monkeypatch.setattr(audit_log, "REFUSALS_AUDITED_AN_HOUR", 3)
    officer = make_officer()
    staff = signed_in(app, officer, "officer")
    assert staff.get("/admin/audit").status_code == 403
    assert staff.get("/static/no-such-file.js").status_code == 404  # a missing file: no
    theirs = make_officer(role="admin", email="a@wilts.example", force_id=second_force.id)
    admin = make_officer(role="admin", email="admin@avon.example")
    walker = signed_in(app, admin, "admin")
    for _ in range(4):
        assert walker.get(f"/admin/officers/{theirs.id}").status_code == 404
    assert app.test_client().get("/admin/audit").status_code == 302  # nobody signed in
    refused = events("access.refused")
    assert [(e.actor_id, e.details) for e in refused] == [
        (officer.id, {"route": "/admin/audit", "status": 403}),
    ] + [(admin.id, {"route": "/admin/officers/<int:officer_id>", "status": 404})] * 3
    # Past the hour's limit, that is said once (silence read as nothing tried).
    (capped,) = events("access.refusals_capped")
    assert capped.actor_id == admin.id and capped.details["not_recorded"] == "more this hour"


def test_refusals_of_one_route_cannot_use_up_the_hours_record(
    app, make_officer, second_force, monkeypatch
):
    """Forty refusals of /admin/audit used up the hour, and the cross-force attempts
    after them went unrecorded (an outside check): a route's own limit, said once."""
    from app.services import audit_log

    monkeypatch.setattr(audit_log, "REFUSALS_AUDITED_A_ROUTE_AN_HOUR", 2)
    monkeypatch.setattr(audit_log, "REFUSALS_AUDITED_AN_HOUR", 5)
    officer = make_officer()
    staff = signed_in(app, officer, "officer")
    for _ in range(40):
        assert staff.get("/admin/audit").status_code == 403
    theirs = make_officer(role="admin", email="a@wilts.example", force_id=second_force.id)
    assert staff.get(f"/admin/officers/{theirs.id}").status_code in (403, 404)
    recorded = [(e.action, e.details["route"]) for e in events("access.refused")] + [
        (e.action, e.details["route"]) for e in events("access.refusals_capped")
    ]
    assert recorded == [
        ("access.refused", "/admin/audit"),
        ("access.refused", "/admin/audit"),
        ("access.refused", "/admin/officers/<int:officer_id>"),
        ("access.refusals_capped", "/admin/audit"),
    ]


def test_no_route_changes_the_audit_log(app, admin_client):
    rules = [r for r in app.url_map.iter_rules() if "audit" in r.rule or "audit" in r.endpoint]
    assert {r.endpoint for r in rules} == {"admin.audit", "admin.audit_csv"}
    for rule in rules:
        assert rule.methods - {"GET", "HEAD", "OPTIONS"} == set(), rule
    for method in ("post", "put", "patch", "delete"):
        assert getattr(admin_client, method)("/admin/audit").status_code == 405
    # And nothing in the app's code writes to the table but the one insert, and the
    # retention rule forgetting old IP addresses (the database allows nothing more).
    from pathlib import Path

    forgetting = '"UPDATE audit_events SET ip_address = NULL WHERE ip_address IS NOT NULL"'
    app_dir = Path(__file__).resolve().parents[1] / "app"
    for path in app_dir.rglob("*.py"):
        source = path.read_text().replace(forgetting, "", 1)
        assert not re.search(r"(?i)(update|delete\s+from|truncate)\s+audit_events", source), path
        assert not re.search(r"(?:update|delete)\(AuditEvent\)", source), path


def test_the_database_refuses_to_change_an_event(app_ctx):
    """The append-only triggers (migrations 0024, 0061): UPDATE, DELETE and TRUNCATE
    refused, TRUNCATE also by another table's cascade (an outside check emptied the log
    with the application's own login)."""
    event = add_event()
    for statement in (
        "UPDATE audit_events SET action = 'x' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
        "TRUNCATE audit_events",
        "TRUNCATE officers CASCADE",
    ):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement), {"id": event.id})
        db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "test.happened"


def test_an_events_ip_address_is_forgotten_after_its_days_and_nothing_else_changes(app, app_ctx):
    """Found by an outside check: residents' IP addresses (and staff's) were kept for
    ever, with the append-only log holding them. It may now forget an address, and
    nothing else: the retention rules do so after AUDIT_IP_DAYS."""
    from app.services.residents import purge_expired

    days = app.config["AUDIT_IP_DAYS"]
    old = add_event(
        "resident.paused", at=datetime.now(UTC) - timedelta(days=days + 1), ip_address="203.0.113.9"
    )
    new = add_event(
        "resident.paused",
        at=datetime.now(UTC) - timedelta(days=days - 1),
        ip_address="203.0.113.10",
    )
    recent = add_event("resident.paused", ip_address="203.0.113.11")
    # Only forgetting: another address, or any other change with it, is refused.
    for statement, event in (
        ("UPDATE audit_events SET ip_address = '198.51.100.1' WHERE id = :id", old),
        ("UPDATE audit_events SET ip_address = NULL, action = 'x' WHERE id = :id", old),
        # Nor a recent one's (under 30 days): a leaked credential cannot wipe those.
        ("UPDATE audit_events SET ip_address = NULL WHERE id = :id", recent),
    ):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement), {"id": event.id})
        db.session.rollback()
    assert purge_expired()["audit_ip_addresses_forgotten"] == 1
    db.session.expire_all()
    assert db.session.get(AuditEvent, old.id).ip_address is None
    assert db.session.get(AuditEvent, old.id).action == "resident.paused"
    assert db.session.get(AuditEvent, new.id).ip_address == "203.0.113.10"


# --- filters, order and pages -----------------------------------------------------------


def test_filters_by_person_event_and_uk_days(admin_client, admin, make_officer):
    other = make_officer(role="supervisor", name="Sam Supervisor")
    # 30 June 23:30 UTC is 1 July 00:30 in the UK (BST): a July event.
    add_event("officer.role_changed", at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC), actor=other)
    add_event("officer.role_changed", at=datetime(2026, 6, 30, 22, 30, tzinfo=UTC), actor=other)
    add_event("officer.disabled", at=datetime(2026, 7, 2, 12, 0, tzinfo=UTC), actor=admin)
    add_event("officer.disabled", at=datetime(2026, 7, 31, 22, 59, tzinfo=UTC), actor=other)
    add_event("officer.disabled", at=datetime(2026, 7, 31, 23, 0, tzinfo=UTC), actor=other)
    add_event("resident.registered", at=datetime(2026, 7, 3, tzinfo=UTC))

    july = {"from": "2026-07-01", "to": "2026-07-31"}
    page = admin_client.get("/admin/audit", query_string=july)
    assert page.status_code == 200
    assert actions_on(page) == [
        "officer.disabled",  # 31 July 23:59 UK
        "resident.registered",
        "officer.disabled",
        "officer.role_changed",  # 1 July 00:30 UK
    ]
    add_event(
        "officer.enabled",
        at=datetime(2026, 7, 4, tzinfo=UTC),
        actor=admin,
        subject_type="officer",
        subject_id=str(other.id),
    )
    enabled = shown(admin_client.get("/admin/audit", query_string={"event": "officer.enabled"}))
    assert f"Sam Supervisor (officer {other.id})" in enabled  # who it was about, by name
    by_sam = admin_client.get("/admin/audit", query_string=july | {"person": other.id})
    assert actions_on(by_sam) == ["officer.disabled", "officer.role_changed"]
    assert "Sam Supervisor" in shown(by_sam)
    disabled = admin_client.get("/admin/audit", query_string=july | {"event": "officer.disabled"})
    assert actions_on(disabled) == ["officer.disabled", "officer.disabled"]
    assert "Account disabled" in shown(disabled)
    nobody = admin_client.get("/admin/audit", query_string=july | {"person": "nobody"})
    assert actions_on(nobody) == ["resident.registered"]
    # The form offers the people and events the log holds.
    everything = shown(admin_client.get("/admin/audit"))
    assert f'<option value="{other.id}">Sam Supervisor</option>' in everything
    assert '<option value="officer.role_changed">Role changed</option>' in everything


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-07-31", "to": "2026-07-01"}, "The “from” date is after the “to” date"),
        ({"from": "31/07/2026"}, "Enter the first date as a real date"),
        ({"to": "2026-02-30"}, "Enter the last date as a real date"),
        ({"from": "1900-01-01"}, "Give a date between 1 January 2000 and 31 December 2999."),
        ({"person": "99999"}, "Choose a person from the list."),
        ({"event": "=cmd"}, "Choose an event from the list."),
    ],
)
def test_a_filter_that_cannot_be_used_says_why(admin_client, query, message):
    for path in ("/admin/audit", "/admin/audit.csv"):
        answer = admin_client.get(path, query_string=query)
        assert answer.status_code == 400
        assert message in shown(answer)
    assert events("audit.viewed") == [] and events("audit.exported") == []


def test_a_filter_that_cannot_be_used_says_why_in_welsh_too(admin_client):
    answer = admin_client.get("/admin/audit", query_string={"from": "31/07/2026", "lang": "cy"})
    assert answer.status_code == 400
    assert "Rhowch y dyddiad cyntaf fel dyddiad go iawn" in shown(answer)
    swapped = {"from": "2026-07-31", "to": "2026-07-01"}
    assert "Cyfnewidiwch nhw" in shown(admin_client.get("/admin/audit", query_string=swapped))
    admin_client.get("/admin/audit?lang=en")


def test_pages_are_newest_first_and_do_not_shift_as_events_are_added(admin_client):
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for n in range(PAGE_SIZE * 2 + 20):
        add_event(f"test.n{n:03d}", at=start + timedelta(minutes=n))
    first = admin_client.get("/admin/audit", query_string={"to": "2026-01-31"})
    on_first = actions_on(first)
    assert len(on_first) == PAGE_SIZE and on_first[0] == "test.n119" and on_first[-1] == "test.n070"
    assert "page 1 of 3" in shown(first)
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1)
    # Events added meanwhile (this reading among them) do not push rows onto page 2.
    add_event("test.late", at=start + timedelta(days=3))
    second = admin_client.get(html.unescape(older))
    assert actions_on(second)[0] == "test.n069" and len(actions_on(second)) == PAGE_SIZE
    third = admin_client.get(
        html.unescape(re.search(r'<a rel="next" href="([^"]+)"', second.text).group(1))
    )
    assert actions_on(third)[-1] == "test.n000" and len(actions_on(third)) == 20
    assert 'rel="next"' not in third.text and 'rel="prev"' in third.text
    # A page beyond the last shows the last; nonsense shows the first.
    beyond = admin_client.get("/admin/audit?to=2026-01-31&page=999")
    assert actions_on(beyond)[-1] == "test.n000"
    # "²" and "٣" are digits to str.isdigit(); int() refuses the one and reads the other.
    for nonsense in ("-1", "x", "1e309", "99999999999999999999", "²", "٣", "1_0"):
        answer = admin_client.get(f"/admin/audit?to=2026-01-31&page={nonsense}")
        assert actions_on(answer)[0] == "test.late"
        answer = admin_client.get(f"/admin/audit?to=2026-01-31&upto={nonsense}")
        assert actions_on(answer)[0] == "test.late"


# --- reading is audited; contact details never show ------------------------------------


def test_reading_and_downloading_the_log_are_audited(admin_client, admin):
    admin_client.get("/admin/audit", query_string={"event": "officer.signed_in", "page": "1"})
    (viewed,) = events("audit.viewed")
    assert viewed.actor_id == admin.id
    assert viewed.details["event"] == "officer.signed_in" and viewed.details["page"] == 1
    admin_client.get("/admin/audit.csv", query_string={"from": "2026-01-01"})
    (exported,) = events("audit.exported")
    assert exported.actor_id == admin.id and exported.details["from"] == "2026-01-01"
    # The next reading shows the last one.
    assert "audit.viewed" in actions_on(admin_client.get("/admin/audit"))


def test_contact_details_in_events_are_masked_on_the_page_and_in_the_csv(admin_client):
    add_event(
        "resident.test_contact",
        subject_type="resident",
        subject_id="R-1234",
        ip_address="203.0.113.9",
        details={
            "address": "+447700900001",
            "note": "sent to ann@example.invalid and 07700 900002",
            "channels": ["sms", "email"],
            "sent": "2026-07-01",
        },
    )
    page = shown(admin_client.get("/admin/audit", query_string={"event": "resident.test_contact"}))
    body = admin_client.get(
        "/admin/audit.csv", query_string={"event": "resident.test_contact"}
    ).text
    for shown_text in (page, body):
        assert "+447700900001" not in shown_text and "+447••••••001" in shown_text
        assert "ann@example.invalid" not in shown_text and "a•••@e•••.invalid" in shown_text
        assert "900002" not in shown_text and "0770••••002" in shown_text
        assert "2026-07-01" in shown_text and "sms, email" in shown_text  # dates stay
        assert "203.0.113.9" not in shown_text  # a resident's network address is left out
        assert "resident R-1234" in shown_text


def test_the_staff_who_act_on_a_resident_have_their_network_address_shown(admin_client, admin):
    """Left out with residents' own, the admin's who looked a resident up, stopped or
    deleted them was hidden, where it matters most (an outside check)."""
    add_event(
        "resident.looked_up",
        actor=admin,
        subject_type="resident",
        subject_id="R-5678",
        ip_address="198.51.100.7",
    )
    add_event(
        "resident.paused", subject_type="resident", subject_id="R-5678", ip_address="203.0.113.8"
    )
    for shown_text in (
        shown(admin_client.get("/admin/audit")),
        admin_client.get("/admin/audit.csv").text,
    ):
        assert "198.51.100.7" in shown_text and "203.0.113.8" not in shown_text


def test_masking_reaches_every_string_however_deep():
    masked = mask_contacts(
        {"recipient": "07700 900123", "to": [{"email": "x@y.test"}], "id": 12345678901}
    )
    assert masked == {
        "recipient": "0770••••123",
        "to": [{"email": "x•••@y•••.test"}],
        "id": 12345678901,
    }


# --- CSV that a spreadsheet never runs --------------------------------------------------


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_formula_start_is_made_text(start):
    assert safe_cell(f"{start}1+1") == f"'{start}1+1"
    assert safe_cell(f"a{start}") == f"a{start}"
    rows = list(csv.reader(io.StringIO(csv_text(["h"], [[f"{start}SUM(A1)"]]).lstrip("\ufeff"))))
    assert rows[1] == [f"'{start}SUM(A1)"]


def test_the_csv_export_is_safe_against_formula_injection(admin_client, make_officer):
    evil = make_officer(role="officer", name='=HYPERLINK("http://evil.example","x")')
    add_event("officer.role_changed", actor=evil, subject_type=None, subject_id="@SUM(1+1)")
    add_event("-2+3", actor=evil, subject_id="+cmd|' /C calc'!A0")
    answer = admin_client.get("/admin/audit.csv", query_string={"person": evil.id})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    header, *rows = read_csv(answer)
    assert header == [
        "When (UK time)",
        "Who",
        "Event",
        "Event code",
        "About",
        "Details",
        "IP address",
    ]
    assert len(rows) == 2
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), row
    newest, oldest = rows
    assert newest[1] == "'" + evil.name and newest[3] == "'-2+3"
    assert newest[4] == "'+cmd|' /C calc'!A0" and oldest[4] == "'@SUM(1+1)"


def test_the_audit_log_names_its_events_in_welsh_on_a_welsh_page(admin_client):
    """Found by an outside probe: "Signed in", "Nobody signed in" stayed English."""
    page = admin_client.get("/admin/audit?lang=cy").text
    assert "Wedi mewngofnodi" in page  # the admin's own sign-in
    assert "Neb wedi mewngofnodi (preswylwyr, y system)" in page
    assert ">Signed in<" not in page
    # What each record says of itself is English, marked so (an outside check).
    assert 'class="details" lang="en-GB">' in page
    english = admin_client.get("/admin/audit?lang=en").text
    assert "Signed in" in english


# An event's name: what it is about, a dot, what happened ("alert.sent").
EVENT_NAME = re.compile(
    r"(alert|audit|briefing_map|force|officers?|outbox|recording|repl(y|ies)|report"
    r"|residents?|retention|team|template)\.[a-z][a-z_]*"
)


def audit_event_names() -> set[str]:
    """Every event name the services and their queries write, read from the source: a
    string shaped as one, less the routes and rights of the same shape."""
    import ast
    from pathlib import Path

    from flask import current_app

    from app.services.authorisation import MATRIX

    app_dir = Path(__file__).resolve().parents[1] / "app"
    sources = [*(app_dir / "services").rglob("*.py"), *(app_dir / "dao").rglob("*.py")]
    shaped = {
        node.value
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and EVENT_NAME.fullmatch(node.value)
    }
    endpoints = {rule.endpoint for rule in current_app.url_map.iter_rules()}
    return shaped - endpoints - set(MATRIX)


def test_every_event_has_words_of_its_own_in_english_and_welsh(app_ctx):
    """Found by an outside check: most events were shown by their code on the Welsh
    audit page ("Alert: sent"), and "yes"/"no" in their details were English."""
    from flask_babel import force_locale

    from app.services.audit_log import ACTION_LABELS, _flat

    names = audit_event_names()
    assert {"alert.sent", "resident.paused", "team.created"} <= names  # the search works
    assert names - set(ACTION_LABELS) == set()
    with force_locale("en"):
        english = {name: str(ACTION_LABELS[name]) for name in names}
    with force_locale("cy"):
        assert {name for name in names if str(ACTION_LABELS[name]) == english[name]} == set()
        assert _flat({"password": False}) == "password: na"


@pytest.mark.parametrize(
    "written",
    ["07700.900.123", "0117-496-0000", "(0117) 496 0000", "+44 7700 900 123", "07700/900123"],
)
def test_a_number_written_any_way_is_masked_and_grouped_out(written):
    # "07700.900.123" was shown whole on an alert's page (an outside check): a number
    # with its digits apart by dots, dashes, slashes or brackets is one too.
    from app.services.reports import reason_group

    said = f"Provider said: call {written} failed"
    masked = mask_contacts(said)
    assert re.sub(r"\D", "", written)[-6:-3] not in masked, masked
    assert reason_group(said) == "Provider said: call [number] failed"


def test_codes_dates_and_short_ids_are_not_taken_for_numbers():
    from app.services.reports import reason_group

    said = "SMTP 451 4.3.0 try later, on 2026-12-05, id 0123"
    assert mask_contacts(said) == said
    assert reason_group(said) == said
