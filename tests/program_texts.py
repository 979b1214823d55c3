"""Hypothesis strategies of Ambit program text for the bad-input tests: mostly well-formed
commands (some of them illegal), mixed with malformed lines, huge row numbers, random unicode,
byte order marks and every line ending."""

from hypothesis import strategies as st

#: Addresses that parse (a subarray of 9 data rows has all of them).
GOOD_ADDRESS = st.sampled_from([f"B{i}" for i in range(16)] + ["C0", "C1", "c1", "b12"]) | st.integers(0, 8).map(
    lambda i: f"D{i}")

ADDRESS_TEXT = st.one_of(
    GOOD_ADDRESS,
    st.sampled_from(["B16", "C2", "T0", "DCC0", "D", "d-1", "D01", "D1\u0661", "D1005", "D1006", "D262144"]),
    st.integers(0, 10**40).map(lambda i: f"d{i}"),
    st.text(max_size=12),
)

COMMAND_TEXT = st.sampled_from(["AAP", "aap", "AP", "Ap", "ACT", "PRE", "\ufeffAAP", "AAPP"]) | st.text(max_size=6)

GOOD_LINE = st.one_of(
    st.tuples(GOOD_ADDRESS, GOOD_ADDRESS).map(lambda t: f"AAP {t[0]} {t[1]}"),
    GOOD_ADDRESS.map(lambda a: f"ap\t{a}  # TRA"),
)

LINE_TEXT = st.one_of(
    GOOD_LINE, GOOD_LINE, GOOD_LINE,
    st.tuples(COMMAND_TEXT, st.lists(ADDRESS_TEXT, max_size=3)).map(lambda t: " ".join([t[0], *t[1]])),
    st.text(max_size=30),
    st.text(max_size=10).map(lambda t: "# " + t),
)

#: Whole program texts: lines joined by one kind of line ending, sometimes after a byte order
#: mark; half of them well-formed commands only.
PROGRAM_TEXT = st.one_of(
    st.tuples(st.booleans(), st.lists(LINE_TEXT, max_size=8), st.sampled_from(["\n", "\r\n", "\r"])).map(
        lambda t: ("\ufeff" if t[0] else "") + t[2].join(t[1])),
    st.lists(GOOD_LINE, min_size=1, max_size=8).map("\n".join),
)
