"""The password policy for staff accounts (NCSC): long enough, not one attackers try
first, not the person's own name or address. No composition rules.

Applied wherever a password is set: the command line, an invitation, a reset link.
The list of common and breached passwords is the one the zxcvbn package ships
(30,000 entries, no network call)."""

from __future__ import annotations

import functools
import re
import unicodedata

from flask_babel import gettext

MIN_LENGTH = 12
# Long passphrases are welcome; this only keeps a pasted page out of the hasher.
MAX_LENGTH = 256


class PasswordRefused(ValueError):
    """A password the policy refuses, with what to do instead; `field` is the form's
    box at fault ("password", or "confirm" for a second typing that differs)."""

    def __init__(self, message: str, field: str = "password"):
        super().__init__(message)
        self.field = field


@functools.cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def normalise(password: str) -> str:
    """The form a password is hashed and checked in: the same characters typed on
    another keyboard or phone (composed or decomposed accents) are the same password."""
    return unicodedata.normalize("NFKC", password or "")


_LETTERS = re.compile(r"[\W_\d]+", re.UNICODE)
_EDGES = re.compile(r"^[\W_\d]+|[\W_\d]+$", re.UNICODE)


def _letters(value: str) -> str:
    return _LETTERS.sub("", value.casefold())


def check_password_policy(password: str, *, email: str = "", name: str = "") -> str:
    """The normalised password when the policy accepts it; raises PasswordRefused with a
    message the person can act on."""
    password = normalise(password)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in password):
        raise PasswordRefused(
            gettext(
                "Your password has a character that cannot be typed (a control character). "
                "Type it again without pasting."
            )
        )
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(
            gettext(
                "Use a password of at least %(least)s characters. Three or four random words "
                "together make a good one.",
                least=MIN_LENGTH,
            )
        )
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(
            gettext("Use a password of at most %(most)s characters.", most=MAX_LENGTH)
        )
    folded = password.casefold()
    core = _EDGES.sub("", folded)  # "password123!" is "password" with a number added
    common = common_passwords()
    half = len(folded) // 2
    repeated = len(folded) % 2 == 0 and folded[:half] == folded[half:]
    if (
        folded in common
        or core in common
        or (repeated and folded[:half] in common)
        or len(set(folded)) < 4
    ):
        raise PasswordRefused(
            gettext(
                "That password is one attackers try first: it is on a list of common and "
                "breached passwords, or close to one. Choose another; three or four random "
                "words together make a good one."
            )
        )
    own = {_letters(email), _letters(email.split("@")[0]), _letters(name)}
    own |= {_letters(part) for part in re.split(r"\s+", name) if len(_letters(part)) >= 4}
    own.discard("")
    if _letters(password) in own:
        raise PasswordRefused(gettext("Don't use your name or e-mail address as your password."))
    return password
