"""Backend selection and the bit-packed layout."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cim_emu
from cim_emu import backend as backends
from cim_emu.bits import WORD_BITS, constant_row, n_words, pack_bits, random_row, tail_mask, unpack_bits


def test_numpy_backend_and_validation():
    assert backends.get_backend("numpy").xp is numpy
    with pytest.raises(ValueError, match="backend must be one of auto, numpy, cupy"):
        backends.get_backend("torch")


@pytest.mark.skipif(backends.cupy_available(), reason="checks the behaviour without a GPU")
def test_cupy_without_gpu_is_a_clear_error_and_auto_falls_back():
    with pytest.raises(backends.BackendUnavailableError, match="cupy"):
        backends.get_backend("cupy")
    assert backends.get_backend("auto").name == "numpy"


def test_auto_follows_the_arrays():
    chosen, on_gpu = backends.resolve("auto", numpy.zeros(3), None, 5)
    assert chosen.name == "numpy" and not on_gpu


def test_default_backend_global_and_scoped():
    previous = cim_emu.get_default_backend()
    try:
        with backends.default_backend("numpy"):
            assert cim_emu.get_default_backend() == "numpy"
            assert backends.resolve(None)[0].name == "numpy"
        assert cim_emu.get_default_backend() == previous
        cim_emu.set_default_backend("numpy")
        assert cim_emu.get_default_backend() == "numpy"
        with pytest.raises(ValueError, match="backend must be one of"):
            cim_emu.set_default_backend("gpu")
    finally:
        cim_emu.set_default_backend(previous)


def test_import_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, cim_emu, cim_emu.ambit; assert 'cupy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_pack_layout_bit_j_is_bit_j_mod_64_of_word_j_div_64(bit_list):
    words = pack_bits(numpy.array(bit_list))
    assert words.dtype == numpy.uint64 and words.shape == (n_words(len(bit_list)),)
    for j, bit in enumerate(bit_list):
        assert (int(words[j // WORD_BITS]) >> (j % WORD_BITS)) & 1 == bit
    assert int(words[-1]) & ~int(tail_mask(len(bit_list))) == 0  # padding is zero
    assert unpack_bits(words, len(bit_list)).tolist() == bit_list


@given(st.integers(1, 1000), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_random_and_constant_rows_keep_padding_zero(n_bits, seed, stream):
    row = random_row(seed, stream, n_bits)
    assert row.shape == (n_words(n_bits),) and int(row[-1]) & ~int(tail_mask(n_bits)) == 0
    assert unpack_bits(constant_row(1, n_bits), n_bits).all()
    assert not constant_row(0, n_bits).any()
