"""What goes over the wire: SMS parts as the networks count them, and e-mail as a real
SMTP server on loopback receives it (headers, body, envelope), parsed from its bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.utils
import html
import ipaddress
import math
import re
import ssl
import time
from datetime import UTC, datetime
from email import policy

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels import smtp as smtp_channel
from app.channels.base import OutgoingMessage, TransportError
from app.channels.smtp import SmtpSettings, SmtpTransport, build_email
from app.services.message_text import sms_length
from tests.provider_fixtures import MailCollector, free_port

# --- SMS parts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("", 0, 1),
        ("a" * 160, 160, 1),
        ("a" * 161, 161, 2),
        ("a" * 306, 306, 2),
        ("a" * 307, 307, 3),
        ("€" * 80, 160, 1),  # one part: no boundary to straddle
        ("ŵ" * 70, 70, 1),
        ("ŵ" * 71, 71, 2),
        ("ŵ" * 134, 134, 2),
        ("ŵ" * 135, 135, 3),
        ("🚨" * 35, 70, 1),
    ],
    ids=["empty", "160a", "161a", "306a", "307a", "80€", "70ŵ", "71ŵ", "134ŵ", "135ŵ", "35🚨"],
)
def test_simple_lengths_keep_their_counts(text, units, segments):
    length = sms_length(text)
    assert (length.units, length.segments) == (units, segments)


def test_a_gsm_escape_pair_that_would_straddle_a_part_starts_the_next_part():
    # Septets 153 and 154 would be € (ESC, e): part 1 stops at 152, part 2 gets the
    # pair and 151 more, and the last 'a' needs a third part; ceil(306/153) says 2.
    straddling = sms_length("a" * 152 + "€" + "a" * 152)
    assert (straddling.encoding, straddling.units) == ("GSM-7", 306)
    assert (straddling.segments, straddling.per_segment) == (3, 153)
    # One septet earlier the pair fills septets 152-153 exactly: two parts.
    assert sms_length("a" * 151 + "€" + "a" * 153).segments == 2
    # The brief's case: the pair moves to part 2, which still has room.
    assert sms_length("a" * 152 + "€" + "a" * 10).segments == 2
    # Only pairs: 76 fit in a part of 153, so 153 of them take three parts, not two.
    assert sms_length("{" * 153).units == 306
    assert sms_length("{" * 153).segments == 3


def test_an_emoji_that_would_straddle_a_ucs2_part_starts_the_next_part():
    # The surrogate pair would be code units 67 and 68: it moves to part 2 whole,
    # and 134 units need three parts, not ceil(134/67) = 2.
    straddling = sms_length("ŵ" * 66 + "🚨" + "ŵ" * 66)
    assert (straddling.encoding, straddling.units) == ("UCS-2", 134)
    assert (straddling.segments, straddling.per_segment) == (3, 67)
    assert straddling.ucs2_characters == ("ŵ", "🚨")
    assert sms_length("ŵ" * 65 + "🚨" + "ŵ" * 67).segments == 2  # units 66-67: fits


def reference_parts(text: str) -> tuple[int, int, int]:
    """(units, part size, parts) by cutting the encoded message itself, as a network
    does: a part may not end on an ESC septet or a UTF-16 high surrogate."""
    try:
        units = list(text.encode("gsm03.38"))
        single, part = 160, 153

        def leads(unit):
            return unit == 0x1B

    except UnicodeEncodeError:
        data = text.encode("utf-16-be")
        units = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        single, part = 70, 67

        def leads(unit):
            return 0xD800 <= unit <= 0xDBFF

    if len(units) <= single:
        return len(units), single, 1
    parts = start = 0
    while start < len(units):
        end = min(start + part, len(units))
        if end < len(units) and leads(units[end - 1]):
            end -= 1
        parts, start = parts + 1, end
    return len(units), part, parts


GSM_TEXT = st.text(alphabet=st.sampled_from("aZ 0.,'@£é\n€{}[]~\\^|\f"), max_size=700)
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("a €{ŵŷ’🚨😀"),
        st.characters(blacklist_categories=("Cs", "Cc")),
    ),
    max_size=400,
)
# Random text seldom puts a pair on a boundary with the rest just filling the last
# part, where the count changes: aim both there.
NEAR = st.sampled_from(
    sorted({0} | {m * part + d for part in (153, 67) for m in (1, 2, 3) for d in (-2, -1, 0)})
)
PAIR_NEAR_A_BOUNDARY = st.builds(
    lambda filler, before, pair, after, tail: filler * before + pair + filler * after + tail,
    st.sampled_from("aŵ"),
    NEAR,
    st.sampled_from("€{\\🚨😀"),
    NEAR,
    st.one_of(st.just(""), GSM_TEXT, ANY_TEXT),
)


@given(st.one_of(GSM_TEXT, ANY_TEXT, PAIR_NEAR_A_BOUNDARY))
@settings(max_examples=400, deadline=None)
def test_segments_match_cutting_the_encoded_message(text):
    length = sms_length(text)
    units, part, parts = reference_parts(text)
    assert (length.units, length.segments) == (units, parts)
    assert length.per_segment == part
    # Never fewer parts than the units alone need.
    assert length.segments >= max(1, math.ceil(length.units / length.per_segment))


# --- E-mail over a real SMTP server on loopback ----------------------------------------

SENDER = "alerts@police.example"
UNSUBSCRIBE = (
    "https://alerts.south-wales.police.uk/unsubscribe/"
    "IjEyMzQ1Njc4OSI.ZxYwVQ.kq3tD9mJ2v0lJb3n8s6YH4aQp1c-unsubscribe-token-long"
)
WELSH_BODY = (
    "Mae'r heddlu'n gofyn i bobl ger Heol y Frenhines gadw draw: ŵyr a ŷd, tŷ a dŵr.\n"
    "Ffoniwch 101.\n\nAil baragraff — diolch 🚨"
)
# An encoded word (RFC 2047): charset, B or Q, text without '?' or whitespace.
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")


@pytest.fixture
def smtp_server():
    """The aiosmtpd collector the provider tests use, served on its own port, and a
    transport pointed at it."""
    mail = MailCollector()
    controller = Controller(mail, hostname="127.0.0.1", port=free_port())
    controller.start()
    config = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": controller.port,
        "MAIL_FROM": SENDER,
        "SMTP_TIMEOUT_SECONDS": 5,
    }
    yield mail, SmtpTransport(SmtpSettings(config))
    # The transport keeps one connection a thread; the next test has another server.
    connection = getattr(smtp_channel._local, "smtp", None)
    if connection is not None:
        connection.close()
        smtp_channel._local.smtp = None
    controller.stop()


def outgoing(subject: str, **fields) -> OutgoingMessage:
    alert = OutgoingMessage(
        delivery_id=7,
        alert_id=3,
        channel="email",
        recipient="sam@example.com",
        subject=subject,
        body=WELSH_BODY,
        unsubscribe_url=UNSUBSCRIBE,
    )
    return dataclasses.replace(alert, **fields)


def received(mail: MailCollector) -> tuple[bytes, email.message.EmailMessage]:
    (envelope,) = mail.envelopes
    raw = envelope.original_content or envelope.content
    return raw, email.message_from_bytes(raw, policy=policy.default)


def header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.decode("ascii").split("\r\n")  # decode: headers must be ASCII


def raw_header(raw: bytes, name: str) -> list[str]:
    """The header's physical lines as sent: its first line and its continuations."""
    lines, found = [], False
    for line in header_lines(raw):
        if line[:1] in (" ", "\t"):
            if found:
                lines.append(line)
        else:
            found = line.lower().startswith(name.lower() + ":")
            if found:
                lines.append(line)
    return lines


