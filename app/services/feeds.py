"""The documents the public feeds serve: an Atom feed of sent alerts (RFC 4287, English
and Welsh), a CAP 1.2 document per alert, and a feed of those CAP documents.

Pure functions: plain values in (`FeedAlert`, `FeedSource`), bytes out. No database,
no Flask, no clock: the same alerts always give the same bytes, so `etag_for` is a
strong validator and readers polling every minute cost a 304.

Choices, and why:

- **The CAP feed is an Atom feed** whose entries link (rel="alternate",
  type="application/cap+xml") to each alert's CAP document. That is how national CAP
  feeds are published (the US NWS and IPAWS feeds, MeteoAlarm, and what Google Public
  Alerts and other aggregators read), so those readers need nothing new. An entry stands
  for the alert's latest CAP message: the Alert or Update when it was sent, its Cancel
  once cancelled. A new message has a new entry id, so a reader fetches the Cancel.
- **CAP message types.** An original is `Alert`. A follow-up (update, all-clear) is
  `Update`, with `<references>` naming the original messages up its thread, oldest first.
  A cancelled alert is published as a new message, `Cancel`, whose `<references>` names the
  message it withdraws, the alert's own original (CAP 1.2, 3.2.1: "Cancel - Cancels the
  earlier message(s) identified in <references>"). It never names the thread's original:
  that would cancel it too. `<incidents>` carries the thread's first reference so
  readers can group a thread. An alert whose page was taken down (a missing person
  found) is `withdrawn`: a Cancel of its own (".../withdrawn") without its words, its
  area or its places, in the feeds as in CAP, so a reader that kept the original
  replaces it (dropped from the feeds, readers kept the name and description).
- **Identifiers.** `<identifier>` is "<sender>/<reference>" (Cancel: ".../cancel"): stable,
  unique per force, and free of the spaces, commas, "<" and "&" CAP forbids (a reference
  is percent-encoded if it ever holds one). Atom ids are tag: URIs (RFC 4151) on the
  public host, dated the day the message was sent, so they outlive a change of page path.
- **CAP times** are UTC written "-00:00", whole seconds: CAP 1.2, 3.3.2 ("The timezone
  for UTC MUST be represented as -00:00"; no "Z", and the schema allows no fraction).
  `<expires>` is `expires_hours` after the message (the Cancel's too): without one,
  a reader may show a day's appeal as current for ever.
- **Category, urgency, severity, certainty** (`CAP_CATEGORY`, `CAP_RESPONSE`):

  | our category     | CAP category | urgency  | severity | certainty | responseType |
  |------------------|--------------|----------|----------|-----------|--------------|
  | incident         | Security     | Immediate| Moderate | Observed  | Monitor      |
  | crime_prevention | Security     | Future   | Minor    | Possible  | Monitor      |
  | appeal           | Security     | Expected | Minor    | Observed  | Monitor      |
  | missing_person   | Safety       | Immediate| Moderate | Observed  | Monitor      |
  | update           | as its thread's original (no parent: Safety, Expected/Minor/Observed) |
  | all_clear        | original's category (no parent: Safety); Past/Minor/Observed; AllClear |

  Police alerts about crime, appeals and incidents are "Security" (CAP: law enforcement);
  a missing person is a danger to that person, "Safety". A follow-up keeps its
  original's category and figures so a reader filtering by category sees the whole
  thread. A Cancel keeps them too, with urgency Past: no action is needed any more.
  A police alert never claims "Extreme" or "Severe": those are for threat to life
  warnings the force would send by the national Emergency Alerts service.
- **Areas.** CAP has no holes and no subtraction. When every shape the officer drew is
  an included circle, polygon or rectangle, the CAP area is those shapes exactly
  (`<circle>`, `<polygon>` of each outline). When the area holds a named place or an
  exclusion, the CAP area is the resolved area's outer rings (`area_polygons`), widened
  by 13 m and simplified by 10 so that they cover it: the resolved area already has the
  places' boundaries and the cut-outs at its edge. A follow-up to the same people has
  its original's shapes. Either
  way the CAP area may be a little larger than who we sent to, never smaller, which is
  the safe direction for a warning. `<areaDesc>` names the places, or says the area is
  on the alert's page.
- **Languages.** `title`/`body` are in the alert's `language`; `title_cy`/`body_cy` are the
  Welsh the officer wrote as well. A bilingual alert gets two CAP `<info>` blocks, its own
  language first. The Welsh Atom feed lists every alert, not just the bilingual ones (a
  Welsh reader must not miss an alert); where there is no Welsh text the entry carries the
  English with xml:lang="en-GB" on the entry, so readers and screen readers know. The same
  holds the other way round for an alert written only in Welsh. Fixed wording is in
  `WORDING`, one small dict per language, until the catalogues take it over.
- **Hostile text.** Characters XML 1.0 forbids (C0 controls other than tab and line
  breaks, lone surrogates, U+FFFE/U+FFFF) and the C1 controls are removed; lxml escapes
  "<", "&" and "]]>". A title left empty by that becomes the category's name.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from feedgen.feed import FeedGenerator
from lxml import etree

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MIME = "application/cap+xml"
ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Bump when the documents change shape, so every cached copy is fetched again.
FORMAT_VERSION = "1"
# An empty feed still needs an <updated>; a fixed one keeps its bytes (and ETag) stable.
EMPTY_FEED_UPDATED = datetime(2025, 1, 1, tzinfo=UTC)
LANGUAGES = ("en", "cy")
# xml:lang and CAP <language> for each of our languages.
LANGUAGE_TAGS = {"en": "en-GB", "cy": "cy"}
# Six decimal places of a degree is about 0.1 m: finer than any drawn edge.
COORDINATE_DECIMALS = 6
# A follow-up's thread is walked this far at most (a guard; real threads are short).
MAX_THREAD_DEPTH = 50

# category: (CAP category, urgency, severity, certainty). See the module docstring.
CAP_CATEGORY: dict[str, tuple[str, str, str, str]] = {
    "incident": ("Security", "Immediate", "Moderate", "Observed"),
    "crime_prevention": ("Security", "Future", "Minor", "Possible"),
    "appeal": ("Security", "Expected", "Minor", "Observed"),
    "missing_person": ("Safety", "Immediate", "Moderate", "Observed"),
    "update": ("Safety", "Expected", "Minor", "Observed"),
    "all_clear": ("Safety", "Past", "Minor", "Observed"),
}
FOLLOW_UPS = ("update", "all_clear")

# Fixed feed wording, one dict per language. The Welsh is a first draft for the
# translators to check; the catalogues will take these over.
WORDING: dict[str, dict[str, Any]] = {
    "en": {
        "feed_title": "Alerts from {force}",
        "cap_feed_title": "CAP alerts from {force}",
        # Another force's alert it approved for its area is in its feed too (it read
        # "has sent" above a neighbour's alert: an outside check).
        "feed_subtitle": (
            "Every alert {force} has sent, and those of neighbouring forces it agreed should "
            "reach its area. Check a message you received here."
        ),
        "exercise": "Exercise",
        "cancelled": "Cancelled",
        "exercise_body": "This was an exercise, not a real alert.",
        "cancelled_body": "This alert has been cancelled.",
        "withdrawn": "Withdrawn",
        "withdrawn_body": (
            "The police have taken this alert down: its details are no longer published. "
            "If you got a message with this reference, it was from us."
        ),
        "reference": "Reference: {reference}",
        "area_fallback": "The area shown on the alert's page",
        "withdrawn_area": "Not given: the alert was withdrawn",
        "alert": "Alert",
        "categories": {
            "incident": "Incident",
            "missing_person": "Missing person",
            "crime_prevention": "Crime prevention",
            "appeal": "Appeal for information",
            "update": "Update",
            "all_clear": "All clear",
        },
    },
    "cy": {
        "feed_title": "Rhybuddion gan {force}",
        "cap_feed_title": "Rhybuddion CAP gan {force}",
        "feed_subtitle": (
            "Pob rhybudd a anfonwyd gan {force}, a rhai heddluoedd cyfagos y cytunodd y dylent "
            "gyrraedd ei ardal. Gwiriwch neges a gawsoch yma."
        ),
        "exercise": "Ymarfer",
        "cancelled": "Wedi'i ganslo",
        "exercise_body": "Ymarfer oedd hwn, nid rhybudd go iawn.",
        "cancelled_body": "Mae'r rhybudd hwn wedi'i ganslo.",
        "withdrawn": "Wedi'i dynnu'n ôl",
        "withdrawn_body": (
            "Mae'r heddlu wedi tynnu'r rhybudd hwn i lawr: nid yw ei fanylion yn cael eu "
            "cyhoeddi mwyach. Os cawsoch neges gyda'r cyfeirnod hwn, roedd oddi wrthym ni."
        ),
        "reference": "Cyfeirnod: {reference}",
        "area_fallback": "Yr ardal a ddangosir ar dudalen y rhybudd",
        "withdrawn_area": "Heb ei rhoi: tynnwyd y rhybudd yn ôl",
        "alert": "Rhybudd",
        "categories": {
            "incident": "Digwyddiad",
            "missing_person": "Person ar goll",
            "crime_prevention": "Atal troseddu",
            "appeal": "Apêl am wybodaeth",
            "update": "Diweddariad",
            "all_clear": "Popeth yn glir",
        },
    },
}
# The CAP <note> is one per message, not per language: English, as CAP readers expect.
EXERCISE_NOTE = "Exercise {reference}: not a real alert. No action is needed."
CANCEL_NOTE = "{force} cancelled alert {reference}."
WITHDRAWN_NOTE = "{force} withdrew alert {reference}: its details are no longer published."
# The states published: "withdrawn" is an alert whose page was taken down (its words
# are not given; see the module docstring).
STATES = ("sent", "cancelled", "withdrawn")
ENDED = ("cancelled", "withdrawn")


@dataclass(frozen=True)
class FeedAlert:
    """One sent alert as the public may see it. Times are aware (UTC)."""

    reference: str  # "A7K2-9QF", unique per alert
    title: str
    body: str
    category: str  # a key of CAP_CATEGORY
    category_label: str  # "Missing person"
    mode: str  # "live" or "exercise"; test alerts are never published
    state: str  # "sent", "cancelled" or "withdrawn" (STATES)
    sent_at: datetime
    updated_at: datetime  # taken_down_at, cancelled_at, or sent_at
    parent: FeedAlert | None  # the alert a follow-up follows
    shapes: tuple  # as drawn, WGS84 (see geo/areas.py)
    area_polygons: tuple  # the resolved area's outer rings, WGS84 [(lon, lat), ...]
    area_names: tuple[str, ...]  # the places the area covers
    url: str  # the public page, absolute
    language: str  # the language of title and body: "en" or "cy"
    title_cy: str | None = None
    body_cy: str | None = None
    # The force that sent it, when not the feed's: a neighbour's alert this force
    # approved for its residents. Its entry names that force as author and links to
    # that force's CAP document (whose sender is that force's).
    source: FeedSource | None = None


@dataclass(frozen=True)
class FeedSource:
    """The force publishing the feeds. Paths are formats on base_url; {language} and
    {reference} are filled in."""

    name: str  # "Avon and Somerset Police"
    sender: str  # CAP sender, e.g. "alerts@avonandsomerset.police.uk"
    base_url: str  # "https://alerts.avonandsomerset.police.uk"
    contact: str  # "Call 101, or 999 in an emergency"
    web: str  # the force's own website
    attribution: str  # rights text for the feeds
    name_cy: str | None = None
    contact_cy: str | None = None
    attribution_cy: str | None = None
    atom_path: str = "/alerts/feed/{language}.atom"
    rss_path: str = "/alerts/feed/{language}.rss"
    cap_feed_path: str = "/alerts/feed/cap.atom"
    cap_path: str = "/alerts/{reference}/cap.xml"
    alerts_path: str = "/alerts?lang={language}"
    # How long after its message a CAP reader may keep showing an alert (<expires>):
    # without one, aggregators showed a day's burglary appeal as current for ever.
    expires_hours: int = 24

    def __post_init__(self) -> None:
        if not self.sender or re.search(r"[\s,<&]", self.sender):
            raise ValueError(
                f"The CAP sender {self.sender!r} must be one word without spaces, commas, "
                "'<' or '&' (for example alerts@yourforce.police.uk)."
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"The public base URL {self.base_url!r} must be absolute, "
                "like https://alerts.yourforce.police.uk."
            )

    def url(self, path: str, **values: str) -> str:
        filled = {key: quote(clean_line(value), safe="") for key, value in values.items()}
        return self.base_url.rstrip("/") + path.format(**filled)

    def atom_url(self, language: str) -> str:
        return self.url(self.atom_path, language=language)

    def rss_url(self, language: str) -> str:
        return self.url(self.rss_path, language=language)

    def cap_feed_url(self) -> str:
        return self.url(self.cap_feed_path)

    def cap_url(self, reference: str) -> str:
        return self.url(self.cap_path, reference=reference)

    def alerts_url(self, language: str) -> str:
        return self.url(self.alerts_path, language=language)

    def rights(self, language: str) -> str:
        """The rights text in the feed's language (English when there is no Welsh)."""
        said = self.attribution_cy if language == "cy" and self.attribution_cy else self.attribution
        return clean_line(said)

    def display_name(self, language: str) -> str:
        return clean_line(self.name_cy if language == "cy" and self.name_cy else self.name)


