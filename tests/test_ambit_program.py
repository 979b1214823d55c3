"""Programs as data: the text form parses and prints back identically."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.ambit import AAP, AP, Command, Comment, Program, ProgramSyntaxError

ADDRESSES = [f"D{i}" for i in (0, 1, 7, 1005)] + [f"B{i}" for i in range(16)] + ["C0", "C1"]
texts = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)
comments = st.one_of(st.none(), texts.map(str.strip))
lines = st.one_of(
    st.builds(lambda a, b, c: AAP(a, b, c), st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES), comments),
    st.builds(lambda a, c: AP(a, c), st.sampled_from(ADDRESSES), comments),
    st.builds(Comment, comments),
)


@given(st.lists(lines, max_size=12))
def test_canonical_text_round_trips(program_lines):
    program = Program(tuple(program_lines))
    text = program.to_text()
    assert Program.parse(text) == program
    assert Program.parse(text).to_text() == text


@given(st.lists(lines, max_size=8), st.sampled_from([" ", "  ", "\t"]), st.booleans())
def test_any_spacing_and_case_parse_to_the_same_program(program_lines, gap, lower):
    program = Program(tuple(program_lines))
    sloppy = []
    for line in program.to_text().splitlines():
        code, hash_sign, comment = line.partition("#")
        code = gap + gap.join(code.split()) + gap
        sloppy.append((code.lower() if lower else code) + hash_sign + comment)
    assert Program.parse("\n".join(sloppy)) == program


def test_example_program_text():
    text = "# AND\nAAP D0 B0\nAAP D1 B1\nAAP C0 B2\n\nAAP B12 D2  # TRA\nAP B14\n"
    program = Program.parse(text)
    assert str(program) == text
    assert len(program) == 5 and program.counts() == {"AAP": 4, "AP": 1}
    assert program.commands[3] == AAP("B12", "D2", "TRA")
    assert program.instructions[3] == AAP("B12", "D2")
    assert list(program)[4] == AP("B14")


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("AAP D0 B0\nFOO D1\n", 2, "unknown command 'FOO'"),
        ("AAP D0\n", 1, "AAP takes 2 address"),
        ("AP B12 B13\n", 1, "AP takes 1 address"),
        ("# ok\n\nAAP D0 B16\n", 3, "unknown row address 'B16'"),
        ("AAP D0 T0", 1, "unknown row address 'T0'"),
    ],
)
def test_syntax_errors_name_the_line(text, line, message):
    with pytest.raises(ProgramSyntaxError, match=message) as info:
        Program.parse(text)
    assert info.value.line == line
    assert str(info.value).startswith(f"line {line}:")


def test_commands_validate_themselves():
    with pytest.raises(ValueError, match="AAP or AP|one of AAP, AP"):
        Command("ACT", ("D0",))
    with pytest.raises(ValueError, match="takes 2"):
        Command("AAP", ("D0",))
    with pytest.raises(TypeError, match="Command or a Comment"):
        Program(("AAP D0 B0",))


def test_programs_concatenate():
    assert (Program.of(AP("B12")) + Program.of(AAP("D0", "D1"))).commands == (AP("B12"), AAP("D0", "D1"))
