"""The outbound ledgers' SQL: one set of statements for every table of messages going
out (an alert's deliveries, notices to one resident), which share one shape and one
status order (models/delivery.py). The engine (services/outbound.py) owns the
transactions: nothing here commits.

Every status change is a compare-and-swap that only moves a row forward, so a job run
twice, a late callback or a sweeper racing a worker never sends twice or goes back.
"""

# Table names are put into the SQL, and only ever from TABLES (checked by _table).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import Connection, bindparam, text

from app.dao.locks import lock_key
from app.dao.public_alerts import TEST_AUDIENCE
from app.extensions import db
from app.models import STATUS_RANK

# The tables with a ledger's shape, and the outbox column that points at each.
TABLES = {"deliveries": "delivery_id", "resident_notices": "notice_id"}

# STATUS_RANK as SQL over d.status.
_RANK_OF_STATUS = (
    "(CASE d.status "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    + " END)"
)


def _table(table: str) -> str:
    if table not in TABLES:  # only ever a name from this module: never user input
        raise ValueError(f"not an outbound ledger: {table}")
    return table


def _ids(sql: str):
    return text(sql).bindparams(bindparam("ids", expanding=True))


# Seconds since a row was first refused for now or held back (0: never so far): the
# retry window is timed from then, not from its first attempt, which may have waited in
# the queue behind the rest of a large alert (an outside check: timed so, one brief 429
# failed 1,519 of 1,635 texts at once). A row refused before migration 0060: from its
# first attempt.
def _refused_for(row: str = "") -> str:
    """The SQL for it, of the table's row named `row` ("d."), or of the one updated."""
    return f"""
    CASE WHEN {row}first_refused_at IS NOT NULL
         THEN extract(epoch FROM now() - {row}first_refused_at)
         WHEN {row}attempts_held + {row}attempts_refused > 0  -- refused before 0060
         THEN extract(epoch FROM now() - coalesce({row}first_attempted_at, {row}created_at))
         ELSE 0
    END::float8"""


def claim(
    table: str,
    ids: list[int],
    *,
    call_hold_seconds: float = 900,
    marked: tuple[str, ...] = ("email",),
) -> list[tuple]:
    """queued -> sending for those still queued and due. (id, alert_id, resident_id,
    channel, address, attempts, attempts_held, seconds since its first attempt) of each
    claimed (a row tried before there was a first attempt's time: since it was made).
    A delivery of an alert cancelled
    since it was queued again (a retry, a resend after asking the provider, a lost
    job's) is cancelled instead, never sent. Its commit is durable whatever the
    server's synchronous_commit: the claim is what keeps a message from going twice,
    and with it off a crash lost claims already acknowledged, and three texts went
    twice (an outside check)."""
    db.session.execute(text("SET LOCAL synchronous_commit = on"))
    held = []
    if table == "deliveries":
        _cancel_queued_of_cancelled_alerts(ids)
        _cancel_queued_no_longer_wanted(ids)
        _cancel_retries_an_all_clear_overtook(ids)
        held = _follow_ups_to_wait(ids, call_hold_seconds)
    held += _calls_to_wait(table, ids, call_hold_seconds)
    owner = "alert_id" if table == "deliveries" else "NULL::bigint"
    return db.session.execute(
        _ids(
            f"""
            UPDATE {_table(table)} SET status = 'sending', attempts = attempts + 1,
                   updated_at = now(), attempted_at = now(),
                   first_attempted_at = coalesce(
                       first_attempted_at, CASE WHEN attempts = 0 THEN now() ELSE created_at END
                   ),
                   email_unsent_attempt = CASE WHEN channel = ANY(CAST(:marked AS text[]))
                                               THEN attempts + 1 END
            WHERE id IN :ids AND status = 'queued'
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
              AND NOT (id = ANY(CAST(:held AS bigint[])))
            RETURNING id, {owner}, resident_id, channel, address, attempts, attempts_held,
                      {_refused_for()}
            """
        ),
        {"ids": list(ids), "held": held, "marked": list(marked)},
    ).all()


# A call to a number another call to it may still be on the way to (its request
# unanswered, or the provider not yet asked about it) waits this long, then is tried
# again.
NUMBER_BUSY_SECONDS = 5


# A follow-up waits for its thread's earlier messages to the same resident by the same
# channel that are on their way, or due within this long: not for one held for its
# resident's quiet hours when the follow-up is not (an urgent update of a routine
# alert goes; the alert follows in the morning).
FOLLOW_UP_WAITS_AT_MOST_SECONDS = 1800


def _follow_ups_to_wait(ids: list[int], call_hold_seconds: float) -> list[int]:
    """The follow-ups (updates, all-clears) among these queued rows whose resident has
    an earlier message of the same thread by the same channel still on its way
    (queued, being sent, or in doubt), or a call of it placed and not yet ended (it
    may end unanswered, and be placed again: 2 of 46 residents heard an update before
    the alert whose call was still ringing, an outside check; within
    `call_hold_seconds`, VOICE_LINE_HOLD_SECONDS, of its placing, as a line is held):
    they are put NUMBER_BUSY_SECONDS ahead, so that
    each resident hears the thread in order. An update reached 31% of an alert's
    callers before the alert it updated, with no fault at all, and 30 of 357 residents
    under retries by up to 86 s (an outside check): the alert's rows waited their
    turn, or a provider's, while the update's job ran. (An all-clear has cancelled what
    of its thread had not gone: _cancel_retries_an_all_clear_overtook.)"""
    held = list(
        db.session.execute(
            _ids(
                """
                SELECT d.id FROM deliveries d JOIN alerts a ON a.id = d.alert_id
                WHERE d.id IN :ids AND d.status = 'queued' AND a.parent_id IS NOT NULL
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now())
                  AND EXISTS (
                      SELECT 1 FROM alerts b JOIN deliveries e ON e.alert_id = b.id
                      WHERE (b.id = a.parent_id OR (b.parent_id = a.parent_id AND b.id < a.id))
                        AND e.resident_id = d.resident_id AND e.channel = d.channel
                        AND (e.status IN ('sending', 'unknown')
                             OR (e.status = 'queued' AND coalesce(e.next_attempt_at, now())
                                 <= now() + make_interval(secs => :most))
                             OR (e.status = 'sent' AND e.channel = 'voice'
                                 AND e.sent_at > now() - make_interval(secs => :hold))))
                """
            ),
            {"ids": list(ids), "most": FOLLOW_UP_WAITS_AT_MOST_SECONDS, "hold": call_hold_seconds},
        ).scalars()
    )
    if held:
        db.session.execute(
            text(
                "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => :wait)"
                " WHERE id = ANY(CAST(:held AS bigint[])) AND status = 'queued'"
            ),
            {"held": held, "wait": NUMBER_BUSY_SECONDS},
        )
    return held