# ---------------------------------------------------------------------------- text

# Everything XML 1.0 allows except the C0/C1 controls: tab, LF, CR, printable ASCII,
# then U+00A0 onwards without the surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile(r"[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_block(value: object) -> str:
    """Text safe in any XML 1.0 document, line breaks kept (as LF).

    >>> clean_block("Doors\\x00 locked\\r\\nWindows\\x1b shut\\ufffe ")
    'Doors locked\\nWindows shut'
    """
    text = "" if value is None else str(value)
    text = _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def clean_line(value: object) -> str:
    """One line of XML-safe text, runs of white space made one space.

    >>> clean_line(" A <b> &\\n ]]> \\x07 ")
    'A <b> & ]]>'
    """
    return " ".join(clean_block(value).split())


# -------------------------------------------------------------------- the alert


def _check(alert: FeedAlert) -> None:
    """Refuse what must never be published: a test alert, an unsent one, naive times."""
    if alert.mode not in ("live", "exercise"):
        raise ValueError(f"Alert {alert.reference}: mode {alert.mode!r} is never published.")
    if alert.state not in STATES:
        raise ValueError(f"Alert {alert.reference}: state {alert.state!r} is not published.")
    for moment in (alert.sent_at, alert.updated_at):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"Alert {alert.reference}: times must be timezone-aware.")


