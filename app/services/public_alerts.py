"""Alerts as the public sees them: a page for each alert sent, a list of them, and the
check that tells anyone whether a message they got came from the force.

Only what the force publishes leaves here: the alert's words, category, when it went,
the area as drawn (never residents' squares or counts), its thread, and (when the force
turns it on) a total of at least PUBLIC_TOTAL_MIN residents. Nothing says who got it."""

from __future__ import annotations

import json
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature
from redis.exceptions import RedisError

from app import references
from app.channels.smtp import NOT_READ
from app.dao import places as places_dao
from app.dao import public_alerts as dao
from app.extensions import redis_store
from app.i18n import gettext
from app.models import CATEGORIES, Alert
from app.services import forces, message_text
from app.services.postcode_check import PostcodeRefused, check_postcode
from app.services.text import clean_text, unseen_dropped
from app.services.tokens import SealedSerializer
from app.services.transaction import read_only
from app.services.verification import allow_per_hour, public_url
from geo import postcodes
from geo.names import reading_order

PAGE_SIZE = 20
MAX_CHECK_TEXT = 2_000
MAX_AREA_TEXT = 60
# How many recent alerts a pasted message without a reference is compared with.
CHECK_CANDIDATES = 5_000


class PublicQueryRefused(ValueError):
    """An area or page the list cannot show, with a message to show instead."""


class TooManyChecks(Exception):
    """This connection has checked too many messages this hour."""


@dataclass(frozen=True)
class PublicAlert:
    alert: Alert
    state: str  # "sent", "sending" or "cancelled"
    area_geojson: str | None
    area_names: list[str]
    thread: list[Alert]
    total: int | None  # residents it went to, when the force publishes it (>= the minimum)

    @property
    def exercise(self) -> bool:
        return self.alert.mode == "exercise"

    @property
    def root(self) -> Alert | None:
        """The thread's original: None when its page was taken down (a follow-up's
        page named it, and linked to it)."""
        first = self.thread[0] if self.thread else self.alert
        return first if first.parent_id is None else None


def state_of(alert: Alert) -> str:
    if alert.status == "cancelled":
        return "cancelled"
    return "sending" if alert.status == "sending" else "sent"


def _total(alert: Alert) -> int | None:
    config = current_app.config
    count = alert.recipient_count
    if not config["PUBLIC_TOTALS"] or count is None:
        return None
    return count if count >= max(100, config["PUBLIC_TOTAL_MIN"]) else None


def has_public_page(alert: Alert) -> bool:
    """Whether the public sees this alert now (dao.public_alerts' rule): sent for real
    or as an exercise, never a test, and not taken down."""
    return (
        alert.sent_at is not None
        and alert.mode in dao.PUBLIC_MODES
        and alert.audience != dao.TEST_AUDIENCE
        and alert.taken_down_at is None
    )


def was_taken_down(typed_reference: object) -> bool:
    """Whether the alert with this reference was public and its page taken down."""
    reference = references.read_reference(typed_reference)
    if reference is None:
        return False
    with read_only():
        return dao.find_taken_down(reference) is not None


def find_public_alert(typed_reference: object) -> PublicAlert | None:
    """The public view of the alert with this reference, or None when there is no
    such alert or it is not public (a test, or never sent)."""
    reference = references.read_reference(typed_reference)
    if reference is None:
        return None
    with read_only():
        alert = dao.find_public_alert(reference)
        if alert is None:
            return None
        root = alert
        while root.parent is not None:
            root = root.parent
        thread = dao.find_public_thread(root.id)
        area_of = alert if alert.area is not None else root
        return PublicAlert(
            alert=alert,
            state=state_of(alert),
            area_geojson=dao.find_area_geojson(area_of.id),
            area_names=[reading_order(name) for name in dao.find_ward_names(area_of.id)],
            thread=thread,
            total=_total(alert),
        )


