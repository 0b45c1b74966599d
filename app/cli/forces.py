"""flask forces: the police forces an installation serves."""

from __future__ import annotations

import click
from flask.cli import AppGroup

forces_cli = AppGroup("forces", help="The police forces this installation serves.")


@forces_cli.command("list")
def list_forces() -> None:
    """Every force: its code, its web address slug and its name."""
    from app.services.forces import find_forces

    for force in find_forces():
        default = "  (default)" if force.is_default else ""
        click.echo(f"{force.code}  {force.slug:<24} {force.name}{default}")


@forces_cli.command("add")
@click.option("--code", required=True, help="ONS police force area code, e.g. E23000038.")
@click.option("--name", required=True, help='Its name as the public know it: "Wiltshire".')
@click.option("--contact", default="Call 101, or 999 in an emergency", show_default=True)
@click.option("--contact-cy", help='The same in Welsh, e.g. "Ffoniwch 101, neu 999 mewn argyfwng".')
@click.option("--slug", help="Its web addresses' part (default: from the name).")
@click.option("--name-cy", help="Its name in Welsh.")
@click.option("--website", help="Its own website.")
def add(code, name, contact, contact_cy, slug, name_cy, website) -> None:
    """Add a force. Load its boundary first (flask geo load-places --kind force)."""
    from app.services.forces import ForceRefused, add_force

    try:
        force, moved = add_force(
            code=code,
            name=name,
            contact=contact,
            contact_cy=contact_cy,
            slug=slug,
            name_cy=name_cy,
            website=website,
        )
    except ForceRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    click.echo(
        f"Added {force.name} ({force.code}) at /forces/{force.slug}; "
        f"{moved} residents' places inside it are now its own."
    )


@forces_cli.command("reassign")
def reassign() -> None:
    """Give every resident's place its force again, from the forces' newest areas
    (done by `flask geo load-places --kind force` and `flask forces add` themselves).
    Residents' changes wait meanwhile: run it at a quiet hour."""
    from app.services.forces import ForceRefused, reassign_places

    try:
        moved = reassign_places()
    except ForceRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    click.echo(f"{moved:,} residents' places now belong to another force.")
