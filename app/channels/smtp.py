"""E-mail over SMTP: plain text and HTML (escaped), with RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import html
import smtplib
import threading
from email.message import EmailMessage
from email.utils import make_msgid

from app.channels.base import OutgoingMessage, SendResult, TransportError

_local = threading.local()


class SmtpSettings:
    def __init__(self, config):
        self.host = config["SMTP_HOST"]
        self.port = int(config.get("SMTP_PORT") or 25)
        self.username = config.get("SMTP_USERNAME")
        self.password = config.get("SMTP_PASSWORD")
        self.starttls = bool(config.get("SMTP_STARTTLS"))
        self.sender = config["MAIL_FROM"]
        self.timeout = float(config.get("SMTP_TIMEOUT_SECONDS", 10))


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email["Message-ID"] = make_msgid(idstring=f"delivery-{message.delivery_id}")
    if message.unsubscribe_url:
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        # RFC 8058: mail clients POST to the URL; a scanner following links cannot.
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    footer = "\n\nTo stop these e-mails: " + (message.unsubscribe_url or "call 101")
    email.set_content(message.body + footer)
    paragraphs = "".join(
        f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>"
        for part in message.body.split("\n\n")
    )
    unsubscribe = (
        f'<p><a href="{html.escape(message.unsubscribe_url)}">Stop these e-mails</a></p>'
        if message.unsubscribe_url
        else ""
    )
    email.add_alternative(
        f"<!doctype html><html><body>{paragraphs}{unsubscribe}</body></html>", subtype="html"
    )
    return email


class SmtpTransport:
    name = "smtp"
    writes_to_database = False

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def _connection(self) -> smtplib.SMTP:
        connection = getattr(_local, "smtp", None)
        if connection is not None:
            try:
                connection.noop()
                return connection
            except smtplib.SMTPException:
                _local.smtp = None
        s = self.settings
        connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.starttls:
            connection.starttls()
        if s.username:
            connection.login(s.username, s.password or "")
        _local.smtp = connection
        return connection

    def send(self, message: OutgoingMessage) -> SendResult:
        email = build_email(message, self.settings.sender)
        try:
            refused = self._connection().send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise TransportError(f"SMTP {code}: {_text(text)}", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as error:
            _local.smtp = None
            raise TransportError(
                f"SMTP {error.smtp_code}: {_text(error.smtp_error)}",
                permanent=error.smtp_code >= 500,
            ) from None
        except (TimeoutError, smtplib.SMTPException, OSError):
            _local.smtp = None
            raise TransportError("could not reach the mail server", permanent=False) from None
        if refused:
            raise TransportError("the mail server refused the address", permanent=True)
        return SendResult(provider_ref=email["Message-ID"].strip("<>")[:64], status="sent")


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