def _thread(alert: FeedAlert) -> list[FeedAlert]:
    """The alerts this one follows, oldest first (empty for an original)."""
    ancestors: list[FeedAlert] = []
    seen = {alert.reference}
    current = alert.parent
    while current is not None and current.reference not in seen:
        ancestors.append(current)
        seen.add(current.reference)
        if len(ancestors) >= MAX_THREAD_DEPTH:
            break
        current = current.parent
    return ancestors[::-1]


def _figures(alert: FeedAlert) -> tuple[str, str, str, str]:
    """(CAP category, urgency, severity, certainty) as in the module docstring."""
    thread = _thread(alert)
    original = thread[0] if thread else None
    base = CAP_CATEGORY.get(original.category) if original else None
    if alert.category == "all_clear":
        category = base[0] if base else CAP_CATEGORY["all_clear"][0]
        return (category, *CAP_CATEGORY["all_clear"][1:])
    if alert.category in FOLLOW_UPS and base and original.category not in FOLLOW_UPS:
        return base
    return CAP_CATEGORY.get(alert.category, CAP_CATEGORY["incident"])


def _texts(alert: FeedAlert) -> dict[str, tuple[str, str]]:
    """{language: (title, body)}, the alert's own language first. A withdrawn alert's
    are our own words, in both languages."""
    texts: dict[str, tuple[str, str]] = {}
    if alert.state == "withdrawn":
        first = "cy" if alert.language == "cy" else "en"
        return {first: ("", ""), ("en" if first == "cy" else "cy"): ("", "")}
    if alert.language == "cy":
        texts["cy"] = (alert.title_cy or alert.title, alert.body_cy or alert.body)
    else:
        texts["en"] = (alert.title, alert.body)
        if alert.title_cy or alert.body_cy:
            texts["cy"] = (alert.title_cy or alert.title, alert.body_cy or alert.body)
    return texts


