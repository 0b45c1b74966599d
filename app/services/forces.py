"""The forces an installation serves (migration 0034), and which one a page is for.

A member of staff works for one force, and sees and reaches only their force's:

- every query of the database session in a signed-in member of staff's request
  (scope_to) reads only their force's staff, teams, templates, alerts, imports, audit
  events, residents' replies and outbox messages (FORCE_OWNED), whatever the query:
  the ORM adds the condition (_scoped, below), so a page that forgets cannot show
  another force's rows, and another force's alert by its id is not found (404);
- residents belong to no force, their places do (migration 0034): an audience reaches
  only its force's places (app/dao/targeting.Audience.force_id);
- the analysts' figures are counted by force.

The public pages are the default force's, or the force whose slug the address names.
A force's public pages (not its feeds) also show the alerts of other forces it agreed
to send to its residents (cross-border alerts, approved and sent to some of them), with
their follow-ups to the same people: its residents got them, and look for them on
their force's pages.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flask import current_app, g, has_app_context
from flask_babel import gettext
from sqlalchemy import and_, event, or_, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from app.dao import forces as forces_dao
from app.dao import places as places_dao
from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import (
    Alert,
    AlertForce,
    AlertTemplate,
    AuditEvent,
    Force,
    Officer,
    OutboxMessage,
    Place,
    Reply,
    ResidentImport,
    Team,
)
from app.services.contacts import ContactRefused, normalise_email
from app.services.text import checked_field, other_alphabet_refusal, without_accents
from app.services.transaction import transaction

# The rows that belong to one force: a member of staff's requests see only their own.
FORCE_OWNED = (
    Officer,
    Team,
    Alert,
    AlertTemplate,
    ResidentImport,
    AuditEvent,
    Reply,
    OutboxMessage,
)


class NoForce(RuntimeError):
    """The installation has no force: its database was not migrated."""


def default_force() -> Force:
    """The installation's default force (its first), once per request."""
    found = g.get("default_force")
    if found is None:
        found = forces_dao.find_default_force()
        if found is None:
            raise NoForce("No force: run the migrations (flask db upgrade).")
        g.default_force = found
    return found


def force_of(officer: Officer | None) -> Force:
    """The officer's force (the default force for no officer: a job, a command)."""
    return default_force() if officer is None else force_by_id(officer.force_id)


def force_id_of(officer: Officer | None) -> int:
    """force_of(officer).id without loading the force again: once a read-only block has
    rolled back, the force of this request is expired, and its id would cost a
    statement."""
    if officer is not None:
        return officer.force_id
    found = g.get("default_force_id")
    if found is None:
        found = g.default_force_id = default_force().id
    return found


def force_by_id(force_id: int) -> Force:
    """A force by its id, once per request."""
    known = g.setdefault("forces_by_id", {})
    if force_id not in known:
        found = forces_dao.find_force(force_id)
        if found is None:
            raise NoForce(f"No force {force_id}.")
        known[force_id] = found
    return known[force_id]


def current_force() -> Force:
    """The force this request is for: the signed-in member of staff's, the one a public
    page's address names (show_public), or the default force."""
    force_id = scope()
    if force_id is None and has_app_context():
        force_id = g.get("public_force_id")
    return default_force() if force_id is None else force_by_id(force_id)


def show_public(force: Force, *, with_approved: bool = False) -> None:
    """This public request is for this force (its pages, its feeds); with_approved: a
    page or feed that also shows the other forces' alerts it approved for its residents
    (a CAP document is its own force's only, under its own sender)."""
    g.public_force_id = force.id
    g.public_with_approved = with_approved


def public_slug() -> str | None:
    """The slug of the force whose public pages this request shows, when it is not the
    default force (whose pages have the plain addresses)."""
    force_id = g.get("public_force_id") if has_app_context() else None
    if force_id is None:
        return None
    force = force_by_id(force_id)
    return None if force.is_default else force.slug


def public_values(alert) -> dict:
    """What url_for needs besides the reference to link to an alert's public page."""
    force = force_by_id(alert.force_id)
    # None, not nothing: from another force's page, a link to the default force's
    # alert must not stay under that page's address.
    return {"force_slug": None} if force.is_default else {"force_slug": force.slug}


@contextmanager
def speaking_for(force_id: int):
    """Within the block, the words that name "the force" (i18n.police, force_name)
    name this one: an alert's messages are its force's, whoever renders them. A worker
    renders every force's in one context, and a Wiltshire alert in both languages was
    signed by Avon and Somerset Police, the default force (an outside check's report
    read again); another force's supervisor reviewing it read their own force's name."""
    before = g.get("speaking_force_id")
    g.speaking_force_id = force_id
    try:
        yield
    finally:
        g.speaking_force_id = before


