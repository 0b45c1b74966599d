"""RQ entry point for a resident's request for a link to their page. (Notices
themselves are sent by the outbound engine's job, app/jobs/outbound.py.)"""

from __future__ import annotations

from app.jobs import leased, with_app_context
from app.services import verification


@with_app_context
@leased
def send_manage_link(request_key: str) -> bool:
    """Send the link a resident asked for, if we hold their address. Done in a job so
    that the page answers in the same time whether or not we hold the address."""
    return verification.send_requested_manage_link(request_key)
