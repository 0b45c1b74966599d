"""/healthz and /readyz, against the real database and Redis, and against ones that
do not answer."""

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from app import create_app
from app.config import TestingConfig
from app.extensions import db, redis_store


def test_healthz_says_the_process_is_up(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "up"}


def test_readyz_checks_the_database_redis_and_migrations(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "force_areas": "ok", "redis": "ok"},
    }
    assert answer.headers["Cache-Control"] == "no-store"


def test_readyz_is_not_ready_while_a_force_has_no_boundary(app, client):
    # The guide followed without loading the force's boundary was "ready", and every
    # postcode read as outside the force: nobody could sign up (an outside check).
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO forces (code, slug, name) VALUES"
                " ('E23000037', 'gloucestershire', 'Gloucestershire')"
            )
        )
        db.session.commit()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["force_areas"] == (
        "no boundary loaded for a force: run flask geo load-places --kind force"
    )
    assert answer.json["checks"]["database"] == "ok"


def test_readyz_says_a_sign_on_provider_whose_force_is_not_there(app, client, monkeypatch):
    # A provider's force slug that names no force refused every sign-in, found at the
    # first member of staff's (an outside check of the install).
    monkeypatch.setitem(app.config, "SSO_ISSUER", "https://id.example")
    monkeypatch.setitem(app.config, "SSO_CLIENT_ID", "c")
    monkeypatch.setitem(app.config, "SSO_FORCE", "avon-and-somerset")
    monkeypatch.setitem(app.config, "SSO_PROVIDERS", {"wilts": {"ISSUER": "https://w.example"}})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["sign_on"] == (
        "SSO_WILTS_FORCE names no force: every sign-in through it is refused"
    )
    monkeypatch.setitem(app.config, "SSO_PROVIDERS", {"wilts": {"FORCE": "avon-and-somerset"}})
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json
    assert answer.json["checks"]["sign_on"] == "ok"


def test_readyz_is_not_ready_while_migrations_are_behind(app, client):
    with app.app_context():
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        db.session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        db.session.commit()
    try:
        answer = client.get("/readyz")
    finally:
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
            db.session.commit()
    assert answer.status_code == 503
    assert answer.json["checks"]["migrations"] == "not current: run flask db upgrade"
    assert answer.json["checks"]["database"] == "ok"


def test_readyz_says_a_database_never_migrated_needs_migrating(app, client):
    # An empty database answers: it was called "not answering", which sent an IT team
    # installing it to look at the network and the password (an outside check).
    with app.app_context():
        db.session.execute(text("ALTER TABLE alembic_version RENAME TO alembic_version_away"))
        db.session.commit()
    try:
        answer = client.get("/readyz")
    finally:
        with app.app_context():
            db.session.execute(text("ALTER TABLE alembic_version_away RENAME TO alembic_version"))
            db.session.commit()
    assert answer.status_code == 503
    assert answer.json["checks"] == {
        "database": "ok",
        "migrations": "not current: run flask db upgrade",
        "redis": "ok",
    }


def test_readyz_is_not_ready_without_redis_and_says_only_which(app, client, monkeypatch):
    # A port nothing listens on: a Redis that is down.
    monkeypatch.setattr(
        redis_store,
        "_client",
        Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)),
    )
    monkeypatch.setattr(redis_store, "url", "redis://127.0.0.1:1/0", raising=False)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["redis"] == "not answering"
    assert "127.0.0.1" not in answer.text and "Error" not in answer.text


