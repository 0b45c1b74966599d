"""Is this a postcode we can send alerts for? Every refusal says why, in plain words."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from babel.dates import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError

from app.dao import places as places_dao
from app.i18n import current, gettext
from app.models import Force, Place, Postcode
from app.services import forces
from app.services.text import TextRefused, checked_text, without_direction_marks
from geo import postcodes
from geo.names import reading_order


# The places whose postcodes are not in Great Britain (geo.postcodes
# OUTSIDE_GREAT_BRITAIN) and who polices each, to tell a resident there where to turn
# instead, in the page's language (a Welsh page said "yn Northern Ireland … â the
# Police Service of Northern Ireland": an outside check). "In" the place is a phrase of
# its own: Welsh mutates the name after "yn" (yng Ngogledd Iwerddon).
class OutsidePlace(NamedTuple):
    name: str
    in_it: str
    police: str


POLICE_OUTSIDE_GREAT_BRITAIN = {
    "BT": OutsidePlace(
        _l("Northern Ireland"),
        _l("in Northern Ireland"),
        _l("the Police Service of Northern Ireland"),
    ),
    "GY": OutsidePlace(
        _l("the Bailiwick of Guernsey"),
        _l("in the Bailiwick of Guernsey"),
        _l("Guernsey Police (Bailiwick of Guernsey Law Enforcement)"),
    ),
    "JE": OutsidePlace(_l("Jersey"), _l("in Jersey"), _l("the States of Jersey Police")),
    "IM": OutsidePlace(
        _l("the Isle of Man"), _l("in the Isle of Man"), _l("the Isle of Man Constabulary")
    ),
}


def terminated_refusal(shown: str, terminated_on) -> PostcodeRefused:
    """A postcode Royal Mail no longer uses, and since when."""
    return PostcodeRefused(
        gettext(
            "%(shown)s is no longer in use: Royal Mail stopped using it in %(month)s. "
            "Use the postcode on a recent letter.",
            shown=shown,
            month=format_date(terminated_on, "MMMM y", locale=current()),
        ),
        reason="terminated",
    )


class PostcodeRefused(ValueError):
    """A postcode we cannot use: `reason` for programs, the message for people.

    Reasons: invalid, outside_great_britain, unknown, terminated, no_location,
    outside_force, not_configured.
    """

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class CheckedPostcode:
    postcode: Postcode
    place_names: dict[str, str]
    in_force: bool | None  # None: nothing in the data says where it is
    # The forces whose areas hold it: who can message a resident there.
    covering: list[Force] = field(default_factory=list)

    @property
    def force_names(self) -> list[str]:
        """Their names, in the page's language."""
        from app.i18n import current

        return [forces.display_name(force, current()) for force in self.covering]

    @property
    def description(self) -> str:
        """'Central ward, City of Bristol', to show back to the resident (in Welsh,
        'ward Central, City of Bristol')."""
        parts = []
        if "ward" in self.place_names:
            parts.append(gettext("%(name)s ward", name=self.place_names["ward"]))
        if "district" in self.place_names:
            parts.append(reading_order(self.place_names["district"]))
        return ", ".join(parts)


def _example() -> str:
    """The force's own example postcode, as its pages' hints give (a Bath hint above
    a Bristol example in the error: an outside check); BS1 6AD when none can be read."""
    try:
        return forces.example_postcode()
    except (SQLAlchemyError, forces.NoForce):  # an example is only an example
        return "BS1 6AD"


def check_postcode(text: str | None, *, require_in_force: bool = True) -> CheckedPostcode:
    """The postcode, known, in use, located and (by default) inside the force area.

    Raises PostcodeRefused with a message that says what to do.
    """
    key = postcode_key(text)
    areas = forces.areas()
    postcode, in_force = _check_found(
        key, places_dao.find_postcode(key), areas, require_in_force=require_in_force
    )
    return CheckedPostcode(
        postcode=postcode,
        place_names=places_dao.find_place_names_at(postcode),
        in_force=in_force,
        covering=_covering(postcode, areas) if in_force else [],
    )


