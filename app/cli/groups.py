"""flask groups: the groups residents may join."""

from __future__ import annotations

import click
from flask.cli import AppGroup

groups_cli = AppGroup("groups", help="The groups residents may join (Neighbourhood Watch...).")


@groups_cli.command("list")
def list_groups() -> None:
    """Every group: its slug (as imports name it), its name and its Welsh name."""
    from app.services.interest_groups import find_groups

    groups = find_groups()
    if not groups:
        click.echo("No groups yet: add one with flask groups add NAME.")
    for group in groups:
        click.echo(
            f"{group.slug:<28} {group.name}" + (f" / {group.name_cy}" if group.name_cy else "")
        )


@groups_cli.command("add")
@click.argument("name")
@click.option("--name-cy", help='Its name in Welsh, e.g. "Gwarchod Cymdogaeth".')
@click.option("--slug", help="How imports and links name it (default: from the name).")
def add(name: str, name_cy: str | None, slug: str | None) -> None:
    """Add a group residents may join and officers may send to."""
    from app.services.interest_groups import GroupRefused, add_group

    try:
        group = add_group(name=name, name_cy=name_cy, slug=slug)
    except GroupRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    click.echo(f"Added {group.name} ({group.slug}).")
