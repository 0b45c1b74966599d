"""Words people type or other systems give us: what shows nothing is refused or
dropped, whatever it is made of (app/services/text.py)."""

from __future__ import annotations

import pytest

from app.services.text import TextRefused, checked_text, shown_text

# Found by an outside check: each passed every form's check, and a title and message
# of them went out to six residents as a live alert.
SHOW_NOTHING = [
    "\u3164\u3164\u3164",  # Hangul filler
    "\u115f",  # Hangul choseong filler
    "\uffa0",  # half-width Hangul filler
    "\u2800\u2800",  # blank Braille cell
    "\u0301\u0301",  # accents with nothing to sit on
    "\ufe0f\ufe0f",  # emoji variation selectors alone
    " \u3164 \u2800 ",
]


@pytest.mark.parametrize("nothing", SHOW_NOTHING)
def test_words_that_show_nothing_are_refused_and_other_systems_give_none(app_ctx, nothing):
    with pytest.raises(TextRefused, match="only invisible characters"):
        checked_text(nothing, "The title")
    assert shown_text(nothing, max_length=80) == ""


def test_a_number_of_invisible_characters_is_asked_for_again_not_for_words(app_ctx):
    """Found by an outside check: a postcode or phone number of invisible characters
    was told "Type some words"."""
    for label in ("The postcode", "The phone number", "The title"):
        with pytest.raises(TextRefused) as refused:
            checked_text("\u200b\u2060", label)
        assert str(refused.value).endswith("Type it again.") and "words" not in str(refused.value)


def test_characters_of_no_width_inside_words_are_dropped_but_emoji_and_flags_kept(app_ctx):
    # Direction marks, TAG letters and annotation marks were stored inside names.
    assert checked_text("PC \u200eMark", "Your name") == "PC Mark"
    assert checked_text("PC Tags\U000e0041", "Your name") == "PC Tags"
    assert checked_text("PC\ufff9X", "Your name") == "PCX"
    assert checked_text("Soft\u00adhyphen", "Your name") == "Softhyphen"
    # A family emoji's joiners and Wales's flag (a black flag and its tags) stay.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    wales = "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"
    assert checked_text(f"Hwyl {wales} {family}", "The message") == f"Hwyl {wales} {family}"
    # What turns text around is still refused, and said.
    with pytest.raises(TextRefused, match="U\\+202E"):
        checked_text("\u202eBurglary", "The title")


def test_an_alert_that_shows_nothing_is_refused_and_nothing_is_sent(officer_client):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Alert

    answer = officer_client.post(
        "/officers/alerts",
        json={
            "shapes": [{"kind": "circle", "center": [-2.58823, 51.45197], "radius_m": 300}],
            "title": "\u3164\u3164\u3164",
            "body": "\u2800\u2800\u2800",
        },
    )
    assert answer.status_code == 400
    assert "only invisible characters" in str(answer.json)
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
