"""flask demo seed: accounts and clearly synthetic residents for trying the product."""

from __future__ import annotations

import random

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select, text

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
# The demo's second force, beside the first: its own staff and residents, so that what
# each force's staff see, and a resident with places in both, can be tried.
SECOND_FORCE = {
    "code": "E23000038",
    "name": "Wiltshire",
    "contact": "Call 101, or 999 in an emergency",
    "contact_cy": "Ffoniwch 101, neu 999 mewn argyfwng",
}
SECOND_FORCE_ACCOUNTS = (
    ("wiltshire.officer@example.invalid", "PCSO Wiltshire Demo", "officer", "demo-officer-2"),
    (
        "wiltshire.supervisor@example.invalid",
        "Sgt Wiltshire Demo",
        "supervisor",
        "demo-supervisor-2",
    ),
    ("wiltshire.analyst@example.invalid", "Wiltshire Analyst", "analyst", "demo-analyst-wilts"),
    ("wiltshire.admin@example.invalid", "Wiltshire Admin", "admin", "demo-admin-wiltshire"),
)
# A resident near the border, with a home in Bath and a farm in Wiltshire.
BORDER_RESIDENT = ("Demo Border Resident", ("Home", "BA1 1RG"), ("Farm", "BA14 6AA"))
DEFAULT_GROUPS = (
    ("neighbourhood-watch", "Neighbourhood Watch", "Gwarchod Cymdogaeth"),
    ("farm-watch", "Farm Watch", "Gwarchod Ffermydd"),
    ("business-watch", "Business Watch", "Gwarchod Busnesau"),
    ("horse-watch", "Horse Watch", "Gwarchod Ceffylau"),
)


def ensure_interest_groups() -> None:
    existing = set(db.session.scalars(select(InterestGroup.slug)))
    for slug, name, name_cy in DEFAULT_GROUPS:
        if slug not in existing:
            db.session.add(InterestGroup(slug=slug, name=name, name_cy=name_cy))
    db.session.commit()


def seed_residents(
    count: int, *, seed: int = 2026, force_code: str | None = None, prefix: str = "Demo"
) -> int:
    """`count` synthetic residents on real postcodes inside the force area (the
    default force's unless `force_code` says).

    Phone numbers come from Ofcom's drama ranges (07700 900xxx, 0117 496 0xxx), e-mail
    addresses are under example.invalid: none of them can reach a real person.
    """
    rng = random.Random(seed)  # noqa: S311 (synthetic data, not security)
    postcodes = find_random_postcodes_in_force(
        db.session,
        force_code or current_app.config["FORCE_CODE"],
        count,
        seed=(seed % 1000) / 1000,
    )
    if not postcodes:
        raise click.ClickException("No postcodes in the force area: run `flask geo load-shipped`.")
    groups = {g.slug: g for g in db.session.scalars(select(InterestGroup))}
    for n in range(count):
        postcode, location = postcodes[n % len(postcodes)]
        resident = Resident(name=f"{prefix} Resident {n + 1:05d}", confirmed_at=func.now())
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
                address = f"{prefix.lower()}.resident.{n + 1:05d}@example.invalid"
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
        if (n + 1) % SEED_BATCH == 0:
            _commit_and_analyze()
    _commit_and_analyze()
    return count


# Residents are written in batches, the tables' statistics refreshed after each: into
# an empty database, one statement of 3,000 residents was planned for empty tables
# and took minutes (PostgreSQL keeps each resident's targets in step as they are
# written, migration 0022).
SEED_BATCH = 500


def _commit_and_analyze() -> None:
    db.session.commit()
    db.session.execute(
        text("ANALYZE residents, resident_locations, resident_channels, resident_groups, targets")
    )
    db.session.commit()


@demo_cli.command("seed")
@click.option("--residents", default=3000, show_default=True)
def seed(residents: int) -> None:
    """Demo accounts, interest groups and synthetic residents (skips what exists)."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("Demo data is never loaded in production.")
    from app.services.accounts import create_officer
    from app.services.second_factor import enrol

    # Before anything is written: the demo's team and residents are placed on the
    # shipped wards and postcodes, and a seed that stopped half-way left a team with no
    # wards (which sends anywhere).
    if not find_random_postcodes_in_force(
        db.session, current_app.config["FORCE_CODE"], 1, seed=0.5
    ):
        raise click.ClickException(
            "No postcodes in the force area: run `flask geo load-shipped` first "
            "(`make run` does), then seed again."
        )

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
    seed_welsh_contact()
    have = db.session.scalar(select(func.count()).select_from(Resident))
    if have == 0:
        seed_residents(residents)
        click.echo(f"Seeded {residents:,} synthetic residents.")
    else:
        click.echo(f"{have:,} residents already there; not seeding more.")
    seed_second_force(max(residents // 5, 1))
    click.echo("`flask demo accounts` lists the demo sign-ins.")


def seed_welsh_contact() -> None:
    """How the public reach the demo's force, in Welsh too (its Welsh alerts and feed
    said it in English): set by its admin on the force's page in a real installation."""
    from app.services.forces import default_force

    force = default_force()
    if not force.contact_cy and force.contact == SECOND_FORCE["contact"]:
        force.contact_cy = SECOND_FORCE["contact_cy"]
        db.session.commit()