def current_force_name(language: str = "en") -> str:
    """The current force's name in a language, for every page's heading and messages
    (within speaking_for, that force's); the FORCE_NAME setting when the database
    cannot say (an error page must not fail)."""
    try:
        speaking = g.get("speaking_force_id") if has_app_context() else None
        if speaking is not None:
            return display_name(force_by_id(speaking), language)
        return display_name(current_force(), language)
    except (SQLAlchemyError, NoForce):
        config = current_app.config
        if language == "cy" and config.get("FORCE_NAME_CY"):
            return config["FORCE_NAME_CY"]
        return config["FORCE_NAME"]


def prices(force: Force) -> tuple[float, float]:
    """What a text segment and a call minute cost the force (pounds): its own prices,
    else the installation's settings."""
    config = current_app.config
    sms = force.sms_price_per_segment
    voice = force.voice_price_per_minute
    return (
        float(sms if sms is not None else config["SMS_PRICE_PER_SEGMENT"]),
        float(voice if voice is not None else config["VOICE_PRICE_PER_MINUTE"]),
    )


def area_of(force: Force) -> Place | None:
    """The force's area: the newest boundary of its ONS code (None: not loaded)."""
    return places_dao.find_force(force.code)


def areas() -> list[Place]:
    """The areas a postcode is checked against: the signed-in member of staff's
    force's; on a public page, a job or a command, every force's (a resident registers
    once, for whichever forces cover their places). Forces without a loaded boundary
    are left out."""
    if scope() is None:
        return areas_of_every_force()
    area = area_of(current_force())
    return [] if area is None else [area]


def areas_of_every_force() -> list[Place]:
    """Every force's area, whoever asks (the loaded ones)."""
    return [area for area in (area_of(force) for force in find_forces()) if area is not None]


# A force's example postcode, by force id: the same for the life of the process.
_EXAMPLES: dict[int, str] = {}


def example_postcode(force: Force | None = None) -> str:
    """A postcode of the force's (the current force's) area for its pages' hints:
    Wiltshire's sign-up page gave a Bristol postcode as its example. BS1 6AD when the
    force's area is not loaded."""
    force = force or current_force()
    if force.id not in _EXAMPLES:
        area = area_of(force)
        found = places_dao.find_postcode_nearest_middle(area) if area is not None else None
        if found is None:
            return "BS1 6AD"
        _EXAMPLES[force.id] = found
    return _EXAMPLES[force.id]


def force_named(slug: str) -> Force | None:
    return forces_dao.find_force_by_slug(slug)


def find_forces() -> list[Force]:
    return forces_dao.find_forces()


def display_name(force: Force, language: str = "en") -> str:
    """The force's name in the page's language."""
    if language == "cy" and force.name_cy:
        return force.name_cy
    return force.name


def scope_to(force_id: int) -> None:
    """From now until the request ends, the session reads only this force's rows."""
    g.force_scope = force_id


@contextmanager
def scoped(force_id: int):
    """As scope_to, until the block ends (a job working for one force)."""
    kept = scope()
    g.force_scope = force_id
    try:
        yield
    finally:
        if kept is None:
            g.pop("force_scope", None)
        else:
            g.force_scope = kept


@contextmanager
def unscoped():
    """Every force's rows, for what is one across the installation: whether an e-mail
    address has an account anywhere."""
    kept = scope()
    g.pop("force_scope", None)
    try:
        yield
    finally:
        if kept is not None:
            g.force_scope = kept


def scope() -> int | None:
    """The force this request is scoped to (None: a public page, a job, a command)."""
    return g.get("force_scope") if has_app_context() else None


@event.listens_for(Session, "do_orm_execute")
def _scoped(state: ORMExecuteState) -> None:
    force_id = scope()
    if force_id is None or state.is_column_load or state.is_relationship_load:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        *(
            with_loader_criteria(owned, _owned_by(owned, force_id), include_aliases=True)
            for owned in FORCE_OWNED
        )
    )


def _owned_by(owned, force_id: int):
    """The condition for a force's rows of a table; on a public page, a force's alerts
    are also those it agreed to send its residents (and their follow-ups to the same
    people, which reached them too)."""
    if (
        owned is not Alert
        or g.get("public_force_id") != force_id
        or not g.get("public_with_approved")
    ):
        return owned.force_id == force_id
    sent_here = select(AlertForce.alert_id).where(
        AlertForce.force_id == force_id,
        AlertForce.status == "approved",
        AlertForce.residents > 0,
    )
    return or_(
        Alert.force_id == force_id,
        Alert.id.in_(sent_here),
        and_(Alert.audience == "parent", Alert.parent_id.in_(sent_here)),
    )