LONG_WELSH = (
    "Heddlu De Cymru: Rhybudd: toriad pŵer a dŵr yng Nghaerdydd cadwch gŵn ar dennyn, "
    "peidiwch â gadael eich tŷ heb ei gloi, ac arhoswch draw o'r Ŵyl ym Mae Caerdydd tan "
    "mae'r heddlu'n gofyn i chi ffonio 101 os gwelwch ŵyr neu ŷd ar dân 🚨"
)
LONG_ASCII = (
    "Avon and Somerset Police: Road closed on the M5 northbound between junctions 18 and "
    "19 after a serious collision; please avoid the area and allow extra time for travel"
)


@pytest.mark.parametrize(
    "subject",
    [
        "Rhybudd: ŵyr a ŷd yng Nghaerdydd — heddlu",
        LONG_WELSH,
        "🚨 Llifogydd: cadwch draw o'r afon 🌊 Flooding: keep away from the river",
        LONG_ASCII,
        "Road closed",
        "Looks like an encoded word: =?utf-8?q?not_one?=",
    ],
    ids=["welsh", "long-welsh", "emoji", "long-ascii", "short-ascii", "literal-encoded-word"],
)
def test_the_subject_arrives_exactly_as_written(smtp_server, subject):
    mail, transport = smtp_server
    assert len(LONG_WELSH) > 150 and len(LONG_ASCII) > 150
    transport.send(outgoing(subject))
    raw, message = received(mail)

    assert message["Subject"] == subject
    for line in header_lines(raw):
        assert len(line) <= 998
        # Every encoded word opened on a line is closed on it, and none is too long.
        assert "=?" not in ENCODED_WORD.sub("", line), line
        assert all(len(word) <= 75 for word in ENCODED_WORD.findall(line))
    # Long subjects fold: no physical line of the Subject over 78 characters.
    subject_lines = raw_header(raw, "Subject")
    assert all(len(line) <= 78 for line in subject_lines), subject_lines
    if len(subject) > 70:
        assert len(subject_lines) > 1


