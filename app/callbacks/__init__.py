"""Provider webhooks: Twilio status callbacks, texts residents send us, and keys
pressed in a call.

Every request must carry a valid X-Twilio-Signature, computed over the URL Twilio
called, which is PUBLIC_BASE_URL plus the path: behind a proxy the app sees a different
host, so the configured public address is what is checked. Handlers are idempotent.
"""

from __future__ import annotations

import functools
import logging
from html import escape

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from app.channels.twilio import provider_sid, read_status_callback
from app.extensions import csrf
from app.services import dispatch, notices, replies
from app.services.message_text import key_answer
from app.services.text import whole_number

bp = Blueprint("callbacks", __name__)
csrf.exempt(bp)  # providers cannot hold a CSRF token; the signature is the check
log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def public_url() -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    path = request.full_path if request.query_string else request.path
    return base + path


def twilio_signed(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not RequestValidator(token).validate(
            public_url(), request.form.to_dict(), signature
        ):
            # The route, not the path: no ids or numbers in the log.
            log.warning("refused a Twilio callback with a bad signature: %s", request.endpoint)
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/twilio/status/<int:delivery_id>", methods=["POST"])
@twilio_signed
def twilio_status(delivery_id: int):
    return _status(dispatch.apply_provider_status, delivery_id)


@bp.route("/twilio/status/notice/<int:notice_id>", methods=["POST"])
@twilio_signed
def twilio_notice_status(notice_id: int):
    return _status(notices.apply_provider_status, notice_id)


def _status(apply, row_id: int):
    update = read_status_callback(request.form)
    if update is None:
        return {"error": "MessageSid/CallSid and a status are required."}, 400
    # The attempt that placed the call (its line is named so); none before names had it.
    attempt = whole_number(request.args.get("attempt"))
    found = apply(row_id, update, attempt)
    # 200 even for an unknown row: Twilio would only retry something we can't use.
    return ("", 204) if found else ("", 200)


@bp.route("/twilio/inbound-sms", methods=["POST"])
@twilio_signed
def twilio_inbound_sms():
    form = request.form
    sid = provider_sid(form.get("MessageSid") or form.get("SmsSid"))
    if not sid:
        return {"error": "MessageSid is required: letters, digits, - and _."}, 400
    try:
        done = replies.receive_text(
            form.get("From", ""),
            form.get("Body", ""),
            sid,
            media=whole_number(form.get("NumMedia"), most=100) or 0,
        )
    except replies.ReplyRefused as refusal:
        return {"error": str(refusal)}, 400
    if done == "stopped" and (
        said := replies.stop_answer(form.get("From", ""), form.get("Body", ""))
    ):
        # Answered in the webhook's reply: the number is stopped now, and our own
        # engine sends nothing more to it.
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(said)}'
            "</Message></Response>",
            mimetype="application/xml",
        )
    return Response(EMPTY_TWIML, mimetype="application/xml")


@bp.route("/twilio/keys/<int:delivery_id>", methods=["POST"])
@twilio_signed
def twilio_keys(delivery_id: int):
    """The key pressed at the end of an alert's call (<Gather>)."""
    form = request.form
    sid = provider_sid(form.get("CallSid"))
    if not sid or len(sid) > 64:
        return {"error": "CallSid is required: letters, digits, - and _."}, 400
    kind = replies.receive_keys(delivery_id, sid, form.get("Digits", ""))
    # In the resident's language and the call's own voice, ending as every call ends
    # (twilio.voice_twiml): the key's answer replaces the rest of the call.
    language = replies.caller_language(delivery_id)
    welsh = language == "cy"
    voice = escape(current_app.config["TWILIO_VOICE_CY" if welsh else "TWILIO_VOICE"])
    words = escape(key_answer(kind, language))
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="{voice}" '
        f'language="{"cy-GB" if welsh else "en-GB"}">{words}</Say><Hangup/></Response>',
        mimetype="application/xml",
    )
