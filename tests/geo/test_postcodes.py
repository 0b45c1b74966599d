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


# Every postcode area in Great Britain (one OS Code-Point Open file each).
_GREAT_BRITAIN_AREAS = """
    AB AL B BA BB BD BH BL BN BR BS CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT
    DY E EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD
    LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA
    SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR
    WS WV YO ZE
"""
GREAT_BRITAIN_AREAS = _GREAT_BRITAIN_AREAS.split()


def test_postcodes_outside_great_britain_are_known_by_their_area_letters():
    assert len(GREAT_BRITAIN_AREAS) == 120
    assert postcodes.outside_great_britain("bt1 1aa") == "Northern Ireland"
    assert postcodes.outside_great_britain("BT93 8AD") == "Northern Ireland"
    assert postcodes.outside_great_britain("GY9 3AA") == "the Bailiwick of Guernsey"  # Alderney
    assert postcodes.outside_great_britain("JE2 4WD") == "Jersey"
    assert postcodes.outside_great_britain("IM99 1AA") == "the Isle of Man"
    assert postcodes.outside_great_britain("JE") == "Jersey"  # an area typed so far
    for area in GREAT_BRITAIN_AREAS:
        assert postcodes.area(f"{area}1 1AA") == area
        assert postcodes.outside_great_britain(f"{area}1 1AA") is None, area
    # Nor does anything that is not a postcode area.
    assert postcodes.outside_great_britain("") is None
    assert postcodes.outside_great_britain("BTX") is None


@given(outward, inward)
def test_a_postcode_is_outside_great_britain_exactly_when_its_area_is(o, i):
    area = o[: 2 if o[1].isalpha() else 1]
    expected = postcodes.OUTSIDE_GREAT_BRITAIN.get(area)
    assert postcodes.outside_great_britain(o + i) == expected