@dataclass
class PublicList:
    alerts: list[Alert]
    total: int
    page: int
    pages: int
    category: str | None
    area: str
    area_found: str | None  # what the area text was read as: "BS1 4ST", "Bedminster (ward)"
    errors: dict[str, str] = field(default_factory=dict)
    # The area is outside the force's: "no alerts" there is not "all quiet" (a
    # Gloucester postcode on our list was told only "No alerts").
    outside_force: bool = False
    # The other forces on this installation whose areas hold it: their lists are a
    # button away (a Swindon postcode on Avon and Somerset's list was told only to
    # "ask the police force for that area").
    covering_forces: list = field(default_factory=list)


def _area_boundary(area: str) -> tuple[bytes, str, bool, list]:
    """The point of a postcode, or the boundary of a ward or district named `area`,
    whether it is outside the force's area, and if so the installation's other forces
    whose areas hold it."""
    force = forces.current_force()
    force_area = forces.area_of(force)
    if postcodes.is_valid(area):
        try:
            checked = check_postcode(area, require_in_force=False)
        except PostcodeRefused as refusal:
            raise PublicQueryRefused(str(refusal)) from None
        point = places_dao.find_postcode_point_wkb(checked.postcode.postcode)
        if point is None:
            raise PublicQueryRefused(
                gettext(
                    "We do not know where %(postcode)s is. Try a place name.",
                    postcode=checked.postcode.display,
                )
            )
        outside = force_area is not None and not places_dao.is_postcode_in_force(
            checked.postcode, force_area
        )
        covering = (
            _other_forces(
                force, lambda area: places_dao.is_postcode_in_force(checked.postcode, area)
            )
            if outside
            else []
        )
        return point, checked.postcode.display, outside, covering
    if postcodes.is_outward_code(area):
        # "BS1": the postcode district, as people say where they live (it was "no
        # postcode or place called BS1": an outside check).
        return _outward_code_boundary(postcodes.canonical(area), force, force_area)
    found = places_dao.find_place_named(area)
    if found is None:
        raise PublicQueryRefused(
            gettext(
                # Force-neutral (Wiltshire's list suggested Taunton, an Avon and Somerset
                # town: an outside check); wards and districts are what it knows.
                "We could not find a postcode or place called “%(area)s”. Check the spelling, "
                "or try your postcode, or the name of your ward or district.",
                area=area,
            )
        )
    place_id, kind, name = found
    boundary = places_dao.find_place_boundary_wkb(place_id)
    outside = force_area is not None and not places_dao.place_meets_area(place_id, force_area)
    covering = (
        _other_forces(force, lambda area: places_dao.place_meets_area(place_id, area))
        if outside
        else []
    )
    # "Swindon (district)" in the page's language (a Welsh page said "(district)").
    if kind == "ward":
        label = gettext("%(name)s (ward)", name=reading_order(name))
    else:
        label = gettext("%(name)s (district)", name=reading_order(name))
    return boundary, label, outside, covering


def _outward_code_boundary(code: str, force, force_area) -> tuple[bytes, str, bool, list]:
    boundary = places_dao.find_outward_code_area_wkb(code)
    if boundary is None:
        raise PublicQueryRefused(
            gettext(
                "We do not know the postcode district %(code)s. Try your full postcode.",
                code=code,
            )
        )
    meets = places_dao.area_meets_area
    outside = force_area is not None and not meets(boundary, force_area)
    covering = _other_forces(force, lambda area: meets(boundary, area)) if outside else []
    return boundary, gettext("%(code)s (postcode district)", code=code), outside, covering


def _other_forces(force, holds) -> list:
    """The installation's forces but this one whose loaded areas `holds` (a test of a
    force's area)."""
    others = (other for other in forces.find_forces() if other.id != force.id)
    return [other for other in others if (area := forces.area_of(other)) and holds(area)]


