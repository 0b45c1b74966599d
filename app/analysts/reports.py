"""What was sent: the report page and its CSV download, for analysts and supervisors
(admins too; officers are refused). Added to the analysts' blueprint by
`register_reports`, called from the package, so this module does not import it back."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from app.auth import role_required
from app.i18n import in_language
from app.services import reports
from app.services.text import whole_number
from app.web import attachment


def _period_asked() -> reports.Period:
    return reports.period_from(
        request.args.get("from"), request.args.get("to"), request.args.get("period")
    )


def _refused(error: reports.PeriodError):
    return (
        render_template(
            "analysts/sent.html",
            report=None,
            error=str(error),
            presets=reports.PRESETS,
            asked_from=request.args.get("from", "")[:10],
            asked_to=request.args.get("to", "")[:10],
        ),
        400,
    )


def sent():
    """?from=YYYY-MM-DD&to=YYYY-MM-DD (UK days, inclusive), or ?period=month|quarter|year;
    with neither, the last full quarter. ?alerts_page=N: the page of the "each alert"
    table (100 alerts a page; the CSV has them all)."""
    try:
        period = _period_asked()
    except reports.PeriodError as error:
        return _refused(error)
    page = whole_number(request.args.get("alerts_page"), most=10**6) or 1
    return render_template(
        "analysts/sent.html",
        report=reports.sent_report(period, alerts_page=page),
        error=None,
        presets=reports.PRESETS,
        asked_from=period.first.isoformat(),
        asked_to=period.last.isoformat(),
    )


def sent_csv():
    """The same figures as CSV, the download recorded in the audit log. In English
    whatever the page's language: spreadsheets and scripts read its column names."""
    try:
        period = _period_asked()
    except reports.PeriodError as error:
        # A file's address refused as the time line's are: its reason, not a page.
        return Response(str(error) + "\n", status=400, mimetype="text/plain")
    with in_language("en"):
        body, name = reports.download_sent_report(current_user, reports.sent_report(period))

    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": attachment(name)},
    )


def register_reports(bp: Blueprint) -> None:
    """Add the report's routes to the analysts' blueprint."""
    for rule, view in (("/sent", sent), ("/sent.csv", sent_csv)):
        bp.add_url_rule(rule, view.__name__, role_required("analyst", "supervisor")(view))
