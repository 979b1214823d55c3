"""Every C enum and constant of kernels/ that Python mirrors holds the same value on both sides.

The sources are parsed as text (no compiler needed): a kernel and its launch wrapper that agree
on a name but not on a value would compute other bits without any error.
"""

import re
from pathlib import Path

import pytest

from cim_emu import rng
from cim_emu.ambit import program_encoding
from cim_emu.reram import bit_tiles
from cim_emu.reram import gpu as reram_gpu
from cim_emu.rng import Stream

KERNELS = Path(__file__).resolve().parents[1] / "kernels"


def c_constants(filename):
    """``name -> int`` of every ``constexpr`` integer and enumerator of a kernel source."""
    text = (KERNELS / filename).read_text()
    values = {}
    for name, expression in re.findall(r"constexpr\s+\w+\s+(k\w+)\s*=\s*([^;]+);", text):
        values[name] = expression
    for body in re.findall(r"enum\s+\w+\s*:\s*int\s*\{([^}]*)\}", text):
        for name, expression in re.findall(r"(k\w+)\s*=\s*([^,]+)", body):
            values[name] = expression
    return {name: _evaluate(expression) for name, expression in values.items() if _evaluate(expression) is not None}


def _evaluate(expression):
    """The value of a C integer expression of literals, shifts and arithmetic (None otherwise)."""
    python = re.sub(r"\b(0x[0-9A-Fa-f]+|\d+)(?:ull|ul|u|ll|l)\b", r"\1", expression.strip(), flags=re.IGNORECASE)
    if not re.fullmatch(r"[0-9A-Fa-fx\s<>+\-*/()]+", python):
        return None
    return int(eval(python.replace("/", "//")))  # literals and operators only, checked above


MIRRORS = [
    ("philox.cuh", "kPhiloxM0", rng.PHILOX_M0),
    ("philox.cuh", "kPhiloxM1", rng.PHILOX_M1),
    ("philox.cuh", "kPhiloxW0", rng.PHILOX_W0),
    ("philox.cuh", "kPhiloxW1", rng.PHILOX_W1),
    ("philox.cuh", "kPhiloxRounds", rng.PHILOX_ROUNDS),
    ("philox.cuh", "kNormalBodyLevels", 2**rng.NORMAL_BODY_BITS),
    ("reram_adc.cuh", "kAdcSigned", reram_gpu.AdcFlag.SIGNED),
    ("reram_adc.cuh", "kAdcPrescaled", reram_gpu.AdcFlag.PRESCALED),
    ("reram_adc.cuh", "kAdcSaturates", reram_gpu.AdcFlag.SATURATES),
    ("reram_epilogue.cu", "kPerPolarity", reram_gpu.NoisyReadout.PER_POLARITY),
    ("reram_epilogue.cu", "kSubtract", reram_gpu.NoisyReadout.SUBTRACT),
    ("reram_epilogue.cu", "kDifferences", reram_gpu.NoisyReadout.DIFFERENCES),
    ("binary_product.cpp", "kGroupRows", bit_tiles.GROUP_ROWS),
    ("ambit_program.cu", "kAmbitNot", program_encoding.OPCODES["not"]),
    ("ambit_program.cu", "kAmbitAnd", program_encoding.OPCODES["and"]),
    ("ambit_program.cu", "kAmbitOr", program_encoding.OPCODES["or"]),
    ("ambit_program.cu", "kAmbitXor", program_encoding.OPCODES["xor"]),
    ("ambit_program.cu", "kAmbitMaj", program_encoding.OPCODES["maj"]),
    ("ambit_program.cu", "kSlotZeros", program_encoding.SLOT_ZEROS),
    ("ambit_program.cu", "kSlotOnes", program_encoding.SLOT_ONES),
    ("ambit_program.cu", "kFirstInputSlot", program_encoding.FIRST_INPUT_SLOT),
    ("ambit_program.cu", "kStreamTraFlip", Stream.TRA_FLIP),
    ("ambit_program.cu", "kStreamWeakMap", Stream.WEAK_MAP),
    ("ambit_program.cu", "kStreamWeakFlip", Stream.WEAK_FLIP),
    ("reram_tile_codes.cu", "kCodesStageDepth", reram_gpu.TILE_CODES_DEPTH),
]


@pytest.mark.parametrize("filename, name, python_value", MIRRORS, ids=[m[1] for m in MIRRORS])
def test_c_constant_equals_its_python_mirror(filename, name, python_value):
    constants = c_constants(filename)
    assert name in constants, f"{name} is no longer a constant of kernels/{filename}"
    assert constants[name] == int(python_value)


def test_every_opcode_and_adc_flag_is_mirrored():
    """No enumerator of the mirrored enums is left out of MIRRORS (a new one must be added)."""
    mirrored = {name for _, name, _ in MIRRORS}
    for filename, prefix in (("reram_adc.cuh", "kAdc"), ("ambit_program.cu", "kAmbit"),
                             ("ambit_program.cu", "kSlot"), ("ambit_program.cu", "kStream")):
        names = {name for name in c_constants(filename) if name.startswith(prefix)}
        assert names and names <= mirrored, sorted(names - mirrored)
    assert len(program_encoding.OPCODES) == len([n for n in mirrored if n.startswith("kAmbit")])
    assert len(reram_gpu.AdcFlag) == len([n for n in mirrored if n.startswith("kAdc")])
    assert set(c_constants("reram_epilogue.cu")) <= mirrored  # the readouts
    assert len(reram_gpu.NoisyReadout) == 3


def test_the_parser_reads_values_not_names():
    """A check that cannot fail is no check: a changed value in the source is seen."""
    assert _evaluate("0xA1ull << 56") == 0xA1 << 56 and _evaluate("1u << 16") == 65536
    assert _evaluate("kOther + 1") is None
