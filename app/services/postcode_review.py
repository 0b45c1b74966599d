"""Residents whose postcode has changed under them, for an analyst to review.

A resident keeps the point they registered with, so a terminated or moved postcode
never silently stops their alerts; this list says where the directory and our records
disagree. It names postcodes and counts, never residents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import format_date, gettext

from app.dao.audit import create_audit_event
from app.dao.postcodes import find_changed_postcodes
from app.extensions import db
from app.models import Officer
from app.services import forces
from app.services.suppression import K_MIN, fewer_than

# Further than this from the directory's current point counts as "moved": postcode
# centroids shift by a few metres between releases for no reason worth a review.
MOVED_THRESHOLD_M = 50


@dataclass(frozen=True)
class PostcodeReview:
    postcode: str
    residents: int
    reason: str  # "terminated", "moved", "no location", "not in the directory"
    terminated_on: date | None
    moved_m: float | None

    @property
    def residents_label(self) -> str:
        """The count as every analyst figure shows it: under K_MIN, "fewer than 5" (a
        unit postcode is a street or less: a count of one is a household)."""
        return format(self.residents, ",") if self.residents >= K_MIN else fewer_than(K_MIN)

    @property
    def explanation(self) -> str:
        """What changed, in the page's language."""
        if self.reason == "terminated":
            month = format_date(self.terminated_on, "MMMM y")
            return gettext("Terminated in %(month)s", month=month)
        if self.reason == "moved":
            metres = format(round(self.moved_m or 0), ",")
            return gettext("Centre moved %(metres)s m since they registered", metres=metres)
        if self.reason == "no location":
            return gettext("The directory no longer gives it a location")
        return gettext("No longer in the postcode directory")


def find_postcode_reviews(officer: Officer, limit: int = 500) -> list[PostcodeReview]:
    rows = find_changed_postcodes(
        db.session,
        moved_m=MOVED_THRESHOLD_M,
        limit=limit,
        force_id=forces.current_force().id,
    )
    db.session.rollback()
    create_audit_event(
        "report.postcode_review_viewed",
        actor_id=officer.id,
        details={"postcodes_shown": len(rows)},
    )
    db.session.commit()
    reviews = []
    for key, residents, missing, terminated_on, no_location, moved_m in rows:
        if missing:
            reason = "not in the directory"
        elif terminated_on is not None:
            reason = "terminated"
        elif no_location:
            reason = "no location"
        else:
            reason = "moved"
        shown = f"{key[:-3]} {key[-3:]}"
        reviews.append(PostcodeReview(shown, residents, reason, terminated_on, moved_m))
    return reviews
