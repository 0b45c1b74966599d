"""What a resident agrees to: the consent statement shown for the forces that will
message them, its fingerprint and its version. Sign-up records the first; adding a
place in another force's area records that force's (residents.add_location)."""

from __future__ import annotations

import hashlib

from app.i18n import LANGUAGES, current, gettext, in_language, police, police_of
from app.models import Force
from app.services import forces

# The consent statement as shown on the form. Change the words, change the version:
# each resident's record keeps the version and the words they agreed to.
CONSENT_VERSION = "2026-11"


def consent_statement(chosen: list[Force] | None = None) -> str:
    """The statement in the page's language, as the resident reads and keeps it, for
    the forces that will message them (`chosen`: those whose areas hold their postcode)
    or, before the postcode is known, every force of the installation. A force with
    its own wording (set by its administrator) has its own words; the others share the
    service's statement, which names them."""
    every = chosen or forces.find_forces()
    language = current()
    own = {force.id: _own_wording(force, language) for force in every}
    standard = [force for force in every if not own[force.id]]
    if chosen is None and len(every) <= 1 and standard:
        named = police()
    elif standard:
        named = police_of_all(standard)
    statements = [own[force.id] for force in every if own[force.id]]
    if standard:
        statements.insert(
            0,
            gettext(
                "I agree that %(police)s may keep these details to send me alerts, "
                "until I ask them to stop.",
                police=named,
            ),
        )
    return " ".join(statements)


def police_of_all(chosen: list[Force]) -> str:
    """'Avon and Somerset Police and Wiltshire Police', in the page's language."""
    names = [police_of(force) for force in chosen]
    if len(names) == 1:
        return names[0]
    return gettext("%(some)s and %(last)s", some=", ".join(names[:-1]), last=names[-1])


def statement_language(chosen: list[Force]) -> str | None:
    """The language to mark the statement with when it is not the page's: on a Welsh
    page, "en" when every force has its own wording and none in Welsh, so a screen
    reader reads it in English. None when it is the page's (or mixed, and cannot be
    marked whole)."""
    if current() != "cy" or not chosen:
        return None
    if all(force.consent_text and not force.consent_text_cy for force in chosen):
        return "en"
    return None


def language_of(statement: str | None, candidates: list[list[Force] | None]) -> str | None:
    """The language to mark stored words with (a statement agreed to, shown on the
    data page) when they are not in the page's: the language in which the statement
    for one of `candidates` (forces it was for; None, every force) is these very words,
    and is in that language whole (a Welsh statement with a force's English words is
    not). None when they are the page's, or no longer known (the wording changed)."""
    if not statement:
        return None
    page = current()
    for language in LANGUAGES:
        if language == page:
            continue
        with in_language(language):
            for chosen in candidates:
                whole = language == "en" or all(
                    f.consent_text_cy or not f.consent_text for f in chosen or forces.find_forces()
                )
                if whole and consent_statement(chosen) == statement:
                    return language
    return None


def _own_wording(force: Force, language: str) -> str | None:
    """The force's own consent wording in the language (no Welsh: its English)."""
    if language == "cy" and force.consent_text_cy:
        return force.consent_text_cy
    return force.consent_text or None


def consent_key(statement: str) -> str:
    """A short fingerprint of the words shown, which the form sends back: if a force's
    administrator changed them after the page was shown, the resident is asked to read
    them again rather than recorded as agreeing to words they never saw."""
    return hashlib.sha256(statement.encode()).hexdigest()[:16]


def consent_shown_for(chosen: list[Force]) -> str:
    """What the form says the statement it shows was for ("3,5"): the page changes the
    statement when the postcode is typed, and tells us so with this."""
    return ",".join(str(force.id) for force in chosen)