def _calls_to_wait(table: str, ids: list[int], call_hold_seconds: float) -> list[int]:
    """The calls among these queued rows that must wait: one call to a number at a
    time, across both ledgers. The provider's list of calls cannot say whose call a
    call is, so two calls to one number whose outcomes were both in doubt could not be
    told apart: an outside probe saw a resident called twice with one alert and never
    with the other, which was reported sent. (A phone takes one call at a time anyway.)
    Each number is locked for this transaction (an advisory lock, taken without
    waiting), then, in a statement of its own that sees what others committed under
    it, a call still sending or unknown with no reference to that number holds this
    one back, and so does a call to it placed and not yet ended (ringing, or being
    listened to), within `call_hold_seconds` of its placing: the line is busy, and a
    call placed on it failed busy and spent a redial (47 of an update's 99 calls, on
    the alert's own calls: an outside check). Held rows are put NUMBER_BUSY_SECONDS
    ahead, so that the job waits."""
    calls = db.session.execute(
        _ids(
            f"""
            SELECT id, address FROM {_table(table)}
            WHERE id IN :ids AND status = 'queued' AND channel = 'voice'
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            ORDER BY id
            """
        ),
        {"ids": list(ids)},
    ).all()
    if not calls:
        return []
    # Locked by their keys (dao.locks.lock_key), not the numbers: a lock statement
    # waits, and one with residents' numbers in it reached the server's log (a review).
    # (The lookups below take the numbers, as any lookup by number does: the deployment
    # guide says to leave statement logging off.)
    keys = {lock_key(f"voice-number:{address}"): address for _, address in calls}
    locked = {
        keys[key]
        for key, ok in db.session.execute(
            text(
                "SELECT k, pg_try_advisory_xact_lock(k)"
                " FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
            ),
            {"keys": sorted(keys)},
        )
        if ok
    }
    busy = {address for *_, address, _ in unsettled_to(sorted(locked), channel="voice")}
    busy |= _calls_on_the_line(sorted(locked), call_hold_seconds)
    held, going = [], set()
    for row_id, address in calls:
        if address not in locked or address in busy or address in going:
            held.append(row_id)
        else:
            going.add(address)
    if held:
        db.session.execute(
            text(
                f"UPDATE {_table(table)} SET next_attempt_at = now() + make_interval("
                "secs => :wait) WHERE id = ANY(CAST(:held AS bigint[])) AND status = 'queued'"
            ),
            {"held": held, "wait": NUMBER_BUSY_SECONDS},
        )
    return held


def _calls_on_the_line(numbers: list[str], hold_seconds: float) -> set[str]:
    """Which of these numbers a call of either ledger is on: placed (sent) within
    `hold_seconds` and not yet ended. Through the ledgers' indexes of calls not
    reported ended (migration 0062)."""
    if not numbers:
        return set()
    return set(
        db.session.execute(
            text(
                """
                SELECT address FROM deliveries
                WHERE status = 'sent' AND channel = 'voice' AND address = ANY(:numbers)
                  AND sent_at > now() - make_interval(secs => :hold)
                UNION
                SELECT address FROM resident_notices
                WHERE status = 'sent' AND channel = 'voice' AND address = ANY(:numbers)
                  AND sent_at > now() - make_interval(secs => :hold)
                """
            ),
            {"numbers": numbers, "hold": hold_seconds},
        ).scalars()
    )


def _cancel_queued_of_cancelled_alerts(ids: list[int]) -> None:
    db.session.execute(
        _ids(
            """
            UPDATE deliveries d SET status = 'cancelled', finished_at = now(),
                   updated_at = now(), reason = 'alert cancelled before it was sent'
            FROM alerts a
            WHERE d.id IN :ids AND d.status = 'queued'
              AND a.id = d.alert_id AND a.status = 'cancelled'
            """
        ),
        {"ids": list(ids)},
    )


def _cancel_queued_no_longer_wanted(ids: list[int]) -> None:
    """A delivery queued again (a retry, a redial, an e-mail its worker never sent, a
    resend after asking the provider) to a resident who has since stopped that channel
    (STOP, 9 on the keypad, the e-mail's link), removed or changed its address, paused
    their alerts, stopped hearing from the force it comes through or deleted their
    details, is cancelled, never sent: stopping cancelled
    only what was queued at that moment, and an outside check had 16 messages go after
    STOP or unsubscribe (a text 90 s after, e-mails, calls redialled)."""
    db.session.execute(
        _ids(
            """
            UPDATE deliveries d SET status = 'cancelled', finished_at = now(),
                   updated_at = now(),
                   reason = CASE
                       WHEN d.address LIKE 'removed:%' THEN 'resident removed'
                       WHEN rc.unsubscribed_by = 'text' THEN 'recipient replied STOP'
                       WHEN rc.unsubscribed_at IS NOT NULL THEN 'recipient unsubscribed'
                       WHEN rc.address IS NULL THEN 'resident removed this channel'
                       WHEN rc.address <> d.address THEN 'resident changed this address'
                       WHEN r.paused_at IS NOT NULL THEN 'resident paused alerts'
                       ELSE 'resident stopped this force' END
            FROM deliveries x
            JOIN alerts a ON a.id = x.alert_id
            LEFT JOIN resident_channels rc
                   ON rc.resident_id = x.resident_id AND rc.channel = x.channel
            LEFT JOIN residents r ON r.id = x.resident_id
            WHERE d.id IN :ids AND x.id = d.id AND d.status = 'queued'
              AND (d.address LIKE 'removed:%'
                   OR d.resident_id IS NOT NULL
                      AND (rc.address IS NULL OR rc.address <> d.address
                           OR rc.unsubscribed_at IS NOT NULL OR r.paused_at IS NOT NULL
                           -- the force it reaches them through, which they stopped
                           OR EXISTS (SELECT 1 FROM resident_force_stops s
                                      WHERE s.resident_id = d.resident_id
                                        AND s.force_id = coalesce(d.via_force_id, a.force_id))))
            """
        ),
        {"ids": list(ids)},
    )


# Said of a message whose thread's all-clear has gone before it: refused for now by
# the provider, held for its resident's quiet hours, or not yet tried.
OVERTAKEN = "not sent: the all-clear went while the provider was refusing it for now"
QUIET = "not sent: the all-clear went before the quiet hours ended"
NOT_YET = "not sent: the all-clear went before it"
# Tried, its answer lost, and the provider had no record of it when asked: whether it
# went is not known (a lagging list of the provider's once had it; "not sent" was
# said of 107 messages residents got: an outside check).
IN_DOUBT = "not tried again: the all-clear went while it was not known whether it had gone"
# Sent again at an officer's asking (its reason still the failure's), overtaken so.
NOT_AGAIN = "not sent again: the all-clear went before it"
# A call found busy or unanswered, waiting to be placed again (redial).
NOT_REDIALLED = "not called again: the all-clear went before the line was tried again"
_CLEARED = f"""
    status = 'cancelled', finished_at = now(), updated_at = now(),
    reason = CASE WHEN d.reason LIKE 'gave up after %' THEN '{NOT_AGAIN}'
                  WHEN d.redials > 0 AND d.provider_ref IS NULL THEN '{NOT_REDIALLED}'
                  WHEN d.attempts > 0 AND d.attempts_refused + d.attempts_held = 0
                       THEN '{IN_DOUBT}'
                  WHEN d.attempts > 0 THEN '{OVERTAKEN}'
                  -- Held for quiet hours, not for NUMBER_BUSY_SECONDS behind its thread's
                  -- call or another to the number ("before the quiet hours ended" was
                  -- said of residents with none: an outside check).
                  WHEN d.next_attempt_at > now() + make_interval(secs => {NUMBER_BUSY_SECONDS})
                       THEN '{QUIET}'
                  ELSE '{NOT_YET}' END
"""


def count_via_forces(alert_id: int) -> list[tuple[int, int, int]]:
    """(force id, deliveries, residents) of the alert's deliveries through each
    neighbouring force (via_force_id), by force."""
    return [
        (force_id, deliveries, residents)
        for force_id, deliveries, residents in db.session.execute(
            text(
                "SELECT via_force_id, count(*), count(DISTINCT resident_id) FROM deliveries"
                " WHERE alert_id = :alert AND via_force_id IS NOT NULL"
                " GROUP BY via_force_id ORDER BY via_force_id"
            ),
            {"alert": alert_id},
        )
    ]


