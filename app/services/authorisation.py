"""The authorisation matrix: who may do what, in one table.

Each action gives each role one of:

    ALL   allowed, whichever team the alert is of (force-wide: an alert of another
          force is never anyone's, app/services/forces.py);
    TEAM  allowed for alerts of the officer's own teams only (services/teams.py):
          alerts they wrote, alerts of a team they belong to or supervise, and alerts
          of no team. For "alert.approve": of a team they *supervise* (or of no team).
          For a list (alert.list, approvals.list), the list holds only those.
    NO    refused: 403.

Actions on no alert (the map page, reports, admin pages) are ALL or NO. Views use
`roles_for(action)` with auth.role_required, and `may(officer, action, alert)` for one
alert; tests/test_authorisation_matrix.py walks every route against this table, and
the README's table is this one (test_the_readme_shows_the_matrix checks they agree).
"""

from __future__ import annotations

from app.models import Alert, Officer
from app.services import teams

ALL, TEAM, NO = "all", "team", "no"

# The roles, in the order of the table's columns.
MATRIX_ROLES = ("officer", "supervisor", "analyst", "admin")

# action: (officer, supervisor, analyst, admin), and what it covers.
MATRIX: dict[str, tuple[tuple[str, str, str, str], str]] = {
    "alert.write": (
        (ALL, ALL, NO, ALL),
        "the map page, preview, wording, templates, recordings, send, test to myself "
        "(where: inside the permitted areas of the officer's teams)",
    ),
    "alert.list": ((TEAM, TEAM, NO, ALL), "the list of alerts"),
    "alert.view": ((TEAM, TEAM, NO, ALL), "an alert's page and its progress"),
    "alert.follow_up": ((TEAM, TEAM, NO, ALL), "a follow-up to an alert's residents"),
    "alert.cancel": ((TEAM, TEAM, NO, ALL), "cancel an alert"),
    "alert.take_down": (
        (TEAM, TEAM, NO, ALL),
        "take an alert's public page, feed entries and CAP document down",
    ),
    "alert.send_again": (
        (TEAM, TEAM, NO, ALL),
        "send an alert again to those no provider ever took it for",
    ),
    "alert.approve": ((NO, TEAM, NO, ALL), "approve or reject (teams supervised)"),
    "approvals.list": ((NO, TEAM, NO, ALL), "the alerts waiting for approval"),
    "alert.ask_force": (
        (NO, TEAM, NO, ALL),
        "ask a neighbouring force to send an alert to its residents in the area (teams supervised)",
    ),
    "cross_border": (
        (NO, ALL, NO, ALL),
        "another force's alert it asks this force to send: see it, approve or refuse",
    ),
    "alert.replies": ((TEAM, TEAM, NO, ALL), "an alert's replies and answers"),
    "inbox": (
        (TEAM, TEAM, NO, ALL),
        "the inbox of replies, answering a reply (to alerts of one's teams, and texts to none)",
    ),
    "outbox": (
        (TEAM, TEAM, NO, ALL),
        "the development outbox (alerts' messages: of one's teams)",
    ),
    "reports": ((NO, ALL, ALL, ALL), "density, penetration, reports"),
    "admin.accounts": ((NO, NO, NO, ALL), "staff accounts: invite, role, mobile, reset, disable"),
    "admin.import": ((NO, NO, NO, ALL), "importing a subscriber list"),
    "admin.teams": ((NO, NO, NO, ALL), "teams, members, supervisors, permitted areas"),
    "admin.audit": ((NO, NO, NO, ALL), "the audit log and its CSV"),
    "admin.postcode_review": (
        (NO, NO, NO, ALL),
        "the unit postcodes residents registered with that have ended or moved",
    ),
    "admin.force": (
        (NO, NO, NO, ALL),
        "the force's name, contact, website, CAP sender and prices",
    ),
    "admin.residents": (
        (NO, NO, NO, ALL),
        "a resident found by their whole number or e-mail (a call to 101): stop a channel, "
        "delete their details",
    ),
}

