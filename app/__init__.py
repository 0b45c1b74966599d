"""Community Alerts: the Flask application."""

from __future__ import annotations

import os
import re
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Flask

from app import logs
from app.config import ConfigError, config_for
from app.extensions import csrf, db, login_manager, migrate, redis_store

# What the data licences require every map page to show (data/postcodes/README.md).
DATA_ATTRIBUTION = (
    "Contains OS data © Crown copyright and database right 2025",
    "Contains Royal Mail data © Royal Mail copyright and database right 2025",
    "Contains National Statistics data © Crown copyright and database right 2025",
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0",
    "Boundaries: Contains OS data © Crown copyright and database right 2023",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# strftime's parts as CLDR's, for month names in another language (the "uk" filter).
_CLDR = {"%d": "dd", "%b": "MMM", "%B": "MMMM", "%Y": "y", "%H": "HH", "%M": "mm", "%S": "ss"}
UK_TIME = ZoneInfo("Europe/London")


def check_settings(config_class: type) -> None:
    """Refuse to start, naming every setting that stops it at once: the configuration's
    own checks and those only the application can make (its categories, its sign-on
    providers' role maps). A category spelt with a hyphen in APPROVAL_CATEGORIES
    started, and those alerts went without approval; and these were said only once the
    rest was put right (a re-check)."""
    from app.models.alert import CATEGORIES
    from app.services.sso import configuration_problems

    settings = {name: getattr(config_class, name) for name in dir(config_class) if name.isupper()}
    problems = config_class.problems()
    problems += [
        f"{name} names {', '.join(unknown)}: the categories are {', '.join(CATEGORIES)}."
        for name in ("APPROVAL_CATEGORIES", "URGENT_CATEGORIES")
        if (unknown := [c for c in settings[name] if c not in CATEGORIES])
    ]
    problems += configuration_problems(settings)
    if problems:
        raise ConfigError(" ".join(problems))


def create_app(config: str | type | None = None) -> Flask:
    """Build the application. `config` is an APP_ENV name or a Config class."""
    config_class = config if isinstance(config, type) else config_for(config)
    check_settings(config_class)

    from app.web import App

    app = App(
        __name__,
        static_folder=os.path.join(ROOT, "static"),
        template_folder="templates",
    )
    app.config.from_object(config_class)
    if app.config["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logs.configure(app)

    from app import web

    # First: its checks of a request run before any extension reads the form (CSRF).
    web.install(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    redis_store.init_app(app)
    _after_fork_dispose_engine(app)

    from app import models  # noqa: F401  (register the tables)
    from app.admin import bp as admin_bp
    from app.analysts import bp as analysts_bp
    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.auth.sso import bp as sso_bp
    from app.basemap import bp as basemap_bp
    from app.callbacks import bp as callbacks_bp
    from app.cli import register_cli
    from app.health import bp as health_bp
    from app.i18n import force_name
    from app.inbox import bp as inbox_bp
    from app.officers import bp as officers_bp
    from app.public import bp as public_bp
    from app.residents import bp as residents_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(residents_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(sso_bp)
    app.register_blueprint(officers_bp, url_prefix="/officers")
    app.register_blueprint(inbox_bp, url_prefix="/officers")
    app.register_blueprint(analysts_bp, url_prefix="/analysts")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(callbacks_bp, url_prefix="/callbacks")
    app.register_blueprint(basemap_bp)
    app.register_blueprint(health_bp)
    register_cli(app)

    @app.template_filter("uk")
    def uk_time(moment, fmt: str = "%d %b %Y %H:%M") -> str:
        """A timestamp as people in the force read clocks: UK time, BST in summer, with
        month names in the page's language ("03 Rhag" on a Welsh page)."""
        if not moment:
            return ""
        from app.i18n import current  # imported inside create_app, as i18n is elsewhere

        local = moment.astimezone(UK_TIME)
        language = current()
        if language == "en" or "%b" not in fmt and "%B" not in fmt:
            return local.strftime(fmt)
        pattern = "".join(_CLDR.get(part, part) for part in re.split(r"(%[a-zA-Z])", fmt))
        return format_datetime(local, pattern, locale=language)

    @app.template_global("figures_age")
    def figures_age(counted):
        """Under each analyst page's figures: when they were counted."""
        from app.services.figures import describe_age

        return describe_age(counted)

    @app.template_filter("area_label")
    def area_label(label):
        """A team area's label, its kind in the page's language ("Ashley (ward)")."""
        from app.services.teams import area_label_shown

        return area_label_shown(label)

    @app.context_processor
    def service_names():
        from app.services.forces import example_postcode

        return {
            "service_name": app.config["SERVICE_NAME"],
            "force_name": force_name(),
            "environment": app.config["ENV_NAME"],
            "data_attribution": DATA_ATTRIBUTION,
            # A function: only a page with a hint asks the database.
            "example_postcode": example_postcode,
        }

    @app.context_processor
    def approvals_waiting():
        """The staff menu's "Approvals (2)": a function, so only a page that shows the
        menu to a supervisor or admin asks the database. And whose alert drafts the tab
        keeps (staff_sessions.draft_owner)."""
        from flask_login import current_user

        from app.services.alerts import count_waiting_for
        from app.services.staff_sessions import draft_owner

        def waiting() -> int | None:
            if not current_user.is_authenticated:
                return None
            return count_waiting_for(current_user)

        def owner() -> str:
            return draft_owner(current_user.id) if current_user.is_authenticated else ""

        return {"approvals_waiting": waiting, "draft_owner": owner}

    from app import i18n  # English and Welsh; after the context processors it overrides

    i18n.init_app(app)
    return app


def _after_fork_dispose_engine(app: Flask) -> None:
    """RQ forks a work-horse per job: the child must not reuse the parent's sockets."""

    def dispose() -> None:
        with app.app_context():
            db.engine.dispose(close=False)

    os.register_at_fork(after_in_child=dispose)