def cancel_unsent_before_all_clear(root_id: int, all_clear_id: int) -> int:
    """Every message of the thread (the alert `root_id` and its follow-ups) still
    queued when its all-clear goes: how many. (The claim stops any in flight now that
    come back: _cancel_retries_an_all_clear_overtook.)"""
    return len(
        db.session.execute(
            text(
                f"""
                UPDATE deliveries d SET {_CLEARED}
                FROM alerts a
                WHERE a.id = d.alert_id AND (a.id = :root OR a.parent_id = :root)
                  AND a.id <> :all_clear AND d.status = 'queued'
                RETURNING d.id
                """  # noqa: S608 (constants)
            ),
            {"root": root_id, "all_clear": all_clear_id},
        ).all()
    )


def count_unsent_before_all_clear(root_id: int, most: int) -> int:
    """How many of the thread's messages (the alert `root_id` and its follow-ups) are
    still queued, counted to `most` + 1 at most (a preview must stay quick while a
    million go): an all-clear sent now stops them (cancel_unsent_before_all_clear)."""
    return db.session.scalar(
        text(
            """
            SELECT count(*) FROM (
                SELECT 1 FROM deliveries d JOIN alerts a ON a.id = d.alert_id
                WHERE (a.id = :root OR a.parent_id = :root) AND d.status = 'queued'
                LIMIT :most + 1) counted
            """
        ),
        {"root": root_id, "most": most},
    )


def _cancel_retries_an_all_clear_overtook(ids: list[int]) -> None:
    """A message still queued whose thread's all-clear has gone since is not sent: it
    would reach its resident after the all-clear, or with it. Being tried again (an
    outage is tried for half an hour: a review), or not yet tried (a slow provider
    kept the queue long: an outside check had 110 residents get an alert after its
    all-clear, though an untried one was thought to go first)."""
    db.session.execute(
        _ids(
            f"""
            UPDATE deliveries d SET {_CLEARED}
            FROM alerts a
            WHERE d.id IN :ids AND d.status = 'queued'
              AND a.id = d.alert_id AND a.category <> 'all_clear'
              AND EXISTS (
                  SELECT 1 FROM alerts c
                  WHERE c.parent_id = coalesce(a.parent_id, a.id) AND c.id <> a.id
                    AND c.category = 'all_clear' AND c.status IN ('sending', 'sent')
                    -- An all-clear written after this alert: an update written after
                    -- the all-clear ("more to say", as its page offers) had every
                    -- message stopped (an outside check).
                    AND c.id > a.id
              )
            """  # noqa: S608 (a constant)
        ),
        {"ids": list(ids)},
    )


# An alert (a) with its thread's first (p); whether it is urgent: its category, or its
# thread's first alert's, in :urgent; and whether it is sending with messages queued.
_WITH_FIRST = "alerts a LEFT JOIN alerts p ON p.id = a.parent_id"
_URGENT = "(a.category = ANY(:urgent) OR coalesce(p.category = ANY(:urgent), false))"
_SENDING_QUEUED = (
    "a.status = 'sending' AND EXISTS (SELECT 1 FROM deliveries d"
    " WHERE d.alert_id = a.id AND d.status = 'queued')"
)


def urgent_deliveries(delivery_ids: list[int], *, urgent: tuple) -> set[int]:
    """Which of these deliveries are an urgent alert's."""
    if not delivery_ids or not urgent:
        return set()
    return set(
        db.session.execute(
            text(
                f"""
                SELECT d.id FROM deliveries d JOIN {_WITH_FIRST} ON a.id = d.alert_id
                WHERE d.id = ANY(:ids) AND {_URGENT}
                """
            ),
            {"ids": list(delivery_ids), "urgent": list(urgent)},
        ).scalars()
    )


def urgent_queued(*, urgent: tuple) -> bool:
    """Whether an urgent alert that is sending still has messages queued."""
    if not urgent:
        return False
    return bool(
        db.session.execute(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {_WITH_FIRST} WHERE {_SENDING_QUEUED} AND {_URGENT})"
            ),
            {"urgent": list(urgent)},
        ).scalar()
    )


def urgent_calls_queued(*, urgent: tuple, within_s: float) -> bool:
    """Whether an urgent alert that is sending still has calls queued to go now or
    within `within_s` (not a redial due in minutes)."""
    return urgent_rows_to_send(urgent=urgent, channel="voice", within_s=within_s, in_flight=False)


def code_calls_queued(*, within_s: float, bulk_kinds: tuple[str, ...]) -> bool:
    """Whether a resident's code (or link) by call is queued to go now or within
    `within_s`: not a notice of `bulk_kinds` (an import's)."""
    return bool(
        db.session.execute(
            text(
                """
                SELECT EXISTS (SELECT 1 FROM resident_notices
                WHERE status = 'queued' AND channel = 'voice' AND kind <> ALL(:bulk)
                  AND (next_attempt_at IS NULL
                       OR next_attempt_at <= now() + make_interval(secs => :within)))
                """
            ),
            {"bulk": list(bulk_kinds), "within": within_s},
        ).scalar()
    )


def urgent_rows_to_send(
    *, urgent: tuple, channel: str, within_s: float, in_flight: bool = True
) -> bool:
    """Whether an urgent alert that is sending still has rows of `channel` to send:
    queued to go now or within `within_s`, or (with `in_flight`) being sent."""
    if not urgent:
        return False
    return bool(
        db.session.execute(
            text(
                f"""
                SELECT EXISTS (SELECT 1 FROM {_WITH_FIRST}
                WHERE a.status = 'sending' AND {_URGENT} AND EXISTS (
                    SELECT 1 FROM deliveries d WHERE d.alert_id = a.id
                    AND d.channel = :channel AND ((:in_flight AND d.status = 'sending') OR (
                        d.status = 'queued' AND (d.next_attempt_at IS NULL
                        OR d.next_attempt_at <= now() + make_interval(secs => :within))))))
                """
            ),
            {
                "urgent": list(urgent),
                "channel": channel,
                "within": within_s,
                "in_flight": in_flight,
            },
        ).scalar()
    )


def within_ranges(ids: list[int], ranges: list[tuple[int, int, int, str | None]]) -> set[int]:
    """Which of these deliveries are in one of these alert ranges (alert, first id, last
    id, channel or None for any): rows an alert range job holds."""
    if not ids or not ranges:
        return set()
    alerts, firsts, lasts, channels = (list(column) for column in zip(*ranges, strict=True))
    return set(
        db.session.execute(
            text(
                """
                SELECT d.id FROM deliveries d
                JOIN unnest(CAST(:alerts AS bigint[]), CAST(:firsts AS bigint[]),
                            CAST(:lasts AS bigint[]), CAST(:channels AS text[]))
                     AS r(alert_id, first_id, last_id, channel)
                  ON d.alert_id = r.alert_id AND d.id BETWEEN r.first_id AND r.last_id
                 AND (r.channel IS NULL OR d.channel = r.channel)
                WHERE d.id = ANY(CAST(:ids AS bigint[]))
                """
            ),
            {"alerts": alerts, "firsts": firsts, "lasts": lasts, "channels": channels, "ids": ids},
        ).scalars()
    )


