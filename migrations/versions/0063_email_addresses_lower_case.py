"""E-mail addresses in lower case: one mailbox typed "Jo.Smith@…" by one resident and
"jo.smith@…" by another (or kept so by an old system and imported) was two addresses
to the send, which sends one message per channel and address, so its owner had every
alert twice. Addresses are kept in lower case from now on (contacts.normalise_email);
this makes the ones already kept so. The targets follow through their triggers (0022).
Nothing to undo: the case typed is not kept.

Revision ID: 0063
Revises: 0062
"""

from alembic import op

revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE resident_channels SET address = lower(address)"
        " WHERE channel = 'email' AND address <> lower(address)"
    )
    op.execute(
        "UPDATE resident_channels SET pending_address = lower(pending_address)"
        " WHERE channel = 'email' AND pending_address <> lower(pending_address)"
    )


def downgrade() -> None:
    pass