def page_in(url: str, language: str) -> str:
    """An alert's page in the language (the pages are English unless asked).

    >>> page_in("https://x.example/alerts/ABCD-EFG", "cy")
    'https://x.example/alerts/ABCD-EFG?lang=cy'
    >>> page_in("https://x.example/alerts/ABCD-EFG", "en")
    'https://x.example/alerts/ABCD-EFG'
    """
    url = clean_line(url)
    if language == "en":
        return url
    return f"{url}{'&' if '?' in url else '?'}lang={quote(language)}"


def _category_name(alert: FeedAlert, language: str) -> str:
    """The category's name in the language; "Alert" if it has none."""
    words = WORDING[language]
    known = words["categories"].get(alert.category)
    label = clean_line(alert.category_label)
    name = (label or known) if language == "en" else (known or label)
    return name or words["alert"]


def _headline(alert: FeedAlert, title: str, language: str) -> str:
    """The title, marked as an exercise or cancelled; the category's name if empty."""
    words = WORDING[language]
    prefixes = [words["cancelled"]] * (alert.state == "cancelled")
    prefixes += [words["withdrawn"]] * (alert.state == "withdrawn")
    prefixes += [words["exercise"]] * (alert.mode == "exercise")
    title = clean_line(title) or _category_name(alert, language)
    return ": ".join([*prefixes, title])


def _full_text(alert: FeedAlert, body: str, language: str) -> str:
    """The body with what a reader must know first, and the reference last."""
    words = WORDING[language]
    lines = [words["cancelled_body"]] * (alert.state == "cancelled")
    lines += [words["withdrawn_body"]] * (alert.state == "withdrawn")
    lines += [words["exercise_body"]] * (alert.mode == "exercise")
    lines += [clean_block(body), words["reference"].format(reference=clean_line(alert.reference))]
    return "\n\n".join(line for line in lines if line)


