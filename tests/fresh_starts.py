"""`python -m flask --app app:create_app routes` in an environment of its own, as a new
process each time, but quickly: run as a script, this process imports the libraries
the app uses once, then for each environment read from stdin (a JSON object per line)
forks a child that starts the app as `python -m flask` would, with only that
environment, and answers a JSON line: its exit code, stdout and stderr. The app itself
is imported in each child, after its environment is set (its settings are read as it
is imported). A new interpreter for each of the settings tests' 70 starts took over
three minutes of `make test`.

A child is a new process as far as the app can tell: what it writes goes to files of
its own, and an exception it does not catch is printed and exits 1, as the
interpreter does; a SystemExit (the app's ConfigError) is said as the interpreter says
it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
import traceback

# The libraries the app imports when it starts (imported here once, not in each child).
WARM = (
    "aiohttp",
    "alembic.command",
    "authlib.integrations.flask_client",
    "email_validator",
    "feedgen.feed",
    "flask.cli",
    "flask_babel",
    "flask_login",
    "flask_migrate",
    "flask_sqlalchemy",
    "flask_wtf",
    "folium",
    "geoalchemy2",
    "lxml.etree",
    "numpy",
    "phonenumbers",
    "prometheus_client",
    "psycopg",
    "pyproj",
    "pythonjsonlogger.json",
    "redis",
    "rq",
    "shapely.geometry",
    "sqlalchemy.orm",
    "twilio.rest",
)


def _exit_code(error: SystemExit) -> int:
    """What the interpreter does with an uncaught SystemExit: its code, or its words
    said on stderr and 1."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _child(environ: dict, out: int, err: int) -> None:
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.environ.clear()
    os.environ.update(environ)
    sys.argv = ["python -m flask", "--app", "app:create_app", "routes"]
    code = 1
    try:
        from flask.cli import main

        main()
        code = 0
    except SystemExit as error:
        code = _exit_code(error)
    except BaseException:  # noqa: BLE001 (said as the interpreter says it)
        traceback.print_exc()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main() -> None:
    sys.path[0] = os.getcwd()  # as `python -m`, not this file's folder
    for name in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for line in sys.stdin:
        environ = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(environ, out.fileno(), err.fileno())
            _, status = os.waitpid(pid, 0)
            answer = {"returncode": os.waitstatus_to_exitcode(status)}
            for name, file in (("stdout", out), ("stderr", err)):
                file.seek(0)
                answer[name] = file.read().decode(errors="replace")
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
