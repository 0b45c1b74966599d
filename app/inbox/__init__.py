"""The officers' inbox: what residents texted back, for the force or one alert, and
answering them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import role_required
from app.extensions import db
from app.models import Alert, Reply
from app.services import authorisation, replies
from app.services.text import whole_number
from app.web import record_id

bp = Blueprint("inbox", __name__)

READERS = ("officer", "supervisor", "admin")


@bp.route("/inbox")
@role_required(*READERS)
def inbox(**kept):
    before = request.args.get("before", type=record_id)
    seen = replies.read_inbox(current_user, before_id=before)
    return render_template(
        "inbox/inbox.html", alert=None, saved=replies.SAVED_ANSWERS, **kept, **seen
    )


@bp.route("/alerts/<int:alert_id>/replies")
@role_required(*READERS)
def alert_replies(alert_id: int, **kept):
    alert = db.session.get(Alert, alert_id) or abort(404)
    if not authorisation.may(current_user, "alert.replies", alert):
        abort(403)
    before = request.args.get("before", type=record_id)
    seen = replies.read_inbox(current_user, alert_id=alert_id, before_id=before)
    return render_template(
        "inbox/inbox.html", alert=alert, saved=replies.SAVED_ANSWERS, **kept, **seen
    )


@bp.route("/alerts/<int:alert_id>/answers")
@role_required(*READERS)
def alert_answers(alert_id: int):
    """The quick question's answers and receipts so far, for the alert page to follow."""
    alert = db.session.get(Alert, alert_id) or abort(404)
    if not authorisation.may(current_user, "alert.replies", alert):
        abort(403)
    return jsonify(replies.answers_of(alert))


@bp.route("/replies/<int:reply_id>/answer", methods=["POST"])
@role_required(*READERS)
def answer(reply_id: int):
    # Another force's reply is not found (404, audited as a refusal): it was a redirect
    # saying it "cannot be answered", the post unaudited (an outside check).
    db.session.get(Reply, reply_id) or abort(404)
    # A saved answer by its number (sent in the language of the number's holders); a
    # page from before held its English words. Anything else is none of them, refused
    # (a hand-made "-1", "١" or "1e0" was texted to the resident as the answer: an
    # outside check).
    saved = request.form.get("saved") or None
    number = None
    if saved is not None:
        number = whole_number(saved) or replies.saved_answer_number(saved) or 0
    words = "" if saved is not None else request.form.get("words", "")
    back = request.form.get("back_to_alert")
    back_id = whole_number(back)
    try:
        sent = replies.answer_reply(current_user, reply_id, words, saved=number)
    except replies.ReplyRefused as refusal:
        if not refusal.about_words:  # the reply itself (gone, not a text): said above
            flash(str(refusal))
            return _back_to(back_id, reply_id)
        # The page again, the answer in its box by why (it was flashed after a
        # redirect, and what was typed was lost: an outside check).
        kept = {"reply_id": reply_id, "words": words[:2000], "error": str(refusal)}
        if back_id is not None:
            return alert_replies(back_id, answer_kept=kept), 400
        return inbox(answer_kept=kept), 400
    flash(
        _("That answer went to them a moment ago: it is not sent twice.")
        if isinstance(sent, replies.Repeated)
        else _("Your answer is on its way.")
    )
    return _back_to(back_id, reply_id)


def _back_to(back_id: int | None, reply_id: int):
    if back_id is not None:
        return redirect(url_for("inbox.alert_replies", alert_id=back_id) + f"#reply-{reply_id}")
    return redirect(url_for("inbox.inbox") + f"#reply-{reply_id}")