def take_urgent_queued(*, urgent: tuple, seconds: float | None = None) -> list[int]:
    """The queued, due rows of urgent alerts that are sending, however lately touched
    (or, with `seconds`, untouched for that long: forgotten); touched now, as
    take_forgotten's."""
    if not urgent:
        return []
    untouched = "AND d.updated_at < now() - make_interval(secs => :secs)" if seconds else ""
    return list(
        db.session.execute(
            text(
                f"""
                UPDATE deliveries d SET updated_at = now()
                FROM {_WITH_FIRST}
                WHERE d.alert_id = a.id AND a.status = 'sending' AND d.status = 'queued'
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now()) AND {_URGENT}
                  {untouched}
                RETURNING d.id
                """
            ),
            {"urgent": list(urgent), "secs": seconds or 0},
        ).scalars()
    )


def cancelled_alerts(alert_ids: list[int]) -> set[int]:
    """Which of these alerts have been cancelled."""
    return set(
        db.session.execute(
            _ids("SELECT id FROM alerts WHERE id IN :ids AND status = 'cancelled'"),
            {"ids": alert_ids},
        ).scalars()
    )


def mark_sent(table: str, ids: list[int], statuses: list[str], refs: list, segments: list):
    """What a send call returned. A provider callback may already have moved one on
    ("delivered", "failed"): keep that status and its reason, fill in what is known."""
    db.session.execute(
        text(
            f"""
            UPDATE {_table(table)} d SET
                -- Also a row the sweeper took for lost (requeued, or possibly sent)
                -- while this send was still waiting its turn: it went, so it is sent.
                status = CASE WHEN d.status IN ('queued', 'sending', 'unknown', 'possibly_sent')
                              THEN v.status ELSE d.status END,
                -- The send's own answer names its message: a callback come first with
                -- another SID (one the provider never gave this send) had been kept,
                -- and the real one's callbacks were then ignored (an outside check).
                provider_ref = coalesce(v.ref, d.provider_ref),
                segments = coalesce(v.segments, d.segments),
                sent_at = coalesce(d.sent_at, now()),
                finished_at = CASE WHEN v.status = 'delivered' THEN now()
                                   WHEN d.status = 'possibly_sent' THEN NULL
                                   ELSE d.finished_at END,
                -- A fast callback may already have failed it: keep why. Otherwise an
                -- earlier attempt's reason ("Twilio 503: try again") is history.
                reason = CASE WHEN d.status IN ('failed', 'cancelled') THEN d.reason
                              ELSE NULL END,
                {_forget_text(table, "true")}
                updated_at = now()
            FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]),
                        CAST(:refs AS text[]), CAST(:segments AS int[]))
                 AS v(id, status, ref, segments)
            WHERE d.id = v.id
              -- an earlier call's answer, come after the call was placed again
              AND NOT (coalesce(v.ref, '') = ANY(coalesce(d.earlier_refs, '{{}}')))
            """
        ),
        {"ids": ids, "statuses": statuses, "refs": refs, "segments": segments},
    )


def settle(
    table: str,
    ids: list[int],
    attempts: list[int],
    statuses: list[str],
    reasons: list[str],
    refused: list[bool] | None = None,
) -> None:
    """sending -> failed / unknown / possibly_sent, each with its reason; only a row
    still in the attempt that failed (a row taken for lost and sent again is the new
    attempt's to settle). A `refused` row (this attempt refused for now too) is marked
    refused_every_try when each attempt before it was held or refused for now: no
    provider ever took it."""
    db.session.execute(
        text(
            f"""
            UPDATE {_table(table)} d SET status = v.status, reason = v.reason,
                   -- The clock's time, not the transaction's (which may have begun
                   -- before the request went): an unknown row's provider is asked
                   -- about what it made up to just after this (to_reconcile).
                   updated_at = clock_timestamp(),
                   {_forget_text(table, "v.status IN ('failed', 'possibly_sent')")}
                   refused_every_try = v.refused
                       AND d.attempts_held + d.attempts_refused + 1 = d.attempts,
                   finished_at = CASE WHEN v.status IN ('failed', 'possibly_sent', 'cancelled')
                                      THEN now() ELSE d.finished_at END
            FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]),
                        CAST(:statuses AS text[]), CAST(:reasons AS text[]),
                        CAST(:refused AS boolean[]))
                 AS v(id, attempts, status, reason, refused)
            WHERE d.id = v.id AND d.status = 'sending' AND d.attempts = v.attempts
            """
        ),
        {
            "ids": ids,
            "attempts": attempts,
            "statuses": statuses,
            "reasons": reasons,
            "refused": refused or [False] * len(ids),
        },
    )


def retry_later(
    table: str,
    ids: list[int],
    attempts: list[int],
    reasons: list[str],
    delays: list[float],
    untried: list[bool] | None = None,
    urgent: tuple[str, ...] = (),
) -> None:
    """sending -> queued, not before each row's delay has passed; only a row still in
    the attempt that failed. An `untried` row's attempt is counted as held (its
    request never left: services.outbound's NotTried), not against its tries. A
    delivery of an alert not `urgent` (by its category or its original's) whose next
    try would fall in its resident's quiet hours waits for their end, as the alert's
    first try would have: an outage is tried for half an hour, into the night."""
    later = "now() + make_interval(secs => v.delay)"
    if table == "deliveries":
        later = _after_quiet_hours(later)
    db.session.execute(
        text(
            f"""
            UPDATE {_table(table)} d SET status = 'queued', reason = v.reason,
                   next_attempt_at = {later},
                   attempts_held = d.attempts_held + CASE WHEN v.untried THEN 1 ELSE 0 END,
                   attempts_refused = d.attempts_refused + CASE WHEN v.untried THEN 0 ELSE 1 END,
                   first_refused_at = coalesce(d.first_refused_at, now()),
                   updated_at = now()
            FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]),
                        CAST(:reasons AS text[]), CAST(:delays AS float8[]),
                        CAST(:untried AS boolean[]))
                 AS v(id, attempts, reason, delay, untried)
            WHERE d.id = v.id AND d.status = 'sending' AND d.attempts = v.attempts
            """
        ),
        {
            "ids": ids,
            "attempts": attempts,
            "reasons": reasons,
            "delays": delays,
            "untried": untried or [False] * len(ids),
            "urgent": list(urgent),
        },
    )


def _after_quiet_hours(later: str) -> str:
    """SQL for the time `later` (SQL), or the end of the quiet hours of the resident
    of the delivery d when it falls in them: unless its alert is a test, or `urgent`
    (the :urgent categories, by its own category or its original's)."""
    return f"""coalesce(
                   (SELECT quiet_hours_release(r.quiet_from, r.quiet_until, {later})
                    FROM residents r JOIN alerts a ON a.id = d.alert_id
                    WHERE r.id = d.resident_id AND a.audience <> '{TEST_AUDIENCE}'
                      AND a.mode <> 'test'
                      AND NOT (a.category = ANY(CAST(:urgent AS text[])))
                      -- a follow-up of an urgent alert is urgent too
                      AND NOT EXISTS (SELECT 1 FROM alerts p WHERE p.id = a.parent_id
                                      AND p.category = ANY(CAST(:urgent AS text[])))),
                   {later})"""


# A call's endings after which nobody heard it: it may be placed again (CALL_REDIALS).
UNHEARD_CALL_ENDINGS = ("busy", "no-answer")


def unheard_ending(reason: str | None) -> bool:
    """Whether a call's failure is one of UNHEARD_CALL_ENDINGS, with the provider's
    error code after it or not ("busy (Twilio error 31486)" was not placed again: an
    outside check); as redial reads the row's."""
    return (reason or "").split(" (", 1)[0] in UNHEARD_CALL_ENDINGS