# Every staff route (endpoint) and the action it is. A route that is not here must be
# in PUBLIC_ENDPOINTS (the matrix test fails for a route in neither).
ENDPOINTS: dict[str, str] = {
    "officers.target": "alert.write",
    "officers.preview": "alert.write",
    "officers.compose": "alert.write",
    "officers.upload_recording": "alert.write",
    "officers.places": "alert.write",
    "officers.place": "alert.write",
    "officers.templates": "alert.write",
    "officers.send": "alert.write",
    "officers.send_test": "alert.write",
    "officers.alerts": "alert.list",
    "officers.alert": "alert.view",
    "officers.progress": "alert.view",
    "officers.cancel": "alert.cancel",
    "officers.take_down": "alert.take_down",
    "officers.send_again": "alert.send_again",
    "officers.approve": "alert.approve",
    "officers.reject": "alert.approve",
    "officers.approvals": "approvals.list",
    "officers.ask_force": "alert.ask_force",
    "officers.asked": "cross_border",
    "officers.decide_asked": "cross_border",
    "officers.outbox": "outbox",
    "inbox.inbox": "inbox",
    "inbox.answer": "inbox",
    "inbox.alert_replies": "alert.replies",
    "inbox.alert_answers": "alert.replies",
    "analysts.density": "reports",
    "analysts.density_geojson": "reports",
    "analysts.postcode_review": "admin.postcode_review",
    "analysts.penetration": "reports",
    "analysts.penetration_map": "reports",
    "analysts.briefing_map": "reports",
    "analysts.sent": "reports",
    "analysts.sent_csv": "reports",
    "analysts.timeline": "reports",
    "analysts.timeline_download_csv": "reports",
    "analysts.timeline_download_svg": "reports",
    "analysts.timeline_download_fatigue_svg": "reports",
    "admin.officers": "admin.accounts",
    "admin.officer": "admin.accounts",
    "admin.invite": "admin.accounts",
    "admin.set_role": "admin.accounts",
    "admin.set_officer_mobile": "admin.accounts",
    "admin.reset": "admin.accounts",
    "admin.confirm_reset": "admin.accounts",
    "admin.confirm_disable": "admin.accounts",
    "admin.set_active": "admin.accounts",
    "admin.import_residents": "admin.import",
    "admin.import_status": "admin.import",
    "admin.import_run": "admin.import",
    "admin.import_rejected_csv": "admin.import",
    "admin.audit": "admin.audit",
    "admin.force": "admin.force",
    "admin.residents": "admin.residents",
    "admin.stop_resident_channel": "admin.residents",
    "admin.delete_resident": "admin.residents",
    "admin.audit_csv": "admin.audit",
    "admin.teams": "admin.teams",
    "admin.team": "admin.teams",
    "admin.create_team": "admin.teams",
    "admin.rename_team": "admin.teams",
    "admin.team_members": "admin.teams",
    "admin.team_supervisors": "admin.teams",
    "admin.add_team_area": "admin.teams",
    "admin.remove_team_area": "admin.teams",
}

# Routes for everyone, staff rights aside: residents' and the public's pages, the
# public API, signing in, the providers' callbacks (checked by their signature), the
# health checks (which say nothing but "up"/"ready") and the metrics (checked by the
# scraper's token).
PUBLIC_BLUEPRINTS = (
    "public",
    "residents",
    "api",
    "auth",
    "sso",
    "callbacks",
    "basemap",
    "health",
)


def access(role: str, action: str) -> str:
    return MATRIX[action][0][MATRIX_ROLES.index(role)] if role in MATRIX_ROLES else NO


def roles_for(action: str) -> tuple[str, ...]:
    """The roles that may take this action on some alert (for auth.role_required)."""
    return tuple(role for role in MATRIX_ROLES if access(role, action) != NO)


def may(officer: Officer, action: str, alert: Alert | None = None) -> bool:
    """Whether the officer may take this action (on this alert)."""
    allowed = access(officer.role, action)
    if allowed == NO:
        return False
    if alert is not None and alert.force_id != officer.force_id:
        return False
    if allowed == ALL or alert is None:
        return True
    if action in ("alert.approve", "alert.ask_force"):
        return teams.is_supervised_alert(officer, alert)
    return teams.is_own_team_alert(officer, alert)


def list_filter(officer: Officer, action: str):
    """A filter for the alerts a list shows this officer: their force's, and for TEAM,
    their teams' of those."""
    allowed = access(officer.role, action)
    if allowed == ALL:
        return Alert.force_id == officer.force_id
    if action == "approvals.list":
        return teams.supervised_alerts_clause(officer)
    return teams.visible_alerts_clause(officer)


def matrix_rows() -> list[tuple[str, str, tuple[str, ...]]]:
    """(action, what it covers, access per role) for the README and the admin page."""
    return [(action, covers, cells) for action, (cells, covers) in MATRIX.items()]


def endpoint_action(endpoint: str) -> str | None:
    return ENDPOINTS.get(endpoint)
