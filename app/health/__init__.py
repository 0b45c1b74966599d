"""/healthz: the process is up (for a load balancer's liveness probe; touches
nothing else). /readyz: it can serve (database, Redis, migrations current); 503 when
not, naming the check. Neither needs signing in, and neither says more than that.
/metrics: Prometheus's text format, for a scraper holding METRICS_TOKEN (Authorization:
Bearer ...); without METRICS_TOKEN set there is no /metrics (404)."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, jsonify, request

from app.services import health, metrics

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="up")


@bp.get("/readyz")
def readyz():
    found = health.readiness()
    status = 200 if found.ready else 503
    return jsonify(status="ready" if found.ready else "not ready", checks=found.checks), status


@bp.get("/metrics")
def prometheus_metrics():
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return Response(
            "Give the metrics token: Authorization: Bearer <METRICS_TOKEN>\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    # As given: mimetype= added a second "; charset=utf-8" (an outside check).
    return Response(metrics.scrape(), content_type="text/plain; version=0.0.4; charset=utf-8")
