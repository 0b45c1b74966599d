"""Text as people and browsers send it, made safe to store and show."""

from __future__ import annotations

import re
import unicodedata

from flask_babel import gettext, lazy_gettext

from app.models import MAX_ID

# A whole number as typed: ASCII digits only. str.isdigit() also passes "²", which
# int() refuses, and int() also takes "٣", " 3 " and "1_000".
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def whole_number(value: object, *, most: int = MAX_ID) -> int | None:
    """A number sent as text (a form field, a query argument): its value when it is
    ASCII digits alone and no more than `most`, else None.

    >>> [whole_number(v) for v in ("12", "²", " 12", "٣", "1_0", "", None, "9" * 12)]
    [12, None, None, None, None, None, None, None]
    """
    if not isinstance(value, str) or not _WHOLE_NUMBER.fullmatch(value):
        return None
    number = int(value)
    return number if number <= most else None


def unseen_dropped(text: str) -> str:
    """The text without format characters (Unicode's Cf: soft hyphens, zero-width
    spaces and joiners, direction marks, a byte-order mark), which a paste brings along
    unseen: before a code, a reference, a search or a message's words are compared (a
    genuine alert's reference with a soft hyphen in it was said not to be ours: an
    outside check). Stored text keeps the joiners emoji need (checked_text).

    >>> unseen_dropped("12\u00ad3\u200b4\u200d5\u20606\ufeff")
    '123456'
    """
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def ascii_digits(text: str) -> str:
    """A code as a keyboard may type it: NFKC (a phone's full-width １２３), and every
    decimal digit as its ASCII one (Arabic-Indic ٥٨٣, which the number box took and the
    code box refused: an outside check), without what a paste brings along unseen.

    >>> ascii_digits("١٢٣ ۴۵۶ １２"), ascii_digits("123\u00ad456")
    ('123 456 12', '123456')
    """
    text = unicodedata.normalize("NFKC", unseen_dropped(text))
    return "".join(
        ch
        if ch.isascii() or unicodedata.decimal(ch, None) is None
        else str(unicodedata.decimal(ch))
        for ch in text
    )


# Control characters other than tab and newlines: PostgreSQL refuses NUL outright, and
# none of them belongs in a name, an address or an alert. Nor do the characters that
# override the direction of the text after them (U+202A-U+202E, U+2066-U+2069): a
# title holding one reads backwards on every phone. (The marks U+200E, U+200F and
# U+061C, which Arabic and Hebrew text uses, are kept.)
_BIDI_OVERRIDES = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f{_BIDI_OVERRIDES}]")


# Zero-width space, word joiner, zero-width no-break space (a stray byte-order mark),
# Mongolian vowel separator: removed, not refused, as nobody can see them to remove them.
# (Zero-width joiners, which emoji and some scripts need, are kept.)
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u180e"))


def clean_text(value: object, *, max_length: int | None = None, multiline: bool = False) -> str:
    """The text without control characters, trimmed; newlines kept only if multiline.

    >>> clean_text(" Sam\\x00 Jones\\n")
    'Sam Jones'
    >>> clean_text("Line one\\r\\nLine two", multiline=True)
    'Line one\\nLine two'
    """
    text = "" if value is None else str(value)
    # Lone surrogates (from JSON's \ud800 escapes) cannot be stored or encoded.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = " ".join(text.split())
    text = unicodedata.normalize("NFC", text.strip())  # as checked_text
    return text[:max_length] if max_length else text


def shown_text(value: object, *, max_length: int) -> str:
    """Words another system gave us (a sign-on provider's name for someone), as we
    would store them typed: clean_text's, without spaces of no width; "" when nothing
    visible is left, or it is no text at all (a provider's name came as an object).

    >>> [shown_text(v, max_length=20) for v in ("PC \u202eredrum", "\u200b", {"a": 1})]
    ['PC redrum', '', '']
    >>> [shown_text(v, max_length=20) for v in ("\u0301\u0301", "Sgt\U000e0041 Evans")]
    ['', 'Sgt Evans']
    """
    if not isinstance(value, str):
        return ""
    # Characters of no width or shape (format characters: zero-width spaces, the
    # invisible TAG letters) go; a name of accents with nothing to sit on is none (a
    # re-check stored both).
    shown = "".join(c for c in value if unicodedata.category(c) != "Cf")
    text = clean_text(shown, max_length=max_length)
    return text if shows_something(text) else ""


