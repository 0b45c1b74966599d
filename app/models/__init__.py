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
    ResidentNotice,
)
from app.models.officer import ROLES, Officer
from app.models.place import DataLoad, Place, Postcode
from app.models.resident import (
    InterestGroup,
    Resident,
    ResidentChannel,
    ResidentImport,
    ResidentLocation,
)

__all__ = [
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
    "InterestGroup",
    "Officer",
    "OutboxMessage",
    "Place",
    "Postcode",
    "Resident",
    "ResidentChannel",
    "ResidentImport",
    "ResidentLocation",
    "ResidentNotice",
]