def redial(
    row_id: int, provider_ref: str, *, most: int, seconds: int, urgent: tuple
) -> float | None:
    """failed (busy, no-answer) -> queued again, its call placed anew after `seconds`
    (or its resident's quiet hours, as a retry waits): only a delivery of an alert's
    call still holding this call's reference, redialled fewer than `most` times, whose
    alert is not cancelled. Its reference joins earlier_refs, so that word about that
    call (a late or repeated callback, the send's own slow answer) is never taken for
    the new one's. Seconds until it is due, or None when it is not placed again."""
    later = _after_quiet_hours("now() + make_interval(secs => :seconds)")
    due = db.session.execute(
        text(
            f"""
            UPDATE deliveries d SET status = 'queued',
                   earlier_refs = array_append(coalesce(d.earlier_refs, '{{}}'), d.provider_ref),
                   provider_ref = NULL, redials = d.redials + 1,
                   next_attempt_at = {later},
                   sent_at = NULL, finished_at = NULL, duration_seconds = NULL,
                   updated_at = now()
            WHERE d.id = :id AND d.channel = 'voice' AND d.status = 'failed'
              AND d.provider_ref = :ref
              AND split_part(d.reason, ' (', 1) = ANY(CAST(:endings AS text[]))
              AND d.redials < :most
              AND EXISTS (SELECT 1 FROM alerts a WHERE a.id = d.alert_id
                          AND a.status <> 'cancelled' AND a.mode <> 'test'
                          AND a.audience <> '{TEST_AUDIENCE}')
            RETURNING greatest(0, extract(epoch FROM d.next_attempt_at - now()))::float8
            """
        ),
        {
            "id": row_id,
            "ref": provider_ref,
            "most": most,
            "seconds": seconds,
            "urgent": list(urgent),
            "endings": list(UNHEARD_CALL_ENDINGS),
        },
    ).scalar()
    if due is not None:
        # Its alert is sending again (it may have finished: every first call placed
        # before any ended), so that it can still be cancelled and says it is going:
        # "already finished" was said of an alert whose calls were still to be placed
        # again, and cancelling it stopped nothing (a re-check).
        db.session.execute(
            text(
                "UPDATE alerts SET status = 'sending' WHERE status = 'sent'"
                " AND id = (SELECT alert_id FROM deliveries WHERE id = :id)"
            ),
            {"id": row_id},
        )
    return due


def readdress_queued(resident_id: int, channel: str, old: str, new: str) -> tuple[int, int]:
    """A resident proved a new number or e-mail address for a channel: what still waits
    to go to the old one goes to the new one instead, or, where the alert has a message
    for the new one already (another resident's), is cancelled. A resident who changed
    their number during their quiet hours had two alerts sent to the old one, which may
    be someone else's by then (an outside check). (moved, cancelled)."""
    params = {"r": resident_id, "c": channel, "old": old, "new": new}
    moved = db.session.execute(
        text(
            """
            UPDATE deliveries d SET address = :new, updated_at = now()
            WHERE d.resident_id = :r AND d.channel = :c AND d.status = 'queued'
              AND d.address = :old
              AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.alert_id = d.alert_id
                              AND e.channel = d.channel AND e.address = :new)
            RETURNING d.id
            """
        ),
        params,
    ).all()
    cancelled = db.session.execute(
        text(
            """
            UPDATE deliveries SET status = 'cancelled', finished_at = now(), updated_at = now(),
                   reason = 'the resident changed this address, and the new one has this alert'
            WHERE resident_id = :r AND channel = :c AND status = 'queued' AND address = :old
            RETURNING id
            """
        ),
        params,
    ).all()
    return len(moved), len(cancelled)


def _forget_text(table: str, finished: str) -> str:
    """A SET clause dropping a notice's text (it may hold a code) as the same statement
    finishes it; nothing for a table that keeps no text."""
    if table != "resident_notices":
        return ""
    return f"body = CASE WHEN {finished} THEN NULL ELSE d.body END,"


def forget_finished_texts(table: str, ids: list[int]) -> None:
    """A notice's text may hold a code: dropped once the notice is on its way or done."""
    if table != "resident_notices":
        return
    db.session.execute(
        _ids(
            "UPDATE resident_notices SET body = NULL WHERE id IN :ids AND body IS NOT NULL "
            "AND status NOT IN ('queued', 'sending', 'unknown')"
        ),
        {"ids": ids or [0]},
    )


def heartbeat(table: str, ids: list[int]) -> None:
    """A live job's rows, in flight or waiting their turn in it: not a dead worker's
    (take_stalled) nor a lost job's (take_forgotten)."""
    db.session.execute(
        _ids(
            # The clock's time, not the transaction's: a job's transaction may have
            # begun with a read long before this beat.
            f"UPDATE {_table(table)} SET updated_at = clock_timestamp()"
            " WHERE id IN :ids AND status IN ('sending', 'queued')"
        ),
        {"ids": ids or [0]},
    )


def renew_claim(connection: Connection, table: str, row_id: int, attempts: int) -> bool:
    """Whether the row is still "sending" in this attempt; if so it is touched (the
    clock's time), so the sweeper leaves it alone for STALLED_SECONDS more. On a
    connection of its own: asked from the sender's thread, not the job's."""
    renewed = connection.execute(
        text(
            f"UPDATE {_table(table)} SET updated_at = clock_timestamp()"
            " WHERE id = :id AND status = 'sending' AND attempts = :attempts RETURNING id"
        ),
        {"id": row_id, "attempts": attempts},
    )
    return renewed.first() is not None


def commits_durable(connection: Connection, durable: bool = True) -> None:
    """Every commit of this connection durable, whatever the server's synchronous_commit
    (for a connection of statements each committed by itself: end_unsent, renew_claim);
    False: as the server has it again."""
    connection.execute(
        text("SET synchronous_commit = on" if durable else "RESET synchronous_commit")
    )


def end_unsent(
    connection: Connection, table: str, row_id: int, attempts: int, *, durable: bool = True
) -> bool:
    """Whether this attempt's message may go now (an e-mail's end, a text's or a call's
    request): it is still "sending" in this attempt and still unsent, and it is now
    marked as possibly gone (committed before the message goes). False: a sweep took it
    for a dead worker's. The row lock decides between the two: whichever commits first,
    the other finds its condition false. On a connection of its own, from the sender's
    thread. Its commit is durable whatever the server's synchronous_commit, as the
    claim's is: lost in a crash, the mark would say unsent of a message that went, and
    it would go twice (`durable`: False on a connection that has it on already)."""
    if durable:
        connection.execute(text("SET LOCAL synchronous_commit = on"))
    ended = connection.execute(
        text(
            # Touched too: the server's answer to the end comes within SMTP_TIMEOUT_SECONDS,
            # and a row the sweeper took meanwhile for a dead worker's would be possibly
            # sent though the server refused it (unsent_again then finds it settled).
            f"UPDATE {_table(table)} SET email_unsent_attempt = NULL,"
            " updated_at = clock_timestamp()"
            " WHERE id = :id AND status = 'sending' AND attempts = :attempts"
            " AND email_unsent_attempt = :attempts RETURNING id"
        ),
        {"id": row_id, "attempts": attempts},
    )
    return ended.first() is not None


