"""RQ entry point for a resident's request for a link to their page. (Notices
themselves are sent by the outbound engine's job, app/jobs/outbound.py.)"""

from __future__ import annotations

from app.jobs import with_app_context
from app.services import notices


@with_app_context
def send_manage_link(request_key: str) -> bool:
    """Look up the address the resident gave (kept briefly in Redis under
    request_key) and, if we hold it, send it a link to their page. Done in a job so that
    the page answers in the same time whether or not we hold the address."""
    from app.extensions import db, redis_store
    from app.services.verification import send_manage_link as create_link

    address = redis_store.client.getdel(f"manage-request:{request_key}")
    if address is None:
        return False
    notice_id = create_link(address.decode())
    db.session.commit()
    if notice_id is not None:
        notices.send_notices([notice_id])
    return notice_id is not None
