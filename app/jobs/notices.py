"""RQ entry point for notices to residents (codes, links). Takes ids; safe to run twice."""

from __future__ import annotations

from app.jobs import with_app_context
from app.services import notices


@with_app_context
def send_notices(notice_ids: list[int]) -> dict[str, int]:
    return notices.send_notices(notice_ids)