def unsent_again(connection: Connection, table: str, row_id: int, attempts: int) -> None:
    """The server refused this attempt's message at its end: it went nowhere."""
    connection.execute(
        text(
            f"UPDATE {_table(table)} SET email_unsent_attempt = :attempts"
            " WHERE id = :id AND status = 'sending' AND attempts = :attempts"
        ),
        {"id": row_id, "attempts": attempts},
    )


def due(table: str, ids: list[int]) -> list[int]:
    return list(
        db.session.execute(
            _ids(
                f"SELECT id FROM {_table(table)} WHERE id IN :ids AND status = 'queued' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) ORDER BY id"
            ),
            {"ids": ids},
        ).scalars()
    )


def still_queued(table: str, ids: list[int]) -> list[int]:
    return list(
        db.session.execute(
            _ids(f"SELECT id FROM {_table(table)} WHERE id IN :ids AND status = 'queued'"),
            {"ids": ids},
        ).scalars()
    )


def channels_of(table: str, ids: list[int]) -> set[str]:
    return set(
        db.session.execute(
            _ids(f"SELECT DISTINCT channel FROM {_table(table)} WHERE id IN :ids"),
            {"ids": ids},
        ).scalars()
    )


def seconds_until_next_attempt(table: str, ids: list[int]) -> float | None:
    return db.session.execute(
        _ids(
            f"SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM {_table(table)} "
            "WHERE id IN :ids AND status = 'queued'"
        ),
        {"ids": ids},
    ).scalar()


def number_texted(table: str, row_id: int) -> str | None:
    """The number a text of the ledger was sent to, or None (no such row, not a text)."""
    return db.session.execute(
        text(f"SELECT address FROM {_table(table)} WHERE id = :id AND channel = 'sms'"),
        {"id": row_id},
    ).scalar()


def apply_status(
    table: str,
    row_id: int,
    *,
    provider_ref: str,
    status: str,
    reason: str | None,
    segments: int | None,
    duration_seconds: int | None,
):
    """A provider's callback: move the row forward, never back. (alert_id or None, the
    status it had, its channel, seconds from its sending to this callback when this
    callback finished it, else None, its address) or None when there is no such row,
    or the row is another message's: it holds a provider reference that is not this
    callback's (a callback is about one message, and a row's reference never changes)."""
    owner = "d.alert_id" if table == "deliveries" else "NULL::bigint"
    return db.session.execute(
        text(
            f"""
            WITH old AS (SELECT id, status, finished_at FROM {_table(table)}
                         WHERE id = :id FOR UPDATE)
            UPDATE {table} d SET
                provider_ref = coalesce(d.provider_ref, :ref),
                -- Once it ended, a later callback saying otherwise changes no figure
                -- (a no-answer after a completed call, CallDuration 0, took its 42
                -- seconds out of the minutes billed); one the end lacked is taken.
                segments = CASE WHEN d.finished_at IS NULL OR d.segments IS NULL
                                THEN coalesce(:segments, d.segments) ELSE d.segments END,
                duration_seconds = CASE WHEN d.finished_at IS NULL OR d.duration_seconds IS NULL
                                        THEN coalesce(:duration, d.duration_seconds)
                                        ELSE d.duration_seconds END,
                sent_at = coalesce(d.sent_at, now()),
                status = CASE WHEN {_RANK_OF_STATUS} < :rank THEN :status
                              ELSE d.status END,
                reason = CASE WHEN :status = 'failed' AND d.status NOT IN
                              ('delivered', 'failed', 'cancelled') THEN :reason
                              -- Delivered ends the story: an earlier attempt's reason,
                              -- or why the provider was asked about it, is history (12
                              -- delivered rows kept one: an outside check).
                              WHEN :status = 'delivered' AND {_RANK_OF_STATUS} < :rank
                                   THEN NULL
                              ELSE d.reason END,
                finished_at = CASE WHEN :rank = 3 AND d.finished_at IS NULL THEN now()
                                   ELSE d.finished_at END,
                updated_at = now()
            FROM old WHERE d.id = old.id AND (d.provider_ref IS NULL OR d.provider_ref = :ref)
              -- not about a call placed before this one (a redial's: CALL_REDIALS)
              AND NOT (:ref = ANY(coalesce(d.earlier_refs, '{{}}')))
            RETURNING {owner}, old.status, d.channel,
                CASE WHEN :rank = 3 AND old.finished_at IS NULL
                     THEN extract(epoch FROM now() - d.sent_at)::float8 END, d.address
            """
        ),
        {
            "id": row_id,
            "ref": provider_ref,
            "segments": segments,
            "duration": duration_seconds,
            "status": status,
            "rank": STATUS_RANK[status],
            "reason": reason,
        },
    ).first()


def live_calls(connection: Connection, table: str, hold_seconds: float) -> list[tuple[int, int]]:
    """(id, attempts) of the calls placed (or perhaps placed: unknown) within
    `hold_seconds` of which no end is known: those that may still hold a line. On a
    connection of its own (asked from the sender's thread when Redis lost the lines)."""
    return connection.execute(
        text(
            f"SELECT id, attempts FROM {_table(table)} WHERE channel = 'voice'"
            " AND status IN ('sent', 'unknown')"
            " AND coalesce(sent_at, updated_at) > now() - make_interval(secs => :hold)"
        ),
        {"hold": hold_seconds},
    ).all()


def calls_of(table: str, ids: list[int]) -> list[tuple[int, str, str | None]]:
    """(id, status, provider reference) of each of these rows that is a call."""
    return db.session.execute(
        _ids(
            f"SELECT id, status, provider_ref FROM {_table(table)} "
            "WHERE id IN :ids AND channel = 'voice' ORDER BY id"
        ),
        {"ids": ids},
    ).all()


# --- the sweeper's statements -------------------------------------------------------


def take_stalled(table: str, *, outbox: bool, seconds: int) -> list[int]:
    """Rows "sending" for longer than `seconds`: their worker died mid-send. The outbox
    records in the status change's own transaction, so they go back to "queued". With a
    provider the request may have gone out: an e-mail (no callback, no way to ask) ends
    "possibly_sent", never resent; a text or call becomes "unknown"."""
    return list(
        db.session.execute(
            text(
                f"""
                UPDATE {_table(table)} t SET
                    status = CASE WHEN :outbox THEN 'queued'
                                  WHEN channel = 'email' THEN 'possibly_sent'
                                  ELSE 'unknown' END,
                    reason = CASE WHEN NOT :outbox AND channel = 'email'
                                  THEN 'possibly sent: the worker stopped while sending it, '
                                       || 'and an e-mail is never sent twice'
                                  ELSE 'worker stopped while sending' END,
                    finished_at = CASE WHEN NOT :outbox AND channel = 'email' THEN now()
                                       ELSE finished_at END,
                    updated_at = clock_timestamp()
                WHERE status = 'sending' AND updated_at < now() - make_interval(secs => :secs)
                  AND NOT EXISTS (SELECT 1 FROM outbox_messages o
                                  WHERE o.{TABLES[table]} = t.id)
                RETURNING id
                """
            ),
            {"outbox": outbox, "secs": seconds},
        ).scalars()
    )


