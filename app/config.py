"""Configuration, one class per environment, every secret from the environment.

APP_ENV picks the class (production unless told otherwise, so a forgotten setting
fails closed). Production refuses to start when a secret or a service URL is missing.
"""

from __future__ import annotations

import math
import os
import re
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(SystemExit):
    """The environment does not hold what this configuration needs. A SystemExit: the
    command, worker or web server stops with the sentence that says what to set, not
    with a traceback around it (an outside check of the install read 40 lines)."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, default)
    return value if value not in ("", None) else default


# The fewest days the audit log keeps an event's IP address: its database trigger
# refuses to forget a newer one (migration 0059), so a leaked credential cannot wipe
# what an investigation of it needs.
AUDIT_IP_DAYS_AT_LEAST = 30


def _int(name: str, default: int, *, most: int | None = None) -> int:
    return _number(name, str(default), int, "a whole number", most)


def _float(name: str, default: str) -> float:
    return _number(name, default, float, "a number")


# The most a setting may be, by what it measures (its name's end), and a count: more
# started, and broke what used it (an outside check: CAP_EXPIRES_HOURS=100000000 made
# every CAP document a 500, REPLY_WINDOW_HOURS=99999999999 every inbound text, a huge
# CALL_REDIAL_SECONDS every unanswered call's end). PostgreSQL takes an int4.
_MOST_BY_UNIT = (
    ("_MS", 2_147_483_647, " (about 24 days)"),
    ("_SECONDS", 315_360_000, " (ten years)"),
    ("_MINUTES", 5_256_000, " (ten years)"),
    ("_HOURS", 87_600, " (ten years)"),
    ("_DAYS", 36_500, " (a hundred years)"),
)
_MOST_COUNT = 2_147_483_647


def _most(name: str) -> tuple[int, str]:
    return next(
        ((most, span) for unit, most, span in _MOST_BY_UNIT if name.endswith(unit)),
        (_MOST_COUNT, ""),
    )


def _number(name: str, default: str, kind: type, words: str, most: int | None = None):
    """A numeric setting, or a refusal naming it ("invalid literal for int()" named
    nothing). None is below 0: PROXY_HOPS=-1 started, and then every request that came
    through the proxy was a 500 (an outside check of the install); nor above `most`,
    by default the most its unit may be (_MOST_BY_UNIT)."""
    value = _env(name, default)
    try:
        number = kind(value.strip())
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number < 0:
        # Said with every other mistake when the configuration is checked (one a try
        # was said: an outside check); the default stands in until then.
        _WRONG.append(f"{name} must be {words} of 0 or more, not {value!r}.")
        return kind(default)
    limit, span = (most, "") if most is not None else _most(name)
    if number > limit:
        _WRONG.append(f"{name} must be {limit:,} or less{span}, not {value!r}.")
        return kind(default)
    return number


# The soonest a call is placed again after it found the line busy (CALL_REDIAL_SECONDS).
REDIAL_AT_LEAST_SECONDS = 60

# Schemes whose address may be a local socket's path alone (postgresql:///alerts?host=
# /run/postgresql, unix:///run/redis.sock).
SOCKETS = ("postgresql+psycopg", "unix")

# Settings read wrongly at import: Config.problems() says them all at once.
_WRONG: list[str] = []


# Settings whose words residents or staff read, and the characters none may have:
# control characters, and those that override the direction of the text after them
# (as services.text refuses them in what people type).
SHOWN_WORDS = (
    "FORCE_NAME",
    "FORCE_NAME_CY",
    "FORCE_CONTACT",
    "SERVICE_NAME",
    "CAP_SENDER",
    "SSO_PROVIDER_NAME",
    "MAP_TILE_ATTRIBUTION",
)
UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


# Characters of no width inside the words (a direction mark, a zero-width space, the
# invisible TAG letters): a FORCE_NAME with one started, and signed texts so (a
# re-check). The joiners inside emoji are not among them.
INVISIBLE_INSIDE = re.compile(
    "[\u00ad\u061c\u180e\u200b\u200e\u200f\u2060-\u2064\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def _shows_something(value: str) -> bool:
    """Words made only of characters that show nothing (spaces, zero-width ones, the
    Hangul filler, accents alone: FORCE_NAME of one started) are none."""
    from app.services.text import shows_something

    return shows_something(value)


# A number as Twilio takes it, and an alphanumeric sender ID (texts only).
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def _database_url(name: str) -> str | None:
    """A PostgreSQL URL as SQLAlchemy takes it with psycopg 3: the postgresql:// (or
    postgres://) that managed databases' consoles give asked for psycopg2."""
    value = _env(name)
    if value is None:
        return None
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg://", value.strip())


def _setting(attribute: str) -> str:
    """The environment variable a configuration attribute is read from, as a refusal
    names it (an operator sets DATABASE_URL and never sees SQLAlchemy's name)."""
    return {"SQLALCHEMY_DATABASE_URI": "DATABASE_URL"}.get(attribute, attribute)


YES = ("1", "true", "yes", "on")
NO = ("0", "false", "no", "off")


def _bool(name: str, default: bool) -> bool:
    """On or off, or a refusal: SMTP_STARTTLS=ture was read as off, and e-mail went
    without TLS (an outside check of the install)."""
    value = _env(name)
    if value is None:
        return default
    if value.strip().lower() not in YES + NO:
        _WRONG.append(f"{name} must be one of {', '.join(YES + NO)}, not {value!r}.")
        return default
    return value.strip().lower() in YES


def _sso_providers() -> dict[str, dict[str, str]]:
    """More identity providers than the first (SSO_*), one for each force that has its
    own: SSO_PROVIDERS="wiltshire, devon-and-cornwall" names them, and each is set by
    SSO_<NAME>_ISSUER, SSO_<NAME>_CLIENT_ID... (the name upper-cased, hyphens as
    underscores): {name: {"ISSUER": ..., "CLIENT_ID": ..., ...}}. app/services/sso.py
    checks them."""
    providers = {}
    for name in (_env("SSO_PROVIDERS") or "").replace("\n", ",").split(","):
        name = name.strip().lower()
        if name:
            prefix = "SSO_" + name.upper().replace("-", "_") + "_"
            providers[name] = {
                key.removeprefix(prefix): value
                for key, value in os.environ.items()
                if key.startswith(prefix) and value != ""
            }
    return providers


