"""Published success rates of real-chip operations, the table behind the error model.

A bit position counts as *successful* in the papers when it is correct in every trial of an
experiment; the success rate is the share of such positions in a row (SiMRA, DSN 2024,
Section 4; FCDRAM, HPCA 2024, Section 5). Values are fractions in ``[0, 1]``.

Sources and uncertainty:

* MAJX (:data:`MAJ_SUCCESS`): SiMRA Figure 7, ``t1 = 1.5 ns``, ``t2 = 3 ns``, mean over the
  tested chips, solid and random operands. **Read off the plot**: about +-3 percentage points.
* Multi-RowCopy (:data:`COPY_SUCCESS`): SiMRA Section 8 (``t1 = 36 ns``, ``t2 = 3 ns``), values
  given in the text: 99.93 / 99.87 / 99.8 / 99.77 / 99.63 % for 2 / 4 / 8 / 16 / 32 rows. The
  paper gives one value per row count; the emulator uses it for solid and random data.
* FCDRAM NOT (:data:`NOT_SUCCESS`): 98.37 % average over destination row counts (text); used for
  every row count and for both data patterns (an assumption: the text gives one average).
* FCDRAM 16-input NAND / NOR / AND / OR (:data:`LOGIC_SUCCESS_16`): 94.94 / 95.87 / 94.94 /
  95.85 % (text) for solid data; random data lower by 1.39 / 1.97 / 1.43 / 1.98 points (the
  abstract, :data:`FCDRAM_RANDOM_PENALTY`). The emulator uses the 16-input value for every input
  count (an assumption: the other counts are plotted, not tabulated, and are not read off here).

No interpolation: row counts are powers of two (the decoder opens ``2**k`` rows) and each has
its own entry; combinations the papers do not report (``None`` here) have success 0.
Temperature: SiMRA Section 7 reports success changing by at most 2.13 points between 50 and
90 degrees C, FCDRAM by at most 1.66 points between 50 and 95 for its operations;
:func:`temperature_penalty` lowers a success linearly by up to that much from 50 degrees C (the
tables' temperature): SiMRA's slope for MAJX and Multi-RowCopy, FCDRAM's for NOT and the N:N
logic, over 50 to 90 (the range both tested; that it is a loss, and linear, is a model choice).
"""

from __future__ import annotations

from typing import Optional

from ..._checks import is_real, shown

#: Operand data patterns: every row all zeros or all ones ("solid"), or anything else ("random").
PATTERNS = ("solid", "random")

#: ``MAJ_SUCCESS[x][n] = (solid, random)``: MAJx in an n-row group (SiMRA Fig. 7, read off the plot,
#: +-3 points); ``None`` where the figure has no bar.
MAJ_SUCCESS: dict[int, dict[int, Optional[tuple[float, float]]]] = {
    3: {4: (0.73, 0.67), 8: (0.90, 0.85), 16: (0.94, 0.87), 32: (0.99, 0.98)},
    5: {4: None, 8: (0.37, 0.21), 16: (0.72, 0.58), 32: (0.93, 0.80)},
    7: {4: None, 8: (0.19, 0.10), 16: (0.39, 0.20), 32: (0.67, 0.34)},
    9: {4: None, 8: None, 16: (0.01, 0.005), 32: (0.22, 0.05)},
}

#: Multi-RowCopy success by rows opened (SiMRA Section 8, from the text).
COPY_SUCCESS: dict[int, float] = {2: 0.9993, 4: 0.9987, 8: 0.998, 16: 0.9977, 32: 0.9963}

#: FCDRAM NOT across neighbouring subarrays, average (text).
NOT_SUCCESS = 0.9837

#: FCDRAM 16-input (16:16) logic on solid data (text).
LOGIC_SUCCESS_16: dict[str, float] = {"nand": 0.9494, "nor": 0.9587, "and": 0.9494, "or": 0.9585}

#: FCDRAM: how much less random operands succeed than all-ones/all-zeros ones (the abstract).
FCDRAM_RANDOM_PENALTY: dict[str, float] = {"nand": 0.0139, "nor": 0.0197, "and": 0.0143, "or": 0.0198}

#: The published uncertainty of values read off plots (MAJ_SUCCESS), as a fraction.
PLOT_UNCERTAINTY = 0.03

#: SiMRA: the largest change of success with temperature (50 to 90 degrees C).
TEMPERATURE_MAX_PENALTY = 0.0213
TEMPERATURE_RANGE_C = (50.0, 90.0)
#: FCDRAM: the largest change of success of its operations with temperature (50 to 95 degrees C).
FCDRAM_TEMPERATURE_MAX_PENALTY = 0.0166
FCDRAM_TEMPERATURE_SPAN_C = 45.0
#: The operations of FCDRAM (the others, MAJX and Multi-RowCopy, are SiMRA's).
FCDRAM_OPERATIONS = ("not", "and", "or", "nand", "nor")

#: Operation names the error model knows.
OPERATIONS = ("maj", "copy", "not", "and", "or", "nand", "nor")


def _pattern(pattern: str) -> int:
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}; got {shown(pattern)}")
    return PATTERNS.index(pattern)


def maj_operands(x: int) -> int:
    """The MAJ table row for ``x`` distinct operands: ``x`` rounded up to the next odd number,
    at least 3 (an even count of operands is measured as the next odd MAJ)."""
    return max(3, x + 1 - x % 2)


def published_success(op: str, rows: int, pattern: str = "solid", operands: int = 3) -> float:
    """The published success of ``op`` in a group of ``rows`` rows on ``pattern`` data.

    ``operands`` is X of MAJX (``op == "maj"``); ``operands == 1`` (all voting rows equal) is
    measured as Multi-RowCopy. Combinations the papers do not report give 0.
    """
    index = _pattern(pattern)
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(OPERATIONS)}; got {shown(op)}")
    if op == "maj" and operands == 1:
        op = "copy"
    if op == "maj":
        entry = MAJ_SUCCESS.get(maj_operands(operands), {}).get(rows)
        return 0.0 if entry is None else entry[index]
    if op == "copy":
        return COPY_SUCCESS.get(rows, 0.0)
    if op == "not":
        return NOT_SUCCESS
    return LOGIC_SUCCESS_16[op] - (FCDRAM_RANDOM_PENALTY[op] if index else 0.0)


def temperature_penalty(temperature_c: float, op: str = "maj") -> float:
    """Success of ``op`` lost at ``temperature_c`` (degrees C, in [50, 90]): linear from 0 at 50,
    :data:`TEMPERATURE_MAX_PENALTY` at 90 for SiMRA's operations (at most 2.13 points over that
    range), :data:`FCDRAM_TEMPERATURE_MAX_PENALTY` at 95 for FCDRAM's (at most 1.66 points)."""
    low, high = TEMPERATURE_RANGE_C
    if not is_real(temperature_c) or not low <= temperature_c <= high:
        raise ValueError(f"temperature_c must be a number in [{low:g}, {high:g}] (degrees C, the range SiMRA "
                         f"and FCDRAM tested); got {shown(temperature_c)}")
    if op in FCDRAM_OPERATIONS:
        return FCDRAM_TEMPERATURE_MAX_PENALTY * (float(temperature_c) - low) / FCDRAM_TEMPERATURE_SPAN_C
    return TEMPERATURE_MAX_PENALTY * (float(temperature_c) - low) / (high - low)