def requeue_unsent(
    table: str, *, seconds: int, urgent: tuple[str, ...] = ()
) -> list[tuple[int, str, int]]:
    """Rows "sending" for longer than `seconds` (their worker died) whose message
    certainly never went (end_unsent): queued to be sent again, after their resident's
    quiet hours if these began meanwhile (not `urgent`: see retry_later; two e-mails
    went 25 s into them, an outside check). A send still under way can no longer go
    once this commits. (id, channel, the attempt that did not send it) of each."""
    later = _after_quiet_hours("now()") if table == "deliveries" else "NULL"
    return [
        tuple(row)
        for row in db.session.execute(
            text(
                f"""
                UPDATE {_table(table)} d SET status = 'queued', next_attempt_at = {later},
                       email_unsent_attempt = NULL,
                       reason = 'the worker stopped before it went: sending again',
                       updated_at = clock_timestamp()
                WHERE status = 'sending' AND email_unsent_attempt = attempts
                  AND updated_at < now() - make_interval(secs => :secs)
                RETURNING id, channel, attempts
                """  # noqa: S608 (constants)
            ),
            {"secs": seconds, "urgent": list(urgent)},
        ).all()
    ]


def texts_to_ask_about(
    table: str,
    *,
    first_after: int,
    again_after: int,
    hours: int,
    limit: int,
    channel: str = "sms",
) -> list[tuple[int, str]]:
    """Texts (or calls) the provider took more than `first_after` seconds ago, within
    `hours`, whose end it has not reported ("sent"), and not asked about in the last
    `again_after` seconds: (id, provider reference), oldest first, at most `limit`,
    each marked as asked now (next_attempt_at, unused once a row is sent). Concurrent
    sweeps take different rows. (Partial indexes of each channel's: 0051, 0062.)"""
    if channel not in ("sms", "voice"):
        raise ValueError(channel)
    return [
        tuple(row)
        for row in db.session.execute(
            text(
                f"""
                UPDATE {_table(table)} t
                SET next_attempt_at = now() + make_interval(secs => :again)
                WHERE t.status = 'sent' AND t.channel = '{channel}' AND t.id IN (
                    SELECT id FROM {_table(table)}
                    WHERE status = 'sent' AND channel = '{channel}' AND provider_ref IS NOT NULL
                      AND sent_at < now() - make_interval(secs => :first)
                      AND sent_at > now() - make_interval(hours => :hours)
                      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                    ORDER BY sent_at
                    LIMIT :limit
                    FOR UPDATE SKIP LOCKED
                )
                RETURNING t.id, t.provider_ref
                """
            ),
            {"first": first_after, "again": again_after, "hours": hours, "limit": limit},
        )
    ]


def ask_about_sent_again_in(table: str, ids: list[int], seconds: float) -> None:
    """Texts (or calls) still "sent" whose provider could not say how they stand: asked
    about again after `seconds`, not an hour on."""
    db.session.execute(
        _ids(
            f"UPDATE {_table(table)} SET next_attempt_at = now() + make_interval(secs => :secs)"
            " WHERE id IN :ids AND status = 'sent'"
        ),
        {"ids": ids or [0], "secs": seconds},
    )


def accept_referenced_unknown(table: str, *, seconds: int) -> None:
    """ "unknown" with a provider reference, and no callback in `seconds`: the provider
    took it, so it is sent."""
    db.session.execute(
        text(
            f"""
            UPDATE {_table(table)} SET status = 'sent', updated_at = now(),
                   reason = 'accepted by the provider; it never reported delivery'
            WHERE status = 'unknown' AND provider_ref IS NOT NULL
              AND updated_at < now() - make_interval(secs => :secs)
            """
        ),
        {"secs": seconds},
    )


def take_for_reconciling(table: str, *, seconds: int, ask_again_seconds: int) -> list[int]:
    """ "unknown" without a reference for longer than `seconds`: to be asked about.
    next_attempt_at (unused while unknown) says when to ask again if the job asking was
    lost, so sweeps in between do not take it twice."""
    return list(
        db.session.execute(
            text(
                f"""
                UPDATE {_table(table)}
                SET next_attempt_at = now() + make_interval(secs => :again)
                WHERE status = 'unknown' AND provider_ref IS NULL
                  AND updated_at < now() - make_interval(secs => :secs)
                  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                RETURNING id
                """
            ),
            {"secs": seconds, "again": ask_again_seconds},
        ).scalars()
    )


def take_forgotten(
    table: str, *, seconds: int, kinds: tuple[str, ...] = (), other_kinds: bool = False
) -> list[int]:
    """ "queued" and due, untouched for `seconds`: its job was lost. Touched, so the next
    sweep leaves it to the job queued now. With `kinds` (a table with a kind: the
    notices'), only rows of those kinds, or with `other_kinds` only rows of others."""
    of_kind = ""
    if kinds:
        of_kind = "AND kind <> ALL(:kinds)" if other_kinds else "AND kind = ANY(:kinds)"
    return list(
        db.session.execute(
            text(
                f"""
                UPDATE {_table(table)} SET updated_at = now()
                WHERE status = 'queued'
                  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                  AND updated_at < now() - make_interval(secs => :secs)
                  {of_kind}
                RETURNING id
                """
            ),
            {"secs": seconds, "kinds": list(kinds)},
        ).scalars()
    )


def channel_of_each(table: str, ids: list[int]) -> dict[int, str]:
    """Each of these rows' channel, by id."""
    return dict(
        db.session.execute(
            text(f"SELECT id, channel FROM {_table(table)} WHERE id = ANY(:ids)"),
            {"ids": list(ids)},
        ).all()
    )


def of_kinds(table: str, ids: list[int], kinds: tuple[str, ...]) -> set[int]:
    """Which of these rows (of a table with a kind: the notices') are of these kinds."""
    return set(
        db.session.execute(
            text(f"SELECT id FROM {_table(table)} WHERE id = ANY(:ids) AND kind = ANY(:kinds)"),
            {"ids": list(ids), "kinds": list(kinds)},
        ).scalars()
    )


def _too_late(alias: str) -> str:
    """Whether a row is past its use: made more than :give_up seconds ago, but a row of
    a kind in :kinds is of use for its own :kept_for seconds instead (NULL: however
    late)."""
    return f"""(CAST(:give_up AS float8) IS NOT NULL
        AND {alias}created_at < now() - make_interval(secs => :give_up)
        AND NOT EXISTS (
            SELECT 1 FROM unnest(CAST(:kinds AS text[]), CAST(:kept_for AS float8[]))
                AS kept(kept_kind, kept_for)
            WHERE kept_kind = {alias}kind
              AND (kept_for IS NULL
                   OR {alias}created_at >= now() - make_interval(secs => kept_for))))"""


def _kept(give_up_seconds: int | None, of_use_for: Mapping[str, int | None]) -> dict:
    return {
        "give_up": give_up_seconds,
        "kinds": list(of_use_for),
        "kept_for": list(of_use_for.values()),
    }


def give_up_late(
    table: str, *, seconds: int, of_use_for: Mapping[str, int | None] = MappingProxyType({})
) -> list[int]:
    """Still queued `seconds` after it was made: too late to be of use (a code lasts
    minutes), so failed rather than sent late; a row of a kind in `of_use_for` after
    that kind's own seconds (a link lasts days), or never (None)."""
    return list(
        db.session.execute(
            text(
                f"""
                UPDATE {_table(table)} AS t SET status = 'failed', reason = 'not sent in time',
                       finished_at = now(), updated_at = now()
                WHERE t.status = 'queued' AND {_too_late("t.")}
                RETURNING id
                """
            ),
            _kept(seconds, of_use_for),
        ).scalars()
    )


# --- asking the provider ------------------------------------------------------------