# ---------------------------------------------------------------------- CAP


def cap_datetime(moment: datetime) -> str:
    """A CAP time: UTC as "-00:00", whole seconds.

    >>> cap_datetime(datetime(2025, 3, 4, 5, 6, 7, 890, tzinfo=UTC))
    '2025-03-04T05:06:07-00:00'
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("A CAP time must be timezone-aware.")
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "-00:00"


def _safe_reference(reference: str) -> str:
    """The reference as it may stand in a CAP identifier or a tag: URI."""
    return quote(clean_line(reference), safe="-._~")


def cap_identifier(alert: FeedAlert, force: FeedSource, *, cancel: bool = False) -> str:
    """The CAP identifier of the alert's message (its Cancel message with cancel=True:
    ".../withdrawn" for a withdrawn alert's, which may follow a cancel's)."""
    identifier = f"{force.sender}/{_safe_reference(alert.reference)}"
    if not cancel:
        return identifier
    return f"{identifier}/{'withdrawn' if alert.state == 'withdrawn' else 'cancel'}"


def _cap_reference(alert: FeedAlert, force: FeedSource) -> str:
    """ "sender,identifier,sent" naming the alert's original message."""
    return f"{force.sender},{cap_identifier(alert, force)},{cap_datetime(alert.sent_at)}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _decimal(value: float, places: int = COORDINATE_DECIMALS) -> str:
    """A number without exponent or trailing zeros.

    >>> _decimal(51.45), _decimal(-2.0), _decimal(1e-9), _decimal(-1e-9)
    ('51.45', '-2', '0', '0')
    """
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _lat_lon(point: Any) -> tuple[float, float] | None:
    """(lat, lon) of a [lon, lat(, altitude)] point, or None if it is not one."""
    if not isinstance(point, Sequence) or isinstance(point, str) or len(point) < 2:
        return None
    lon, lat = _number(point[0]), _number(point[1])
    if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return lat, lon


def cap_polygon(ring: Iterable[Any]) -> str | None:
    """A ring of [lon, lat] points as a CAP polygon: "lat,lon" pairs, closed; None if
    it has fewer than three distinct corners or a point that is not one.

    >>> cap_polygon([[-2.6, 51.4], [-2.5, 51.4], [-2.5, 51.5]])
    '51.4,-2.6 51.4,-2.5 51.5,-2.5 51.4,-2.6'
    """
    if not isinstance(ring, Iterable) or isinstance(ring, str | bytes | Mapping):
        return None
    points = [_lat_lon(point) for point in ring]
    if not points or any(point is None for point in points):
        return None
    if len(set(points)) < 3:
        return None
    if points[0] != points[-1]:
        points.append(points[0])
    return " ".join(f"{_decimal(lat)},{_decimal(lon)}" for lat, lon in points)


def cap_circle(shape: Mapping[str, Any]) -> str | None:
    """A drawn circle as a CAP circle, "lat,lon radius_km"; None if it is not one.

    >>> cap_circle({"kind": "circle", "center": [-2.59, 51.45], "radius_m": 1500})
    '51.45,-2.59 1.5'
    """
    centre = _lat_lon(shape.get("center"))
    radius_m = _number(shape.get("radius_m"))
    if centre is None or radius_m is None or radius_m <= 0:
        return None
    return f"{_decimal(centre[0])},{_decimal(centre[1])} {_decimal(radius_m / 1000, 3)}"


def _drawn_area(shapes: Iterable[Any]) -> tuple[list[str], list[str]] | None:
    """(polygons, circles) exactly as drawn, or None when the drawn shapes do not say
    the area by themselves (a place, an exclusion, a shape we cannot read)."""
    polygons: list[str] = []
    circles: list[str] = []
    for shape in shapes:
        if not isinstance(shape, Mapping) or shape.get("exclude") is True:
            return None
        kind = shape.get("kind")
        if kind == "circle":
            circle = cap_circle(shape)
            if circle is None:
                return None
            circles.append(circle)
        elif kind in ("polygon", "rectangle"):
            rings = shape.get("coordinates")
            # The outline only: CAP polygons have no holes (a hole is in the area anyway).
            readable = isinstance(rings, Sequence) and not isinstance(rings, str) and rings
            outline = cap_polygon(rings[0]) if readable else None
            if outline is None:
                return None
            polygons.append(outline)
        else:
            return None
    return (polygons, circles) if polygons or circles else None


