"""Is this a postcode we can send alerts for? Every refusal says why, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.dao import places as places_dao
from app.models import Postcode
from geo import postcodes


class PostcodeRefused(ValueError):
    """A postcode we cannot use, with a message for the person who typed it."""


@dataclass
class CheckedPostcode:
    postcode: Postcode
    place_names: dict[str, str]

    @property
    def description(self) -> str:
        """ "Ashley ward, Bristol, City of" for showing back to the resident."""
        parts = []
        if "ward" in self.place_names:
            parts.append(f"{self.place_names['ward']} ward")
        if "district" in self.place_names:
            parts.append(self.place_names["district"])
        return ", ".join(parts)


def check_postcode(text: str | None) -> CheckedPostcode:
    """The postcode, known, located and inside the force area. Raises PostcodeRefused."""
    if not (text or "").strip():
        raise PostcodeRefused("Enter a postcode, for example BS1 6AD.")
    key = postcodes.canonical(text)
    if not postcodes.is_valid(key):
        shown = text.strip()[:20]
        raise PostcodeRefused(
            f"“{shown}” is not a postcode. A postcode looks like BS1 6AD or TA1 1AA."
        )
    shown = postcodes.display(key)
    postcode = places_dao.find_postcode(key)
    if postcode is None:
        raise PostcodeRefused(
            f"We can't find {shown}. Check it is typed correctly. If it is a new postcode, "
            "use the postcode of a neighbour's address."
        )
    if postcode.location is None:
        raise PostcodeRefused(
            f"{shown} has no location in the postcode data, so we can't tell which alerts "
            "are for it. Use the postcode of a neighbour's address."
        )
    force_name = current_app.config["FORCE_NAME"]
    force = places_dao.find_force(current_app.config["FORCE_CODE"])
    if force is not None and not places_dao.is_postcode_in_force(postcode, force):
        district = places_dao.find_district(postcode.admin_district_code)
        where = f" is in {district.name}," if district else " is"
        raise PostcodeRefused(
            f"{shown}{where} outside the area {force_name} Police covers. "
            "Your local police force can tell you about alerts there."
        )
    return CheckedPostcode(postcode=postcode, place_names=places_dao.find_place_names_at(postcode))