def test_readyz_is_not_ready_without_the_database():
    down = type(
        "DatabaseDown",
        (TestingConfig,),
        {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none"},
    )
    app = create_app(down)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == "not answering"
    assert "nobody" not in answer.text and "127.0.0.1" not in answer.text
    # A page of a force's (its URL is read in the database first) gives the request id
    # back, and logs under it, when the database is down: it was lost exactly then (an
    # outside check).
    page = app.test_client().get("/register", headers={"X-Request-Id": "probe42abc"})
    assert page.status_code == 503
    assert page.headers["X-Request-Id"] == "probe42abc"


def test_a_wrong_database_password_is_named_in_the_log_not_the_page(app, caplog):
    # "The database not answering: OperationalError" sent an IT team to the network for
    # a wrong password (an outside check); the page says no more than before.
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    user = url.split("://", 1)[1].split(":", 1)[0]
    wrong = type(
        "WrongPassword",
        (TestingConfig,),
        {"SQLALCHEMY_DATABASE_URI": url.replace(f"{user}:", f"{user}x:", 1)},
    )
    answer = create_app(wrong).test_client().get("/readyz")
    assert answer.status_code == 503 and "password" not in answer.text
    logged = " ".join(r.getMessage() for r in caplog.records if "readiness" in r.getMessage())
    assert "password authentication failed" in logged, logged
    assert "community_alerts@" not in logged  # no URL, nor its password


def test_a_worker_started_with_redis_away_says_so_in_a_sentence(app, monkeypatch):
    # A 64-line traceback, the address only in its last line (an outside check).
    monkeypatch.setattr(
        redis_store,
        "_client",
        Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)),
    )
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 1
    assert "Redis is not answering (ConnectionError: Error 111 connecting to" in result.output
    assert "Traceback" not in result.output


def test_a_worker_started_before_redis_waits_for_it_and_then_works(app):
    # It exited with that sentence, and where nothing restarted it (a reboot that
    # started the worker before Redis) no alert went out until someone noticed.
    import contextlib
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from redis.exceptions import RedisError
    from rq import Worker

    from tests.provider_fixtures import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, APP_ENV="testing", FLASK_APP="app:create_app", TEST_REDIS_URL=url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker", "--alerts-only"],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server, before = None, []
    try:
        # Its first line, before anything else, says it waits; a worker that exits
        # ends its output instead.
        for line in worker.stdout:
            before.append(line)
            if "Waiting for it." in line:
                break
        time.sleep(1)
        assert worker.poll() is None, "".join(before)
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        redis = Redis(port=port)
        # Working: registered, and waiting for jobs (its signal handlers set: stopped
        # between its registration and them, RQ's scheduler process it had started
        # lived on with the output open, and the test waited for it, once in CI).
        for _ in range(200):
            with contextlib.suppress(RedisError):  # the server still starting
                workers = Worker.all(connection=redis)
                if workers and workers[0].get_state() == "idle":
                    break
            time.sleep(0.1)
        assert Worker.all(connection=redis), "the worker never registered"
    finally:
        worker.terminate()
        output = "".join(before) + worker.communicate(timeout=30)[0]
        if server is not None:
            server.kill()
            server.wait()
    assert "Redis is not answering (ConnectionError: Error 111" in output, output
    assert "Waiting for it." in output, output
    assert "Redis is answering again; starting." in output, output
    assert "Traceback" not in output, output


def test_readyz_says_a_redis_too_old_for_us_is_not_ready():
    """Found by a review: a resident's code waiting out a provider's wait is kept with
    PEXPIRE … GT, which Redis 6 refuses; nothing said so. The running Redis passes
    (test_readyz_checks_the_database_redis_and_migrations); an older one is refused,
    without its version (/readyz answers anyone: a review)."""
    from app.services.health import redis_version_refusal

    assert redis_version_refusal("6.2.14") == "too old: 7.0 or later is needed"
    assert redis_version_refusal("7.0.15") is None and redis_version_refusal("8.2.1") is None
    assert redis_version_refusal("unknown") is None


def test_readyz_is_ready_with_a_redis_login_that_may_not_ask_its_version(app, client, monkeypatch):
    """Found by a review: a Redis login whose ACL refuses INFO (a hardened set-up that
    allows every command the app uses) read as "not answering", and kept the web app
    out of service. Its version is then not known, and not refused."""
    user, password = "ca-test-no-info", "no-info-password"
    admin = redis_store.client
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-info"]
    )
    try:
        limited = Redis.from_url(app.config["REDIS_URL"], username=user, password=password)
        monkeypatch.setattr(redis_store, "_client", limited)
        answer = client.get("/readyz")
        assert answer.json["checks"]["redis"] == "ok", answer.json
    finally:
        admin.acl_deluser(user)
