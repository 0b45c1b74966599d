"""An officer's recording for voice calls: checked to be real audio of a sensible
length (mutagen reads the file), kept in the database, served to Twilio by a random
token."""

from __future__ import annotations

import io
import re
import secrets

import mutagen
from flask_babel import gettext, lazy_gettext
from sqlalchemy import select

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import AlertRecording, Officer
from app.services.text import clean_text

# What Twilio's <Play> takes and a phone line carries well.
KINDS = {"MP3": "audio/mpeg", "WAVE": "audio/wav"}
MAX_SECONDS = 180  # a voice alert is said twice: longer loses the listener
MIN_SECONDS = 2
# The file's size, as the page says (950 KB, about 2 minutes of phone-quality MP3).
MAX_BYTES = 950 * 1024
TOO_LARGE = lazy_gettext(
    "That file is over 950 KB. Save it as a lower-quality MP3 to make it smaller."
)


class RecordingRefused(ValueError):
    """A file we cannot play on a call, with what to do."""


def save_recording(officer: Officer, *, filename: str, data: bytes) -> AlertRecording:
    """Raises RecordingRefused."""
    if not data:
        raise RecordingRefused(gettext("Choose a recording to upload."))
    if len(data) > MAX_BYTES:  # the page's check is the browser's: not to be relied on
        raise RecordingRefused(str(TOO_LARGE))
    named = io.BytesIO(data)
    # With a name, mutagen also recognises an MP3 that has no ID3 tag by its extension.
    named.name = clean_text(filename, max_length=200) or "recording"
    try:
        audio = mutagen.File(named)
    except mutagen.MutagenError:
        audio = None
    kind = type(audio).__name__ if audio is not None else None
    if kind not in KINDS:
        raise RecordingRefused(
            gettext("That file is not an MP3 or WAV recording. Record it again, or save it as MP3.")
        )
    seconds = float(audio.info.length or 0)
    # Its header's length must be the audio's: a WAV header alone (44 bytes), or one
    # saying 0 channels, claimed 3 seconds of silence or a click (an outside probe).
    bitrate = int(getattr(audio.info, "bitrate", 0) or 0)
    channels = getattr(audio.info, "channels", 1)
    if not bitrate or not channels or len(data) < 0.9 * bitrate / 8 * seconds:
        raise RecordingRefused(
            gettext(
                "That file holds less sound than its length says: it may be cut short or "
                "damaged. Record it again, or save it as MP3."
            )
        )
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise RecordingRefused(
            # 1.6 s said "2 seconds long" beside "at least 2 seconds" (an outside check).
            gettext(
                "The recording is %(seconds)s seconds long. Keep it between %(least)s "
                "seconds and %(most)s minutes.",
                seconds=f"{seconds:.1f}",
                least=MIN_SECONDS,
                most=MAX_SECONDS // 60,
            )
        )
    recording = AlertRecording(
        token=secrets.token_urlsafe(24),
        filename=clean_text(filename, max_length=200) or "recording",
        content_type=KINDS[kind],
        seconds=round(seconds, 1),
        data=data,
        created_by_id=officer.id,
    )
    db.session.add(recording)
    db.session.flush()
    create_audit_event(
        "recording.uploaded",
        actor_id=officer.id,
        subject_type="recording",
        subject_id=recording.id,
        details={"seconds": recording.seconds},
    )
    db.session.commit()
    return recording


_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def find_recording_by_token(token: str) -> AlertRecording | None:
    """The recording of this token, or None: a token is URL-safe base64, and any other
    (a NUL in it reached PostgreSQL, and its refusal said nothing of a recording: an
    outside check) is no recording's."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    return db.session.scalar(select(AlertRecording).where(AlertRecording.token == token))