def to_reconcile(
    table: str,
    ids: list[int],
    *,
    give_up_seconds: int | None,
    of_use_for: Mapping[str, int | None] = MappingProxyType({}),
) -> list:
    """Rows still unknown and unreferenced, with when their attempt began and when it
    became unknown, whether they must not be sent again (an alert cancelled, a channel
    stopped) and whether they are too late to send (a notice past its use)."""
    if table == "deliveries":
        owner = "d.alert_id"
        stopped = (
            "(EXISTS (SELECT 1 FROM alerts a WHERE a.id = d.alert_id AND a.status = 'cancelled')"
            " OR EXISTS (SELECT 1 FROM resident_channels rc WHERE rc.resident_id = d.resident_id"
            " AND rc.channel = d.channel AND rc.address = d.address"
            " AND rc.unsubscribed_at IS NOT NULL))"
        )
    else:
        owner, stopped = "NULL::bigint", "false"
    # (A delivery has no kind, and is never too late.)
    too_late = _too_late("d.") if give_up_seconds is not None else "false"
    return db.session.execute(
        _ids(
            f"""
            SELECT d.id, {owner}, d.resident_id, d.channel, d.address, d.attempts,
                   d.attempts_held,
                   {_refused_for("d.")} AS tried_for,
                   coalesce(d.attempted_at, d.created_at) AS attempted_at,
                   {stopped} AS stopped,
                   {too_late} AS too_late,
                   -- When it became unknown: nothing changes an unknown row's updated_at
                   -- until it is settled, and its send went out before then.
                   d.updated_at AS unknown_since,
                   extract(epoch FROM now() - d.updated_at) AS unknown_for,
                   d.reason,
                   coalesce(d.first_attempted_at, d.attempted_at, d.created_at)
                       AS first_attempted_at
            FROM {_table(table)} d
            WHERE d.id IN :ids AND d.status = 'unknown' AND d.provider_ref IS NULL
            """
        ),
        {"ids": list(ids) or [0], **_kept(give_up_seconds, of_use_for)},
    ).all()


def ask_again_in(table: str, ids: list[int], seconds: float, *, reason: str | None = None) -> None:
    """Unknown rows left waiting: the sweeper asks about them again after `seconds`,
    with why they wait as their reason when given (it stays unknown: its updated_at,
    when it became unknown, is left alone)."""
    db.session.execute(
        _ids(
            f"UPDATE {_table(table)} SET next_attempt_at = now() + make_interval(secs => :secs),"
            " reason = coalesce(CAST(:reason AS text), reason)"
            " WHERE id IN :ids AND status = 'unknown' AND provider_ref IS NULL"
        ),
        {"ids": ids or [0], "secs": seconds, "reason": reason},
    )


def unsettled_to(
    addresses: list[str], *, channel: str | None = None
) -> list[tuple[str, int, str, object]]:
    """Rows of either ledger to these addresses (of this channel, if given) whose
    outcome is still open (sending or unknown, no provider reference): (ledger, id,
    address, when their attempt began). Through the ledgers' indexes of unfinished
    rows, which hold only the few in flight."""
    if not addresses:
        return []
    return list(
        db.session.execute(
            text(
                """
                SELECT 'deliveries', id, address, coalesce(attempted_at, created_at)
                FROM deliveries
                WHERE status IN ('sending', 'unknown') AND provider_ref IS NULL
                  AND address = ANY(:addresses)
                  AND (CAST(:channel AS text) IS NULL OR channel = :channel)
                UNION ALL
                SELECT 'resident_notices', id, address, coalesce(attempted_at, created_at)
                FROM resident_notices
                WHERE status IN ('sending', 'unknown') AND provider_ref IS NULL
                  AND address = ANY(:addresses)
                  AND (CAST(:channel AS text) IS NULL OR channel = :channel)
                """
            ),
            {"addresses": addresses, "channel": channel},
        ).all()
    )


def refs_held(refs: list[str]) -> set[str]:
    """Which of these provider references a row of either ledger holds already."""
    return set(
        db.session.execute(
            text(
                "SELECT provider_ref FROM deliveries WHERE provider_ref = ANY(:refs)"
                " UNION SELECT provider_ref FROM resident_notices"
                " WHERE provider_ref = ANY(:refs)"
            ),
            {"refs": refs},
        ).scalars()
    )


def settle_reconciled(
    table: str, row_id: int, *, status: str, reason: str, provider_ref: str | None
) -> bool:
    """unknown -> what the provider's answer says; False if the row moved meanwhile."""
    return (
        db.session.execute(
            text(
                f"""
                UPDATE {_table(table)} SET status = CAST(:status AS text), reason = :reason,
                       provider_ref = CAST(:ref AS text), next_attempt_at = NULL,
                       updated_at = now(),
                       sent_at = CASE WHEN CAST(:status AS text) = 'sent'
                                      THEN coalesce(sent_at, now()) ELSE sent_at END,
                       finished_at = CASE WHEN CAST(:status AS text)
                                               IN ('failed', 'possibly_sent', 'cancelled')
                                          THEN now() ELSE finished_at END
                WHERE id = :id AND status = 'unknown' AND provider_ref IS NULL
                RETURNING id
                """
            ),
            {"status": status, "reason": reason, "ref": provider_ref, "id": row_id},
        ).first()
        is not None
    )


# --- alerts -------------------------------------------------------------------------


def mark_alert_sent_when_done(alert_id: int) -> None:
    # The alert's row first, in a statement of its own: deliveries written under its
    # lock meanwhile (a neighbouring force's residents, cross_border.py) are committed
    # by then, and the check below, a new statement, sees them. Checked in the UPDATE
    # alone, they would be missed: a waiting UPDATE rechecks the row, not its subquery.
    locked = db.session.execute(
        text("SELECT 1 FROM alerts WHERE id = :id AND status = 'sending' FOR UPDATE"),
        {"id": alert_id},
    ).first()
    if locked is None:
        return
    db.session.execute(
        text(
            """
            UPDATE alerts SET status = 'sent' WHERE id = :id AND status = 'sending'
            AND NOT EXISTS (SELECT 1 FROM deliveries WHERE alert_id = :id
                            AND status IN ('queued', 'sending', 'unknown'))
            """
        ),
        {"id": alert_id},
    )


def hold_leavers_back() -> None:
    """While this transaction writes an alert's deliveries, a resident being deleted
    waits for it (their deletion takes this lock exclusively, migration 0033), and
    then cancels what it wrote to them."""
    db.session.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext('deliveries_written'))"))


def analyze_alert_month(alert_id: int) -> None:
    """Refresh the planner's statistics of the month (partition) holding the alert's
    deliveries: after a large fan-out they describe a nearly empty table until
    autovacuum comes by, and a claim of 500 rows then reads every queued row (4.6 s
    instead of 2 ms after 1,475,000 rows)."""
    name = db.session.scalar(
        text("SELECT tableoid::regclass::text FROM deliveries WHERE alert_id = :id LIMIT 1"),
        {"id": alert_id},
    )
    if name is None:
        return
    db.session.execute(text(f"ANALYZE {name}"))  # quoted as needed by regclass


def alerts_sending() -> list[int]:
    return list(
        db.session.execute(text("SELECT id FROM alerts WHERE status = 'sending'")).scalars()
    )


def waiting_by_channel() -> dict[str, int]:
    """Alert messages not yet handed to a provider, by channel: the queue a new alert
    joins."""
    rows = db.session.execute(
        text(
            "SELECT channel, count(*) FROM deliveries "
            "WHERE status IN ('queued', 'sending', 'unknown') GROUP BY channel"
        )
    ).all()
    return {channel: count for channel, count in rows}
