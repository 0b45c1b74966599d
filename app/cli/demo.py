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
    ("analyst@example.invalid", "Demo Analyst", "analyst", "demo-analyst-passphrase"),
    ("admin@example.invalid", "Demo Admin", "admin", "demo-admin-passphrase"),
)
# The demo's team: the demo officer and supervisor (who supervises it) send inside
# these central Bristol wards; the demo admin sends anywhere (README, "Teams").
DEMO_TEAM = "Bristol Central"
DEMO_TEAM_WARDS = (
    "Central",
    "Hotwells and Harbourside",
    "Clifton Down",
    "Clifton",
    "Cotham",
    "Redland",
    "Ashley",
    "Lawrence Hill",
    "Easton",
    "Southville",
    "Bedminster",
    "Windmill Hill",
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
    from app.services.second_factor import enrol

    ensure_interest_groups()
    for email, name, role, password in DEMO_ACCOUNTS:
        officer = db.session.scalar(select(Officer).where(Officer.email == email))
        if officer is None:
            officer = create_officer(email=email, name=name, role=role, password=password)
        if officer.totp_secret is None or officer.totp_confirmed_at is None:
            # Set up already, so that the demo signs in at once: the secret is a demo
            # setting, printed by `flask demo accounts`.
            enrol(officer, by="demo seed")
    seed_templates()
    seed_team()
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


def seed_team() -> None:
    """The demo team, once: the demo officer and supervisor, and central Bristol."""
    from app.services import teams

    if any(team.name == DEMO_TEAM for team in teams.find_teams()):
        return
    by_email = {o.email: o for o in db.session.scalars(select(Officer))}
    admin = by_email["admin@example.invalid"]
    team = teams.create_team(admin, DEMO_TEAM)
    members = [
        str(by_email[e].id) for e in ("officer@example.invalid", "supervisor@example.invalid")
    ]
    teams.set_members(admin, team.id, members)
    teams.set_supervisors(admin, team.id, members[1:])
    bristol = {
        place["name"]: place["id"]
        for place in teams.find_area_places()
        if place["kind"] == "ward" and place["district"] == "Bristol, City of"
    }
    for ward in DEMO_TEAM_WARDS:
        if ward in bristol:
            teams.add_place_area(admin, team.id, str(bristol[ward]))
    click.echo(f"Made the team {DEMO_TEAM}: it sends inside {len(team.areas)} Bristol wards.")


@demo_cli.command("accounts")
def print_accounts() -> None:
    """Print the demo accounts' e-mail addresses, passwords and second-factor secrets."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("There are no demo accounts in production.")
    secrets = dict(db.session.execute(select(Officer.email, Officer.totp_secret)).all())
    click.echo("Demo accounts (development only):")
    for email, _, role, password in DEMO_ACCOUNTS:
        click.echo(f"  {role:<11} {email:<28} password: {password}")
        if secrets.get(email):
            click.echo(f"  {'':<11} {'':<28} TOTP secret: {secrets[email]}")
    click.echo(
        "  After the password, sign-in asks for a code: add a secret to an authenticator\n"
        "  app, or run `flask officers totp-code EMAIL` (APP_ENV=development only)."
    )
    click.echo(
        f"  The officer and supervisor are the team {DEMO_TEAM}: they send only inside\n"
        f"  its wards ({', '.join(DEMO_TEAM_WARDS)}); the admin sends anywhere."
    )
