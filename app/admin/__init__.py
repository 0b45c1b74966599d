"""Administrators: staff accounts, importing a subscriber list."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from app.auth import role_required
from app.extensions import csrf, db
from app.models import ROLES, Officer, ResidentImport
from app.services import authorisation, forces, resident_desk
from app.services.accounts import (
    AccountError,
    PasswordRefused,
    awaiting_password,
    change_role,
    invitation_just_made,
    invitation_mistakes,
    invite_officer,
    send_reset,
    set_mobile,
    set_officer_active,
    sso_set_up,
    view_officer,
    view_officers,
)
from app.services.contacts import ContactRefused
from app.services.masking import mask_contact
from app.services.resident_import import (
    ImportRefused,
    download_rejected_rows,
    import_progress,
    import_started,
    nothing_to_import,
    start_import,
    upload_import,
    view_import_report,
)
from app.services.teams import find_teams, is_force_wide, permitted_area, team_names_of
from app.web import attachment

bp = Blueprint("admin", __name__)


@bp.route("/officers")
@role_required("admin")
def officers():
    return render_template("admin/officers.html", officers=view_officers(current_user))


@bp.route("/force", methods=["GET", "POST"])
@role_required("admin")
def force():
    """The administrator's own force's name, contact, website, CAP sender and prices."""
    own = forces.force_by_id(current_user.force_id)
    form, errors = forces.details_form(own), {}
    if request.method == "POST":
        form = {key: request.form.get(key, "") for key in forces.DETAILS}
        try:
            own, changed = forces.change_force_details(current_user, form)
        except forces.ForceDetailsInvalid as refusal:
            errors = refusal.errors
        else:
            flash(_("Saved.") if changed else _("Nothing changed."))
            return redirect(url_for("admin.force"))
    page = render_template("admin/force.html", force=own, form=form, errors=errors)
    return page, 400 if errors else 200


@bp.route("/residents", methods=["GET", "POST"])
@role_required("admin")
def residents():
    """A resident found by the whole number or e-mail address they gave, for a call to
    101: posted, so that it is in no address or log line."""
    found, error, typed = None, None, ""
    if request.method == "POST":
        typed = request.form.get("contact", "")[:254]
        try:
            found = resident_desk.find_residents(current_user, typed)
        except resident_desk.DeskRefused as refusal:
            error = str(refusal)
    page = render_template("admin/residents.html", found=found, error=error, typed=typed)
    return page, 400 if error else 200


@bp.route("/residents/stop", methods=["POST"])
@role_required("admin")
def stop_resident_channel():
    channel = request.form.get("channel", "")
    try:
        stopped = resident_desk.stop_channel(
            current_user, request.form.get("reference", ""), channel
        )
    except resident_desk.DeskRefused as refusal:
        flash(str(refusal))
    else:
        label = {"sms": _("Texts"), "voice": _("Calls"), "email": _("E-mails")}[channel]
        flash(
            _("%(what)s stopped.", what=label)
            if stopped
            else _("%(what)s were stopped already.", what=label)
        )
    return redirect(url_for("admin.residents"))


@bp.route("/residents/delete", methods=["POST"])
@role_required("admin")
def delete_resident():
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to say the caller asked for their details to be deleted."))
        return redirect(url_for("admin.residents"))
    try:
        resident_desk.delete_details(current_user, request.form.get("reference", ""))
    except resident_desk.DeskRefused as refusal:
        flash(str(refusal))
    else:
        flash(_("Their details are deleted."))
    return redirect(url_for("admin.residents"))


@bp.route("/officers/<int:officer_id>")
@role_required("admin")
def officer(officer_id: int):
    account = _account_or_404(officer_id)
    view_officer(current_user, account)
    return _officer_page(account)


def _account_or_404(officer_id: int) -> Officer:
    """The force's account, or Not Found (audited as a refusal, as every 404 of a staff
    page is): another force's accounts are never found. A change posted to one was
    answered with a redirect and its page's 404, the post itself unaudited (an outside
    check)."""
    return db.session.get(Officer, officer_id) or abort(404)


def _officer_page(account: Officer, **shown) -> str:
    return render_template(
        "admin/officer.html",
        account=account,
        roles=ROLES,
        awaiting_password=awaiting_password(account),
        masked_mobile=mask_contact(account.mobile) if account.mobile else None,
        teams=team_names_of(account),
        force_wide=is_force_wide(account),
        sends=account.role in authorisation.roles_for("alert.write"),
        # In teams none of which has an area: they may send anywhere too, which the
        # team's name alone did not say (an outside check).
        anywhere=not permitted_area(account).limited,
        **shown,
    )


@bp.route("/officers/invite", methods=["GET", "POST"])
@role_required("admin")
def invite():
    form = {"email": "", "name": "", "role": "officer", "sign_in": "password", "team": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        # Cut well past the longest address, so that one too long is said to be (cut
        # to 300, it was said to have no @-sign: an outside check).
        form = {key: request.form.get(key, default)[:1000] for key, default in form.items()}
        errors = invitation_mistakes(**form)  # every box's mistake, said at once
        account = None
        if not errors:
            try:
                account = invite_officer(
                    current_user,
                    email=form["email"],
                    name=form["name"],
                    role=form["role"],
                    sso_only=form["sign_in"] == "sso",
                    team=form["team"],
                )
            except (AccountError, ContactRefused, PasswordRefused, ValueError) as refusal:
                # The same invitation sent again a moment ago: its account's page, as
                # the first got (a double tap without the page's script).
                if made := invitation_just_made(
                    current_user,
                    email=form["email"],
                    name=form["name"],
                    role=form["role"],
                    team=form["team"],
                    sso_only=form["sign_in"] == "sso",
                ):
                    return redirect(url_for("admin.officer", officer_id=made))
                # The box at fault; an address refused is the e-mail's.
                field = getattr(refusal, "field", None)
                errors[field if field in form else "email"] = str(refusal)
        if account is not None:
            flash(
                _(
                    "%(name)s's account is made: they sign in through single sign-on.",
                    name=account.name,
                )
                if form["sign_in"] == "sso"
                else _("%(name)s has been sent a link to set their password.", name=account.name)
            )
            return redirect(url_for("admin.officer", officer_id=account.id))
    return render_template(
        "admin/invite.html",
        form=form,
        roles=ROLES,
        errors=errors,
        sso=sso_set_up(),
        teams=find_teams(),
    ), (400 if errors else 200)


@bp.route("/officers/<int:officer_id>/role", methods=["POST"])
@role_required("admin")
def set_role(officer_id: int):
    _account_or_404(officer_id)
    try:
        account = change_role(current_user, officer_id, request.form.get("role", "")[:20])
    except AccountError as refusal:
        flash(str(refusal))
    else:
        flash(_("%(name)s is now %(role)s.", name=account.name, role=account.role_label))
        if left := account.left_teams["members"]:
            flash(
                _(
                    "They are no longer a member of %(teams)s: an analyst is in no team.",
                    teams=", ".join(left),
                )
            )
        if left := account.left_teams["supervisors"]:
            flash(
                _(
                    "They no longer supervise %(teams)s: only supervisors and admins do.",
                    teams=", ".join(left),
                )
            )
        if account.in_no_team:
            flash(
                _(
                    "They are in no team: they may send anywhere in the force. Add them to "
                    "a team to limit them."
                )
            )
    return redirect(url_for("admin.officer", officer_id=officer_id))


@bp.route("/officers/<int:officer_id>/mobile", methods=["POST"])
@role_required("admin")
def set_officer_mobile(officer_id: int):
    _account_or_404(officer_id)
    typed = request.form.get("mobile", "")[:40]
    try:
        account = set_mobile(current_user, officer_id, typed)
    except ContactRefused as refusal:
        account = _account_or_404(officer_id)
        return _officer_page(account, mobile=typed, errors={"mobile": str(refusal)}), 400
    except AccountError as refusal:
        flash(str(refusal))
    else:
        flash(
            _("%(name)s's mobile is saved.", name=account.name)
            if account.mobile
            else _("%(name)s has no mobile now.", name=account.name)
        )
    return redirect(url_for("admin.officer", officer_id=officer_id))


@bp.route("/officers/<int:officer_id>/reset")
@role_required("admin")
def confirm_reset(officer_id: int):
    """Asked first, as disabling is: the reset ends the account's sessions and its
    password at once, and one tap on the account's page did so (an outside check)."""
    account = _account_or_404(officer_id)
    if not account.active:
        return redirect(url_for("admin.officer", officer_id=account.id))
    return render_template("admin/confirm_reset.html", account=account)


