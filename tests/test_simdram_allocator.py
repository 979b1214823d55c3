"""Row allocation: lowest rows first, reuse after release, a clear error when full."""

import pytest

from cim_emu.simdram import OutOfRowsError, RowAllocator


def test_rows_are_handed_out_lowest_first_and_reused():
    rows = RowAllocator(4)
    assert rows.take(2, "a") == ("D0", "D1")
    assert rows.take_one("b") == "D2"
    rows.release("D0", "C0")
    assert rows.take(2, "c") == ("D0", "D3")
    assert rows.in_use == 4 and rows.high_water == 4


def test_running_out_names_the_purpose_and_the_sizes():
    rows = RowAllocator(3)
    rows.take(2, "the operands")
    with pytest.raises(OutOfRowsError, match=r"the carries needs 2 row\(s\) but only 1 of the subarray's 3 data rows"):
        rows.take(2, "the carries")


def test_bad_use_is_refused():
    with pytest.raises(ValueError, match=r"data_rows must be an integer in \[1, 1006\]"):
        RowAllocator(0)
    with pytest.raises(ValueError, match="row D5 is not allocated"):
        RowAllocator(8).release("D5")
