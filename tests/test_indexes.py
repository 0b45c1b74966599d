"""Lookups that run on every sign-up, confirmation or message use an index, so they
stay fast at a million residents (bench/bench_load.py found one that scanned every
channel). With sequential scans off, the planner must find the index: if the index
and the query's expression ever drift apart, this fails."""

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import ResidentChannel, ResidentNotice


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            select(ResidentChannel.resident_id)
            .where(func.lower(ResidentChannel.address) == "sam@example.invalid")
            .limit(1),
            "ix_resident_channels_address_lower",
        ),
        (
            select(ResidentChannel.resident_id).where(ResidentChannel.address == "+447700900123"),
            "ix_resident_channels_address",
        ),
        (  # dao.residents.newest_refusal_to: every confirm page, each way
            select(ResidentNotice.status, ResidentNotice.reason)
            .where(
                ResidentNotice.address == "+447700900123",
                ResidentNotice.channel == "sms",
                ResidentNotice.created_at >= func.now(),
                ResidentNotice.kind.in_(("verify_code", "already_registered")),
            )
            .order_by(ResidentNotice.created_at.desc(), ResidentNotice.id.desc())
            .limit(1),
            "ix_resident_notices_to",
        ),
    ],
)
def test_channel_lookups_by_address_use_an_index(app_ctx, query, index):
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db.session.execute(text(f"EXPLAIN {compiled}")).scalars())
    db.session.rollback()
    assert index in plan, plan