@bp.route("/officers/<int:officer_id>/reset", methods=["POST"])
@role_required("admin")
def reset(officer_id: int):
    _account_or_404(officer_id)
    try:
        account = send_reset(current_user, officer_id)
    except AccountError as refusal:
        flash(str(refusal))
    else:
        if account.id == current_user.id:
            # Their own sessions, this one too, have ended: the next page is signing in.
            flash(
                _(
                    "A link to set a new password has gone to %(email)s. You are signed out "
                    "and your old password no longer works: use the link to sign in again.",
                    email=account.email,
                )
            )
            return redirect(url_for("auth.sign_in"))
        flash(
            _(
                "%(name)s has been sent a link to set a new password; their sessions have "
                "ended and their old password no longer works. They set up their second "
                "factor again.",
                name=account.name,
            )
        )
    return redirect(url_for("admin.officer", officer_id=officer_id))


@bp.route("/officers/<int:officer_id>/disable")
@role_required("admin")
def confirm_disable(officer_id: int):
    account = _account_or_404(officer_id)
    # Nothing to ask (an outside check opened the question for their own account): the
    # account's page says what can be done.
    if account.id == current_user.id:
        flash(_("You cannot disable your own account."))
    if account.id == current_user.id or not account.active:
        return redirect(url_for("admin.officer", officer_id=account.id))
    return render_template("admin/confirm_disable.html", account=account)


