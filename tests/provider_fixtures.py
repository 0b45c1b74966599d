"""Real providers on loopback: the Twilio-compatible gateway and an aiosmtpd server,
with the app configured to use them through the real Twilio SDK and smtplib."""

from __future__ import annotations

import asyncio
import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.twilio_gateway import TwilioGateway


class MailCollector:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply
        self.delay_s = 0.0  # how long the server takes over each message
        # How many of the next messages the server keeps and then hangs up on, without
        # saying it has them (a crash, a dropped line, after DATA).
        self.hang_up_after_data = 0
        self.rcpt_delay_s = 0.0  # how long the server takes to answer each recipient
        self.rcpts_asked = 0  # recipients given to it, answered or not yet
        # Each message's end answered so (e.g. "451 4.3.0 Try again later"), the message
        # not kept: refused.
        self.data_reply: str | None = None
        # The end of a message to one of these addresses answered so, not kept.
        self.refuse_data: dict[str, str] = {}  # address -> SMTP reply
        # MAIL FROM answered so (e.g. "530 5.7.0 Authentication required"): a refusal of
        # our server or account, not of a recipient.
        self.mail_from_reply: str | None = None
        self.mail_from_asked = 0  # MAIL FROM commands: messages begun, refused or not

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        self.mail_from_asked += 1
        if self.mail_from_reply is not None:
            return self.mail_from_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpts_asked += 1
        if self.rcpt_delay_s:
            await asyncio.sleep(self.rcpt_delay_s)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_reply is not None:
            return self.data_reply
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        # Kept first, then answered: a slow server has the message before it says so.
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.hang_up_after_data:
            self.hang_up_after_data -= 1
            server.transport.close()
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Providers:
    def __init__(self, gateway: TwilioGateway, mail: MailCollector, settings: dict):
        self.gateway = gateway
        self.mail = mail
        self.settings = settings


@pytest.fixture
def providers(app, live_server):
    gateway = TwilioGateway().start()
    mail = MailCollector()
    controller = Controller(mail, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = {
        "DELIVERY_TRANSPORT": "providers",
        "TWILIO_ACCOUNT_SID": gateway.account_sid,
        "TWILIO_AUTH_TOKEN": gateway.auth_token,
        "TWILIO_FROM_NUMBER": "+447700900999",
        "TWILIO_MESSAGING_SERVICE_SID": None,
        "TWILIO_API_BASE_URL": gateway.base_url,
        "TWILIO_TIMEOUT_SECONDS": 1.0,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": controller.port,
        "MAIL_FROM": "alerts@police.example",
        "PUBLIC_BASE_URL": live_server,
        "RETRY_BASE_SECONDS": 0.05,
        "RETRY_MAX_SECONDS": 0.5,
    }
    saved = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    from app.channels import twilio

    twilio._forget_answers()  # no 503s carried over from another test in this process
    yield Providers(gateway, mail, settings)
    app.config.update(saved)
    controller.stop()
    gateway.stop()
