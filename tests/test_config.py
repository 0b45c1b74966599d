import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import check_settings, create_app
from app.config import ConfigError, ProductionConfig

KEY = "k3Y-for-tests_only-0123456789abcdefXYZ"  # long, and of many characters


def production(**settings):
    return type("Prod", (ProductionConfig,), {"DELIVERY_TRANSPORT": "outbox"} | settings)


def test_production_refuses_to_start_without_a_secret_key():
    config = production(
        SECRET_KEY=None, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://x", REDIS_URL="redis://r"
    )
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config)


def test_production_refuses_to_start_without_service_urls():
    config = production(SECRET_KEY=KEY, SQLALCHEMY_DATABASE_URI=None, REDIS_URL=None)
    with pytest.raises(ConfigError, match="DATABASE_URL, REDIS_URL"):
        create_app(config)


def test_production_refuses_a_short_secret_and_the_development_credentials():
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(
            production(SECRET_KEY="short", SQLALCHEMY_DATABASE_URI="p", REDIS_URL="redis://r")
        )
    dev_db = "postgresql+psycopg://community_alerts:community_alerts@127.0.0.1/x"
    with pytest.raises(ConfigError, match="development"):
        create_app(
            production(SECRET_KEY=KEY, SQLALCHEMY_DATABASE_URI=dev_db, REDIS_URL="redis://r")
        )


def test_production_sends_the_relays_password_only_over_tls():
    # It went in clear to the relay (an outside check of the install).
    providers = {
        "SECRET_KEY": KEY,
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db",
        "REDIS_URL": "redis://r",
        "DELIVERY_TRANSPORT": "providers",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_FROM_NUMBER": "+441170000001",
        "SMTP_HOST": "relay.internal",
        "MAIL_FROM": "alerts@example.police.uk",
        "PUBLIC_BASE_URL": "https://alerts.example.police.uk",
        "SMTP_USERNAME": "alerts",
        "SMTP_PASSWORD": "secret",
    }
    with pytest.raises(ConfigError, match="only over TLS: set SMTP_STARTTLS=1"):
        create_app(production(**providers))
    check_settings(production(**providers, SMTP_STARTTLS=True))  # over TLS: started


def test_production_says_every_setting_that_stops_it_at_once():
    # One a try: an IT team put the providers right before learning the key was short
    # (an outside check), and 38 "a"s were taken for a random key.
    dev = "postgresql+psycopg://community_alerts:community_alerts@127.0.0.1/x"
    config = production(
        SECRET_KEY="a" * 38,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://db",
        REDIS_URL="redis://r",
        DATABASE_REPLICA_URL=dev,
        DELIVERY_TRANSPORT="providers",
        TWILIO_ACCOUNT_SID=None,
    )
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    said = str(refused.value)
    assert "production needs TWILIO_ACCOUNT_SID" in said
    assert "SECRET_KEY of at least 32 random characters" in said
    assert "development credentials in DATABASE_REPLICA_URL" in said


def test_production_must_choose_where_messages_go():
    config = production(
        SECRET_KEY=KEY,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://db",
        REDIS_URL="redis://r",
        DELIVERY_TRANSPORT=None,
    )
    with pytest.raises(ConfigError, match="DELIVERY_TRANSPORT"):
        create_app(config)