@bp.route("/officers/<int:officer_id>/<any(disable, enable):action>", methods=["POST"])
@role_required("admin")
def set_active(officer_id: int, action: str):
    _account_or_404(officer_id)
    try:
        account = set_officer_active(current_user, officer_id, active=action == "enable")
    except AccountError as refusal:
        flash(str(refusal))
        return redirect(url_for("admin.officer", officer_id=officer_id))
    flash(
        _("%(name)s can sign in again.", name=account.name)
        if account.active
        else _("%(name)s's account is disabled and their sessions have ended.", name=account.name)
    )
    return redirect(url_for("admin.officers"))


# --- importing a subscriber list ----------------------------------------------------

MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # 200,000 rows of a typical export


@bp.route("/import", methods=["GET", "POST"])
@csrf.exempt  # checked below, once the larger upload limit is in place
@role_required("admin")
def import_residents():
    if request.method != "POST":  # GET, or HEAD (Flask answers HEAD with the GET view)
        return render_template("admin/import.html", error=None)
    request.max_content_length = MAX_UPLOAD_BYTES
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # JSON, say, with the token in its header: "This page has expired" was not why
        # (an outside check). A file comes only in the page's own form.
        error = _(
            "That was not sent as a form: choose the file on this page and press “Check the file”."
        )
        return render_template("admin/import.html", error=error), 400
    try:
        validate_csrf(request.form.get("csrf_token"))
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        most = MAX_UPLOAD_BYTES // (1024 * 1024)
        error = _(
            "The file is larger than %(most)s MB, the most one upload can be. Split the "
            "list into smaller files (about 200,000 rows each) and import them one after "
            "another.",
            most=most,
        )
        return render_template("admin/import.html", error=error), 413
    except ValidationError as refused:
        # Said as every form's failed check is (web.csrf_failed): a body that is no
        # form was told to reload the page (an outside check).
        raise CSRFError(str(refused)) from None
    error = None
    if upload is None or not upload.filename:
        error = _("Choose the CSV file to import.")
    else:
        data = upload.read()
        if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            # An Excel workbook (a zip, or the older kind) with .csv on its name was
            # told of a NUL character on line 1 (an outside check).
            error = _(
                "This is a spreadsheet workbook (Excel), not a CSV file. In your "
                "spreadsheet, save it as “CSV UTF-8” and upload that."
            )
        else:
            try:
                content = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                error = _(
                    "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”."
                )
    if error:
        return render_template("admin/import.html", error=error), 400
    try:
        record = upload_import(
            current_user,
            filename=upload.filename,
            content=content,
            notify=request.form.get("notify") == "yes",
        )
    except ImportRefused as refusal:
        return render_template("admin/import.html", error=str(refusal)), 400
    return redirect(url_for("admin.import_status", import_id=record.id))


@bp.route("/imports/<int:import_id>")
@role_required("admin")
def import_status(import_id: int):
    record = db.session.get(ResidentImport, import_id) or abort(404)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(
            status=record.status,
            done=import_progress(import_id),
            total=record.report.get("total", 1),
        )
    view_import_report(current_user, record)
    return render_template(
        "admin/import_status.html", record=record, started=import_started(record)
    )


@bp.route("/imports/<int:import_id>/run", methods=["POST"])
@role_required("admin")
def import_run(import_id: int):
    record = db.session.get(ResidentImport, import_id) or abort(404)
    if start_import(record):
        flash(_("Importing. This page shows the progress."))
    elif import_started(record):
        flash(_("The import has started already: this page shows its progress."))
    elif record.status == "checked" and record.content is None:
        flash(_("The file was deleted a day after it was uploaded. To import it, upload it again."))
    elif nothing_to_import(record):
        flash(
            _(
                "None of its rows can be imported, so nothing was done. Correct the rows "
                "the report lists, then upload the file again."
            )
        )
    else:
        flash(_("This file has already been imported, or has not been checked yet."))
    return redirect(url_for("admin.import_status", import_id=import_id))


@bp.route("/imports/<int:import_id>/rejected.csv")
@role_required("admin")
def import_rejected_csv(import_id: int):
    """The rejected rows, their reasons and their values (contact details masked)."""
    record = db.session.get(ResidentImport, import_id) or abort(404)
    found = download_rejected_rows(current_user, record)
    if found is None:
        abort(404)
    body, name = found
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": attachment(name)})


from app.admin.audit import register_audit  # noqa: E402

register_audit(bp)


from app.admin.teams import register_teams  # noqa: E402 (after bp exists)

register_teams(bp)