class Config:
    ENV_NAME = "base"
    SECRET_KEY = _env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _database_url("DATABASE_URL")
    # A read replica (streaming, e.g. a managed service's read endpoint): the officers'
    # previews and the analysts' pages read there; everything that writes, and a page
    # whose figures the replica has not caught up with yet, uses DATABASE_URL. Unset:
    # everything uses DATABASE_URL.
    DATABASE_REPLICA_URL = _database_url("DATABASE_REPLICA_URL")
    # hide_parameters: a failed statement's error never carries residents' details
    # (names, numbers, addresses) into the logs.
    # Every connection: no JIT (compiling a plan costs more than our short queries take)
    # and no parallel workers (starting one costs ~15 ms, more than a preview takes;
    # on a few cores, one officer's query should not take them all). bench/ measures.
    # A connection that cannot be made in 10 s fails, and one to a host that vanished
    # without a word (a failover) is found dead within about 25 s of silence (TCP
    # keepalives), not after the system's two hours: a delivery job retrying its record
    # on a new connection (RECORD_RETRY_SECONDS) stays inside STALLED_SECONDS.
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": True,
        "hide_parameters": True,
        "connect_args": {
            "options": "-c jit=off -c max_parallel_workers_per_gather=0",
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    }
    MAX_CONTENT_LENGTH = 1024 * 1024  # no form or drawn area needs more
    # How many proxies (e.g. the force's TLS terminator) sit in front of the app, so
    # that audit records carry the user's address, not the proxy's.
    PROXY_HOPS = _int("PROXY_HOPS", 0)
    # "text" for a person at a terminal, "json" for a log collector (app/logs.py).
    LOG_FORMAT = _env("LOG_FORMAT", "text")
    # Providers. With Twilio and SMTP settings the product sends for real; without them
    # messages go to the development outbox.
    TWILIO_ACCOUNT_SID = _env("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = _env("TWILIO_AUTH_TOKEN")
    TWILIO_MESSAGING_SERVICE_SID = _env("TWILIO_MESSAGING_SERVICE_SID")
    # One number, or a pool of them separated by commas: each resident always hears from
    # the same one of the pool (chosen by their number), and each number keeps to its own
    # rate (SMS_PER_NUMBER_PER_SECOND), so a pool of n sends n times what one can.
    TWILIO_FROM_NUMBER = _env("TWILIO_FROM_NUMBER")
    TWILIO_VOICE_FROM_NUMBER = _env("TWILIO_VOICE_FROM_NUMBER")
    # One voice for every call, so residents learn to recognise it.
    TWILIO_VOICE = _env("TWILIO_VOICE", "Polly.Amy")
    # The voice for the Welsh words of a call (Amazon Polly's Welsh voice at Twilio).
    TWILIO_VOICE_CY = _env("TWILIO_VOICE_CY", "Polly.Gwyneth")
    TWILIO_API_BASE_URL = _env("TWILIO_API_BASE_URL")  # a Twilio-compatible server
    TWILIO_TIMEOUT_SECONDS = _float("TWILIO_TIMEOUT_SECONDS", "10")
    # A 503 with no Retry-After holds every send through Twilio this long, then one
    # probes (0: each message is tried again on its own backoff).
    TWILIO_UNAVAILABLE_WAIT_SECONDS = _float("TWILIO_UNAVAILABLE_WAIT_SECONDS", "5")
    SMTP_HOST = _env("SMTP_HOST")
    SMTP_PORT = _int("SMTP_PORT", 25)
    SMTP_USERNAME = _env("SMTP_USERNAME")
    SMTP_PASSWORD = _env("SMTP_PASSWORD")
    SMTP_STARTTLS = _bool("SMTP_STARTTLS", False)
    SMTP_CA_FILE = _env("SMTP_CA_FILE")  # the CA of the relay's certificate, if not a public one
    # Seconds to wait for each answer from the mail server. No answer after the e-mail
    # itself went: "possibly sent", never sent again.
    SMTP_TIMEOUT_SECONDS = _float("SMTP_TIMEOUT_SECONDS", "10")
    MAIL_FROM = _env("MAIL_FROM")
    # The address the public reaches this service at (behind any proxy): callback and
    # unsubscribe URLs are built from it, and Twilio signatures are checked against it.
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # "providers" (Twilio + SMTP) or "outbox"; unset, providers when both are configured.
    DELIVERY_TRANSPORT = _env(
        "DELIVERY_TRANSPORT",
        "providers" if _env("TWILIO_ACCOUNT_SID") and _env("SMTP_HOST") else None,
    )
    # Messages per second each channel may send, across all workers (0: no limit).
    # The rates the officer's "all out in…" assumes for a channel with no limit set
    # above: Twilio places 1 call a second by default; texts and e-mail go faster.
    ESTIMATE_RATES = {
        "sms": _float("ESTIMATE_SMS_PER_SECOND", "10"),
        "voice": _float("ESTIMATE_VOICE_PER_SECOND", "1"),
        "email": _float("ESTIMATE_EMAIL_PER_SECOND", "10"),
    }
    RATE_LIMITS = {
        "sms": _int("SMS_PER_SECOND", 0),
        "voice": _int("VOICE_PER_SECOND", 0),
        "email": _int("EMAIL_PER_SECOND", 0),
    }
    # Messages per second from each of our numbers, across all workers (0: no limit):
    # a provider limits each sender number as well as the account (RATE_LIMITS).
    PER_NUMBER_LIMITS = {
        "sms": _int("SMS_PER_NUMBER_PER_SECOND", 0),
        "voice": _int("VOICE_PER_NUMBER_PER_SECOND", 0),
    }
    # Calls in progress at once, across all workers (0: no limit), and how long a call
    # keeps its line without word of its end (app/channels/lines.py).
    VOICE_LINES = _int("VOICE_LINES", 0)
    VOICE_LINE_HOLD_SECONDS = _int("VOICE_LINE_HOLD_SECONDS", 900)
    # A call holding its line this long with no word of its end is asked about at the
    # provider by the sweeper (lost callbacks), and again as often (0: never asked).
    VOICE_LINE_CHECK_SECONDS = _int("VOICE_LINE_CHECK_SECONDS", 120)
    # A call of an alert that found the line busy or was not answered is placed again
    # this many times, each CALL_REDIAL_SECONDS after the last ended (0: never): a
    # landline engaged at the moment of an alert missed it (an outside check).
    CALL_REDIALS = _int("CALL_REDIALS", 2, most=10)
    CALL_REDIAL_SECONDS = _int("CALL_REDIAL_SECONDS", 300)
    # How long a call lasts, for the officer's "all out in…" when lines are limited.
    ESTIMATE_CALL_SECONDS = _int("ESTIMATE_CALL_SECONDS", 45)
    # The same alert sent again by its officer within this time is the first one.
    ALERT_REPEAT_SECONDS = _int("ALERT_REPEAT_SECONDS", 120)
    # How many tests an officer may send themselves in an hour (each a paid text and call).
    TESTS_PER_HOUR = _int("TESTS_PER_HOUR", 20)
    # Every this many previews one officer makes in a day is an audit event (0:
    # none): mapping who is registered where takes thousands of them.
    PREVIEW_AUDIT_EVERY = _int("PREVIEW_AUDIT_EVERY", 200)
    # How long a count of the messages waiting (for "all out in…") serves previews.
    QUEUE_COUNT_SECONDS = _int("QUEUE_COUNT_SECONDS", 5)
    DELIVERY_CONCURRENCY = _int("DELIVERY_CONCURRENCY", 16)  # requests in flight per job
    DELIVERY_MAX_ATTEMPTS = _int("DELIVERY_MAX_ATTEMPTS", 12)
    # ...and, refused for now, it is tried at least this long from its first attempt
    # (every RETRY_MAX_SECONDS once its backoff is spent): a provider's outage this
    # long delays messages and loses none.
    DELIVERY_RETRY_WINDOW_SECONDS = _int("DELIVERY_RETRY_WINDOW_SECONDS", 1800)
    # An alert's messages no provider ever took (refused at every try: an outage longer
    # than the window) may be sent again by an officer up to this long after its
    # release; later, the news is stale.
    SEND_AGAIN_WITHIN_HOURS = _int("SEND_AGAIN_WITHIN_HOURS", 24)
    RETRY_BASE_SECONDS = _float("RETRY_BASE_SECONDS", "0.5")
    RETRY_MAX_SECONDS = _float("RETRY_MAX_SECONDS", "60")
    # A send held by a provider's wait (a 429 or 503 with Retry-After) that ends within
    # this long waits for it in its job, rather than going back to the queue.
    HOLD_IN_PLACE_SECONDS = _float("HOLD_IN_PLACE_SECONDS", "5")
    # The sweeper: how long a claimed delivery may stay "sending" before its worker is
    # presumed dead, how long an "unknown" one waits for the provider's callback before
    # the provider is asked whether it took it, and how long a queued one waits for a
    # worker before re-queueing.
    # Together they bound recovery after a worker dies to about a minute: stalled after
    # 30 s (no send waits that long: Twilio's timeout is 10 s), asked about 15 s later.
    STALLED_SECONDS = _int("STALLED_SECONDS", 30)
    # A text still "sent" (its delivery not reported) this long after it went: the
    # sweeper asks Twilio how it stands (0: never). See outbound.ask_about_unreported_texts.
    SMS_STATUS_CHECK_SECONDS = _int("SMS_STATUS_CHECK_SECONDS", 600)
    # A job that cannot record what the providers said (its database connection
    # dropped) tries again on a new one for this long, inside STALLED_SECONDS.
    RECORD_RETRY_SECONDS = _int("RECORD_RETRY_SECONDS", 20)
    RECONCILE_SECONDS = _int("RECONCILE_SECONDS", 15)
    REQUEUE_SECONDS = _int("REQUEUE_SECONDS", 20)
    # A delivery job renews a lease while it runs (app/jobs): one not renewed for this
    # long died with its worker, and the sweeper queues it again, at the front.
    JOB_LEASE_SECONDS = _int("JOB_LEASE_SECONDS", 10)
    # A delivery job that has run this long hands the rest of its rows back to the
    # queue, behind the jobs waiting for a worker (services/outbound.deliver): under a
    # rate limit a job of texts would hold its worker for minutes.
    JOB_YIELD_SECONDS = _float("JOB_YIELD_SECONDS", "3")

    # Asking the provider whether it took a text or call: while it cannot say (an
    # outage, an answer it cannot read), it is asked again every RECONCILE_SECONDS for
    # this long after the row became unknown, and only then is the row "possibly sent".
    RECONCILE_PATIENCE_SECONDS = _int("RECONCILE_PATIENCE_SECONDS", 600)
    # A text or call the provider has no record of is sent again only once it has had
    # none, asked every RECONCILE_SECONDS, for this long after the row became unknown:
    # a list that lags shows a message late, and resending sooner sends it twice.
    RECONCILE_NO_RECORD_SECONDS = _int("RECONCILE_NO_RECORD_SECONDS", 60)
    SWEEP_INTERVAL_SECONDS = _float("SWEEP_INTERVAL_SECONDS", "5")
    # /metrics answers a Prometheus scraper that sends "Authorization: Bearer <token>";
    # unset, there is no /metrics.
    METRICS_TOKEN = _env("METRICS_TOKEN")
    REDIS_URL = _env("REDIS_URL")
    RQ_QUEUE = _env("RQ_QUEUE", "alerts")

    # The force this installation serves. The code is ONS's police force area code;
    # places of kind "force" with that code are its boundary.
    FORCE_CODE = _env("FORCE_CODE", "E23000036")
    FORCE_NAME = _env("FORCE_NAME", "Avon and Somerset")
    # "Heddlu …" on Welsh pages. The demo force's Welsh name only for the demo force:
    # another force given FORCE_NAME alone had Avon and Somerset's name on its Welsh
    # pages, feeds and consent wording (an outside check); without it, FORCE_NAME.
    FORCE_NAME_CY = _env(
        "FORCE_NAME_CY",
        "Avon a Gwlad yr Haf"
        if (FORCE_CODE, FORCE_NAME) == ("E23000036", "Avon and Somerset")
        else None,
    )
    SERVICE_NAME = _env("SERVICE_NAME", "Community Alerts")
    # What the public pages and feeds say of the force: how to reach it, its own
    # website, and the sender of its CAP alerts (default: alerts@ the public host).
    FORCE_CONTACT = _env("FORCE_CONTACT", "Call 101, or 999 in an emergency")
    FORCE_WEBSITE = _env("FORCE_WEBSITE")
    CAP_SENDER = _env("CAP_SENDER")
    # How long a CAP reader may show an alert as current (each message's <expires>).
    CAP_EXPIRES_HOURS = _int("CAP_EXPIRES_HOURS", 24)

    # The map's base, first that is set (README, "Base maps"):
    # 1. raster tiles from any XYZ URL or RESTful WMTS template in Web Mercator, e.g.
    #    the OS Maps API, https://api.os.uk/maps/raster/v1/zxy/Road_3857/{z}/{x}/{y}.png
    #    ?key={key}: {key} is filled from MAP_TILE_KEY (which every map page then shows
    #    its users: restrict the key to the service's address at the provider);
    # 2. the vector base map in BASEMAP_PATH, built from our own data by
    #    `flask geo build-basemap` and served by us (app/basemap), when the file exists;
    # 3. ward and force outlines from our own data.
    # Only the first sends requests to another site (the CSP allows that origin).
    MAP_TILE_URL = _env("MAP_TILE_URL")
    MAP_TILE_KEY = _env("MAP_TILE_KEY", "")
    MAP_TILE_ATTRIBUTION = _env("MAP_TILE_ATTRIBUTION", "")
    MAP_TILE_MAX_ZOOM = _int("MAP_TILE_MAX_ZOOM", 19, most=24)
    BASEMAP_PATH = _env(
        "BASEMAP_PATH",
        os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            "data",
            "basemap",
            "force.pmtiles",
        ),
    )

    # Density maps aggregate residents into square cells and hide small counts, so
    # that no cell points at a single household.
    # One size only: see app/analysts (nested grids would reveal suppressed cells).
    DENSITY_CELL_M = _int("DENSITY_CELL_M", 1000)
    DENSITY_MIN_COUNT = _int("DENSITY_MIN_COUNT", 5)
    # The analysts' figures (density squares, residents per ward, registrations per
    # day, settled alerts' deliveries) are counted ahead: the sweeper recounts each set
    # every ANALYST_REFRESH_SECONDS, and a page whose set is older than
    # ANALYST_MAX_AGE_SECONDS (the sweeper is not running) recounts it before showing
    # it. Each page says when its figures were counted.
    ANALYST_REFRESH_SECONDS = _int("ANALYST_REFRESH_SECONDS", 600)
    ANALYST_MAX_AGE_SECONDS = _int("ANALYST_MAX_AGE_SECONDS", 1800)
    # The sent report counts an alert's deliveries once, when it has settled: released
    # this long ago with every delivery final (a later change, such as a late receipt,
    # puts it back on the ledger until it is counted again). Up to
    # ANALYST_SETTLED_BATCH alerts a round.
    ANALYST_SETTLED_SECONDS = _int("ANALYST_SETTLED_SECONDS", 86_400)
    ANALYST_SETTLED_BATCH = _int("ANALYST_SETTLED_BATCH", 500)
    # A settled alert is counted a round after it is first noticed, at least this long
    # after (longer than any delivery's transaction), so no change can slip between.
    ANALYST_NOTICE_SECONDS = _int("ANALYST_NOTICE_SECONDS", 60)

    DELIVERY_BATCH_SIZE = _int("DELIVERY_BATCH_SIZE", 200)
    # An alert's deliveries are queued as at most this many jobs (each a range of ids):
    # a force-wide alert's jobs are larger rather than more (each job costs Redis ~1 ms).
    DELIVERY_MAX_JOBS = _int("DELIVERY_MAX_JOBS", 2000)
    # After writing at least this many deliveries, the month's statistics are refreshed
    # before they are queued (the planner must know the table is no longer empty).
    DELIVERY_ANALYZE_ROWS = _int("DELIVERY_ANALYZE_ROWS", 10000)
    # An alert of this many deliveries or more: its progress, as its page shows it, is
    # counted at most once in this many seconds, however many people watch.
    PROGRESS_CACHE_ROWS = _int("PROGRESS_CACHE_ROWS", 10000)
    PROGRESS_CACHE_SECONDS = _int("PROGRESS_CACHE_SECONDS", 3)

    # Composing. An SMS longer than this many segments is refused: it costs as many
    # texts, and phones show long ones badly. Prices (pounds) give the officer a cost
    # before sending; set them from the force's Twilio contract.
    SMS_MAX_SEGMENTS = _int("SMS_MAX_SEGMENTS", 4)
    # How long the officer's map waits for a postcode, a place's outline or the
    # phone's location before it says none came and leaves the area as it was.
    AREA_WAIT_SECONDS = _int("AREA_WAIT_SECONDS", 20)
    SMS_PRICE_PER_SEGMENT = _float("SMS_PRICE_PER_SEGMENT", "0.04")
    # Every e-mail prints the alert's public reference (e.g. A7K2-9QF) and every call
    # says it, so anyone can check the message at /check; a text carries it too unless
    # this is off ("Ref A7K2-9QF." is 14 characters, counted in the parts).
    TEXTS_CARRY_REFERENCE = _bool("TEXTS_CARRY_REFERENCE", True)
    VOICE_PRICE_PER_MINUTE = _float("VOICE_PRICE_PER_MINUTE", "0.02")
    # Alerts to more residents than this, or of these categories, wait for a
    # supervisor's approval (nobody approves their own).
    APPROVAL_THRESHOLD = _int("APPROVAL_THRESHOLD", 2000)
    APPROVAL_CATEGORIES = tuple(
        c.strip() for c in _env("APPROVAL_CATEGORIES", "missing_person").split(",") if c.strip()
    )
    # The officer's preview map shows residents reached per square of this size, and
    # hides counts under DENSITY_MIN_COUNT (never a single home); for a larger area,
    # squares of twice the size, and so on, until at most PREVIEW_CELLS_ACROSS span it.
    PREVIEW_CELL_M = _int("PREVIEW_CELL_M", 500)
    PREVIEW_CELLS_ACROSS = _int("PREVIEW_CELLS_ACROSS", 32)
    # A preview taking longer than this is stopped, and the officer asked for a simpler
    # shape: a star of 2,000 points took 6 s of the database each time, and 16 at once
    # held the public pages up for 23 s (an outside check).
    PREVIEW_TIMEOUT_SECONDS = _float("PREVIEW_TIMEOUT_SECONDS", "8")
    # Residents. Delivery records keep an address for RETENTION_DAYS, then only a
    # pseudonym; people who never confirm any way to reach them are removed after
    # UNVERIFIED_DAYS. Quiet hours hold every category but these.
    RETENTION_DAYS = _int("RETENTION_DAYS", 730)
    # The audit log keeps who did what for good, and from which IP address this long.
    AUDIT_IP_DAYS = _int("AUDIT_IP_DAYS", 180)
    # The ledger is kept by month (migration 0032): a month's deliveries, pseudonymised
    # since RETENTION_DAYS, go whole LEDGER_DAYS after the month ended, once every alert
    # in it is counted into the sent report's figures (they stay). Partitions are made
    # LEDGER_MONTHS_AHEAD months ahead.
    LEDGER_DAYS = _int("LEDGER_DAYS", 2190)
    LEDGER_MONTHS_AHEAD = _int("LEDGER_MONTHS_AHEAD", 2)
    # Making or dropping a month waits this long for the ledger's lock, then is left
    # for the next hour (it must not queue every send behind a long transaction).
    LEDGER_LOCK_TIMEOUT_MS = _int("LEDGER_LOCK_TIMEOUT_MS", 5000)
    # A text is taken as a reply to the latest alert sent to its number this recently;
    # older, it goes to the force's inbox on its own.
    REPLY_WINDOW_HOURS = _int("REPLY_WINDOW_HOURS", 72)
    UNVERIFIED_DAYS = _int("UNVERIFIED_DAYS", 7)
    RECORDING_DAYS = _int("RECORDING_DAYS", 90)
    # An import's rejected rows keep their values (names, postcodes, masked contacts)
    # this long, for the administrator to fix them; then only the reasons.
    IMPORT_REPORT_DAYS = _int("IMPORT_REPORT_DAYS", 30)
    # An e-mail's unsubscribe link works this long after it was sent; after that the
    # page sends the resident to "change or stop your alerts" instead.
    UNSUBSCRIBE_LINK_DAYS = _int(
        "UNSUBSCRIBE_LINK_DAYS", 365
    )  # officers' recordings for voice calls
    URGENT_CATEGORIES = tuple(
        c.strip()
        for c in _env("URGENT_CATEGORIES", "incident,missing_person").split(",")
        if c.strip()
    )
    # Sign-ups per IP address per hour (a shared office or library needs a few).
    REGISTRATIONS_PER_IP_PER_HOUR = _int("REGISTRATIONS_PER_IP_PER_HOUR", 20)
    # A sign-up is answered no sooner than this after it arrived, whether its number or
    # address was new or someone's already (that path writes less, and answered tens
    # of milliseconds sooner: enough, timed, to tell who is registered).
    SIGN_UP_ANSWER_MS = _int("SIGN_UP_ANSWER_MS", 400, most=10_000)
    # The same sign-up sent again within this time is the first one (a double tap).
    SIGN_UP_REPEAT_SECONDS = _int("SIGN_UP_REPEAT_SECONDS", 600)
    # "Send a new code" again within this time of the last code sends none: a double tap,
    # or impatience with a slow text, would spend the number's three codes an hour.
    CODE_RESEND_WAIT_SECONDS = _int("CODE_RESEND_WAIT_SECONDS", 30)
    # "Is this message genuine?" checks per IP address per hour.
    CHECKS_PER_IP_PER_HOUR = _int("CHECKS_PER_IP_PER_HOUR", 30)
    # Public alert pages may say how many residents an alert went to ("sent to 2,140
    # residents"): off unless the force chooses it, and never a figure under
    # PUBLIC_TOTAL_MIN (at least 100), which could point at a street.
    PUBLIC_TOTALS = _bool("PUBLIC_TOTALS", False)
    PUBLIC_TOTAL_MIN = max(100, _int("PUBLIC_TOTAL_MIN", 100))
    # Sign-in: at most this many wrong passwords per account (and per address) in
    # LOGIN_WINDOW_SECONDS, then a wait.
    LOGIN_MAX_FAILURES = _int("LOGIN_MAX_FAILURES", 10)
    LOGIN_WINDOW_SECONDS = _int("LOGIN_WINDOW_SECONDS", 300)
    # From one address to one account, LOGIN_FREE_FAILURES wrong passwords cost
    # nothing; after that each waits twice as long as the one before (starting at
    # LOGIN_DELAY_SECONDS, never more than LOGIN_MAX_DELAY_SECONDS). The owner's own
    # typos slow them down; nobody else's lock them out.
    LOGIN_FREE_FAILURES = _int("LOGIN_FREE_FAILURES", 5)
    LOGIN_DELAY_SECONDS = _int("LOGIN_DELAY_SECONDS", 1)
    LOGIN_MAX_DELAY_SECONDS = _int("LOGIN_MAX_DELAY_SECONDS", 300)
    # A browser the account has signed in from before (a signed cookie) is not held
    # back by wrong passwords from elsewhere, so guessing cannot keep officers out.
    LOGIN_DEVICE_DAYS = _int("LOGIN_DEVICE_DAYS", 90)
    # Staff sessions end after this long unused, and in any case after a shift.
    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 30)
    SESSION_ABSOLUTE_HOURS = _int("SESSION_ABSOLUTE_HOURS", 12)
    # Password accounts (README, "Staff accounts"): an admin's reset or invitation link
    # works this long, once; a second factor (TOTP) is required (always in production).
    ACCOUNT_LINK_HOURS = _int("ACCOUNT_LINK_HOURS", 24)
    STAFF_TOTP_REQUIRED = _bool("STAFF_TOTP_REQUIRED", True)
    # Single sign-on with OpenID Connect (README, "Single sign-on"): on when SSO_ISSUER
    # and SSO_CLIENT_ID are set. SSO_ROLE_MAP is "claim value=role, ..."; the highest
    # role matched wins.
    SSO_ISSUER = _env("SSO_ISSUER")
    # The force whose staff sign in through it, by slug (default: the default force):
    # accounts it makes are that force's, and it links to no other force's account.
    SSO_FORCE = _env("SSO_FORCE")
    SSO_DISCOVERY_URL = _env("SSO_DISCOVERY_URL")  # default: the issuer's well-known URL
    SSO_CLIENT_ID = _env("SSO_CLIENT_ID")
    SSO_CLIENT_SECRET = _env("SSO_CLIENT_SECRET")
    SSO_SCOPES = _env("SSO_SCOPES", "openid profile email")
    SSO_ROLES_CLAIM = _env("SSO_ROLES_CLAIM", "roles")
    SSO_ROLE_MAP = _env("SSO_ROLE_MAP", "")
    SSO_EMAIL_CLAIM = _env("SSO_EMAIL_CLAIM", "email")
    # Empty: "your force account", in the page's language (app/services/sso.py).
    SSO_PROVIDER_NAME = _env("SSO_PROVIDER_NAME", "")
    SSO_LINK_BY_EMAIL = _bool("SSO_LINK_BY_EMAIL", False)
    SSO_TIMEOUT_SECONDS = _float("SSO_TIMEOUT_SECONDS", "10")
    # Reassigning residents' places to forces (a force added, an area reloaded) waits at
    # most this long for residents' changes to pause before it gives up.
    FORCE_REASSIGN_WAIT_SECONDS = _int("FORCE_REASSIGN_WAIT_SECONDS", 300)
    # Forces with identity providers of their own (README, "Single sign-on").
    SSO_PROVIDERS = _sso_providers()

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = SESSION_IDLE_MINUTES * 60
    WTF_CSRF_TIME_LIMIT = None  # the session lifetime already bounds the token

    HSTS_SECONDS = 0  # development and tests run over plain HTTP on loopback

    REQUIRED = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL")

    @classmethod
    def problems(cls) -> list[str]:
        """Every setting that stops the start, said at once (one a try, an IT team fixed
        the providers before learning the key was short: an outside check); with those
        only the application can check, by app.check_settings."""
        problems = list(dict.fromkeys(_WRONG))
        if cls.DENSITY_CELL_M not in (250, 500, 1000, 2000, 5000):
            problems.append("DENSITY_CELL_M must be 250, 500, 1000, 2000 or 5000 (metres).")
        if cls.LOG_FORMAT not in ("text", "json"):
            problems.append('LOG_FORMAT must be "text" or "json".')
        if not cls.PREVIEW_TIMEOUT_SECONDS > 0:
            problems.append("PREVIEW_TIMEOUT_SECONDS must be more than 0.")
        if cls.PREVIEW_CELL_M < 1 or cls.PREVIEW_CELLS_ACROSS < 1:
            problems.append("PREVIEW_CELL_M and PREVIEW_CELLS_ACROSS must be 1 or more.")
        if cls.AUDIT_IP_DAYS < AUDIT_IP_DAYS_AT_LEAST:
            # The database refuses to forget a newer event's address (migration 0059).
            problems.append(f"AUDIT_IP_DAYS must be {AUDIT_IP_DAYS_AT_LEAST} or more.")
        missing = [name for name in cls.REQUIRED if not getattr(cls, name)]
        if missing:
            names = ", ".join(map(_setting, missing))
            problems.append(f"{cls.ENV_NAME} configuration needs {names} in the environment.")
        return problems + cls.values_problems()

    # Settings that 0 would break: no texts at all, sessions that end as they begin,
    # no worker doing anything, a wait with no end.
    AT_LEAST_ONE = (
        "SMS_MAX_SEGMENTS",
        "AREA_WAIT_SECONDS",
        "SESSION_IDLE_MINUTES",
        "SESSION_ABSOLUTE_HOURS",
        "ACCOUNT_LINK_HOURS",
        "DELIVERY_CONCURRENCY",
        "DELIVERY_MAX_ATTEMPTS",
        "DELIVERY_BATCH_SIZE",
        "DELIVERY_MAX_JOBS",
        "TWILIO_TIMEOUT_SECONDS",
        "SMTP_TIMEOUT_SECONDS",
        "SWEEP_INTERVAL_SECONDS",
        "RETENTION_DAYS",
        "LEDGER_DAYS",
        "UNSUBSCRIBE_LINK_DAYS",
        "LOGIN_MAX_FAILURES",
        "LOGIN_WINDOW_SECONDS",
        "CAP_EXPIRES_HOURS",
        # 0 recounted every figure back to back for ever, leased a job for no time,
        # counted no settled alert a round, and removed a sign-up as it was made (an
        # outside check of the install).
        "ANALYST_REFRESH_SECONDS",
        "JOB_LEASE_SECONDS",
        "ANALYST_SETTLED_BATCH",
        "UNVERIFIED_DAYS",
    )

    @classmethod
    def values_problems(cls) -> list[str]:
        """Settings given but wrong, which started and failed later (an outside check of
        the install: e-mail went from "not-an-address", texts from a number Twilio takes
        only as +44...)."""
        problems = [
            f"{name} must be more than 0."
            for name in cls.AT_LEAST_ONE
            if getattr(cls, name, 1) <= 0
        ]
        website = urlsplit(cls.FORCE_WEBSITE or "")
        if cls.FORCE_WEBSITE and (website.scheme != "https" or not website.netloc):
            # The first force's website, shown as a link on every public page: the
            # admin's page asks https://, the setting took javascript: (a re-check).
            problems.append("FORCE_WEBSITE must be the website's full address, https://...")
        if cls.DELIVERY_TRANSPORT not in (None, "outbox", "providers"):
            # "provider" acted as the outbox in development, silently (a re-check).
            problems.append('DELIVERY_TRANSPORT must be "providers" or "outbox".')
        if cls.CALL_REDIAL_SECONDS < REDIAL_AT_LEAST_SECONDS:
            # Sooner, the provider's list of calls to the number could not tell the
            # earlier call from the new one when asked about it (LOOK_BACK_SECONDS).
            problems.append(f"CALL_REDIAL_SECONDS must be {REDIAL_AT_LEAST_SECONDS} or more.")
        if cls.DENSITY_MIN_COUNT < 2:
            # 0 or 1 would show where single residents live.
            problems.append("DENSITY_MIN_COUNT must be 2 or more.")
        if not 0 < cls.SMTP_PORT < 65536:
            problems.append("SMTP_PORT must be a port number, 1 to 65535.")
        if cls.MAIL_FROM and "@" not in parseaddr(cls.MAIL_FROM)[1]:
            problems.append(
                'MAIL_FROM must be an e-mail address ("alerts@police.example" or '
                '"Avon and Somerset Police <alerts@police.example>").'
            )
        # One sender, or a pool of them separated by commas (channels.twilio._pool).
        texts_from = [n.strip() for n in (cls.TWILIO_FROM_NUMBER or "").split(",") if n.strip()]
        if any(not (E164.match(n) or SENDER_ID.match(n)) for n in texts_from):
            problems.append(
                "TWILIO_FROM_NUMBER must be numbers as Twilio takes them, +44 and the rest "
                "(+447700900123; several separated by commas), or a sender name of up to 11 "
                "letters and digits."
            )
        calls_from = [
            n.strip() for n in (cls.TWILIO_VOICE_FROM_NUMBER or "").split(",") if n.strip()
        ]
        if any(not E164.match(n) for n in calls_from):
            problems.append(
                "TWILIO_VOICE_FROM_NUMBER must be numbers as +44 and the rest, several "
                "separated by commas."
            )
        for name, start in (("TWILIO_ACCOUNT_SID", "AC"), ("TWILIO_MESSAGING_SERVICE_SID", "MG")):
            value = getattr(cls, name)
            if value and not re.fullmatch(start + r"[0-9a-fA-F]{32}", value.strip()):
                problems.append(
                    f"{name} must be {start} and 32 hexadecimal digits, as Twilio shows it."
                )
        if cls.SMTP_CA_FILE and not os.access(cls.SMTP_CA_FILE, os.R_OK):
            problems.append(f"SMTP_CA_FILE names {cls.SMTP_CA_FILE!r}, a file that cannot be read.")
        problems += cls.addresses_problems()
        for name in ("APPROVAL_CATEGORIES", "URGENT_CATEGORIES"):
            # " , " named none, and no category needed approval (an outside check):
            # unset means the default, and a list that names nothing is no list.
            if (os.environ.get(name) or "").strip() and not getattr(cls, name):
                problems.append(
                    f"{name} names no category: name them separated by commas, or leave "
                    "it unset for the default."
                )
        try:
            base = urlsplit(cls.PUBLIC_BASE_URL or "")
            _port = base.port  # 99999: ValueError
        except ValueError:
            base = urlsplit("")
        if cls.PUBLIC_BASE_URL and (
            base.scheme not in ("http", "https")
            or not base.netloc
            or any(c.isspace() for c in base.netloc)
            or base.path.strip("/")
            or base.query
            or base.fragment
        ):
            problems.append(
                "PUBLIC_BASE_URL must be the scheme and host the public reach the service at, "
                "with no path (https://alerts.example.police.uk)."
            )
        if cls.FORCE_CODE and not re.fullmatch(r"[EWSN][0-9]{8}", cls.FORCE_CODE):
            problems.append("FORCE_CODE must be the force area's ONS code (E23000036).")
        if cls.CAP_SENDER and re.search(r"[\s,<&]", cls.CAP_SENDER):
            # CAP 1.2's sender takes no space, comma, < or &: every feed would fail
            # its schema.
            problems.append(
                "CAP_SENDER must be an address with no spaces, commas, < or & "
                "(alerts@police.example)."
            )
        if cls.SMTP_HOST and not re.fullmatch(r"[A-Za-z0-9.:\[\]_-]+", cls.SMTP_HOST.strip()):
            problems.append("SMTP_HOST must be a host name or address (smtp.police.example).")
        for name in SHOWN_WORDS:
            # Words every text, page or feed shows: a control character or one that
            # turns the text after it around (FORCE_NAME signs every text) is nobody's.
            value = getattr(cls, name, None)
            if UNSHOWABLE.search(value or ""):
                problems.append(
                    f"{name} has a control character or an invisible one that turns text "
                    "around: type it again."
                )
            elif value and INVISIBLE_INSIDE.search(value) and _shows_something(value):
                problems.append(
                    f"{name} has an invisible character in it (such as a zero-width space "
                    "or a direction mark): type it again."
                )
            elif value and not _shows_something(value):
                # Spaces, or characters of no width, alone: a force with no name.
                problems.append(f"{name} shows nothing: type the words, or leave it unset.")
        return problems

    # The addresses of the services the app talks to, and the schemes each takes:
    # "garbage" started and failed at the first text, map or sign-in (an outside check).
    ADDRESSES = (
        ("SQLALCHEMY_DATABASE_URI", ("postgresql+psycopg",), "postgresql://user:password@host/db"),
        ("DATABASE_REPLICA_URL", ("postgresql+psycopg",), "postgresql://user:password@host/db"),
        ("REDIS_URL", ("redis", "rediss", "unix"), "redis://host:6379/0"),
        ("TWILIO_API_BASE_URL", ("http", "https"), "https://host"),
        ("MAP_TILE_URL", ("http", "https"), "https://host/{z}/{x}/{y}.png"),
        ("SSO_ISSUER", ("http", "https"), "https://host/realm"),
    )

    @classmethod
    def addresses_problems(cls) -> list[str]:
        problems = []
        given = [(name, getattr(cls, name, None)) for name, *_ in cls.ADDRESSES]
        given += [
            (f"SSO_{key.upper().replace('-', '_')}_ISSUER", provider.get("ISSUER"))
            for key, provider in sorted(cls.SSO_PROVIDERS.items())
        ]
        forms = {name: (schemes, example) for name, schemes, example in cls.ADDRESSES}
        for name, value in given:
            schemes, example = forms.get(name, forms["SSO_ISSUER"])
            try:
                address = urlsplit(value.strip()) if value else None
                _port = address.port if address is not None else None  # 99999: ValueError
            except ValueError:  # a [ that opens no IPv6 address, a port out of range
                address = urlsplit("")
            if address is not None and (
                address.scheme not in schemes
                # redis://host/twelve went to database 0, another installation's perhaps
                or name == "REDIS_URL"
                and address.scheme in ("redis", "rediss")
                and not re.fullmatch(r"/?|/[0-9]+", address.path)
                or not (address.netloc or address.scheme in SOCKETS and address.path)
                or any(c.isspace() for c in address.netloc)
                or name == "MAP_TILE_URL"
                and not all(part in value for part in ("{z}", "{x}", "{y}"))
            ):
                problems.append(f"{_setting(name)} must be an address like {example}.")
        return problems


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DELIVERY_TRANSPORT = Config.DELIVERY_TRANSPORT or "outbox"


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    # No night for calls nobody may have asked for (services.verification NIGHT_HOURS):
    # a test that calls a number twice passed by day and failed after 21:00 (CI). The
    # rule's own test sets the night back.
    CALL_NIGHT_HOURS = None
    # A test's unanswered call is failed, not placed again (the redials' tests set it).
    CALL_REDIALS = _int("CALL_REDIALS", 0)
    SQLALCHEMY_DATABASE_URI = _database_url("TEST_DATABASE_URL")
    REDIS_URL = _env("TEST_REDIS_URL")
    SECRET_KEY = "tests-only-not-secret"  # noqa: S105
    RQ_QUEUE = "alerts-test"
    # The outage tests time each message's own retries; the shared wait has its test.
    TWILIO_UNAVAILABLE_WAIT_SECONDS = 0.0
    DELIVERY_TRANSPORT = _env("DELIVERY_TRANSPORT", "outbox")
    # Not the development machine's base map: a test that wants one builds its own.
    BASEMAP_PATH = None
    # Accounts the tests make without a second factor sign in by password alone; the
    # sign-in helpers (tests/factories.py) set one up and use it.
    STAFF_TOTP_REQUIRED = _bool("STAFF_TOTP_REQUIRED", False)
    # Every analyst page recounts its figures first, so a test sees what it just made
    # (tests of the figures' age set this themselves).
    ANALYST_MAX_AGE_SECONDS = _int("ANALYST_MAX_AGE_SECONDS", 0)
    ANALYST_NOTICE_SECONDS = _int("ANALYST_NOTICE_SECONDS", 0)
    # Each preview counts the queue (the test of keeping a count sets its own time).
    QUEUE_COUNT_SECONDS = _int("QUEUE_COUNT_SECONDS", 0)
    # Tests sign up hundreds of residents; the test of the answer's time sets its own.
    SIGN_UP_ANSWER_MS = _int("SIGN_UP_ANSWER_MS", 0)
    # Tests make and sign in staff by the thousand: argon2's cheapest parameters, not
    # its recommended (0.12 s an account made and a sign-in: minutes of `make test`).
    PASSWORD_HASH_CHEAPEST = True
    # A text the gateway has no record of is sent again at its second asking (the test
    # of a list that lags sets its own).
    RECONCILE_NO_RECORD_SECONDS = _int("RECONCILE_NO_RECORD_SECONDS", 0)
    # Tests send the same alert twice on purpose; the test of a repeat sets its own.
    ALERT_REPEAT_SECONDS = _int("ALERT_REPEAT_SECONDS", 0)
    # Tests ask for codes one after another; the test of waiting sets its own.
    CODE_RESEND_WAIT_SECONDS = _int("CODE_RESEND_WAIT_SECONDS", 0)
    METRICS_TOKEN = _env("METRICS_TOKEN", "tests-metrics-token")
    # Tests of giving up give up at their attempts; the test of an outage sets its own.
    DELIVERY_RETRY_WINDOW_SECONDS = _int("DELIVERY_RETRY_WINDOW_SECONDS", 0)


