"""gunicorn settings for `make run`, `make web` and production:
`gunicorn -c python:app.gunicorn_conf ...`.

- No access log from gunicorn: its lines hold the request path, and paths carry tokens
  (unsubscribe, recordings, manage links) and postcodes. The app logs the route
  instead ("GET /unsubscribe/<token> 200 12ms", app/web.py).
- No Server header naming the software and its version.
- gunicorn's own error lines without a request's text: a request line it could not
  read, or the path of one that failed, can hold personal data (app/logs.py).
- Each run its own control socket (CA_RUN_ID): two instances on one host must not take
  over each other's.
- Each worker freezes what it built at start-up (modules, the app, the ORM's
  mappers) out of the garbage collector's sight: a full collection then walks only
  what requests make, which takes tens of milliseconds off a report's slowest answers.
"""

import gc
import os

from gunicorn.http import wsgi

from app.logs import quieten_server_lines

accesslog = None


def _log_format() -> str:
    from app.config import config_for

    try:
        return config_for().LOG_FORMAT
    except Exception:  # noqa: BLE001 - an unknown APP_ENV is said by on_starting
        return "text"


# gunicorn's own lines in the app's format: in production, JSON as the rest ("Starting
# gunicorn" was the one plain line in a JSON log: an outside check).
if _log_format() == "json":
    logconfig_dict = {
        "formatters": {"generic": {"()": "app.logs.json_formatter"}},
        # Said once: gunicorn's defaults pass its lines on to the root logger too, and
        # give the root a handler of its own, which the app's lines would reach as well.
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {
                "level": "INFO",
                "handlers": ["error_console"],
                "propagate": False,
                "qualname": "gunicorn.error",
            },
        },
    }
# Seconds a worker has to finish on a stop (Ctrl-C, systemd): at 3, a worker still
# starting on a busy machine (several seconds) was killed, logged as "was sent
# SIGKILL! Perhaps out of memory?", which read as a crash (an outside check).
graceful_timeout = 10
control_socket = os.path.join(
    os.environ.get("CA_RUN_DIR", ".run"), f"gunicorn-{os.environ.get('CA_RUN_ID', os.getpid())}.ctl"
)

_default_headers = wsgi.Response.default_headers


def _without_server(self):
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


wsgi.Response.default_headers = _without_server

_process_headers = wsgi.Response.process_headers


def _closing_when_asked(self, headers):
    """An answer the app marks "Connection: close" closes the connection: a 413,
    whose body was left unread. gunicorn drops the header as hop-by-hop and kept the
    connection alive, and the rest of the body was read as the next request (it
    failed once: an outside check)."""
    if any(n.lower() == "connection" and v.strip().lower() == "close" for n, v in headers):
        self.force_close()
    return _process_headers(self, headers)


wsgi.Response.process_headers = _closing_when_asked


def on_starting(server):
    """The settings checked once, in the master, before any worker: a setting that
    stops the start (a ConfigError, a SystemExit with its sentence) stops gunicorn.
    Met first in each worker, it ended the worker, and gunicorn started another, ten
    times a second, for ever (a review); the checks only the application makes (its
    categories, its sign-on) are made here too."""
    from app import check_settings
    from app.config import config_for

    check_settings(config_for())


def when_ready(server):
    quieten_server_lines()


def post_worker_init(worker):
    quieten_server_lines()
    gc.freeze()
