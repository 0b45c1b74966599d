"""Alerts' ward shares are measured again: each ward's people are now spread over its
live postcodes (dao.figures.WARD_SHARE_INSIDE), not its area, and the shares kept
for settled alerts were by area. The sweeper measures them again.

Revision ID: 0068
Revises: 0067
"""

from alembic import op

revision = "0068"
down_revision = "0067"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE alert_figures SET wards_at = NULL WHERE wards_at IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE alert_figures SET wards_at = NULL WHERE wards_at IS NOT NULL")
