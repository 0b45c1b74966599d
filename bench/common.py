"""Shared by the benchmarks: a database of their own, figures printed the same way."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GB_CODEPOINT = SHARED_DATA / "postcodes" / "codepoint_open_gb"
DEFAULT_BENCH_DB = (
    "postgresql+psycopg://community_alerts:community_alerts@127.0.0.1:5432/community_alerts_bench"
)


def bench_app():
    """The application on the benchmark database (BENCH_DATABASE_URL), migrated."""
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DB)
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/2")
    from flask_migrate import upgrade

    from app import create_app

    app = create_app("development")
    with app.app_context():
        upgrade()
    return app


def figures(label: str, millis: list[float]) -> str:
    ordered = sorted(millis)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{label:<44} median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   "
        f"(n={len(ordered)}, {os.cpu_count()} cores)"
    )
