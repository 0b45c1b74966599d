"""Tables only, one module per aggregate."""

from app.models.alert import ALERT_MODES, CATEGORIES, Alert, AlertRecording, AlertTemplate
from app.models.audit import AuditEvent
from app.models.delivery import (
    CHANNELS,
    FINAL_STATUSES,
    STATUS_RANK,
    Delivery,
    DeliveryStatus,
    OutboxMessage,
    ProviderEvent,
    ResidentNotice,
)
from app.models.force import AlertForce, Force
from app.models.identity import OfficerIdentity
from app.models.officer import ROLES, Officer, StaffSession
from app.models.place import (
    NAME_SEARCH_KEY,
    DataLoad,
    NamedPlace,
    Place,
    Postcode,
    PostcodeAreaCoverage,
    name_search_key,
)
from app.models.population import WardPopulation
from app.models.reply import REPLY_KINDS, Reply, StoppedNumber
from app.models.resident import (
    InterestGroup,
    Resident,
    ResidentChannel,
    ResidentConsent,
    ResidentImport,
    ResidentLocation,
)
from app.models.target import SQUARE_M, Target, TargetSquare
from app.models.team import Team, TeamArea, alert_teams, team_members, team_supervisors

# Ids are PostgreSQL integers: a larger number names no row (and is refused, not sent).
MAX_ID = 2**31 - 1

__all__ = [
    "MAX_ID",
    "ALERT_MODES",
    "CATEGORIES",
    "AlertRecording",
    "AlertTemplate",
    "CHANNELS",
    "FINAL_STATUSES",
    "STATUS_RANK",
    "ROLES",
    "Alert",
    "AuditEvent",
    "DataLoad",
    "Delivery",
    "DeliveryStatus",
    "Force",
    "AlertForce",
    "InterestGroup",
    "NAME_SEARCH_KEY",
    "NamedPlace",
    "Officer",
    "OfficerIdentity",
    "OutboxMessage",
    "Place",
    "ProviderEvent",
    "Postcode",
    "PostcodeAreaCoverage",
    "Resident",
    "ResidentChannel",
    "ResidentConsent",
    "ResidentImport",
    "ResidentLocation",
    "ResidentNotice",
    "REPLY_KINDS",
    "Reply",
    "StaffSession",
    "StoppedNumber",
    "Target",
    "TargetSquare",
    "SQUARE_M",
    "Team",
    "TeamArea",
    "alert_teams",
    "team_members",
    "team_supervisors",
    "WardPopulation",
    "name_search_key",
]