def test_list_unsubscribe_is_a_plain_uri_and_the_body_decodes_as_sent(smtp_server):
    mail, transport = smtp_server
    assert len(f"List-Unsubscribe: <{UNSUBSCRIBE}>") > 78
    transport.send(outgoing("Rhybudd: ŵyr a ŷd"))
    raw, message = received(mail)

    # RFC 2369: the URI in angle brackets, literally, on one line: never an encoded word.
    assert raw_header(raw, "List-Unsubscribe") == [f"List-Unsubscribe: <{UNSUBSCRIBE}>"]
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert raw_header(raw, "List-Unsubscribe-Post") == [
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    ]

    # 7-bit on the wire: no 8BITMIME is negotiated, so every part is encoded.
    assert max(raw) < 0x80
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    for part in message.walk():
        if not part.is_multipart():
            assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable", "base64")
    # SMTP's CRLF is the reader's newline.
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # Nothing reads replies, and it says so (a reply "unsubscribe" stopped nothing and
    # was not answered: an outside check).
    assert plain == (
        f"{WELSH_BODY}\n\nReplies to this e-mail are not read.\n"
        f"To stop these e-mails: {UNSUBSCRIBE}\n"
    )
    markup = message.get_body(("html",)).get_content()
    for paragraph in WELSH_BODY.split("\n\n"):
        assert f"<p>{html.escape(paragraph).replace(chr(10), '<br>')}</p>" in markup
    assert f'<a href="{html.escape(UNSUBSCRIBE)}">' in markup
    assert "<p>Replies to this e-mail are not read.<br><a" in markup


def test_the_envelope_is_the_sender_and_the_one_recipient(smtp_server):
    mail, transport = smtp_server
    result = transport.send(outgoing("Road closed"))
    (envelope,) = mail.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["sam@example.com"]
    raw, message = received(mail)
    assert message["Message-ID"].strip("<>").startswith(result.provider_ref)
    # Of the sender's domain, not the machine's name; dated now (RFC 5322 asks both).
    # On one line, however long: folded, it read " <…>" (found by an outside probe).
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@" + SENDER.rpartition("@")[2] + ">")
    assert [line for line in raw.split(b"\r\n") if line.startswith(b"Message-ID: <")]
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 60


def test_an_address_smtp_would_read_as_two_is_refused_and_nothing_is_sent(smtp_server):
    # The address check lets a comma through in the local part; the To header then
    # reads as two addresses, "x" and "victim@example.com", and smtplib would parse
    # the envelope address down to <x>. Refuse, rather than send to either.
    mail, transport = smtp_server
    with pytest.raises(TransportError) as refused:
        transport.send(outgoing("Road closed", recipient="x,victim@example.com"))
    assert refused.value.permanent
    assert mail.envelopes == [] and mail.messages == []