def seed_second_force(residents: int) -> None:
    """The neighbouring force, once: its staff, its residents, and one resident with a
    home in the first force and a farm in this one."""
    from app.dao import forces as forces_dao
    from app.dao import places as places_dao
    from app.services.accounts import create_officer
    from app.services.forces import add_force
    from app.services.second_factor import enrol

    if places_dao.find_force(SECOND_FORCE["code"]) is None:
        click.echo("No boundary for the second force: run `flask geo load-shipped`.")
        return
    force = forces_dao.find_force_by_code(SECOND_FORCE["code"])
    if force is None:
        force, _moved = add_force(**SECOND_FORCE)
        click.echo(f"Added the second force, {force.name}, at /forces/{force.slug}.")
    for email, name, role, password in SECOND_FORCE_ACCOUNTS:
        officer = db.session.scalar(select(Officer).where(Officer.email == email))
        if officer is None:
            officer = create_officer(
                email=email, name=name, role=role, password=password, force_id=force.id
            )
        if officer.totp_secret is None or officer.totp_confirmed_at is None:
            enrol(officer, by="demo seed")
    prefix = force.name.split()[0]
    theirs = db.session.scalar(
        select(func.count()).select_from(Resident).where(Resident.name.like(f"{prefix} Resident %"))
    )
    if not theirs:
        seed_residents(residents, seed=2027, force_code=force.code, prefix=prefix)
        click.echo(f"Seeded {residents:,} synthetic residents in {force.name}.")
    seed_border_resident()


def seed_border_resident() -> None:
    from app.dao.places import find_postcode

    name, *places = BORDER_RESIDENT
    if db.session.scalar(select(Resident.id).where(Resident.name == name)):
        return
    resident = Resident(name=name, confirmed_at=func.now())
    for label, shown in places:
        postcode = find_postcode(shown.replace(" ", ""))
        if postcode is None or postcode.location is None:
            return
        resident.locations.append(
            ResidentLocation(label=label, postcode=postcode.postcode, location=postcode.location)
        )
    resident.channels.append(
        ResidentChannel(channel="sms", address="+447700900999", verified_at=func.now())
    )
    db.session.add(resident)
    db.session.commit()


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

    by_email = {o.email: o for o in db.session.scalars(select(Officer))}
    admin = by_email["admin@example.invalid"]
    team = next((t for t in teams.find_teams() if t.name == DEMO_TEAM), None)
    if team is not None and team.areas:
        return
    if team is None:
        team = teams.create_team(admin, DEMO_TEAM)
        members = [
            str(by_email[e].id) for e in ("officer@example.invalid", "supervisor@example.invalid")
        ]
        teams.set_members(admin, team.id, members)
        teams.set_supervisors(admin, team.id, members[1:])
    # Its wards (again, if a seed before the boundaries were loaded left it without).
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
    for email, _, role, password in DEMO_ACCOUNTS + SECOND_FORCE_ACCOUNTS:
        click.echo(f"  {role:<11} {email:<28} password: {password}")
        if secrets.get(email):
            click.echo(f"  {'':<11} {'':<28} TOTP secret: {secrets[email]}")
    click.echo(
        "  After the password, sign-in asks for a code: add a secret to an authenticator\n"
        "  app, or run `flask officers totp-code EMAIL` (APP_ENV=development only)."
    )
    from app.services import teams

    team = next((t for t in teams.find_teams() if t.name == DEMO_TEAM), None)
    wards = sorted(area.label.removesuffix(" (ward)") for area in team.areas) if team else []
    click.echo(
        f"  The officer and supervisor are the team {DEMO_TEAM}: they send only inside\n"
        f"  its wards ({', '.join(wards)}); the admin sends anywhere."
        if wards
        else f"  The team {DEMO_TEAM} has no wards yet, so its officers send anywhere:\n"
        "  run `flask geo load-shipped`, then `flask demo seed` again."
    )
    click.echo(
        f"  The wiltshire.* accounts are staff of the second force, {SECOND_FORCE['name']}:\n"
        "  they see and reach only its residents. The demo border resident has a home in\n"
        "  Bath and a farm in Wiltshire: each force reaches them at its own place."
    )
    # Where messages go, as the app sends them (with Twilio and SMTP set, `make run`
    # said "the Outbox page" all the same: an outside check of the install).
    click.echo(
        "\n  Messages go to the Twilio and SMTP servers set here, which may reach real people."
        if current_app.config.get("DELIVERY_TRANSPORT") == "providers"
        else "\n  Messages go to the Outbox page, not to real phones or inboxes."
    )