def test_an_unknown_environment_name_is_refused(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(ConfigError, match="APP_ENV must be one of"):
        create_app()


@pytest.mark.parametrize("setting", ["PREVIEW_CELL_M", "PREVIEW_CELLS_ACROSS"])
def test_the_preview_squares_must_have_a_size(setting):
    # 0 would divide by nothing, or double the squares' size for ever.
    config = production(
        SECRET_KEY=KEY,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://db",
        REDIS_URL="redis://r",
        **{setting: 0},
    )
    with pytest.raises(ConfigError, match="PREVIEW_CELLS_ACROSS must be 1 or more"):
        create_app(config)


def test_a_repeated_alert_is_recognised_by_default():
    # Tests turn it off (they send the same alert twice on purpose); a force does not.
    assert ProductionConfig.ALERT_REPEAT_SECONDS == 120


def test_the_banner_says_where_messages_go(app, client, monkeypatch):
    """Outside production the banner said "messages go to the outbox" while they went
    to the Twilio and SMTP servers set (an outside check): it says which."""
    page = client.get("/").text
    assert "messages go to the outbox, not to real people" in page
    monkeypatch.setitem(app.config, "DELIVERY_TRANSPORT", "providers")
    page = client.get("/").text.replace("&#39;", "'")
    assert "outbox" not in page.split('class="env-banner"')[1].split("</aside>")[0]
    assert "go to the Twilio and SMTP servers set here, which may reach real people" in page


_starter: subprocess.Popen | None = None


def _started(**environ) -> subprocess.CompletedProcess:
    """`flask routes` in a production environment of its own: how an IT team finds out.
    Each a new process, forked from one that has the libraries imported already
    (tests/fresh_starts.py)."""
    global _starter
    if _starter is None or _starter.poll() is not None:
        _starter = subprocess.Popen(  # noqa: S603 (our own command)
            [sys.executable, str(Path(__file__).with_name("fresh_starts.py"))],
            cwd=Path(__file__).resolve().parent.parent,
            env={"PATH": os.environ["PATH"]},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    env = {"PATH": os.environ["PATH"], "APP_ENV": "production", **environ}
    _starter.stdin.write(json.dumps(env) + "\n")
    _starter.stdin.flush()
    answer = json.loads(_starter.stdout.readline())
    return subprocess.CompletedProcess(
        ["flask", "routes"], answer["returncode"], answer["stdout"], answer["stderr"]
    )


def test_a_setting_that_stops_the_start_is_named_in_a_sentence_not_a_traceback():
    # 40 lines of traceback around the sentence, and "invalid literal for int()" named
    # no setting at all (an outside check of the install).
    for environ, said in (
        ({}, "production configuration needs SECRET_KEY, DATABASE_URL, REDIS_URL"),
        ({"PROXY_HOPS": "one"}, "PROXY_HOPS must be a whole number of 0 or more, not 'one'."),
        ({"RETRY_MAX_SECONDS": "a minute"}, "RETRY_MAX_SECONDS must be a number"),
        # Migration 0059's trigger refuses to forget a newer address: every hourly
        # retention run would stop.
        ({"AUDIT_IP_DAYS": "7"}, "AUDIT_IP_DAYS must be 30 or more."),
    ):
        done = _started(**environ)
        assert done.returncode == 1 and said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_wrong_settings_stop_the_start_rather_than_failing_later():
    # Each started, and then: every request through the proxy was a 500 (PROXY_HOPS=-1),
    # e-mail went without TLS (a switch mistyped) or from "not-an-address", Twilio would
    # have refused every text (a national number), a mistyped category went without
    # approval, a role map that did not read was found at a first sign-in (an outside
    # check of the install).
    base = {
        "SECRET_KEY": KEY,
        "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "redis://r",
        "PUBLIC_BASE_URL": "https://alerts.example.police.uk",
    }
    for environ, said in (
        ({"PROXY_HOPS": "-1"}, "PROXY_HOPS must be a whole number of 0 or more, not '-1'."),
        ({"RETRY_MAX_SECONDS": "nan"}, "RETRY_MAX_SECONDS must be a number of 0 or more"),
        ({"SMTP_STARTTLS": "ture"}, "SMTP_STARTTLS must be one of 1, true, yes, on, 0"),
        ({"SMS_MAX_SEGMENTS": "0"}, "SMS_MAX_SEGMENTS must be more than 0."),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT must be a port number"),
        ({"DENSITY_MIN_COUNT": "0"}, "DENSITY_MIN_COUNT must be 2 or more."),
        ({"LOGIN_MAX_FAILURES": "0"}, "LOGIN_MAX_FAILURES must be more than 0."),
        ({"FORCE_WEBSITE": "javascript:alert(1)"}, "FORCE_WEBSITE must be the website's full"),
        ({"FORCE_WEBSITE": "https://www.police.example"}, None),
        ({"MAIL_FROM": "not-an-address"}, "MAIL_FROM must be an e-mail address"),
        ({"TWILIO_FROM_NUMBER": "07700900999"}, "TWILIO_FROM_NUMBER must be numbers as"),
        (
            {"TWILIO_FROM_NUMBER": "+441170000001,07700900999"},
            "TWILIO_FROM_NUMBER must be numbers as",
        ),
        ({"TWILIO_FROM_NUMBER": "AvonPolice"}, None),  # a sender name is fine
        ({"TWILIO_VOICE_FROM_NUMBER": "AvonPolice"}, "TWILIO_VOICE_FROM_NUMBER must be"),
        ({"TWILIO_ACCOUNT_SID": "bad"}, "TWILIO_ACCOUNT_SID must be AC and 32"),
        ({"SMTP_CA_FILE": "/nonexistent.pem"}, "SMTP_CA_FILE names '/nonexistent.pem'"),
        ({"PUBLIC_BASE_URL": "https://host/ca/"}, "PUBLIC_BASE_URL must be the scheme and"),
        ({"METRICS_TOKEN": "abc"}, "METRICS_TOKEN of at least 24"),
        (
            {"APPROVAL_CATEGORIES": "missing-person"},
            "APPROVAL_CATEGORIES names missing-person: the categories are",
        ),
        (
            {"SSO_ISSUER": "https://id.example", "SSO_CLIENT_ID": "c", "SSO_ROLE_MAP": "A=officr"},
            "SSO_ROLE_MAP: each entry is 'claim value=role'",
        ),
        ({"SSO_PROVIDERS": "cornwall"}, "SSO_CORNWALL_ISSUER is not set."),
        (
            {"SSO_ISSUER": "http://id.example", "SSO_CLIENT_ID": "c"},
            "production needs SSO_ISSUER to be https://.",
        ),
    ):
        done = _started(**(base | {"DELIVERY_TRANSPORT": "outbox"} | environ))
        if said is None:
            assert done.returncode == 0, (environ, done.stderr)
            continue
        assert done.returncode == 1 and said in done.stderr, (environ, done.stderr)
        assert "Traceback" not in done.stderr
    # A transport mistyped acted as the outbox in development (a re-check).
    done = _started(**base, APP_ENV="development", DELIVERY_TRANSPORT="provider")
    assert done.returncode == 1 and 'DELIVERY_TRANSPORT must be "providers" or' in done.stderr
    # Several wrong at once are said at once (the first was, alone: a re-check).
    done = _started(
        **base, DELIVERY_TRANSPORT="outbox", PROXY_HOPS="-1", SMTP_STARTTLS="ture", SMTP_PORT="x"
    )
    assert done.returncode == 1
    for name in ("PROXY_HOPS", "SMTP_STARTTLS", "SMTP_PORT"):
        assert f"{name} must be" in done.stderr, done.stderr
    # Right, they start: a sender name, a display name, a token long enough.
    _starts(
        **base,
        DELIVERY_TRANSPORT="outbox",
        TWILIO_FROM_NUMBER="+441170000001, +441170000002,+441170000003",  # a pool (the guide's)
        TWILIO_VOICE_FROM_NUMBER="+441170000004,+441170000005",
        MAIL_FROM="Avon and Somerset Police <alerts@police.example>",
        METRICS_TOKEN="m" * 12 + "etrics-token",
        SMTP_STARTTLS="off",
        APPROVAL_CATEGORIES="missing_person, incident",
    )


def _starts(**environ) -> None:
    """Started with these settings: they are right, and nothing is said."""
    done = _started(**environ)
    assert done.returncode == 0, done.stderr


def _refused_all(base: dict, wrong: dict, **more) -> subprocess.CompletedProcess:
    """Started with every setting of `wrong` ({name: (value, what is said)}): refused,
    each said, at once, in sentences."""
    done = _started(**base, **{name: value for name, (value, _said) in wrong.items()}, **more)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for _value, said in wrong.values():
        assert said in done.stderr, (said, done.stderr)
    return done


def test_settings_too_large_for_what_uses_them_and_unshowable_words_stop_the_start():
    """Found by an outside check: each started, and then CAP_EXPIRES_HOURS=100000000
    made every CAP document a 500, REPLY_WINDOW_HOURS=99999999999 every inbound text,
    a huge CALL_REDIAL_SECONDS every unanswered call's end; CALL_REDIALS=100000 would
    call a busy line for a year; PUBLIC_BASE_URL with a space or port 99999, an
    SMTP_HOST with a space, and a FORCE_NAME (it signs every text) with a control
    character or one that turns the text around were taken."""
    base = {
        "SECRET_KEY": KEY,
        "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "redis://r",
        "DELIVERY_TRANSPORT": "outbox",
    }
    wrong = {
        "CAP_EXPIRES_HOURS": ("100000000", "CAP_EXPIRES_HOURS must be 87,600 or less (ten"),
        "REPLY_WINDOW_HOURS": ("99999999999", "REPLY_WINDOW_HOURS must be 87,600 or less"),
        "CALL_REDIAL_SECONDS": ("99999999999999", "CALL_REDIAL_SECONDS must be 315,360,000"),
        "RETRY_MAX_SECONDS": ("1e300", "RETRY_MAX_SECONDS must be 315,360,000 or less"),
        "RETENTION_DAYS": ("99999999", "RETENTION_DAYS must be 36,500 or less (a hundred"),
        "SIGN_UP_ANSWER_MS": ("9999999999", "SIGN_UP_ANSWER_MS must be 2,147,483,647 or less"),
        "DELIVERY_BATCH_SIZE": ("99999999999", "DELIVERY_BATCH_SIZE must be 2,147,483,647"),
        "CALL_REDIALS": ("100000", "CALL_REDIALS must be 10 or less, not '100000'."),
        "SMTP_HOST": ("exa mple", "SMTP_HOST must be a host name or address"),
        "FORCE_NAME": ("Avon\x01", "FORCE_NAME has a control character"),
        "SERVICE_NAME": ("Alerts \u202emoc", "SERVICE_NAME has a control character"),
    }
    done = _refused_all(base, wrong, PUBLIC_BASE_URL="https://exa mple.com")
    assert "PUBLIC_BASE_URL must be the scheme and host" in done.stderr
    done = _started(**base, PUBLIC_BASE_URL="https://alerts.example.police.uk:99999")
    assert done.returncode == 1 and "PUBLIC_BASE_URL must be the scheme" in done.stderr
    # The most each may be starts.
    _starts(
        **base,
        PUBLIC_BASE_URL="https://alerts.example.police.uk:8443",
        CAP_EXPIRES_HOURS="87600",
        CALL_REDIALS="10",
        REPLY_WINDOW_HOURS="87600",
        RETENTION_DAYS="36500",
        SMTP_HOST="[2001:db8::1]",
        FORCE_NAME="Heddlu Dyfed-Powys",
    )


def test_settings_that_stop_the_work_or_go_elsewhere_stop_the_start():
    """Found by an outside check of the install: each started, and then the sweeper
    recounted every figure back to back for ever (ANALYST_REFRESH_SECONDS=0), a sign-up
    could hold its thread for days, REDIS_URL=.../twelve went to database 0 (another
    installation's queue perhaps), the development login percent-encoded was taken in
    production, STAFF_TOTP_REQUIRED=0 there was ignored without a word, and a CAP
    sender with a space failed the feed's schema."""
    base = {
        "SECRET_KEY": KEY,
        "DATABASE_URL": "postgresql://db/x",
        "PUBLIC_BASE_URL": "https://alerts.example.police.uk",
        "DELIVERY_TRANSPORT": "outbox",
    }
    wrong = {
        "ANALYST_REFRESH_SECONDS": ("0", "ANALYST_REFRESH_SECONDS must be more than 0."),
        "JOB_LEASE_SECONDS": ("0", "JOB_LEASE_SECONDS must be more than 0."),
        "ANALYST_SETTLED_BATCH": ("0", "ANALYST_SETTLED_BATCH must be more than 0."),
        "UNVERIFIED_DAYS": ("0", "UNVERIFIED_DAYS must be more than 0."),
        "SIGN_UP_ANSWER_MS": ("999999999", "SIGN_UP_ANSWER_MS must be 10,000 or less"),
        "MAP_TILE_MAX_ZOOM": ("40", "MAP_TILE_MAX_ZOOM must be 24 or less"),
        "FORCE_CODE": ("XYZ", "FORCE_CODE must be the force area's ONS code"),
        "CAP_SENDER": ("not an address", "CAP_SENDER must be an address with no spaces"),
        "REDIS_URL": ("redis://127.0.0.1:6379/twelve", "REDIS_URL must be an address like"),
        "STAFF_TOTP_REQUIRED": ("0", "production always asks staff for a second factor"),
    }
    _refused_all(base, wrong)
    for login in (
        "postgresql://community_alerts:community%5Falerts@db/x",
        # In the query, as libpq reads it too (a re-check).
        "postgresql://db/x?user=community_alerts&password=community_alerts",
    ):
        done = _started(**(base | {"DATABASE_URL": login, "REDIS_URL": "redis://r"}))
        assert done.returncode == 1, login
        assert "must not use the development credentials in DATABASE_URL" in done.stderr
    # Words shown to people that show nothing (a re-check).
    # The Hangul filler, the blank Braille cell and an accent alone started (another).
    for nothing in (
        "\u200b",
        "   ",
        "\ufeff",
        "\u00a0",
        "Avon\u2028Police",
        "\u3164",
        "\u2800",
        "\u0301",
    ):
        done = _started(**base, REDIS_URL="redis://r", FORCE_NAME=nothing)
        assert done.returncode == 1 and "FORCE_NAME " in done.stderr, (nothing, done.stderr)
    # Characters of no width inside the words started, and signed texts so (a re-check).
    for inside in ("Avon\u200e Police", "Avon\u200bPolice", "Avon\U000e0041"):
        done = _started(**base, REDIS_URL="redis://r", FORCE_NAME=inside)
        assert done.returncode == 1 and "FORCE_NAME has an invisible character" in done.stderr
    # Right, they start.
    _starts(
        **base,
        REDIS_URL="redis://127.0.0.1:6379/12",
        ANALYST_REFRESH_SECONDS="60",
        FORCE_CODE="W15000004",
        CAP_SENDER="alerts@police.example",
        STAFF_TOTP_REQUIRED="1",
        MAP_TILE_MAX_ZOOM="22",
    )


def test_addresses_lists_and_sign_on_settings_of_no_use_stop_the_start():
    # Each started and failed at the first text, map, sign-in or job (an outside check):
    # an address of no form, a list naming nothing, a sign-in without openid. All are
    # said at once, with what only the application knows (its categories): those were
    # said only once the rest was put right (a re-check).
    done = _started(
        SECRET_KEY=KEY,
        DELIVERY_TRANSPORT="outbox",
        DATABASE_URL="garbage",
        REDIS_URL="redis://127.0.0.1:99999/0",  # a port no port is
        DATABASE_REPLICA_URL="garbage",
        TWILIO_API_BASE_URL="https://exa mple.com",  # a space in its host (a re-check)
        MAP_TILE_URL="https://tiles.example/tile.png",  # no {z}/{x}/{y}
        SSO_ISSUER="https://id.example",
        SSO_CLIENT_ID="c",
        SSO_FORCE="Avon Police",
        SSO_PROVIDERS="wilts",
        SSO_WILTS_ISSUER="id.example",
        SSO_WILTS_CLIENT_ID="c",
        SSO_WILTS_ROLE_MAP="PCSO=officer",
        SSO_WILTS_SCOPES="profile email",
        APPROVAL_CATEGORIES=" , ",
        URGENT_CATEGORIES="fire",
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for said in (
        "DATABASE_URL must be an address like postgresql://",
        "REDIS_URL must be an address like redis://",
        "DATABASE_REPLICA_URL must be an address like postgresql://",
        "TWILIO_API_BASE_URL must be an address like https://",
        "MAP_TILE_URL must be an address like https://",
        "SSO_WILTS_ISSUER must be an address like https://",
        "SSO_WILTS_SCOPES must include openid",
        "SSO_FORCE must be a force's slug",
        "APPROVAL_CATEGORIES names no category",
        "URGENT_CATEGORIES names fire: the categories are",
        # Production's messages carry links, the outbox's too (http://127.0.0.1:5000).
        "production needs PUBLIC_BASE_URL (https://...)",
    ):
        assert said in done.stderr, (said, done.stderr)
    # A local socket's address is an address; a tile template's braces are fine.
    _starts(
        SECRET_KEY=KEY,
        DELIVERY_TRANSPORT="outbox",
        PUBLIC_BASE_URL="https://alerts.example.police.uk",
        DATABASE_URL="postgresql:///alerts?host=/run/postgresql",
        REDIS_URL="unix:///run/redis/redis.sock",
        MAP_TILE_URL="https://tiles.example/{z}/{x}/{y}.png?key={key}",
        SSO_ISSUER="https://id.example",
        SSO_CLIENT_ID="c",
        SSO_FORCE="avon-and-somerset",
        SSO_SCOPES="openid email",
    )


def test_switches_read_as_the_others_and_a_consoles_database_url_works():
    # "True" and "on" turned other switches on and these two off (SMTP logged in
    # without STARTTLS); a managed database's console's URL asked for psycopg2.
    environ = {
        "PATH": os.environ["PATH"],
        "SMTP_STARTTLS": "True",
        "SSO_LINK_BY_EMAIL": "on",
        "DATABASE_URL": "postgresql://alerts:secret@db.internal:5432/alerts",
    }
    read = (
        "from app.config import Config as C;"
        " print(C.SMTP_STARTTLS, C.SSO_LINK_BY_EMAIL, C.SQLALCHEMY_DATABASE_URI)"
    )
    done = subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-c", read],
        cwd=Path(__file__).resolve().parent.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == [
        "True",
        "True",
        "postgresql+psycopg://alerts:secret@db.internal:5432/alerts",
    ]


def test_gunicorn_with_a_setting_that_stops_the_start_stops_not_restarts_workers():
    # A worker met the sentence and ended; gunicorn started another, ten times a
    # second, for ever, and systemd saw the unit running (a review).
    gunicorn = Path(sys.executable).parent / "gunicorn"
    done = subprocess.run(  # noqa: S603 (our own command)
        [str(gunicorn), "-c", "python:app.gunicorn_conf", "--bind", "127.0.0.1:0"]
        + ["--workers", "1", "app:create_app()"],
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": os.environ["PATH"], "APP_ENV": "production", "CA_RUN_DIR": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "production configuration needs SECRET_KEY" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr
    # gunicorn's own lines are JSON in production, as the rest, and said once ("Starting
    # gunicorn" was the one plain line in a JSON log: an outside check).
    own = [line for line in done.stderr.splitlines() if "gunicorn.error" in line]
    assert len(own) == 1
    assert json.loads(own[0])["message"].startswith("Starting gunicorn")


@pytest.mark.parametrize(
    ("given", "welsh"),
    [
        ({}, "Avon a Gwlad yr Haf"),
        ({"FORCE_CODE": "E23000037", "FORCE_NAME": "Gloucestershire"}, "None"),
        ({"FORCE_NAME": "Gloucestershire", "FORCE_NAME_CY": "Swydd Gaerloyw"}, "Swydd Gaerloyw"),
    ],
)
def test_the_demo_forces_welsh_name_is_only_the_demo_forces(given, welsh):
    # Another force given FORCE_CODE and FORCE_NAME, as the guide's example does, was
    # "Heddlu Avon a Gwlad yr Haf" on its Welsh pages, feeds and consent (an outside
    # check); without FORCE_NAME_CY its Welsh pages say FORCE_NAME.
    done = subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-c", "from app.config import Config as C; print(C.FORCE_NAME_CY)"],
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": os.environ["PATH"], **given},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == welsh