class TextRefused(ValueError):
    """Text holding a character we will not store, with a message naming it; or, with
    `too_long`, text longer than allowed."""

    too_long = False


# How a person would know each invisible character.
_NAMED = {
    "\x00": lazy_gettext("a null character (NUL)"),
    "\r": lazy_gettext("a line break (carriage return)"),
    "\n": lazy_gettext("a line break"),
    "\t": lazy_gettext("a tab"),
    "\x0b": lazy_gettext("a vertical tab"),
    "\x0c": lazy_gettext("a page break"),
    "\x1b": lazy_gettext("an escape character"),
    "\x7f": lazy_gettext("a delete character"),
}


def describe_character(character: str) -> str:
    """
    >>> describe_character("\\n"), describe_character("\\u200b")
    ('a line break', 'an invisible character (U+200B ZERO WIDTH SPACE)')
    """
    if character in _NAMED:
        return str(_NAMED[character])
    code = f"U+{ord(character):04X}"
    if 0xD800 <= ord(character) <= 0xDFFF:
        return gettext("a broken character (%(code)s, half of a pair)", code=code)
    name = unicodedata.name(character, "")
    return gettext("an invisible character (%(code)s)", code=f"{code}{' ' + name if name else ''}")


# Letters and symbols drawn as nothing: the Hangul fillers, the blank Braille cell.
# A title of them went out to six residents as a live alert, and names of them were
# stored (an outside check), as words of zero-width spaces no longer were.
BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(character: str) -> bool:
    """Whether a character shows something by itself: a letter, a digit, a symbol or
    punctuation, and not a blank one. An accent shows only on a letter before it (a
    word of accents alone, or of emoji variation selectors, shows nothing)."""
    return unicodedata.category(character)[0] in "LNSP" and character not in BLANK_GLYPHS


def shows_something(text: str) -> bool:
    """
    >>> [shows_something(t) for t in ("Sam", "\u3164\u3164", "\u0301", " \u2800", "\U0001f6a8")]
    [True, False, False, False, True]
    """
    return any(_visible(character) for character in text)


# Marks that set the direction of the text around them: refused in words (they turn
# them round), but dropped from a number, an address or a postcode, which copying out
# of a contact card brings them with ("the mobile number has an invisible character
# U+202A": an outside check).
DIRECTION_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c" + _BIDI_OVERRIDES))


def without_direction_marks(value: object) -> object:
    """
    >>> without_direction_marks("\u202a07700 900001\u202c"), without_direction_marks(None)
    ('07700 900001', None)
    """
    return value.translate(DIRECTION_MARKS) if isinstance(value, str) else value


# Format characters that are kept: the joiners inside emoji and some scripts' words,
# and the tags of a subdivision flag (Wales's is one). Others show nothing and are
# dropped, as zero-width spaces are (the direction marks, the invisible TAG letters,
# the interlinear annotation marks were stored inside names: an outside check); the
# ones that turn text around are refused below, and said.
_JOINERS = "\u200c\u200d"
_FLAG_TAGS = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")


def _without_format_characters(text: str) -> str:
    flags = [m.span() for m in _FLAG_TAGS.finditer(text)] if "\U0001f3f4" in text else []

    def kept(position: int, character: str) -> bool:
        if unicodedata.category(character) != "Cf" or character in _JOINERS:
            return True
        if character in _BIDI_OVERRIDES:
            return True  # refused, and said
        return any(start <= position < end for start, end in flags)

    return "".join(c for n, c in enumerate(text) if kept(n, c))


