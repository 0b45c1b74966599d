"""The audit log, for administrators only: read it a page at a time, or download it
as CSV. There is no route that changes it. Added to the admin blueprint by
`register_audit`, called from the package, so this module does not import it back."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from app.auth import role_required
from app.services import audit_log
from app.web import attachment


def _asked() -> audit_log.AuditFilter:
    return audit_log.parse_filter(
        request.args.get("person"),
        request.args.get("event"),
        request.args.get("from"),
        request.args.get("to"),
    )


def _form_values() -> dict[str, str]:
    return {key: request.args.get(key, "")[:40] for key in ("person", "event", "from", "to")}


def _refused(refusal: audit_log.AuditFilterRefused):
    people, events = audit_log.filter_choices()
    return (
        render_template(
            "admin/audit.html",
            result=None,
            form=_form_values(),
            people=people,
            events=events,
            error=str(refusal),
            error_field=refusal.field,
            wipeable=audit_log.log_can_be_wiped_here(),
        ),
        400,
    )


def audit():
    """?person=<officer id>|nobody&event=<action>&from=YYYY-MM-DD&to=YYYY-MM-DD (UK days,
    inclusive)&page=N&upto=<the newest event id the first page showed>"""
    try:
        chosen = _asked()
    except audit_log.AuditFilterRefused as refusal:
        return _refused(refusal)
    result = audit_log.audit_page(
        current_user,
        chosen,
        page=audit_log.page_number(request.args.get("page")),
        upto=audit_log.snapshot_id(request.args.get("upto")),
    )
    people, events = audit_log.filter_choices()
    return render_template(
        "admin/audit.html",
        result=result,
        form=_form_values(),
        people=people,
        events=events,
        error=None,
        error_field=None,
        wipeable=audit_log.log_can_be_wiped_here(),
    )


def audit_csv():
    try:
        body, name = audit_log.export_audit_csv(current_user, _asked())
    except audit_log.AuditFilterRefused as refusal:
        return _refused(refusal)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": attachment(name)},
    )


def register_audit(bp: Blueprint) -> None:
    """Add the audit log's routes (GET only) to the admin blueprint."""
    for rule, view in (("/audit", audit), ("/audit.csv", audit_csv)):
        bp.add_url_rule(rule, view.__name__, role_required("admin")(view))
