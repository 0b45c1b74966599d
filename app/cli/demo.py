"""flask demo seed: accounts and clearly synthetic residents for trying the product."""

from __future__ import annotations

import random

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.dao.postcodes import find_random_postcodes_in_force
from app.extensions import db
from app.models import InterestGroup, Officer, Resident, ResidentChannel, ResidentLocation

demo_cli = AppGroup("demo", help="Demo data (never in production).")

DEMO_ACCOUNTS = (
    ("officer@example.invalid", "PCSO Demo Officer", "officer", "demo-officer-1"),
    ("supervisor@example.invalid", "Sgt Demo Supervisor", "supervisor", "demo-supervisor-1"),
    ("analyst@example.invalid", "Demo Analyst", "analyst", "demo-analyst-1"),
    ("admin@example.invalid", "Demo Admin", "admin", "demo-admin-1"),
)
DEFAULT_GROUPS = (
    ("neighbourhood-watch", "Neighbourhood Watch"),
    ("farm-watch", "Farm Watch"),
    ("business-watch", "Business Watch"),
    ("horse-watch", "Horse Watch"),
)


def ensure_interest_groups() -> None:
    existing = set(db.session.scalars(select(InterestGroup.slug)))
    for slug, name in DEFAULT_GROUPS:
        if slug not in existing:
            db.session.add(InterestGroup(slug=slug, name=name))
    db.session.commit()


def seed_residents(count: int, *, seed: int = 2026) -> int:
    """`count` synthetic residents on real postcodes inside the force area.

    Phone numbers come from Ofcom's drama ranges (07700 900xxx, 0117 496 0xxx), e-mail
    addresses are under example.invalid: none of them can reach a real person.
    """
    rng = random.Random(seed)  # noqa: S311 (synthetic data, not security)
    postcodes = find_random_postcodes_in_force(
        db.session, current_app.config["FORCE_CODE"], count, seed=(seed % 1000) / 1000
    )
    if not postcodes:
        raise click.ClickException("No postcodes in the force area: run `flask geo load-shipped`.")
    groups = {g.slug: g for g in db.session.scalars(select(InterestGroup))}
    for n in range(count):
        postcode, location = postcodes[n % len(postcodes)]
        resident = Resident(name=f"Demo Resident {n + 1:05d}", confirmed_at=func.now())
        resident.locations.append(
            ResidentLocation(label="Home", postcode=postcode, location=location)
        )
        channels = [
            c for c, p in (("sms", 0.6), ("voice", 0.25), ("email", 0.5)) if rng.random() < p
        ]
        for channel in channels or ["email"]:
            if channel == "sms":
                address = f"+447700900{rng.randrange(1000):03d}"
            elif channel == "voice":
                address = f"+441174960{rng.randrange(1000):03d}"
            else:
                address = f"demo.resident.{n + 1:05d}@example.invalid"
            resident.channels.append(
                ResidentChannel(channel=channel, address=address, verified_at=func.now())
            )
        for slug, share in (
            ("neighbourhood-watch", 0.3),
            ("farm-watch", 0.05),
            ("business-watch", 0.05),
            ("horse-watch", 0.02),
        ):
            if slug in groups and rng.random() < share:
                resident.groups.append(groups[slug])
        db.session.add(resident)
    db.session.commit()
    return count


@demo_cli.command("seed")
@click.option("--residents", default=3000, show_default=True)
def seed(residents: int) -> None:
    """Demo accounts, interest groups and synthetic residents (skips what exists)."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("Demo data is never loaded in production.")
    from app.services.accounts import create_officer

    ensure_interest_groups()
    for email, name, role, password in DEMO_ACCOUNTS:
        if db.session.scalar(select(Officer.id).where(Officer.email == email)) is None:
            create_officer(email=email, name=name, role=role, password=password)
    seed_templates()
    have = db.session.scalar(select(func.count()).select_from(Resident))
    if have == 0:
        seed_residents(residents)
        click.echo(f"Seeded {residents:,} synthetic residents.")
    else:
        click.echo(f"{have:,} residents already there; not seeding more.")
    click.echo("`flask demo accounts` lists the demo sign-ins.")


DEMO_TEMPLATES = (
    (
        "Burglary warning",
        "crime_prevention",
        "Burglaries in your area",
        "There have been break-ins nearby. Lock doors and windows, keep keys away from the "
        "letterbox and report anything suspicious on 101, or 999 in an emergency.",
    ),
    (
        "Missing person appeal",
        "missing_person",
        "Missing person: please help us find",
        "We are looking for [name], [age], last seen at [place] at [time], wearing [clothes]. "
        "If you see them, call 999 and quote [reference].",
    ),
)


def seed_templates() -> None:
    from app.models import AlertTemplate

    if db.session.scalar(select(func.count()).select_from(AlertTemplate)):
        return
    author = db.session.scalar(select(Officer.id).where(Officer.role == "supervisor"))
    for name, category, title, body in DEMO_TEMPLATES:
        db.session.add(
            AlertTemplate(
                name=name, category=category, title=title, body=body, created_by_id=author
            )
        )
    db.session.commit()


@demo_cli.command("accounts")
def print_accounts() -> None:
    """Print the demo accounts' e-mail addresses and passwords."""
    click.echo("Demo accounts (development only):")
    for email, _, role, password in DEMO_ACCOUNTS:
        click.echo(f"  {role:<11} {email:<28} password: {password}")