# --- adding a force -----------------------------------------------------------------


class ForceRefused(ValueError):
    """A force we cannot add as given: the message says what to change."""


CODE = re.compile(r"^E23[0-9]{6}$|^W15[0-9]{6}$")
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# "Police" / "Heddlu" are added to the name wherever it is shown ("Wiltshire Police",
# "Heddlu Wiltshire"); how two names compare once those and punctuation are set aside.
_POLICE_WORDS = {"police", "heddlu", "constabulary"}


_ENDS_IN_POLICE = re.compile(r"[\s,]*\b(police|constabulary)\W*$", re.IGNORECASE)


def _plain_name(name: str) -> str:
    """A force's name as two names are compared: its letters' case, "&", punctuation
    and the words every force has set aside.

    >>> _plain_name("Heddlu  Dyfed-Powys") == _plain_name("dyfed powys police")
    True
    >>> _plain_name("Avon and Sómerset") == _plain_name("Avon and Somerset")
    True
    """
    # Accents aside too: "Sómerset" passed as a name of its own (an outside check).
    bare = without_accents(name)
    words = re.sub(r"[^\w]+", " ", bare.casefold().replace("&", " and ")).split()
    return " ".join(word for word in words if word not in _POLICE_WORDS)


def name_refusal(name: str, name_cy: str | None, force_id: int | None) -> dict[str, str]:
    """What is wrong with these names for this force (None: a new one), by field: the
    word the pages add themselves, or another force's name in other words (its staff
    would be told "X Police ask you…" by a force that is not X)."""
    errors = {}
    for field, value, label in (
        ("name", name, gettext("The name")),
        ("name_cy", name_cy, gettext("The Welsh name")),
    ):
        if value and (refused := other_alphabet_refusal(value, label)):
            errors[field] = refused
    for other in forces_dao.find_forces():
        if other.id == force_id:
            continue
        theirs = {_plain_name(other.name), _plain_name(other.name_cy or "")} - {""}
        for field, value in (("name", name), ("name_cy", name_cy)):
            if value and field not in errors and _plain_name(value) in theirs:
                errors[field] = gettext(
                    "%(name)s is another force's name (%(other)s).", name=value, other=other.name
                )
    if name and "name" not in errors and (ending := _ENDS_IN_POLICE.search(name)):
        bare, word = name[: ending.start()], ending.group(1).capitalize()
        errors["name"] = (
            gettext(
                "Give the name without “Police”: pages and messages add it (“%(bare)s Police”).",
                bare=bare,
            )
            if word == "Police"
            else gettext(
                "Give the name without “%(word)s”: pages and messages add “Police” "
                "(“%(bare)s Police”).",
                word=word,
                bare=bare,
            )
        )
    if name_cy and "name_cy" not in errors and re.match(r"^\W*heddlu\b", name_cy, re.I):
        errors["name_cy"] = gettext("Give the Welsh name without “Heddlu”: Welsh pages add it.")
    return errors


def slug_for(name: str) -> str:
    """ "Avon and Somerset" -> "avon-and-somerset"; accents go ("Ynys Môn" -> "ynys-mon").

    >>> slug_for("Ynys Môn"), slug_for("Farm  Wátch!")
    ('ynys-mon', 'farm-watch')
    """
    bare = without_accents(name)
    return "-".join("".join(c if c.isalnum() else " " for c in bare.lower()).split())


