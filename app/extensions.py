"""Extensions, created unbound; create_app() binds them to an application."""

from __future__ import annotations

import time

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import ORMExecuteState, Session

# Named constraints so that Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))


@event.listens_for(Session, "do_orm_execute")
def _locked_rows_are_read_afresh(state: ORMExecuteState) -> None:
    """A row read FOR UPDATE is read as it is now that it is locked, into the object
    the session already holds: by default the session keeps the values it loaded
    before, and a decision taken under the lock saw the row as it was before the
    other one's. Approve and Reject pressed at once both won: the alert went to every
    resident and read "rejected" (an outside check). Here once, for every lock."""
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


class RedisHolder:
    """The application's Redis connection, made on first use from REDIS_URL."""

    def __init__(self) -> None:
        self._client: Redis | None = None
        self.url: str | None = None

    def init_app(self, app) -> None:
        self.url = app.config["REDIS_URL"]
        self._client = None
        app.extensions["redis"] = self

    @property
    def client(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(self.url)
        return self._client


redis_store = RedisHolder()


def replica_engine() -> Engine | None:
    """The read replica's engine (DATABASE_REPLICA_URL), made on first use with the
    primary's engine options; its sessions are read-only. None without a replica."""
    url = current_app.config.get("DATABASE_REPLICA_URL")
    if not url or time.monotonic() < current_app.extensions.get("replica_down_until", 0):
        return None
    engines = current_app.extensions.setdefault("replica_engines", {})
    if url not in engines:
        options = dict(current_app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        connect_args = dict(options.pop("connect_args", {}))
        connect_args["connect_timeout"] = 3  # the primary serves when it cannot be reached
        given = connect_args.get("options", "")
        connect_args["options"] = f"{given} -c default_transaction_read_only=on".strip()
        if url.startswith("postgresql://"):
            url_used = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        else:
            url_used = url
        engines[url] = create_engine(url_used, connect_args=connect_args, **options)
    return engines[url]


# After the replica failed to answer, the primary serves its reads this long.
REPLICA_RETRY_SECONDS = 30


def replica_unavailable() -> None:
    """The replica did not answer: leave it alone for REPLICA_RETRY_SECONDS."""
    current_app.extensions["replica_down_until"] = time.monotonic() + REPLICA_RETRY_SECONDS
