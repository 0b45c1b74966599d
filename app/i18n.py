"""English and Welsh (issue 15): Flask-Babel with message catalogues.

The words are in app/translations/<language>/LC_MESSAGES/messages.po; `make setup`
compiles them (pybabel compile), and an app that starts without a compiled catalogue
compiles it here, so a clean clone works either way.

Which language a page is in, first that is set:
1. a language the resident has just chosen on a form (remember_language);
1. `?lang=cy` or `?lang=en` in the address: the language switch on every page. It is
   remembered in a cookie (`lang`), so the next page stays in it;
2. the `lang` cookie;
3. the resident's own choice, kept in their session when their page opens;
4. the browser's Accept-Language;
5. English.

Messages to residents (codes, links, notices) are written in the resident's language,
whatever the page: `in_language(resident.language)` around the words.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel.lists import format_list
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, force_locale, get_locale, gettext, lazy_gettext, refresh
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RoutingException

log = logging.getLogger(__name__)

LANGUAGES = ("en", "cy")
DEFAULT = "en"
# The html lang attribute (and hreflang) for each language.
HTML_LANG = {"en": "en-GB", "cy": "cy"}
# Each language's name in itself, for the switch.
NAMES = {"en": "English", "cy": "Cymraeg"}
COOKIE = "lang"
COOKIE_DAYS = 365
# The resident's own language, kept in their session when their page opens.
SESSION_KEY = "resident_language"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
UK_TIME = ZoneInfo("Europe/London")

babel = Babel()


def known(language: str | None) -> str | None:
    return language if language in LANGUAGES else None


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT
    return (
        known(g.get("chosen_language"))
        or known(request.args.get("lang"))
        or known(request.cookies.get(COOKIE))
        or known(session.get(SESSION_KEY))
        or known(g.get("owner_language"))
        or request.accept_languages.best_match(LANGUAGES)
        or DEFAULT
    )


def current() -> str:
    """The language of this page ("en" or "cy"); English outside a request."""
    locale = get_locale()
    return known(locale.language if locale else None) or DEFAULT


def remember_language(language: str) -> None:
    """Keep a language the resident chose on a form: in their session, and in the
    cookie the switch sets (so the next page is in it whatever was switched before)."""
    if known(language):
        session[SESSION_KEY] = language
        g.chosen_language = language
        refresh()  # the rest of this request is in it too


def keep_own_language(language: str | None) -> None:
    """Keep the resident's own language in their session as their page opens (rule 3
    above): their pages are in it unless the visitor chose another with the switch.
    Opened from a link after switching to Welsh, a resident's page came up in the
    English they signed up in (an outside check)."""
    if known(language):
        session[SESSION_KEY] = language
        refresh()


def page_for_resident(language: str | None) -> None:
    """A page a link to one resident opens (their sign-in link, their e-mail's
    confirmation) is in their language unless the visitor chose one: before the
    browser's own, which a fresh browser sends as English (a Welsh resident's links
    opened in English: an outside check)."""
    if known(language):
        g.owner_language = language
        refresh()


@contextmanager
def in_language(language: str | None):
    """Words written inside are in this language (a resident's), not the page's."""
    with force_locale(known(language) or DEFAULT):
        yield


def force_name(language: str | None = None) -> str:
    """The force's name in a language: "Avon and Somerset" / "Avon a Gwlad yr Haf"."""
    from app.services.forces import current_force_name

    return current_force_name(known(language) or current())


def police(language: str | None = None) -> str:
    """ "Avon and Somerset Police" / "Heddlu Avon a Gwlad yr Haf"."""
    with in_language(language or current()):
        return gettext("%(force)s Police", force=force_name(language))


def police_of(force) -> str:
    """A given force's "… Police" in the page's language (police() is the current
    force's)."""
    from app.services.forces import display_name

    return gettext("%(force)s Police", force=display_name(force, current()))


# Dates and times, UK time, in the page's language.
DATE_FORMATS = {
    "date": "d MMMM y",
    "day": "d MMM y",
    "short": "d MMM y HH:mm",
    "time": "HH:mm",
}


def when(moment: datetime | date | None, style: str = "long") -> str:
    """A timestamp as people in the force read clocks (UK time), in the page's
    language: "1 December 2026 at 18:11" / "1 Rhagfyr 2026 am 18:11"."""
    if moment is None:
        return ""
    locale = current()
    if isinstance(moment, datetime):
        moment = moment.astimezone(UK_TIME) if moment.tzinfo else moment
    if style == "long":
        return gettext(
            "%(date)s at %(time)s",
            date=babel_dates.format_date(moment, DATE_FORMATS["date"], locale=locale),
            time=babel_dates.format_time(moment, DATE_FORMATS["time"], locale=locale),
        )
    if style in ("date", "day") or not isinstance(moment, datetime):
        pattern = DATE_FORMATS["day" if style == "day" else "date"]
        return babel_dates.format_date(moment, pattern, locale=locale)
    return babel_dates.format_datetime(moment, DATE_FORMATS[style], locale=locale)


def title_for_page(alert) -> tuple[str, str]:
    """An alert's title as this page shows it, and the language tag of those words: the
    Welsh on a Welsh page when the officer wrote it (title and message), else the
    title as written, marked as its own language (WCAG 3.1.2: English words on a Welsh
    page say they are English)."""
    if current() == "cy" and alert.title_cy and alert.body_cy:
        return alert.title_cy, HTML_LANG["cy"]
    return alert.title, HTML_LANG["cy" if alert.language == "cy" else "en"]


# Welsh "and" is "ac" before a vowel: CLDR's Welsh list writes "a(c)" for either, and
# a page read "Heddlu Avon a Gwlad yr Haf a(c) Heddlu Wiltshire" (an outside check).
_WELSH_VOWELS = tuple("aeiouwyâêîôûŵŷAEIOUWYÂÊÎÔÛŴŶ")


def and_list(items: list[str], language: str | None = None) -> str:
    """Items joined as the page's language (or `language`) lists them: "A, B and C",
    "A, B a C" (ac before a vowel).

    >>> and_list(["Heddlu Avon a Gwlad yr Haf", "Heddlu Wiltshire"], "cy")
    'Heddlu Avon a Gwlad yr Haf a Heddlu Wiltshire'
    >>> and_list(["Heddlu Dyfed-Powys", "Arfon"], "cy")
    'Heddlu Dyfed-Powys ac Arfon'
    """
    if (known(language) or current()) != "cy" or len(items) < 2:
        return format_list(list(items), locale="en_GB")
    last = items[-1]
    joiner = " ac " if last.startswith(_WELSH_VOWELS) else " a "
    return ", ".join(items[:-1]) + joiner + last


def group_names(rows) -> list[tuple[str, str]]:
    """(slug, name) of groups, from (slug, name, Welsh name): the Welsh name on a Welsh
    page when the group has one (an analyst's filters and columns were English)."""
    welsh = current() == "cy"
    return [(slug, (welsh and name_cy) or name) for slug, name, name_cy in rows]


def group_for_page(group) -> tuple[str, str]:
    """An interest group's name as this page shows it, and its language tag: the Welsh
    name on a Welsh page when the group has one."""
    if current() == "cy" and group.name_cy:
        return group.name_cy, HTML_LANG["cy"]
    return group.name, HTML_LANG["en"]


def words_lang(alert) -> Markup:
    """` lang="cy"` (or en-GB) for an alert's own words where their language is not the
    page's, else nothing: a screen reader read a Welsh alert on an English staff page
    with an English voice (an outside check)."""
    tag = HTML_LANG["cy" if getattr(alert, "language", None) == "cy" else "en"]
    # Safe: the tag is one of HTML_LANG's two constants, nothing from a user.
    return Markup(f' lang="{tag}"') if tag != HTML_LANG[current()] else Markup("")  # noqa: S704


def switch_url(language: str) -> str:
    """This page in another language: the same address with ?lang= set. A page shown
    in answer to a form sent to an address that only takes forms (a refused change on
    /my-alerts/places) links to the page above it that can be opened (/my-alerts):
    the same address would answer 405. What was typed is kept by page.js."""
    # Only a page answering a form can be at such an address; any other's is its own.
    path = _page_to_open(request.path) if request.method == "POST" else request.path
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    if path != request.path:
        args = []  # they were the form's address's
    args.append(("lang", language))
    # Escaped, and from one slash: a browser reads "/\evil.example/x" as
    # "//evil.example/x", another site, and the 404 page of that address linked there
    # (an outside check).
    return "/" + quote(path).lstrip("/") + "?" + urlencode(args)


def _page_to_open(path: str) -> str:
    """`path`, or the nearest address above it that a browser can open (GET)."""
    adapter = current_app.url_map.bind("localhost")
    start = path
    while True:
        try:
            adapter.match(path, method="GET")
        except MethodNotAllowed:
            if path in ("", "/"):
                return start
            path = path.rstrip("/").rsplit("/", 1)[0] or "/"
            continue
        except HTTPException:
            return path if path != "" else start
        except RoutingException:
            return path  # a redirect (a slash added): the browser follows it
        return path


# Labels the product shows residents that live in code as data (categories, channels).
CATEGORY_LABELS = {
    "incident": lazy_gettext("Incident"),
    "missing_person": lazy_gettext("Missing person"),
    "crime_prevention": lazy_gettext("Crime prevention"),
    "appeal": lazy_gettext("Appeal for information"),
    "update": lazy_gettext("Update"),
    "all_clear": lazy_gettext("All clear"),
}


ENVIRONMENTS = {
    "development": lazy_gettext("Development"),
    "testing": lazy_gettext("Testing"),
    "staging": lazy_gettext("Staging"),
}


# Words other modules pass to pages as they are (app/web.py's error titles): in the
# catalogue here, translated on the page with the `translate` filter.
SHARED_WORDS = (
    lazy_gettext("This page has expired. Reload it and try again."),
    lazy_gettext(
        "Part of that form could not be read as text: it was not sent as UTF-8. Type it "
        "again in this page, or in another browser."
    ),
    lazy_gettext(
        "Part of that address could not be read as text: it was not sent as UTF-8. Go "
        "back to the page and try again from there."
    ),
    lazy_gettext("Something in that request is not a value we can use."),
    lazy_gettext("That request was not understood. Check it and try again."),
    lazy_gettext("You do not have access to this page"),
    lazy_gettext("Page not found"),
    lazy_gettext("That page cannot be used that way"),
    lazy_gettext(
        "That is more than one request can carry. Send less at a time: a shorter text, "
        "a simpler area, or a list split into smaller files."
    ),
    lazy_gettext("Something went wrong"),
    lazy_gettext("We cannot do that just now: part of the service is not answering."),
    lazy_gettext(
        "Someone else did the same at the same moment. Reload the page to see what is "
        "saved now, then try again if you still need to."
    ),
)


@functools.cache
def _script_messages(path: str) -> tuple[str, ...]:
    """The words marked _() or N_() (said later) in a script, as `pybabel extract` finds
    them (babel.cfg)."""
    from babel.messages.extract import extract_from_file

    found = extract_from_file("javascript", path, keywords={"_": None, "N_": None})
    return tuple(dict.fromkeys(message for _line, message, *_rest in found if message))


def script_words(name: str) -> dict[str, str]:
    """The page's language's words for every _() in static/js/<name>, for the script to
    say them in (English pages need none: the script's own words are English)."""
    language = current()
    if language == "en":
        return {}
    path = Path(current_app.static_folder) / "js" / name
    return {message: gettext(message) for message in _script_messages(str(path))}


def each_language(words) -> dict[str, str]:
    """Words written now in every language ({"en": ..., "cy": ...}), for a record read
    later in its reader's: `words` is called once in each (gettext inside it)."""
    written = {}
    for language in LANGUAGES:
        with in_language(language):
            written[language] = str(words())
    return written


def in_reader_language(stored: str | dict | None) -> str:
    """Stored words (each_language) in the page's language; words stored as a plain
    string (records from before each_language) as they are."""
    if isinstance(stored, dict):
        return stored.get(current()) or stored.get(DEFAULT) or ""
    return stored or ""


def translate(words: str) -> str:
    """Words that may be in the catalogue (SHARED_WORDS), in the page's language;
    anything else as it is."""
    return gettext(words) if words else words


def _service_name(app: Flask) -> str:
    """The service's name: ours is translated; a force's own name is used as it is."""
    name = app.config["SERVICE_NAME"]
    return gettext("Community Alerts") if name == "Community Alerts" else name


def category_label(category: str, fallback: str = "") -> str:
    label = CATEGORY_LABELS.get(category)
    return str(label) if label is not None else fallback


DELIVERY_STATUSES = {
    "queued": lazy_gettext("waiting to go"),
    "sending": lazy_gettext("being sent"),
    "unknown": lazy_gettext("being checked"),
    "sent": lazy_gettext("sent"),
    "delivered": lazy_gettext("delivered"),
    "failed": lazy_gettext("could not be delivered"),
    "cancelled": lazy_gettext("not sent (cancelled)"),
    "possibly_sent": lazy_gettext("probably sent"),
}


ALERT_STATUS_LABELS = {
    "draft": lazy_gettext("draft"),
    "pending_approval": lazy_gettext("waiting for approval"),
    "scheduled": lazy_gettext("scheduled"),
    "sending": lazy_gettext("sending"),
    # Every message has gone to the providers or failed: what reached people is below.
    "sent": lazy_gettext("finished sending"),
    "rejected": lazy_gettext("rejected"),
    "cancelled": lazy_gettext("cancelled"),
}


ROLE_NAMES = {
    "officer": lazy_gettext("Officer"),
    "supervisor": lazy_gettext("Supervisor"),
    "analyst": lazy_gettext("Analyst"),
    "admin": lazy_gettext("Admin"),
}


def role_name(role: str) -> str:
    """A staff role as the pages name it, in the page's language ("Officer", "Swyddog")."""
    label = ROLE_NAMES.get(role)
    return str(label) if label is not None else role


def alert_status(status: str) -> str:
    label = ALERT_STATUS_LABELS.get(status)
    return str(label) if label is not None else status.replace("_", " ")


def delivery_status(status: str) -> str:
    label = DELIVERY_STATUSES.get(status)
    return str(label) if label is not None else status


def force_label(force) -> str:
    """A force's name in the page's language (its Welsh name on a Welsh page)."""
    from app.services.forces import display_name

    return display_name(force, current())


def place_label(label: str) -> str:
    """A place's name: the one every sign-up starts with ("Home") in the page's
    language; a name the resident gave, as they wrote it."""
    return gettext("Home") if label == "Home" else label


def contact(address: str | None) -> str:
    """A number as people write it (07700 900952, or +33 1 23 45 67 89 from abroad);
    an e-mail address as it is."""
    if not address or not address.startswith("+"):
        return address or ""
    import phonenumbers

    try:
        number = phonenumbers.parse(address, "GB")
    except phonenumbers.NumberParseException:
        return address
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 44
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile each .po whose .mo is missing or older (what `pybabel compile` does).
    Returns the files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalogue = read_po(source, locale=po.parent.parent.name)
        with mo.open("wb") as target:
            write_mo(target, catalogue)
        written.append(mo)
    return written


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/London")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    try:
        for mo in compile_catalogues():
            log.info("Compiled %s", mo.relative_to(TRANSLATIONS))
    except OSError:
        log.warning("Could not compile the message catalogues: run `make setup`")
    babel.init_app(app, locale_selector=select_locale)
    app.add_template_filter(when, "when")
    app.add_template_filter(category_label, "category_label")
    app.add_template_filter(translate, "translate")
    app.add_template_filter(in_reader_language, "in_reader_language")
    app.add_template_filter(contact, "contact")
    app.add_template_filter(place_label, "place_label")
    app.add_template_filter(force_label, "force_label")
    app.add_template_filter(police_of, "police_of")
    app.add_template_filter(delivery_status, "delivery_status")
    app.add_template_filter(alert_status, "alert_status")
    app.add_template_filter(role_name, "role_name")

    @app.context_processor
    def languages():
        language = current()
        other = "cy" if language == "en" else "en"
        return {
            "language": language,
            "html_lang": HTML_LANG[language],
            "other_language": other,
            "other_language_tag": HTML_LANG[other],
            "other_language_name": NAMES[other],
            "other_language_url": switch_url(other) if has_request_context() else "",
            # Overrides the English name (app/__init__.py) on Welsh pages.
            "force_name": force_name(language),
            "police_name": police(language),
            "police": police,
            "title_for_page": title_for_page,
            "group_for_page": group_for_page,
            "words_lang": words_lang,
            "service_name": _service_name(app),
            "environment_label": str(
                ENVIRONMENTS.get(app.config["ENV_NAME"], app.config["ENV_NAME"])
            ),
            "to_outbox": app.config.get("DELIVERY_TRANSPORT") == "outbox",
        }

    @app.after_request
    def keep_language(response):
        chosen = getattr(g, "chosen_language", None) or known(request.args.get("lang"))
        if chosen and request.cookies.get(COOKIE) != chosen:
            response.set_cookie(
                COOKIE,
                chosen,
                max_age=COOKIE_DAYS * 86400,
                secure=app.config.get("SESSION_COOKIE_SECURE", False),
                httponly=True,
                samesite="Lax",
            )
        return response