def _covering(postcode: Postcode, areas: list[Place]) -> list[Force]:
    """The forces whose areas hold the postcode."""
    by_code = {force.code: force for force in forces.find_forces()}
    return [
        by_code[area.code]
        for area in areas
        if area.code in by_code and places_dao.is_postcode_in_force(postcode, area)
    ]


def check_postcodes(texts: Iterable[str]) -> dict[str, Postcode | PostcodeRefused]:
    """Many postcodes at once (an import), each the postcode inside the force or the
    refusal check_postcode would give, keyed by the text as given. A few queries for
    any number of postcodes, where check_postcode makes several for each."""
    areas = forces.areas()
    keys: dict[str, str | PostcodeRefused] = {}
    for text in set(texts):
        try:
            keys[text] = postcode_key(text)
        except PostcodeRefused as refusal:
            keys[text] = refusal
    wanted = sorted({k for k in keys.values() if isinstance(k, str)})
    found = {}
    for start in range(0, len(wanted), 5_000):
        found.update(places_dao.find_postcodes(wanted[start : start + 5_000]))
    results: dict[str, Postcode | PostcodeRefused] = {}
    for text, key in keys.items():
        if isinstance(key, PostcodeRefused):
            results[text] = key
            continue
        try:
            results[text] = _check_found(key, found.get(key), areas, require_in_force=True)[0]
        except PostcodeRefused as refusal:
            results[text] = refusal
    return results


def postcode_key(text: str | None) -> str:
    """The compact form of a typed postcode, when it is one we could hold.

    Everything that needs no lookup: refuses empty text, control characters (give it
    the text as typed, so a NUL or line break is refused, as on every other form field,
    rather than quietly dropped), text that is not a postcode, and postcodes outside
    Great Britain. Raises PostcodeRefused.
    """
    if not postcodes.canonical(text):
        # Nothing but spaces, line breaks or invisible characters: nothing typed.
        raise PostcodeRefused(
            gettext("Enter a postcode, for example %(example)s.", example=_example()),
            reason="invalid",
        )
    refuse_control_characters(without_direction_marks(text), gettext("The postcode"))
    key = postcodes.canonical(text)
    if re.match(r"BF(PO|\d)", key.replace(".", "")):
        # A forces family read "not a postcode" as a typing mistake (an outside check).
        raise PostcodeRefused(
            gettext(
                "British Forces Post Office (BFPO) addresses are not covered. Sign up with "
                "a postcode in Great Britain where you want alerts, such as your home's."
            ),
            reason="invalid",
        )
    if not postcodes.is_valid(key):
        shown = text.strip()[:20]
        raise PostcodeRefused(
            gettext(
                "“%(shown)s” is not a postcode. A postcode looks like %(example)s.",
                shown=shown,
                example=_example(),
            ),
            reason="invalid",
        )
    refusal = outside_great_britain(postcodes.display(key))
    if refusal:
        raise refusal
    return key


def refuse_control_characters(text: str, label: str) -> None:
    """PostcodeRefused naming the character when the text holds a control character."""
    try:
        checked_text(text, label)
    except TextRefused as refusal:
        raise PostcodeRefused(str(refusal), reason="invalid") from None


def outside_great_britain(shown: str) -> PostcodeRefused | None:
    """The refusal for a postcode or outward code outside Great Britain, or None. It
    says which police service covers it, so the resident knows where to turn."""
    if postcodes.outside_great_britain(shown) is None:
        return None
    place = POLICE_OUTSIDE_GREAT_BRITAIN[postcodes.area(shown)]
    return PostcodeRefused(
        gettext(
            "%(shown)s is %(in_place)s. This service only covers postcodes in Great "
            "Britain (England, Scotland and Wales), so we can't send alerts for it. For "
            "alerts %(in_place)s, contact %(police)s.",
            shown=shown,
            in_place=str(place.in_it),
            police=str(place.police),
        ),
        reason="outside_great_britain",
    )


