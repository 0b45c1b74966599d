"""Teams and their permitted areas (issue 13).

teams: neighbourhood policing teams, with `area`, the union of their permitted areas
(BNG; NULL: no limit, anywhere in the force), kept by the service that changes them.
team_members: the officers of a team (an officer may be in several).
team_supervisors: the supervisors who approve for a team.
team_areas: a team's permitted areas, each a ward or district (a places row) or a
drawn shape (BNG multipolygon).
alert_teams: the teams an alert belongs to: its author's teams when it was created.
A trigger writes them for every new alert (a send, a test to oneself, any path), so
no code path can leave an alert without the teams its author had.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ALERT_TEAMS_FUNCTION = """
CREATE FUNCTION alert_teams_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO alert_teams (alert_id, team_id)
    SELECT a.id, m.team_id
    FROM new_rows a JOIN team_members m ON m.officer_id = a.created_by_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
"""
ALERT_TEAMS_TRIGGER = """
CREATE TRIGGER alert_teams_after_insert AFTER INSERT ON alerts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION alert_teams_after_insert();
"""


def _officer(name: str = "officer_id") -> sa.Column:
    return sa.Column(
        name, sa.Integer, sa.ForeignKey("officers.id", ondelete="CASCADE"), nullable=False
    )


def _team() -> sa.Column:
    return sa.Column(
        "team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    )


def _created() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("area", Geometry("MULTIPOLYGON", srid=27700, spatial_index=False)),
        _created(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    # One team of a name, whatever its case.
    op.execute("CREATE UNIQUE INDEX uq_teams_name ON teams (lower(name))")
    op.create_table(
        "team_members",
        _team(),
        _officer(),
        _created(),
        sa.PrimaryKeyConstraint("team_id", "officer_id", name="pk_team_members"),
    )
    op.create_index("ix_team_members_officer_id", "team_members", ["officer_id"])
    op.create_table(
        "team_supervisors",
        _team(),
        _officer(),
        _created(),
        sa.PrimaryKeyConstraint("team_id", "officer_id", name="pk_team_supervisors"),
    )
    op.create_index("ix_team_supervisors_officer_id", "team_supervisors", ["officer_id"])
    op.create_table(
        "team_areas",
        sa.Column("id", sa.Integer, primary_key=True),
        _team(),
        sa.Column("place_id", sa.Integer, sa.ForeignKey("places.id", ondelete="CASCADE")),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("shape", Geometry("MULTIPOLYGON", srid=27700, spatial_index=False)),
        _created(),
        sa.CheckConstraint("(place_id IS NULL) <> (shape IS NULL)", name="place_or_shape"),
        sa.UniqueConstraint("team_id", "place_id", name="uq_team_areas_team_id_place_id"),
    )
    op.create_index("ix_team_areas_team_id", "team_areas", ["team_id"])
    op.create_table(
        "alert_teams",
        sa.Column(
            "alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
        ),
        _team(),
        sa.PrimaryKeyConstraint("alert_id", "team_id", name="pk_alert_teams"),
    )
    op.create_index("ix_alert_teams_team_id", "alert_teams", ["team_id"])
    op.execute(ALERT_TEAMS_FUNCTION)
    op.execute(ALERT_TEAMS_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER alert_teams_after_insert ON alerts")
    op.execute("DROP FUNCTION alert_teams_after_insert()")
    for table in ("alert_teams", "team_areas", "team_supervisors", "team_members", "teams"):
        op.drop_table(table)