def add_force(
    *,
    code: str,
    name: str,
    contact: str,
    slug: str | None = None,
    name_cy: str | None = None,
    website: str | None = None,
    contact_cy: str | None = None,
) -> tuple[Force, int]:
    """A new force of the installation, and how many residents' places are now its own
    (they were the nearest force's until its area was known). Its area must be loaded
    first (`flask geo load-places --kind force`). Raises ForceRefused."""
    code = (code or "").strip().upper()
    name = " ".join((name or "").split())
    slug = slug or slug_for(name)
    if not CODE.match(code):
        raise ForceRefused(
            f"{code or 'The code'} is not a police force area code: ONS gives each force "
            "one like E23000038 (W15… in Wales)."
        )
    if not name or len(name) > 100:
        raise ForceRefused("Give the force's name, as the public know it (at most 100 characters).")
    if not SLUG.match(slug) or len(slug) > 60:
        raise ForceRefused(
            "The slug is for its web addresses: lower-case letters, digits, hyphens."
        )
    with transaction():
        if forces_dao.find_force_by_code(code) is not None:
            raise ForceRefused(f"There is already a force with the code {code}.")
        if forces_dao.find_force_by_slug(slug) is not None:
            raise ForceRefused(f"There is already a force at /forces/{slug}: choose another slug.")
        if refused := name_refusal(name, name_cy, None):
            raise ForceRefused(" ".join(refused.values()))
        if places_dao.find_force(code) is None:
            raise ForceRefused(
                f"No boundary is loaded for {code}: load it first with "
                "`flask geo load-places --kind force --code-property pfa_code "
                "--name-property pfa_name --release <release> <file>`."
            )
        force = Force(
            code=code,
            slug=slug,
            name=name,
            name_cy=(name_cy or "").strip() or None,
            contact=" ".join((contact or "").split()),
            contact_cy=" ".join((contact_cy or "").split()) or None,
            website=(website or "").strip() or None,
        )
        db.session.add(force)
        db.session.flush()
        moved = _reassign()
        create_audit_event(
            "force.added",
            actor_id=None,
            subject_type="force",
            subject_id=force.id,
            details={"code": code, "name": name, "places_moved": moved},
        )
    return force, moved


def reassign_places() -> int:
    """Every resident's place given its force again (after a force's area is reloaded),
    in one transaction: how many moved. Raises ForceRefused when residents kept
    changing too long for it to start, or it met one of their changes."""
    with transaction():
        return _reassign()


def _reassign() -> int:
    try:
        return forces_dao.reassign_location_forces(
            current_app.config["FORCE_REASSIGN_WAIT_SECONDS"]
        )
    except OperationalError as error:
        # 55P03: no pause in residents' changes for minutes; 40P01: a deadlock with one.
        if getattr(error.orig, "sqlstate", None) not in ("55P03", "40P01"):
            raise
        raise ForceRefused(
            "Residents' places could not be given their force just now: residents kept "
            "changing their details. Try again at a quieter time (flask forces reassign)."
        ) from None


# --- a force's details, as its administrator changes them ----------------------------


class ForceDetailsInvalid(ValueError):
    """The details cannot be saved as given; `errors` maps each field to what to fix."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# The fields an administrator may change, in the form's order. The code (its boundary)
# and the slug (its public addresses) are set when the force is added.
DETAILS = (
    "name",
    "name_cy",
    "contact",
    "contact_cy",
    "website",
    "cap_sender",
    "consent_text",
    "consent_text_cy",
    "sms_price",
    "voice_price",
)
# The form's fields as the forces table names them.
DETAIL_COLUMNS = tuple(
    {"sms_price": "sms_price_per_segment", "voice_price": "voice_price_per_minute"}.get(f, f)
    for f in DETAILS
)
MAX_PRICE = Decimal("10")


def details_form(force: Force) -> dict[str, str]:
    """The force's details as the form shows them."""

    def shown(value) -> str:
        return "" if value is None else str(value)

    return {
        "name": force.name,
        "name_cy": shown(force.name_cy),
        "contact": force.contact,
        "contact_cy": shown(force.contact_cy),
        "website": shown(force.website),
        "cap_sender": shown(force.cap_sender),
        "consent_text": shown(force.consent_text),
        "consent_text_cy": shown(force.consent_text_cy),
        "sms_price": shown(force.sms_price_per_segment),
        "voice_price": shown(force.voice_price_per_minute),
    }