# A visitor's area for the list is kept here under a random reference, the session
# holding only that: the session cookie is signed, not sealed, and a postcode in it
# could be read (an outside probe). A day, as a visitor's session.
AREA_SECONDS = 24 * 3600
_AREA_PURPOSE = "public-alerts-area"


def keep_list_area(area: str) -> str:
    """Keep the visitor's area text; the reference to put in their session."""
    reference = secrets.token_urlsafe(16)
    # Sealed with SECRET_KEY: a visitor's postcode, read in clear in a Redis dump for a
    # day, says where they live or look (as a sign-up's and a link's addresses are).
    sealed = SealedSerializer(_AREA_PURPOSE).dumps(area)
    redis_store.client.set(f"alerts-area:{reference}", sealed, ex=AREA_SECONDS)
    return reference


def find_list_area(reference: object) -> str | None:
    """The area kept under this reference, if any (none with Redis away: the list is
    then everyone's, as it says)."""
    if not isinstance(reference, str) or not reference:
        return None
    try:
        kept = redis_store.client.get(f"alerts-area:{reference[:64]}")
    except RedisError:
        return None
    if kept is None:
        return None
    try:
        area = SealedSerializer(_AREA_PURPOSE).loads(kept.decode())
    except (BadSignature, UnicodeDecodeError):
        return None  # kept before it was sealed, or under another SECRET_KEY
    return area if isinstance(area, str) else None


