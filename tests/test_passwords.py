"""The password policy (NCSC): long enough, not a common or breached one, not the
person's own name or address; no composition rules. Applied wherever a password is
set."""

from __future__ import annotations

import unicodedata

import pytest

from app.services.passwords import PasswordRefused, check_password_policy, common_passwords


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 12 characters"),
        ("short", "at least 12 characters"),
        ("elevenchars", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        ("qwerty123456", "attackers try first"),  # in the shipped list as it is
        ("1qaz2wsx3edc", "attackers try first"),
        ("Password1234!", "attackers try first"),  # a listed one with digits added
        ("!!SUNSHINE2024", "attackers try first"),
        ("monkeymonkey", "attackers try first"),  # a listed one twice
        ("aaaaaaaaaaaaaaaa", "attackers try first"),
        ("abababababab", "attackers try first"),
        ("jane.smith@police.example", "your name or e-mail"),
        ("Jane Smith 2026!", "your name or e-mail"),
        ("janesmith-1234", "your name or e-mail"),
        ("long enough but \x00 with a NUL", "cannot be typed"),
        ("long enough\u200bwith a hidden space", "cannot be typed"),
    ],
)
def test_each_refusal_says_what_to_do(password, message):
    with pytest.raises(PasswordRefused, match=message):
        check_password_policy(password, email="jane.smith@police.example", name="Jane Smith")


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "twelve chars",  # exactly 12, no digits or symbols needed
        "ÉTÉ à la plage près de Saint-Malo",
        "日本語のとても長いパスワードです",
        ("stone river lamp " * 16)[:256],  # 256: the longest accepted
    ],
)
def test_long_uncommon_passwords_pass_without_composition_rules(password):
    assert check_password_policy(password, email="pc@police.example", name="PC Jones")


def test_the_list_is_the_one_zxcvbn_ships_and_unicode_is_compared_composed():
    assert len(common_passwords()) == 30_000
    decomposed = unicodedata.normalize("NFD", "café au lait sur la table")
    assert check_password_policy(decomposed) == unicodedata.normalize(
        "NFC", "café au lait sur la table"
    )


def test_the_command_line_applies_the_policy(make_officer, runner):
    result = runner.invoke(
        args=[
            "officers",
            "create",
            "--email",
            "new@police.example",
            "--name",
            "New Person",
            "--role",
            "officer",
        ],
        input="qwerty123456\nqwerty123456\n",
    )
    assert result.exit_code != 0 and "attackers try first" in result.output
    officer = make_officer()
    result = runner.invoke(
        args=["officers", "set-password", "--email", officer.email],
        input="password1234\npassword1234\n",
    )
    assert result.exit_code != 0 and "attackers try first" in result.output
    ok = runner.invoke(
        args=[
            "officers",
            "create",
            "--email",
            "new@police.example",
            "--name",
            "New Person",
            "--role",
            "officer",
        ],
        input="a kettle on the hob\na kettle on the hob\n",
    )
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(
        args=["officers", "create", "--email", "NEW@police.example", "--name", "X"]
        + ["--role", "officer"],
        input="a kettle on the hob\na kettle on the hob\n",
    )
    assert again.exit_code != 0 and "already an account" in again.output
    assert "shell's history" not in ok.output  # asked for: nothing to warn of
    typed = runner.invoke(
        args=["officers", "create", "--email", "typed@police.example", "--name", "T"]
        + ["--role", "officer", "--password", "a kettle on the hob"],
    )
    assert typed.exit_code == 0, typed.output
    assert "stays in your shell's history" in typed.stderr


def test_passwords_are_hashed_with_argon2s_recommended_parameters_outside_the_tests(
    app, app_ctx, make_officer, monkeypatch
):
    """The tests hash with argon2's cheapest parameters (PASSWORD_HASH_CHEAPEST, set by
    TestingConfig alone); every other configuration with its recommended ones, and an
    account's hash made otherwise is made so again at its next sign-in."""
    from app.config import Config, ProductionConfig
    from app.extensions import db
    from app.services.accounts import check_password
    from tests.factories import PASSWORDS

    assert not getattr(Config, "PASSWORD_HASH_CHEAPEST", False)
    assert not getattr(ProductionConfig, "PASSWORD_HASH_CHEAPEST", False)
    officer = make_officer(email="hash@example.police.uk")
    assert "m=8,t=1,p=1" in officer.password_hash  # the tests' own
    monkeypatch.setitem(app.config, "PASSWORD_HASH_CHEAPEST", False)
    assert check_password(officer.email, PASSWORDS["officer"]).id == officer.id
    db.session.refresh(officer)
    assert "m=65536,t=3,p=4" in officer.password_hash