def test_the_preview_reads_the_message_as_built():
    # compose_preview reads these back from the EmailMessage, not from the wire.
    built = build_email(outgoing(LONG_WELSH), SENDER)
    assert built["Subject"] == LONG_WELSH
    assert built["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert built.get_body(("plain",)).get_content().startswith(WELSH_BODY + "\n\n")
    assert "ŵyr a ŷd, tŷ a dŵr.<br>Ffoniwch" in built.get_body(("html",)).get_content()
    # In the resident's language (none was said: a screen reader read Welsh e-mails
    # with English rules, an outside check).
    assert '<html lang="en-GB">' in built.get_body(("html",)).get_content()
    assert built["Content-Language"] == "en-GB"
    welsh = build_email(dataclasses.replace(outgoing(LONG_WELSH), welsh_first=True), SENDER)
    assert '<html lang="cy">' in welsh.get_body(("html",)).get_content()
    assert welsh["Content-Language"] == "cy"


def test_an_unsubscribe_url_that_is_not_a_plain_uri_is_refused():
    with pytest.raises(ValueError, match="not a plain URI"):
        build_email(outgoing("x", unsubscribe_url="https://example.com/a b"), SENDER)
    with pytest.raises(ValueError, match="not a plain URI"):
        build_email(outgoing("x", unsubscribe_url="https://example.com/\r\nBcc: x@y"), SENDER)


def test_a_status_callbacks_counts_are_taken_only_when_they_are_counts():
    """Found by an outside probe: NumSegments=-7 and CallDuration=-30 were stored, and
    CallDuration=99999999999 overflowed its column (a 400 and the status lost)."""
    from app.channels.twilio import read_status_callback

    def read(**fields):
        status = read_status_callback({"MessageSid": "SM1", "MessageStatus": "delivered", **fields})
        return status.segments, status.duration_seconds

    assert read(NumSegments="2") == (2, None)
    # Thousands of digits: int() refuses more than 4,300 (a 500, an outside probe).
    for wrong in ("-7", "١", "2.5", " 3", "99999999999", "", "1" * 5000):
        assert read(NumSegments=wrong, CallDuration=wrong, ErrorCode=wrong) == (None, None), wrong
    call = read_status_callback({"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "95"})
    assert (call.status, call.duration_seconds) == ("delivered", 95)


def test_a_status_callback_says_opted_out_only_for_a_failed_text_with_error_21610():
    from app.channels.twilio import read_status_callback

    def read(status="failed", code="21610", sid="MessageSid", word="MessageStatus"):
        return read_status_callback({sid: "SM1", word: status, "ErrorCode": code})

    assert read().opted_out
    assert read().reason == "failed (Twilio error 21610: recipient has replied STOP (opted out))"
    assert read("undelivered").opted_out
    for code in ("30003", "21610x", "-21610", "２１６１０", "", "216100"):
        assert not read(code=code).opted_out, code
    assert not read("delivered").opted_out
    assert not read(sid="CallSid", word="CallStatus").opted_out  # calls have no STOP
    # A code that is no code is not written into the reason.
    assert read(code="21610<script>").reason == "failed"


def _sent_to_a_server_that_resets_at_data(at_data, **fields):
    """Send an e-mail to a server on loopback that answers 354 to DATA, calls
    `at_data(connection)`, then resets the connection (gone at once, unread, as a
    crashed server's); the transport's error and how often the message was unsent."""
    import socket
    import struct
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def server() -> None:
        connection, _ = listener.accept()
        lines = connection.makefile("rb")
        connection.sendall(b"220 test ESMTP\r\n")
        while line := lines.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                connection.sendall(b"250 test\r\n")
            elif verb == b"DATA":
                connection.sendall(b"354 go ahead\r\n")
                at_data(connection)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
                return
            else:
                connection.sendall(b"250 OK\r\n")

    threading.Thread(target=server, daemon=True).start()
    refused = []
    config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": listener.getsockname()[1]}
    transport = SmtpTransport(SmtpSettings(config | {"MAIL_FROM": SENDER}))
    message = outgoing("Test", not_taken=lambda: refused.append(1), **fields)
    try:
        with pytest.raises(TransportError) as raised:
            transport.send(message)
    finally:
        listener.close()
        smtp_channel._local.smtp = None
    return raised.value, refused


def test_a_server_that_hangs_up_before_the_messages_end_is_tried_again_not_doubted():
    """Found by an outside check: servers that hung up in the middle of a message (after
    354, before the line that ends it) lost 31 e-mails, counted "possibly sent" because
    the end was about to be written. A write of the end that fails cannot have ended
    the message: the e-mail is unsent again and tried again."""
    import threading

    hang_up, hung_up = threading.Event(), threading.Event()

    def at_data(connection) -> None:
        hang_up.wait(10)

    def before_end() -> None:
        hang_up.set()
        hung_up.wait(10)
        time.sleep(0.2)  # its reset is back before the end is written

    def reset_then_say(connection) -> None:
        at_data(connection)
        threading.Timer(0.05, hung_up.set).start()  # once the reset has gone

    error, refused = _sent_to_a_server_that_resets_at_data(reset_then_say, before_end=before_end)
    assert not error.maybe_sent and not error.permanent
    assert refused == [1]  # unsent again, for the sweeper too


@pytest.mark.parametrize("read_first", [0, 200])
def test_a_server_that_resets_part_way_through_a_message_has_it_sent_again(read_first):
    """Found by an outside check: a server that answered 354, read part of the message
    and reset the connection lost 40 e-mails, each "possibly sent": both writes had
    returned before the reset came back, seen only at the answer. A reset (the server
    closed with what we sent unread, the end among it) means nothing was delivered,
    whenever it is seen: unsent again and tried again."""

    def read_part(connection) -> None:
        time.sleep(0.3)  # the whole message is here, unread
        if read_first:
            connection.recv(read_first)

    error, refused = _sent_to_a_server_that_resets_at_data(read_part)
    assert not error.maybe_sent and not error.permanent
    assert refused == [1]  # unsent again, for the sweeper too


@pytest.fixture
def tls_smtp_server(tmp_path):
    """The collector behind STARTTLS, with a certificate for 127.0.0.1 signed by no one
    the system trusts (made here with `cryptography`), and the certificate's file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + 1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    mail = MailCollector()
    controller = Controller(
        mail, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    config = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": controller.port,
        "MAIL_FROM": SENDER,
        "SMTP_TIMEOUT_SECONDS": 5,
        "SMTP_STARTTLS": True,
    }
    yield mail, config, cert_file
    connection = getattr(smtp_channel._local, "smtp", None)
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()
        smtp_channel._local.smtp = None
    controller.stop()


def test_starttls_checks_the_relays_certificate(tls_smtp_server):
    """smtplib's STARTTLS checked no certificate: a machine in between would have read
    every address and message (an outside check). One no trusted CA signed is refused
    as our configuration's fault, held; with its CA given (SMTP_CA_FILE), it goes."""
    mail, config, cert_file = tls_smtp_server
    with pytest.raises(TransportError) as refused:
        SmtpTransport(SmtpSettings(config)).send(outgoing("Road closed"))
    assert refused.value.reason == (
        "the mail server's certificate could not be checked (SMTP_CA_FILE)"
    )
    assert refused.value.ours and refused.value.retry_after and not refused.value.permanent
    assert mail.envelopes == []
    trusted = SmtpTransport(SmtpSettings(config | {"SMTP_CA_FILE": str(cert_file)}))
    trusted.send(outgoing("Road closed"))
    assert [e.rcpt_tos for e in mail.envelopes] == [["sam@example.com"]]


def test_an_alert_written_in_welsh_only_is_marked_welsh_in_any_residents_e_mail(app_ctx):
    """Found by reading: an alert written in Welsh only was marked English in a Welsh
    resident's e-mail (its words "en-GB", our Welsh sign-off "cy") and not at all in an
    English resident's, under the page's "en-GB": a screen reader read its words with
    English rules. Its words are marked Welsh, our words the resident's language."""
    from app.services import message_text

    words = "Mae ceir wedi'u torri.\n\nCloiwch nhw."
    for welsh_first, page in ((False, "en-GB"), (True, "cy")):
        body = message_text.email_text(
            body=words, force="Avon and Somerset", reference="AS-1", welsh_first=welsh_first
        )
        marks = message_text.email_languages(body=words, welsh_first=welsh_first, written_in="cy")
        built = build_email(
            outgoing("Ceir", body=body, welsh_first=welsh_first, paragraph_languages=marks),
            SENDER,
        )
        markup = built.get_body(("html",)).get_content()
        assert f'<html lang="{page}">' in markup
        welsh_mark = ' lang="cy"' if page != "cy" else ""
        assert f"<p{welsh_mark}>Mae ceir wedi&#x27;u torri.</p>" in markup
        assert f"<p{welsh_mark}>Cloiwch nhw.</p>" in markup
        assert 'lang="en-GB">' not in markup.replace('<html lang="en-GB">', "")
    # An alert in English to a Welsh resident: its words English, ours Welsh, as before.
    marks = message_text.email_languages(body="Lock them.", welsh_first=True)
    assert marks == ("en-GB", None)
