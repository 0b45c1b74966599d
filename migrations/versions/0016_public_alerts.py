"""Public alerts (issue 15): every alert gets a short public reference, e.g. A7K2-9QF,
printed in its e-mails, said in its calls and (by configuration) carried in its texts,
so that anyone can check on the public site that the force sent a message. Alerts
already made get one now.

Revision ID: 0016
Revises: 0015
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# As app/references.py (a migration keeps its own copy: the app's may change later).
ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"


def _reference() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(7))
    return f"{symbols[:4]}-{symbols[4:]}"


def upgrade() -> None:
    op.add_column("alerts", sa.Column("reference", sa.String(8), nullable=True))
    connection = op.get_bind()
    ids = connection.execute(sa.text("SELECT id FROM alerts ORDER BY id")).scalars().all()
    given: set[str] = set()
    for alert_id in ids:
        reference = _reference()
        while reference in given:
            reference = _reference()
        given.add(reference)
        connection.execute(
            sa.text("UPDATE alerts SET reference = :reference WHERE id = :id"),
            {"reference": reference, "id": alert_id},
        )
    op.alter_column("alerts", "reference", nullable=False)
    op.create_unique_constraint("uq_alerts_reference", "alerts", ["reference"])


def downgrade() -> None:
    op.drop_constraint("uq_alerts_reference", "alerts")
    op.drop_column("alerts", "reference")
