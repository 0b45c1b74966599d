"""Extensions, created unbound; create_app() binds them to an application."""

from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from sqlalchemy import MetaData

# Named constraints so that Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
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
