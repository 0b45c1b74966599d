from hypothesis import given
from hypothesis import strategies as st

from geo import postcodes

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
outward = st.one_of(
    st.builds(lambda a, d: a + d, st.sampled_from(LETTERS), st.sampled_from("123456789")),
    st.builds(
        lambda a, b, d, e: a + b + d + e,
        st.sampled_from(LETTERS),
        st.sampled_from(LETTERS),
        st.sampled_from("123456789"),
        st.sampled_from("0123456789" + LETTERS),
    ),
)
inward = st.builds(
    lambda d, a, b: d + a + b,
    st.sampled_from("0123456789"),
    st.sampled_from(LETTERS),
    st.sampled_from(LETTERS),
)
noise = st.sampled_from(["", " ", "  ", "\u00a0", "\u200b", "\t", "\u2009"])


@given(outward, inward, noise, noise, noise, st.booleans(), st.booleans())
def test_postcode_typed_any_way_gives_the_same_postcode(o, i, before, middle, after, lower, stop):
    typed = f"{before}{o}{middle}{i}{after}{'.' if stop else ''}"
    if lower:
        typed = typed.lower()
    assert postcodes.is_valid(typed)
    assert postcodes.canonical(typed) == o + i
    assert postcodes.display(typed) == f"{o} {i}"


@given(outward, inward)
def test_display_form_round_trips_through_canonical(o, i):
    shown = postcodes.display(o + i)
    assert postcodes.canonical(shown) == o + i
    assert postcodes.display(shown) == shown


@given(st.text(alphabet="0123456789!@#$%^&*()", min_size=1, max_size=10))
def test_strings_without_letters_are_never_postcodes(text):
    assert not postcodes.is_valid(text)


def test_the_examples_people_actually_type():
    assert postcodes.display("bs11ad") == "BS1 1AD"
    assert postcodes.display("  SW1A 2AA ") == "SW1A 2AA"
    assert postcodes.display("ba4\u00a06qn.") == "BA4 6QN"
    assert not postcodes.is_valid("BS1")
    assert not postcodes.is_valid("BS1 1A")
    assert not postcodes.is_valid("")
    assert postcodes.is_outward_code("ta1")