def checked_text(
    value: object, label: str, *, max_length: int | None = None, multiline: bool = False
) -> str:
    """The text, trimmed (runs of spaces kept as typed; CRLF as LF when multiline), or
    TextRefused naming the first character we refuse and where it is: control
    characters (line breaks too, unless multiline), halves of surrogate pairs, and text
    that is nothing but invisible characters. `label` names the field: "The title".

    >>> checked_text("  Burglary in Hotwells ", "The title")
    'Burglary in Hotwells'
    >>> checked_text("Two\\r\\nlines", "The message", multiline=True)
    'Two\\nlines'
    >>> try:
    ...     checked_text("Sam\\nJones", "Your name")
    ... except TextRefused as refusal:
    ...     print(refusal)
    Your name has a line break in it (at character 4). Remove it and try again.
    >>> try:
    ...     checked_text("\u202eBurglary", "The title")
    ... except TextRefused as refusal:
    ...     print(str(refusal).split(" in it")[0])
    The title has an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE)
    """
    text = "" if value is None else str(value)
    # Spaces of no width carry nothing a reader sees; kept, they make look-alikes
    # ("Bur\u200bglary") and turn a text into Unicode, which halves what a segment holds.
    # (Text of nothing else is refused below as "only invisible characters".)
    if (seen := _without_format_characters(text.translate(_ZERO_WIDTH))).strip():
        text = seen
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    allowed = {"\n", "\t"} if multiline else set()
    for position, character in enumerate(text, start=1):
        code = ord(character)
        if character in allowed:
            continue
        if (
            unicodedata.category(character) == "Cc"
            or 0xD800 <= code <= 0xDFFF
            or character in "\u2028\u2029"
            or character in _BIDI_OVERRIDES
        ):
            raise TextRefused(
                gettext(
                    "%(label)s has %(character)s in it (at character %(position)s). "
                    "Remove it and try again.",
                    label=label,
                    character=describe_character(character),
                    position=position,
                )
            )
    # Composed, as people read it: "e" and a combining accent counted as two
    # characters against a limit of one "é" (an outside check), and a text of them
    # cost more parts.
    text = unicodedata.normalize("NFC", text.strip())
    if text and not shows_something(text):
        raise TextRefused(
            gettext(
                "%(label)s is only invisible characters, such as %(character)s. Type it again.",
                label=label,
                character=describe_character(text[0]),
            )
        )
    if max_length and len(text) > max_length:
        refusal = TextRefused(
            gettext(
                "%(label)s is too long: keep it to %(count)s characters.",
                label=label,
                count=f"{max_length:,}",
            )
        )
        refusal.too_long = True
        raise refusal
    return text


def without_accents(text: str) -> str:
    """The letters without their accents, and compatibility forms as their plain ones.

    >>> without_accents("Ynys Môn ﬁre")
    'Ynys Mon fire'
    """
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Marks that read as one of the keyboard's: apostrophes and quotes as a phone types
# them (curly), a minus sign and other short strokes, slashes ("St Paul’s" beside
# "St Paul's", "Team−1" beside "Team-1": outside checks).
LOOK_ALIKE_MARKS = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4\u0060\u02bc\u02b9\u02bb\u02bd", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u02ba", '"'),
    **dict.fromkeys("\u2212\u02d7\u2043\u2796\u23af\u2500", "-"),
    **dict.fromkeys("\u2215\u2044\u29f8", "/"),
}


class _MarksReadAs(dict):
    """For str.translate: each mark as the keyboard's it reads as, by LOOK_ALIKE_MARKS
    or by its name (an Armenian apostrophe, a reversed prime, a Hebrew geresh made a
    second "St Paul's" past the list: a review); the others are left as they are."""

    kept: set[int] = set()

    def __missing__(self, code: int) -> str:
        if code in self.kept:
            raise LookupError(code)
        character = chr(code)
        read = LOOK_ALIKE_MARKS.get(character)
        if read is None and not character.isascii():
            kind = unicodedata.category(character)
            if kind[0] in "PS" or kind == "Lm":
                read = _read_by_name(unicodedata.name(character, ""))
        if read is None:
            self.kept.add(code)
            raise LookupError(code)
        self[code] = read
        return read


# Words in a mark's name that make it another sign than the minus it names: a
# plus-minus sign, a set minus (a backslash's look), a dot minus (read as "-", "Team
# ±1" was refused as "Team -1": a review).
_NOT_A_MINUS = {"PLUS", "SET", "DOT", "TILDE", "EQUALS", "COMMA", "TRIPLE"}


def _read_by_name(name: str) -> str | None:
    r"""
    >>> [_read_by_name(unicodedata.name(c)) for c in "\u00b1\u2213\u2216\u29f9\u2796"]
    [None, None, None, '\\', '-']
    """
    words = set(name.replace("-", " ").split())
    if words & {"GERSHAYIM"} or (
        words & {"DOUBLE"} and words & {"QUOTATION", "PRIME", "APOSTROPHE"}
    ):
        return '"'
    if words & {"APOSTROPHE", "QUOTATION", "PRIME", "GERESH", "KORONIS", "PSILI"}:
        return "'"
    if words & {"HYPHEN", "DASH"} or (words & {"MINUS"} and not words & _NOT_A_MINUS):
        return "-"
    if words & {"SOLIDUS", "SLASH"}:
        return "\\" if words & {"REVERSE"} else "/"
    return None