class ProductionConfig(Config):
    ENV_NAME = "production"
    LOG_FORMAT = _env("LOG_FORMAT", "json")
    SESSION_COOKIE_SECURE = True
    # Browsers use HTTPS only for a year once they have seen this (the service is
    # behind TLS in production; PUBLIC_BASE_URL must be https).
    HSTS_SECONDS = _int("HSTS_SECONDS", 31_536_000)

    @classmethod
    def problems(cls) -> list[str]:
        problems = super().problems()
        if cls.DELIVERY_TRANSPORT not in ("outbox", "providers"):
            problems.append(
                "production needs Twilio and SMTP settings (or DELIVERY_TRANSPORT=outbox to "
                "record messages without sending them, knowingly)."
            )
        if cls.DELIVERY_TRANSPORT == "providers":
            missing = [
                name
                for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMTP_HOST", "MAIL_FROM")
                if not getattr(cls, name)
            ]
            if not (cls.TWILIO_MESSAGING_SERVICE_SID or cls.TWILIO_FROM_NUMBER):
                missing.append("TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
            if missing:
                problems.append(f"production needs {', '.join(missing)}.")
            if cls.SMTP_USERNAME and not cls.SMTP_STARTTLS:
                # The password went in clear to the relay (an outside check).
                problems.append(
                    "production sends SMTP_USERNAME and SMTP_PASSWORD only over TLS: set "
                    "SMTP_STARTTLS=1 (and SMTP_CA_FILE for a relay with its own CA)."
                )
        if not (cls.PUBLIC_BASE_URL or "").startswith("https://"):
            # Every link a message carries (stopping, the alert's page) starts with it,
            # the outbox's records too: unset, they named http://127.0.0.1:5000.
            problems.append("production needs PUBLIC_BASE_URL (https://...).")
        key = cls.SECRET_KEY or ""
        # 38 "a"s were taken for a key (an outside check): a random one of 32 characters
        # or more has far more than 10 different characters.
        if key and (len(key) < 32 or len(set(key)) < 10):
            problems.append(
                "production needs a SECRET_KEY of at least 32 random characters "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if cls.METRICS_TOKEN and len(cls.METRICS_TOKEN) < 24:
            # "abc" was taken, and guards every figure of the service (an outside check).
            problems.append(
                "production needs a METRICS_TOKEN of at least 24 random characters, or none "
                "(no /metrics)."
            )
        for name, value in [("SSO_ISSUER", cls.SSO_ISSUER)] + [
            (f"SSO_{key.upper().replace('-', '_')}_ISSUER", provider.get("ISSUER"))
            for key, provider in cls.SSO_PROVIDERS.items()
        ]:
            if value and not value.startswith("https://"):
                problems.append(f"production needs {name} to be https://.")
        for name in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "DATABASE_REPLICA_URL"):
            # As the driver reads them: "community%5Falerts" is the same password.
            if _login_of(getattr(cls, name, None)) == ("community_alerts", "community_alerts"):
                problems.append(
                    f"production must not use the development credentials in {_setting(name)}."
                )
        if (os.environ.get("STAFF_TOTP_REQUIRED") or "").strip() and not cls.STAFF_TOTP_REQUIRED:
            # It was ignored without a word (production always asks).
            problems.append(
                "production always asks staff for a second factor: leave STAFF_TOTP_REQUIRED unset."
            )
        return problems


def _login_of(url: str | None) -> tuple[str, str] | None:
    """The user name and password an address carries, decoded, before its host or in
    its query (libpq reads ?user=...&password=... too: a re-check); None without."""
    try:
        parts = urlsplit(url or "")
        user, password = parts.username, parts.password
    except ValueError:
        return None
    asked = parse_qs(parts.query)
    user = unquote(user) if user is not None else (asked.get("user") or [None])[-1]
    password = unquote(password) if password is not None else (asked.get("password") or [None])[-1]
    if user is None or password is None:
        return None
    return user, password


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> type[Config]:
    name = name or _env("APP_ENV", "production")
    try:
        config = CONFIGS[name]
    except KeyError:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}.") from None
    return config
