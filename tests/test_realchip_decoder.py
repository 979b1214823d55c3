"""Which rows APA opens: the published examples, the product rule, layouts and bad input."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.ambit.realchip import LAYOUTS, PredecoderLayout, RealChipCommandError, open_rows
from cim_emu.ambit.realchip.decoder import as_layout


def test_simra_example_apa_256_287():
    """SiMRA Section 7.1: fields [8:7] [6:5] [4:3] [2:1] [0]."""
    group = open_rows(256, 287, "simra-512")
    assert set(group.rows) == {256, 257, 262, 263, 280, 281, 286, 287}
    assert not group.neighbouring


def test_pulsar_example_sixteen_rows_of_38408():
    """PULSAR: row 38408 XOR every subset of {4, 16, 64, 512} under a layout with a field at bit 9."""
    masks = (4, 16, 64, 512)
    group = open_rows(38408, 38408 ^ sum(masks), "pulsar-1024")
    expected = {38408 ^ sum(subset) for k in range(5) for subset in itertools.combinations(masks, k)}
    assert len(expected) == 16
    assert set(group.rows) == expected


def brute_force(rf, rs, layout):
    """Every row of the two subarrays whose every field (and subarray) equals RF's or RS's."""
    masks = list(layout.field_masks)
    high = ~(layout.subarray_rows - 1)
    subarrays = {layout.subarray(rf), layout.subarray(rs)}
    rows = set()
    for s in subarrays:
        for row in range(s * layout.subarray_rows, (s + 1) * layout.subarray_rows):
            if all((row & m) in {rf & m, rs & m} for m in masks) and (row & high) in {rf & high, rs & high}:
                rows.add(row)
    return rows


@given(st.sampled_from(sorted(LAYOUTS)), st.data())
def test_open_set_is_the_cartesian_product_over_fields(name, data):
    layout = LAYOUTS[name]
    rf = data.draw(st.integers(0, layout.bank_rows - 1))
    sub = layout.subarray(rf)
    neighbour = data.draw(st.sampled_from([s for s in (sub - 1, sub, sub + 1)
                                           if 0 <= s < layout.bank_rows // layout.subarray_rows]))
    rs = neighbour * layout.subarray_rows + data.draw(st.integers(0, layout.subarray_rows - 1))
    group = open_rows(rf, rs, layout)
    assert set(group.rows) == brute_force(rf, rs, layout)
    differing = sum((rf & m) != (rs & m) for m in layout.field_masks)
    assert len(group.first) == 2 ** differing
    assert len(group.second) == (0 if neighbour == sub else 2 ** differing)
    assert rf in group.first and rs in group.rows
    assert open_rows(rs, rf, layout).key == group.key


def test_custom_layout_and_bad_layouts():
    layout = PredecoderLayout("two-fields", 16, ((3, 2), (1, 0)))
    assert set(open_rows(0, 15, layout).rows) == {0, 3, 12, 15}
    with pytest.raises(ValueError, match="cover bits 0..3"):
        PredecoderLayout("gap", 16, ((3, 2), (0, 0)))
    with pytest.raises(ValueError, match="subarray_rows must be a power of two"):
        PredecoderLayout("odd", 12, ((1, 0),))
    with pytest.raises(ValueError, match="fields must be"):
        PredecoderLayout("wide", 16, ((4, 0),))
    with pytest.raises(ValueError, match="bank_rows must be a multiple"):
        PredecoderLayout("bank", 16, ((3, 0),), bank_rows=40)
    with pytest.raises(ValueError, match="layout must be"):
        as_layout("no-such-layout")


def test_far_subarrays_and_bad_rows_are_refused():
    with pytest.raises(RealChipCommandError, match="share no sense amplifiers"):
        open_rows(0, 2 * 512, "simra-512")
    with pytest.raises(ValueError, match="rf must be an integer in"):
        open_rows(-1, 0)
    with pytest.raises(ValueError, match="rs must be an integer in"):
        open_rows(0, 2**16)


def test_neighbouring_subarrays_open_the_same_offsets_in_both():
    group = open_rows(5, 512 + 6, "simra-512")
    assert group.first == (4, 5, 6, 7) and group.second == (516, 517, 518, 519)