_MARKS_READ_AS = _MarksReadAs()
# A spacing accent stored in its compatibility form (NFKC): a space and the accent
# ("St Paul´s", a koronis): read as an apostrophe.
_SPACING_ACCENT = re.compile(r" [\u0300-\u036f]+")


def plain_letters(text: str) -> str:
    """A name as two are compared by eye: no accents, no case, one space between words,
    nothing that shows nothing (a joiner, a variation selector, a blank glyph), every
    dash a hyphen, every digit an ASCII one ("Cent\u200dral", "Bristol\u2010Central"
    and "Team \u0661" made second teams reading as "Central", "Bristol-Central" and
    "Team 1": reviews), and each mark that reads as a keyboard's that one
    (LOOK_ALIKE_MARKS).

    >>> plain_letters("Farm  Wátch") == plain_letters("farm watch")
    True
    >>> plain_letters("Cent\u200dral\ufe0f \u2010 \u0661\u2800")
    'central - 1'
    >>> print(plain_letters("St Paul\u00b4s \u201cTeam\u2212 1\u2033 Bath\u2215Wells"))
    st paul's "team- 1" bath/wells
    >>> {plain_letters(f"St Paul{m}s") for m in "'\u055a\u2035\u05f3\u1fbd\uff07\uff40\u0384"}
    {"st paul's"}
    """
    kept = []
    # In its compatibility form first (NFKC, as a team's name is stored), so that a
    # compatibility form of a mark reads as the mark (a full-width grave accent and a
    # Greek tonos made second groups "St Paul's": a review). Then, before the accents
    # go: an acute accent alone ("St Paul´s") is a space and an accent, and a double
    # prime two primes.
    text = unicodedata.normalize("NFKC", text)
    text = _SPACING_ACCENT.sub("'", text).translate(_MARKS_READ_AS).replace("''", '"')
    for character in without_accents(text):
        kind = unicodedata.category(character)
        if character.isspace():
            kept.append(" ")
        elif kind == "Pd":
            kept.append("-")
        elif kind == "Nd":
            kept.append(str(unicodedata.decimal(character)))
        elif _visible(character):
            kept.append(character)
    return " ".join("".join(kept).casefold().split())


def other_alphabet_refusal(text: str, label: str) -> str | None:
    """For a name people trust on sight (a force's, a group's): why a letter in it is
    refused, or None. A letter of another alphabet that looks like one of ours (the
    Cyrillic "о" in "Avon and Sоmerset") made another force's name pass as new (an
    outside check). Welsh and English names need only Latin letters, accents included.

    >>> other_alphabet_refusal("Heddlu Gogledd Cymru ŵŷ", "The name") is None
    True
    >>> other_alphabet_refusal("Avon and S\u043emerset", "The name").split(",")[0]
    'The name has “о” (U+043E CYRILLIC SMALL LETTER O)'
    """
    for character in text:
        # A letter is one of ours when it is an English letter, accented or not (Welsh
        # ŵ and ŷ too): a Latin small capital "ᴏ" or "ɑ" passed as well (a re-check).
        # An apostrophe that is a "modifier letter" is a mark (LOOK_ALIKE_MARKS).
        base = without_accents(character)
        if (
            unicodedata.category(character).startswith("L")
            and not (base.isascii() and base.isalpha())
            and character.translate(_MARKS_READ_AS) == character
        ):
            if unicodedata.name(character, "").startswith("LATIN "):
                # ß, ø, Ł: Latin, and not another alphabet's (a review), but not ours.
                return gettext(
                    "%(label)s has “%(character)s” (%(code)s), which is not an English or "
                    "Welsh letter. Type it again in English or Welsh letters.",
                    label=label,
                    character=character,
                    code=f"U+{ord(character):04X} {unicodedata.name(character, '')}".strip(),
                )
            return gettext(
                "%(label)s has “%(character)s” (%(code)s), a letter of another alphabet "
                "that can look like ours. Type it again in English or Welsh letters.",
                label=label,
                character=character,
                code=f"U+{ord(character):04X} {unicodedata.name(character, '')}".strip(),
            )
    return None


def checked_field(
    errors: dict[str, str],
    key: str,
    value: object,
    label: str,
    *,
    max_length: int | None = None,
    multiline: bool = False,
) -> str:
    """checked_text for one field of a form: its refusal goes in errors[key] and the
    text is then "", so a form reports every field's mistake at once."""
    try:
        return checked_text(value, label, max_length=max_length, multiline=multiline)
    except TextRefused as refusal:
        errors[key] = str(refusal)
        return ""
