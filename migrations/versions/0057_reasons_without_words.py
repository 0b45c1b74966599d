"""A refusal is kept as its codes, never the provider's words (app/channels/reasons.py):
the reasons already kept lose them too. A mail server's reply and Twilio's message name
the recipient, and stayed in the ledger and the analysts' figures after the resident
had gone. Each distinct reason is rewritten once; the figures' rows that then share a
reason are added together. The words cannot come back: the downgrade changes nothing.

Revision ID: 0057
Revises: 0056
"""

import sqlalchemy as sa
from alembic import op

from app.channels.reasons import rewritten

revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None

LEDGERS = ("deliveries", "resident_notices")
KEPT = "reason ~ '^(gave up after [0-9]+ attempts?: )?(SMTP|Twilio) [0-9]+: '"
BATCH = 500


def _changes(connection, table: str) -> list[tuple[str, str]]:
    found = connection.execute(sa.text(f"SELECT DISTINCT reason FROM {table} WHERE {KEPT}"))  # noqa: S608
    return [(old, new) for old in found.scalars() if (new := rewritten(old)) != old]


def upgrade() -> None:
    connection = op.get_bind()
    for table in LEDGERS:
        changes = _changes(connection, table)
        for start in range(0, len(changes), BATCH):
            olds, news = zip(*changes[start : start + BATCH], strict=True)
            connection.execute(
                sa.text(
                    f"UPDATE {table} d SET reason = m.new FROM (SELECT"  # noqa: S608
                    " unnest(CAST(:olds AS text[])) AS old,"
                    " unnest(CAST(:news AS text[])) AS new) m WHERE d.reason = m.old"
                ),
                {"olds": list(olds), "news": list(news)},
            )
    # The figures: a row per alert, channel, status and reason, so rows whose reasons
    # become one are added together.
    changes = dict(_changes(connection, "alert_delivery_totals"))
    if not changes:
        return
    rows = connection.execute(
        sa.text(
            "DELETE FROM alert_delivery_totals WHERE reason = ANY(:olds) RETURNING alert_id,"
            " channel, status, reason, messages, segments, billed_minutes, within_s, within,"
            " last_arrived_s"
        ),
        {"olds": list(changes)},
    ).mappings()
    merged: dict[tuple, dict] = {}
    for row in rows:
        key = (row["alert_id"], row["channel"], row["status"], changes[row["reason"]])
        into = merged.setdefault(
            key,
            {
                **row,
                "reason": key[3],
                "messages": 0,
                "segments": 0,
                "billed_minutes": 0,
                "within": 0,
                "last_arrived_s": None,
            },
        )
        for field in ("messages", "segments", "billed_minutes", "within"):
            into[field] += row[field]
        if row["last_arrived_s"] is not None:
            into["last_arrived_s"] = max(into["last_arrived_s"] or 0, row["last_arrived_s"])
    connection.execute(
        sa.text(
            "INSERT INTO alert_delivery_totals (alert_id, channel, status, reason, messages,"
            " segments, billed_minutes, within_s, within, last_arrived_s) VALUES (:alert_id,"
            " :channel, :status, :reason, :messages, :segments, :billed_minutes, :within_s,"
            " :within, :last_arrived_s) ON CONFLICT (alert_id, channel, status, reason) DO"
            " UPDATE SET messages = alert_delivery_totals.messages + excluded.messages,"
            " segments = alert_delivery_totals.segments + excluded.segments,"
            " billed_minutes = alert_delivery_totals.billed_minutes + excluded.billed_minutes,"
            " within = alert_delivery_totals.within + excluded.within,"
            " last_arrived_s = greatest(alert_delivery_totals.last_arrived_s,"
            " excluded.last_arrived_s)"
        ),
        list(merged.values()),
    )


def downgrade() -> None:
    pass  # the providers' words are gone