def cap_area(alert: FeedAlert) -> tuple[list[str], list[str]]:
    """(polygons, circles) for the alert's CAP <area> (see the module docstring)."""
    drawn = _drawn_area(alert.shapes or ())
    if drawn is not None:
        return drawn
    resolved = [p for p in (cap_polygon(ring) for ring in alert.area_polygons or ()) if p]
    if resolved:
        return resolved, []
    # No resolved area: the included shapes we can read, places left to areaDesc.
    polygons: list[str] = []
    circles: list[str] = []
    for shape in alert.shapes or ():
        if isinstance(shape, Mapping) and shape.get("exclude") is not True:
            part = _drawn_area([shape])
            if part:
                polygons += part[0]
                circles += part[1]
    return polygons, circles


def _area_description(alert: FeedAlert, language: str) -> str:
    if alert.state == "withdrawn":  # its page answers 410: no area is given
        return WORDING[language]["withdrawn_area"]
    names = [name for name in (clean_line(n) for n in alert.area_names or ()) if name]
    return ", ".join(names) or WORDING[language]["area_fallback"]


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def _cap_element(alert: FeedAlert, force: FeedSource) -> etree._Element:
    _check(alert)
    cancelled = alert.state in ENDED
    thread = _thread(alert)
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", cap_identifier(alert, force, cancel=cancelled))
    _sub(root, "sender", force.sender)
    sent = alert.updated_at if cancelled else alert.sent_at
    _sub(root, "sent", cap_datetime(sent))
    _sub(root, "status", "Exercise" if alert.mode == "exercise" else "Actual")
    _sub(root, "msgType", "Cancel" if cancelled else "Update" if thread else "Alert")
    _sub(root, "scope", "Public")
    notes = []
    if alert.mode == "exercise":
        notes.append(EXERCISE_NOTE.format(reference=clean_line(alert.reference)))
    if cancelled:
        note = WITHDRAWN_NOTE if alert.state == "withdrawn" else CANCEL_NOTE
        notes.append(note.format(force=clean_line(force.name), reference=alert.reference))
    if notes:
        _sub(root, "note", clean_line(" ".join(notes)))
    if cancelled:
        # The message withdrawn: this alert's own, never the thread's original.
        _sub(root, "references", _cap_reference(alert, force))
    elif thread:
        _sub(root, "references", " ".join(_cap_reference(a, force) for a in thread))
    _sub(root, "incidents", _safe_reference((thread[0] if thread else alert).reference))

    category, urgency, severity, certainty = _figures(alert)
    polygons, circles = cap_area(alert)
    for language, (title, body) in _texts(alert).items():
        info = _sub(root, "info")
        _sub(info, "language", LANGUAGE_TAGS[language])
        _sub(info, "category", category)
        _sub(info, "event", _category_name(alert, language))
        _sub(info, "responseType", "AllClear" if alert.category == "all_clear" else "Monitor")
        _sub(info, "urgency", "Past" if cancelled else urgency)
        _sub(info, "severity", severity)
        _sub(info, "certainty", certainty)
        _sub(info, "expires", cap_datetime(sent + timedelta(hours=force.expires_hours)))
        _sub(info, "senderName", force.display_name(language))
        _sub(info, "headline", _headline(alert, title, language))
        _sub(info, "description", _full_text(alert, body, language))
        _sub(info, "web", page_in(alert.url, language))
        contact = force.contact_cy if language == "cy" and force.contact_cy else force.contact
        _sub(info, "contact", clean_line(contact))
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", "reference")
        _sub(parameter, "value", clean_line(alert.reference))
        area = _sub(info, "area")
        _sub(area, "areaDesc", _area_description(alert, language))
        for polygon in polygons:
            _sub(area, "polygon", polygon)
        for circle in circles:
            _sub(area, "circle", circle)
    return root


