"""Room on each page of the squares counted ahead (target_squares, migration 0031) for
their counts to change in place.

Every sign-up, change and removal updates a square's count. With full pages, each
update moves the row to another page and adds an index entry, so over the day a run of
neighbouring squares scatters over the table, and the officer's preview reads a page
for nearly every row it adds up (about 3,300 pages for 3,000 rows at 20 km over a
million residents, against about 390 once the table was rewritten in order). A fifth
of each page left free keeps those updates on their page (PostgreSQL's HOT updates);
the nightly reordering (flask residents reorder-targets) rewrites the table in the
order of its key, which this setting then keeps.

Revision ID: 0041
Revises: 0040
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE target_squares SET (fillfactor = 80)")


def downgrade() -> None:
    op.execute("ALTER TABLE target_squares RESET (fillfactor)")