def no_location_message(shown: str) -> str:
    return gettext(
        "%(shown)s has no location in the postcode data, so we can't place it on the map "
        "or tell which alerts are for it. Use the postcode of a neighbour's address.",
        shown=shown,
    )


def _check_found(
    key: str, postcode: Postcode | None, areas: list[Place], *, require_in_force: bool
) -> tuple[Postcode, bool | None]:
    """The postcode found for a key, and whether it is in one of the forces' areas
    (forces.areas: the signed-in member of staff's force, or on a public page every
    force of the installation); or the refusal."""
    shown = postcodes.display(key)
    if postcode is None:
        if not places_dao.holds_postcode_area(postcodes.area(key)):
            # Not a postcode we lack, but a part of the country we do not hold (only
            # the forces' areas and around them are loaded): say so, not "check it".
            raise PostcodeRefused(
                gettext(
                    "We can't find %(shown)s. This service only holds postcodes in and "
                    "around the areas of the police forces that use it. If you live "
                    "elsewhere, ask your local police force about its alerts. If "
                    "%(shown)s is mistyped, correct it.",
                    shown=shown,
                ),
                reason="unknown",
            )
        raise PostcodeRefused(
            gettext(
                "We can't find %(shown)s. Check it is typed correctly. If it is a new "
                "postcode, use the postcode of a neighbour's address.",
                shown=shown,
            ),
            reason="unknown",
        )
    if postcode.terminated_on is not None:
        raise terminated_refusal(shown, postcode.terminated_on)
    if postcode.location is None and not postcode.admin_district_code:
        # Code-Point's "no coordinates" rows carry no district either: nothing says
        # where the postcode is, so it is not "outside" anything; it just can't be placed.
        if require_in_force:
            raise PostcodeRefused(no_location_message(shown), reason="no_location")
        return postcode, None
    # With a district but no point, the district still tells inside from outside.
    in_force = _in_force(postcode, shown, areas, require=require_in_force)
    if postcode.location is None and require_in_force:
        raise PostcodeRefused(no_location_message(shown), reason="no_location")
    return postcode, in_force


def _in_force(postcode: Postcode, shown: str, areas: list[Place], *, require: bool) -> bool:
    if not areas:
        # Without the force's boundary we cannot tell who is ours: refuse rather than
        # accept everyone. `flask geo load-places --kind force` fixes it.
        if require:
            raise PostcodeRefused(
                gettext("We can't check postcodes at the moment. Please try again later."),
                reason="not_configured",
            )
        return False
    inside = any(places_dao.is_postcode_in_force(postcode, area) for area in areas)
    if require and not inside:
        district = places_dao.find_district(postcode.admin_district_code)
        # Each force as the page names it ("Heddlu Avon a Gwlad yr Haf" in Welsh), not
        # its boundary's English name.
        by_code = {force.code: force for force in forces.find_forces()}
        names = {
            "shown": shown,
            "district": district.name if district else "",
            "forces": gettext(" or ").join(
                gettext(
                    "%(name)s Police",
                    name=forces.display_name(by_code[area.code], current())
                    if area.code in by_code
                    else area.name,
                )
                for area in areas
            ),
        }
        one = len(areas) == 1
        if district and one:
            words = gettext(
                "%(shown)s is in %(district)s, outside the area %(forces)s covers.", **names
            )
        elif district:
            words = gettext(
                "%(shown)s is in %(district)s, outside the area %(forces)s cover.", **names
            )
        elif one:
            words = gettext("%(shown)s is outside the area %(forces)s covers.", **names)
        else:
            words = gettext("%(shown)s is outside the area %(forces)s cover.", **names)
        raise PostcodeRefused(
            words + " " + gettext("Your local police force can tell you about alerts there."),
            reason="outside_force",
        )
    return inside