def change_force_details(admin: Officer, form: dict[str, str]) -> tuple[Force, list[str]]:
    """Save the administrator's own force's details; (the force, the fields changed),
    each change an audit event. The consent wording applies to residents who sign up
    from then on (each resident keeps the words they agreed to). Raises
    ForceDetailsInvalid with every mistake at once."""
    errors: dict[str, str] = {}
    name = checked_field(errors, "name", form.get("name"), gettext("The name"), max_length=100)
    if not name and "name" not in errors:
        errors["name"] = gettext("Give the force's name, as the public know it.")
    name_cy = checked_field(
        errors, "name_cy", form.get("name_cy"), gettext("The Welsh name"), max_length=100
    )
    contact = checked_field(
        errors, "contact", form.get("contact"), gettext("How the public reach you"), max_length=200
    )
    if not contact and "contact" not in errors:
        errors["contact"] = gettext(
            "Say how the public reach you, e.g. Call 101, or 999 in an emergency."
        )
    contact_cy = checked_field(
        errors,
        "contact_cy",
        form.get("contact_cy"),
        gettext("How the public reach you in Welsh"),
        max_length=200,
    )
    website = _website(errors, form.get("website"))
    cap_sender = _cap_sender(errors, form.get("cap_sender"))
    consent = checked_field(
        errors,
        "consent_text",
        form.get("consent_text"),
        gettext("The consent wording"),
        max_length=1000,
        multiline=True,
    )
    consent_cy = checked_field(
        errors,
        "consent_text_cy",
        form.get("consent_text_cy"),
        gettext("The Welsh consent wording"),
        max_length=1000,
        multiline=True,
    )
    if consent_cy and not consent and "consent_text" not in errors:
        errors["consent_text"] = gettext(
            "Give the consent wording in English too: residents who read English agree to it."
        )
    sms = _price(errors, "sms_price", form.get("sms_price"), gettext("A text message part"))
    voice = _price(errors, "voice_price", form.get("voice_price"), gettext("A minute of a call"))
    if errors:
        raise ForceDetailsInvalid(errors)
    with transaction():
        force = db.session.get(Force, admin.force_id, with_for_update=True)
        refused = name_refusal(name, name_cy, force.id)
        if cap_sender and (taken := _cap_sender_of_another(cap_sender, force.id)):
            # Its CAP documents would read as that force's (an outside check).
            refused["cap_sender"] = gettext(
                "%(sender)s is another force's CAP sender (%(other)s): give your own "
                "force's address.",
                sender=cap_sender,
                other=taken.name,
            )
        if refused:
            raise ForceDetailsInvalid(refused)
        wanted = {
            "name": name,
            "name_cy": name_cy or None,
            "contact": contact,
            "contact_cy": contact_cy or None,
            "website": website,
            "cap_sender": cap_sender,
            "consent_text": consent or None,
            "consent_text_cy": consent_cy or None,
            "sms_price_per_segment": sms,
            "voice_price_per_minute": voice,
        }
        changed = [key for key, value in wanted.items() if getattr(force, key) != value]
        # What each was and became: an audit that says only the new wording cannot
        # say what residents had agreed to before, or what a price was.
        details = {
            key: {"from": _for_log(getattr(force, key)), "to": _for_log(wanted[key])}
            for key in changed
        }
        for key in changed:
            setattr(force, key, wanted[key])
        if changed:
            create_audit_event(
                "force.changed",
                actor_id=admin.id,
                subject_type="force",
                subject_id=force.id,
                details=details,
            )
    g.pop("forces_by_id", None)
    g.pop("default_force", None)
    g.pop("default_force_id", None)
    return force, changed


def _for_log(value):
    return str(value) if isinstance(value, Decimal) else value


def _website(errors: dict[str, str], value: object) -> str | None:
    text = checked_field(errors, "website", value, gettext("The website"), max_length=200)
    if not text:
        return None
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:  # "https://[": not an address at all
        hostname = None
    if hostname is None or parts.scheme != "https" or any(c.isspace() for c in text):
        errors["website"] = gettext("Give the website's full address, starting https://")
        return None
    return text


def cap_sender_of(force: Force) -> str:
    """The sender the force's CAP documents name: its own, else one of this site's
    host made for it."""
    host = urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "localhost"
    return force.cap_sender or (
        f"alerts@{host}" if force.is_default else f"alerts-{force.slug}@{host}"
    )


def _cap_sender_of_another(sender: str, force_id: int) -> Force | None:
    """The other force whose CAP documents name this sender, its own or the one made
    for it (a force took the neighbour's made one: an outside re-check)."""
    return next(
        (
            other
            for other in forces_dao.find_forces()
            if other.id != force_id and cap_sender_of(other).casefold() == sender.casefold()
        ),
        None,
    )


def _cap_sender(errors: dict[str, str], value: object) -> str | None:
    text = checked_field(errors, "cap_sender", value, gettext("The CAP sender"), max_length=254)
    if not text:
        return None
    try:
        return normalise_email(text)
    except ContactRefused as refusal:
        errors["cap_sender"] = gettext(
            "The CAP sender is an e-mail address. %(refusal)s", refusal=refusal
        )
        return None


def _price(errors: dict[str, str], key: str, value: object, label: str) -> Decimal | None:
    text = checked_field(errors, key, value, label, max_length=20).lstrip("£").strip()
    if not text:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or not 0 <= price <= MAX_PRICE:
        errors[key] = gettext(
            "%(label)s: pounds, like 0.04, from 0 to %(most)s.", label=label, most=MAX_PRICE
        )
        return None
    if price.as_tuple().exponent < -4:
        errors[key] = gettext("%(label)s: at most 4 decimal places, like 0.0375.", label=label)
        return None
    return price + 0  # "-0" is 0, never "-0" in the audit log
