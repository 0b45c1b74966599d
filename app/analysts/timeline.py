"""The analysts' time line: weekly counts of what residents did, alerts marked, and
message fatigue; the chart as SVG and the table as CSV (the PNG is drawn in the
browser from the chart's canvas)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext
from flask_login import current_user

from app.auth import role_required
from app.i18n import in_language
from app.services.timeline import (
    BREAKDOWNS,
    KINDS,
    PeriodRefused,
    build_timeline,
    default_period,
    fatigue_svg,
    parse_period,
    record_download,
    timeline_csv,
    timeline_svg,
)
from app.web import attachment


def _choice():
    """The period, kind and breakdown asked for; raises PeriodRefused."""
    kind = request.args.get("kind") or "registered"
    by = request.args.get("by") or ""
    if kind not in KINDS:
        raise PeriodRefused(gettext("Choose what to count from the list."))
    if by not in BREAKDOWNS:
        raise PeriodRefused(gettext("Choose a breakdown from the list."))
    period = parse_period(request.args.get("from"), request.args.get("to"))
    return period, (kind if by else None), by, kind


def _filename(timeline, ext: str) -> str:
    p = timeline.period
    return f"time-line-{p.start.isoformat()}-to-{p.weeks[-1].isoformat()}.{ext}"


def timeline():
    """Weekly registrations, confirmations, unsubscribes, STOPs and deletions
    (?from=YYYY-MM-DD&to=YYYY-MM-DD&by=channel|group|source&kind=...)."""
    kind = request.args.get("kind") or "registered"
    by = request.args.get("by") or ""
    try:
        period, table_kind, by, kind = _choice()
    except PeriodRefused as refusal:
        period = default_period()
        return render_template(
            "analysts/timeline.html",
            error=str(refusal),
            timeline=None,
            kinds=KINDS,
            breakdowns=BREAKDOWNS,
            kind=kind if kind in KINDS else "registered",
            by=by if by in BREAKDOWNS else "",
            start=request.args.get("from", "")[:40],
            end=request.args.get("to", "")[:40],
        ), 400
    result = build_timeline(period, table_kind, by)
    return render_template(
        "analysts/timeline.html",
        error=None,
        timeline=result,
        kinds=KINDS,
        breakdowns=BREAKDOWNS,
        kind=kind,
        by=by,
        start=period.start.isoformat(),
        end=period.weeks[-1].isoformat(),
    )


def _download(render, mimetype: str, ext: str, name: str = "time-line", prefix: str = ""):
    """The chosen time line as a file: 400 with the reason for a period it cannot show."""
    try:
        period, table_kind, by, _ = _choice()
    except PeriodRefused as refusal:
        return Response(str(refusal) + "\n", status=400, mimetype="text/plain")
    # In English whatever the page's language, as the sent report's CSV: scripts read
    # its column names, and a Welsh page's file mixed the two (an outside check).
    with in_language("en"):
        result = build_timeline(period, table_kind, by)
        body = render(result)
    filename = _filename(result, ext).replace("time-line", name)
    record_download(current_user, filename, period)
    return Response(
        prefix + body,
        mimetype=mimetype,
        headers={"Content-Disposition": attachment(filename)},
    )


def timeline_download_csv():
    # The byte-order mark makes spreadsheets read the file as UTF-8.
    return _download(timeline_csv, "text/csv", "csv", prefix="\ufeff")


def timeline_download_svg():
    return _download(timeline_svg, "image/svg+xml", "svg")


def timeline_download_fatigue_svg():
    return _download(fatigue_svg, "image/svg+xml", "svg", name="message-fatigue")


ROUTES = (
    ("/timeline", timeline),
    ("/timeline.csv", timeline_download_csv),
    ("/timeline.svg", timeline_download_svg),
    ("/timeline-fatigue.svg", timeline_download_fatigue_svg),
)


def register_timeline(bp: Blueprint) -> None:
    """Add the time line's routes to the analysts' blueprint (called from its package,
    so that this module does not import the package back)."""
    for rule, view in ROUTES:
        bp.add_url_rule(rule, view.__name__, role_required("analyst", "supervisor")(view))
