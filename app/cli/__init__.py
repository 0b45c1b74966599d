"""`flask` commands: data loads, demo data, the worker, accounts."""

from __future__ import annotations

from flask import Flask

from app.cli.data import geo_cli
from app.cli.demo import demo_cli
from app.cli.forces import forces_cli
from app.cli.groups import groups_cli
from app.cli.ops import alerts_cli, officers_cli, sweeper, worker
from app.cli.reports import reports_cli
from app.cli.residents import residents_cli


def register_cli(app: Flask) -> None:
    app.cli.add_command(geo_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(forces_cli)
    app.cli.add_command(groups_cli)
    app.cli.add_command(alerts_cli)
    app.cli.add_command(officers_cli)
    app.cli.add_command(residents_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(worker)
    app.cli.add_command(sweeper)
