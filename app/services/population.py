"""The ward population estimates' own words: how a load describes them and whose they
are, as penetration (which loads them) and the reports (which cite them) say it."""

from __future__ import annotations

from flask_babel import gettext

POPULATION_ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
)


def standard_description(year: int) -> str:
    """How a load of ONS's estimates for `year` describes them (kept in its summary)."""
    return f"ONS mid-{year} ward population estimates"


def attribution_shown(attribution: str) -> str:
    """The population's attribution in the page's language when it is ONS's own words
    (they were English on Welsh pages: an outside check); a force's own, as loaded."""
    if attribution == POPULATION_ATTRIBUTION:
        return gettext(
            "Source: Office for National Statistics licensed under the Open Government "
            "Licence v.3.0"
        )
    return attribution