def cap_document(alert: FeedAlert, force: FeedSource) -> bytes:
    """The alert's latest CAP 1.2 message: Alert, Update, or Cancel once cancelled."""
    return etree.tostring(
        _cap_element(alert, force), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


# --------------------------------------------------------------------- Atom


def _tag(force: FeedSource, moment: datetime, *parts: str) -> str:
    """A tag: URI (RFC 4151) on the public host, dated the day of `moment`."""
    host = urlsplit(force.base_url).hostname or "localhost"
    day = moment.astimezone(UTC).date().isoformat()
    return f"tag:{host},{day}:" + ":".join(parts)


def _atom_time(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _feed(force: FeedSource, alerts: Sequence[FeedAlert], language: str, title: str):
    """A FeedGenerator with the feed-level elements every feed here shares."""
    feed = FeedGenerator()
    feed.title(clean_line(title))
    feed.updated(_atom_time(max((a.updated_at for a in alerts), default=EMPTY_FEED_UPDATED)))
    feed.author({"name": force.display_name(language), "uri": clean_line(force.web)})
    feed.rights(force.rights(language))
    feed.language(LANGUAGE_TAGS[language])
    return feed


@dataclass(frozen=True)
class _EntryExtras:
    """What feedgen cannot write for an entry: xml:lang (None: the feed's own) and its
    links. feedgen 1.0.0 drops an entry link's rel and type (its loop rebinds `link` to
    the new element before reading them), so the links are written here."""

    language: str | None
    links: tuple[dict[str, str], ...]


def _add_links(entry, links: Sequence[dict[str, str]]) -> None:
    """Give feedgen the entry's links (it checks for an alternate one)."""
    for link in links:
        entry.link(**link)


def _finish(document: bytes, extras: Sequence[_EntryExtras]) -> bytes:
    """Set each entry's xml:lang where its text is not in the feed's language, and
    write its links correctly."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(document, parser)  # noqa: S320 (our own output, just built)
    for entry, extra in zip(root.iterfind(f"{{{ATOM_NS}}}entry"), extras, strict=True):
        if extra.language:
            entry.set(XML_LANG, extra.language)
        old = entry.findall(f"{{{ATOM_NS}}}link")
        position = entry.index(old[0]) if old else len(entry)
        for element in old:
            entry.remove(element)
        for offset, link in enumerate(extra.links):
            element = etree.Element(f"{{{ATOM_NS}}}link")
            for key in ("href", "rel", "type", "hreflang"):
                if link.get(key):
                    element.set(key, link[key])
            entry.insert(position + offset, element)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _checked(alerts: Iterable[FeedAlert], language: str) -> list[FeedAlert]:
    """The alerts of a feed in `language`, each checked (_check)."""
    if language not in LANGUAGES:
        raise ValueError(f"Feeds are in English (en) or Welsh (cy), not {language!r}.")
    alerts = list(alerts)
    for alert in alerts:
        _check(alert)
    return alerts


def atom_feed(alerts: Iterable[FeedAlert], force: FeedSource, language: str) -> bytes:
    """RFC 4287 Atom of the given alerts, in the order given (newest first, say), in
    English ("en") or Welsh ("cy"). See the module docstring for the fallback."""
    alerts = _checked(alerts, language)
    words = WORDING[language]
    other = "cy" if language == "en" else "en"
    feed = _feed(
        force, alerts, language, words["feed_title"].format(force=force.display_name(language))
    )
    self_url = force.atom_url(language)
    feed.id(self_url)
    feed.subtitle(clean_line(words["feed_subtitle"].format(force=force.display_name(language))))
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(
        href=force.alerts_url(language),
        rel="alternate",
        type="text/html",
        hreflang=LANGUAGE_TAGS[language],
    )
    feed.link(
        href=force.atom_url(other),
        rel="alternate",
        type="application/atom+xml",
        hreflang=LANGUAGE_TAGS[other],
    )
    extras: list[_EntryExtras] = []
    for alert in alerts:
        texts = _texts(alert)
        used = language if language in texts else next(iter(texts))
        title, body = texts[used]
        entry = feed.add_entry(order="append")
        entry.id(_tag(force, alert.sent_at, "alert", _safe_reference(alert.reference), language))
        entry.title(_headline(alert, title, used))
        entry.updated(_atom_time(alert.updated_at))
        entry.published(_atom_time(alert.sent_at))
        entry.content(_full_text(alert, body, used), type="text")
        sender = _sent_by(entry, alert, language, force)
        links = (
            {"href": page_in(alert.url, language), "rel": "alternate", "type": "text/html"},
            {"href": sender.cap_url(alert.reference), "rel": "related", "type": CAP_MIME},
        )
        _add_links(entry, links)
        # In the entry's language: an English entry of the Welsh feed is marked en-GB.
        entry.category(term=alert.category, label=_category_name(alert, used))
        extras.append(_EntryExtras(None if used == language else LANGUAGE_TAGS[used], links))
    return _finish(feed.atom_str(), extras)


def rss_feed(alerts: Iterable[FeedAlert], force: FeedSource, language: str) -> bytes:
    """RSS 2.0 of the same alerts and words as atom_feed, for the readers and website
    widgets that take only RSS. Its dates are the alerts' own (lastBuildDate is the
    newest change), so the same alerts give the same bytes, as Atom's do. An item's guid
    is its Atom entry's id."""
    alerts = _checked(alerts, language)
    words = WORDING[language]
    name = force.display_name(language)
    feed = FeedGenerator()
    feed.title(clean_line(words["feed_title"].format(force=name)))
    feed.description(clean_line(words["feed_subtitle"].format(force=name)))
    # RSS has one link, the page; the last given is the one feedgen writes.
    feed.link(href=force.rss_url(language), rel="self", type="application/rss+xml")
    feed.link(href=force.alerts_url(language), rel="alternate")
    feed.language(LANGUAGE_TAGS[language])
    feed.copyright(force.rights(language))
    feed.generator("Community Alerts")
    feed.lastBuildDate(_atom_time(max((a.updated_at for a in alerts), default=EMPTY_FEED_UPDATED)))
    for alert in alerts:
        texts = _texts(alert)
        used = language if language in texts else next(iter(texts))
        title, body = texts[used]
        item = feed.add_entry(order="append")
        item.guid(
            _tag(force, alert.sent_at, "alert", _safe_reference(alert.reference), language),
            permalink=False,
        )
        item.title(_headline(alert, title, used))
        item.link(href=page_in(alert.url, language))
        # Readers take an RSS description as HTML: the text is escaped for it (words
        # like "<b>" an officer typed are shown, never run), its lines kept as lines.
        item.description(html.escape(_full_text(alert, body, used)).replace("\n", "<br>\n"))
        item.published(_atom_time(alert.sent_at))
        item.category(term=alert.category, label=_category_name(alert, language))
    return feed.rss_str(pretty=True)


def _sent_by(entry, alert: FeedAlert, language: str, feeds_force: FeedSource) -> FeedSource:
    """The force whose CAP document the entry links to: the feed's, or for a
    neighbour's alert that force's, then named as the entry's author."""
    if alert.source is None:
        return feeds_force
    entry.author({"name": alert.source.display_name(language), "uri": clean_line(alert.source.web)})
    return alert.source


def cap_feed(alerts: Iterable[FeedAlert], force: FeedSource) -> bytes:
    """An Atom feed with one entry per alert, linking to its latest CAP message."""
    alerts = list(alerts)
    for alert in alerts:
        _check(alert)
    feed = _feed(
        force, alerts, "en", WORDING["en"]["cap_feed_title"].format(force=force.display_name("en"))
    )
    self_url = force.cap_feed_url()
    feed.id(self_url)
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=force.alerts_url("en"), rel="alternate", type="text/html")
    extras: list[_EntryExtras] = []
    for alert in alerts:
        cancelled = alert.state in ENDED
        message_sent = alert.updated_at if cancelled else alert.sent_at
        texts = _texts(alert)
        used = "en" if "en" in texts else next(iter(texts))
        ending = "withdrawn" if alert.state == "withdrawn" else "cancel"
        parts = ["cap", _safe_reference(alert.reference)] + [ending] * cancelled
        entry = feed.add_entry(order="append")
        entry.id(_tag(force, message_sent, *parts))
        entry.title(_headline(alert, texts[used][0], used))
        entry.updated(_atom_time(message_sent))
        entry.published(_atom_time(alert.sent_at))
        entry.summary(_full_text(alert, texts[used][1], used), type="text")
        links = (
            {
                "href": _sent_by(entry, alert, "en", force).cap_url(alert.reference),
                "rel": "alternate",
                "type": CAP_MIME,
            },
            {"href": clean_line(alert.url), "rel": "related", "type": "text/html"},
        )
        _add_links(entry, links)
        entry.category(term=_figures(alert)[0])
        extras.append(_EntryExtras(None if used == "en" else LANGUAGE_TAGS[used], links))
    return _finish(feed.atom_str(), extras)


# --------------------------------------------------------- conditional GET


def etag_for(alerts: Iterable[FeedAlert], *context: str) -> str:
    """A strong validator for a document built from these alerts: it changes when an
    alert is added, removed, reordered or cancelled. Add `context` for whatever else
    shapes the bytes (the feed kind, the language, the force's settings). Unquoted, for
    Werkzeug's response.set_etag() and request.if_none_match."""
    digest = hashlib.sha256(f"feeds/{FORMAT_VERSION}".encode())
    for part in context:
        digest.update(b"\x1f" + str(part).encode("utf-8", "replace"))
    digest.update(b"\x1d")
    for alert in alerts:
        moment = alert.updated_at.astimezone(UTC).isoformat()
        line = f"{alert.reference}\x1f{alert.state}\x1f{moment}\x1e"
        digest.update(line.encode("utf-8", "replace"))
    return digest.hexdigest()[:40]


def last_modified(alerts: Iterable[FeedAlert]) -> datetime | None:
    """The latest change among the alerts, in whole seconds (HTTP dates have no
    fraction), or None when there are none."""
    latest = max((alert.updated_at for alert in alerts), default=None)
    return latest.astimezone(UTC).replace(microsecond=0) if latest else None