def list_public_alerts(
    page: object = 1, category: object = None, area: object = None
) -> PublicList:
    """One page of the force's public alerts, newest first, limited to a category and
    to those whose area covers a postcode or meets a place. A filter that cannot be
    read is said in `errors` and the list shows without it."""
    errors: dict[str, str] = {}
    try:
        page_number = int(str(page)) if page not in (None, "") else 1
    except ValueError:
        page_number = 1
    page_number = min(max(page_number, 1), 10_000)
    chosen = category if isinstance(category, str) and category in CATEGORIES else None
    if category not in (None, "") and chosen is None:
        errors["category"] = gettext("Choose a category from the list.")
    area_text = clean_text(area, max_length=MAX_AREA_TEXT) if isinstance(area, str) else ""
    boundary = found = None
    outside = False
    covering: list = []
    with read_only():
        if area_text:
            try:
                boundary, found, outside, covering = _area_boundary(area_text)
            except PublicQueryRefused as refusal:
                errors["area"] = str(refusal)

        def page(number: int):
            return dao.find_public_page(
                offset=(number - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
                category=chosen,
                area_wkb=boundary,
            )

        alerts, total = page(page_number)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if page_number > pages:
            # Past the end (an old link, fewer alerts now): the last page, not "Page 3
            # of 2" and an empty list (an outside check).
            page_number = pages
            alerts, total = page(page_number)
    return PublicList(
        alerts, total, page_number, pages, chosen, area_text, found, errors, outside, covering
    )


# --- "Is this message genuine?" ---------------------------------------------------

_APOSTROPHES = dict.fromkeys(map(ord, "'’‘ʼ`´"), None)
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
# Words a phone or mail program adds to a forwarded or copied message.
_WRAPPING = {"fwd", "fw", "forwarded", "message", "begin", "original", "sms", "text"}


def words(text: str) -> list[str]:
    """The words of a message as a phone may have changed it: case, curly or straight
    quotes and apostrophes, dashes, spaces and line breaks, accents (ŵ as w) all
    ignored.

    >>> words("It’s  “here”\\n— now!") == words('its "HERE" - now')
    True
    >>> words("deli\\u00advery\\u200b now") == words("delivery now")
    True
    """
    text = unicodedata.normalize("NFKD", unseen_dropped(text).translate(_APOSTROPHES))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.findall(r"[^\W_]+", text)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    if not needle or len(needle) > len(haystack):
        return False
    first = needle[0]
    for start in range(len(haystack) - len(needle) + 1):
        if haystack[start] == first and haystack[start : start + len(needle)] == needle:
            return True
    return False


def _what_we_sent(alert: Alert) -> list[str]:
    """Every channel's words for this alert, as residents got them: signed by its
    force, whichever force's page checks them."""
    with forces.speaking_for(alert.force_id):
        return _words_sent(alert)


def _words_sent(alert: Alert) -> list[str]:
    force = forces.force_by_id(alert.force_id).name
    question = (alert.question, alert.answer_options, alert.confirm_receipt)
    # A Welsh speaker's question, when the officer wrote one (message_text.asked_in).
    welsh_asked = message_text.asked_in(
        *question, alert.question_cy, alert.answer_options_cy, language="cy"
    )
    check = public_url("public.check", **forces.public_values(alert))
    common = {"force": force, "mode": alert.mode, "reference": alert.reference}
    welsh = []
    if alert.title_cy and alert.body_cy:  # both languages, either first
        welsh = [
            message_text.sms_text(
                title=alert.title,
                body=alert.body,
                ask=message_text.sms_ask(
                    *(welsh_asked if first else question), "cy" if first else "en"
                ),
                welsh=(alert.title_cy, alert.body_cy),
                welsh_first=first,
                **common,
            )
            for first in (False, True)
        ] + [
            message_text.welsh_voice_script(
                title=alert.title_cy, body=alert.body_cy, reference=alert.reference, mode=alert.mode
            ),
            message_text.email_text(
                body=alert.body, check_url=check, welsh=alert.body_cy, **common
            ),
            message_text.email_subject(
                title=alert.title, force=force, mode=alert.mode, welsh_title=alert.title_cy
            ),
        ]
    return welsh + [
        message_text.sms_text(
            title=alert.title, body=alert.body, ask=message_text.sms_ask(*question), **common
        ),
        # Written in English only, to a resident who chose Welsh: our words in Welsh.
        message_text.sms_text(
            title=alert.title,
            body=alert.body,
            ask=message_text.sms_ask(*question, "cy"),
            welsh_first=True,
            **common,
        ),
        # Every e-mail ends with how to stop them (channels.smtp.email_text).
        "To stop these e-mails: call 101. Stop these e-mails",
        "I atal yr e-byst hyn: ffoniwch 101. Atal yr e-byst hyn",
        # E-mails sent before 1 December 2026 said where to check in brackets: still
        # ours (a review: "at" was called words added).
        f"(check this message is genuine at {check})",
        f"(gwiriwch fod y neges hon yn ddilys yn {check})",
        *NOT_READ.values(),  # above the link: replies are not read
        message_text.voice_script(title=alert.title, body=alert.body, **common),
        # Written in Welsh only: the Welsh voice's words (dispatch).
        message_text.welsh_voice_script(
            title=alert.title, body=alert.body, reference=alert.reference, mode=alert.mode
        )
        if alert.language == "cy"
        else "",
        message_text.voice_ask(*question) or "",
        message_text.voice_ask(*question, "cy") or "",
        message_text.voice_ask(*welsh_asked, "cy") or "",
        message_text.email_subject(title=alert.title, force=force, mode=alert.mode),
        message_text.email_text(body=alert.body, check_url=check, **common),
        message_text.email_ask(*question, link=check) if message_text.sms_ask(*question) else "",
        message_text.email_ask(*welsh_asked, link=check, language="cy")
        if message_text.sms_ask(*question)
        else "",
        public_url("public.alert", reference=alert.reference, **forces.public_values(alert)),
    ]


@dataclass(frozen=True)
class CheckResult:
    # genuine: the words are ours (found by reference or by the words);
    # reference: only a reference was typed, and it is ours;
    # extra_words: our words, with words added that we did not send;
    # words_differ: a reference of ours on words we did not send;
    # not_ours: nothing we sent matches.
    outcome: str
    alert: Alert | None = None
    extra: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


def _our_host() -> str:
    return (urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "").lower()


def _foreign_links(text: str, own: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Links in the text to another site than ours, but for those the alert itself
    carries (`own`: an officer's link to a council page is the alert's)."""
    found = []
    for link in _URL.findall(text):
        host = urlsplit(link if "://" in link else "http://" + link).hostname or ""
        if host.lower() != _our_host() and _link_key(link) not in own:
            found.append(link[:80])
    return tuple(found[:3])


def _link_key(link: str) -> str:
    """A link as compared: without the punctuation a sentence puts after it."""
    return link.rstrip(".,;:!?)")


def _compare(alert: Alert, pasted: list[str], text: str) -> CheckResult | None:
    parts = _what_we_sent(alert)
    sent = [w for part in parts for w in words(part)]
    body, title = words(alert.body), words(alert.title)
    ours = body and (_contains(pasted, body) or (len(pasted) >= 6 and _contains(sent, pasted)))
    if alert.body_cy and not ours:  # the Welsh words alone are ours too
        ours = _contains(pasted, words(alert.body_cy))
    if not ours and not (title and _contains(pasted, title) and len(pasted) <= len(title) + 12):
        return None
    known = set(sent) | _WRAPPING
    # Links are weighed as links (below), not as words: an e-mail's own unsubscribe
    # link is words no alert has (found by an outside probe).
    bare = words(_URL.sub(" ", text))
    extra = tuple(dict.fromkeys(w for w in bare if w not in known))
    own = frozenset(_link_key(link) for part in parts for link in _URL.findall(part))
    links = _foreign_links(text, own)
    if extra or links:
        return CheckResult("extra_words", alert, extra[:12], links)
    return CheckResult("genuine", alert)


def check_message(typed: object, *, ip_address: str) -> CheckResult:
    """Whether the force sent a message: `typed` is its reference or the message as
    pasted from a phone or e-mail. Raises ValueError (with a message to show) for
    nothing to check, TooManyChecks past CHECKS_PER_IP_PER_HOUR. Says nothing about
    who received anything; the pasted text is neither stored nor logged."""
    text = clean_text(typed, multiline=True) if isinstance(typed, str) else ""
    if not text:
        raise ValueError(
            gettext("Type the reference (such as A7K2-9QF) or paste the message you got.")
        )
    if len(text) > MAX_CHECK_TEXT:
        raise ValueError(
            gettext(
                "That is longer than any alert we send. Paste just the message "
                "(up to %(count)s characters), or type its reference.",
                count=format(MAX_CHECK_TEXT, ","),
            )
        )
    if not allow_per_hour("check", ip_address, current_app.config["CHECKS_PER_IP_PER_HOUR"]):
        raise TooManyChecks(
            gettext(
                "You have checked a lot of messages from this connection in the last hour. "
                "Please try again later. If you are worried about a message, call 101."
            )
        )
    pasted = words(text)
    only_reference = references.read_reference(text)
    reference = only_reference or references.find_reference(text)
    with read_only():
        if reference:
            alert = dao.find_public_alert(reference, taken_down_too=True)
            if alert is not None:
                if only_reference or pasted in (words(reference), ["ref", *words(reference)]):
                    return CheckResult("reference", alert)
                return _compare(alert, pasted, text) or CheckResult(
                    "words_differ", alert, links=_foreign_links(text)
                )
        if len(pasted) < 3:
            return CheckResult("not_ours", links=_foreign_links(text))
        for alert in dao.find_public_since(CHECK_CANDIDATES, taken_down_too=True):
            result = _compare(alert, pasted, text)
            if result is not None:
                return result
    return CheckResult("not_ours", links=_foreign_links(text))


def public_alert_json(found: PublicAlert) -> dict:
    """The public page's data for scripts (the map): no more than the page shows."""
    return {
        "reference": found.alert.reference,
        "area": json.loads(found.area_geojson) if found.area_geojson else None,
    }
