"""Password accounts' second factor and reset links (issue 13).

Officers: a TOTP secret (confirmed by a first code), one being set up, and the last
time step accepted (a code is never accepted twice); no password for an account that
signs in only through the force's identity provider. Ten hashed one-time recovery
codes per account. One-time links an administrator sends to set a password.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("officers", "password_hash", existing_type=sa.Text(), nullable=True)
    op.add_column("officers", sa.Column("totp_secret", sa.String(64)))
    op.add_column("officers", sa.Column("totp_pending_secret", sa.String(64)))
    op.add_column("officers", sa.Column("totp_confirmed_at", sa.DateTime(timezone=True)))
    op.add_column("officers", sa.Column("totp_last_step", sa.BigInteger()))
    op.create_table(
        "officer_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey(
                "officers.id",
                ondelete="CASCADE",
                name="fk_officer_recovery_codes_officer_id_officers",
            ),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_officer_recovery_codes"),
    )
    op.create_index(
        "ix_officer_recovery_codes_officer_id", "officer_recovery_codes", ["officer_id"]
    )
    op.create_table(
        "officer_account_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey(
                "officers.id",
                ondelete="CASCADE",
                name="fk_officer_account_links_officer_id_officers",
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "created_by_id",
            sa.Integer(),
            sa.ForeignKey(
                "officers.id",
                ondelete="SET NULL",
                name="fk_officer_account_links_created_by_id_officers",
            ),
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_officer_account_links"),
        sa.UniqueConstraint("token_hash", name="uq_officer_account_links_token_hash"),
        sa.CheckConstraint(
            "kind IN ('reset', 'invite')", name="ck_officer_account_links_kind_known"
        ),
    )
    op.create_index("ix_officer_account_links_officer_id", "officer_account_links", ["officer_id"])


def downgrade() -> None:
    op.drop_table("officer_account_links")
    op.drop_table("officer_recovery_codes")
    op.drop_column("officers", "totp_last_step")
    op.drop_column("officers", "totp_confirmed_at")
    op.drop_column("officers", "totp_pending_secret")
    op.drop_column("officers", "totp_secret")
    # An account without a password (single sign-on only) cannot sign in before 0018.
    op.execute("UPDATE officers SET password_hash = '!' WHERE password_hash IS NULL")
    op.alter_column("officers", "password_hash", existing_type=sa.Text(), nullable=False)
