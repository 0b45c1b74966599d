"""RQ entry points. A job takes ids, reloads state from the database, and acts only on
rows still in the state it expects, so running it twice does no harm."""

from __future__ import annotations

import functools

from flask import current_app, has_app_context
from rq import Queue

from app.extensions import redis_store

_app = None


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_store.client)


def with_app_context(fn):
    """Run the job inside an application context: the worker's own (`flask worker`
    pushes one), or one made once per process for a plain `rq worker`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        global _app
        if _app is None:
            from app import create_app

            _app = create_app()
        with _app.app_context():
            return fn(*args, **kwargs)

    return wrapper
