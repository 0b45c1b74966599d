"""Deliveries that may have gone out and are never resent: "possibly_sent".

An e-mail whose worker died mid-send, or a text or call whose fate the provider cannot
tell, ends here: at most once, counted and shown, never sent a second time.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_deliveries_status_known"), "deliveries", type_="check")
    op.create_check_constraint(
        "status_known",
        "deliveries",
        "status IN ('queued', 'sending', 'unknown', 'possibly_sent', 'sent', 'delivered', "
        "'failed', 'cancelled')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_deliveries_status_known"), "deliveries", type_="check")
    op.execute("UPDATE deliveries SET status = 'unknown' WHERE status = 'possibly_sent'")
    op.create_check_constraint(
        "status_known",
        "deliveries",
        "status IN ('queued', 'sending', 'unknown', 'sent', 'delivered', 'failed', 'cancelled')",
    )
