"""``--plot PATH``: PNGs of ``cim-emu accuracy`` and ``cim-emu bench``, and a clear error without matplotlib."""

import importlib.util
import struct
import sys

import pytest

from cli_checks import usage_error

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="--plot needs matplotlib (the 'plot' extra)")
needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="the digits panel needs scikit-learn (the 'data' extra)")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 120  # cim_emu.cli._plot saves at 120 dots per inch; panels are 6 inches wide
ACCURACY_HEIGHT, BENCH_HEIGHT = round(4.6 * DPI), 6 * DPI  # bench has its legends below the axes


def png_size(path):
    """Width and height of a PNG, from its IHDR chunk; the file must be a well-formed PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return struct.unpack(">II", data[16:24])


def colours_drawn(path):
    """Distinct colours of the image: a blank or single-colour image has one or two."""
    from matplotlib.image import imread

    pixels = imread(path)[..., :3].reshape(-1, 3)
    return {tuple(pixel) for pixel in (pixels * 255).round().astype(int)[::7]}


def plot_colour(index):
    """matplotlib's default cycle colour C<index> as an RGB triple of 0..255."""
    from matplotlib.colors import to_rgb

    return tuple(round(c * 255) for c in to_rgb(f"C{index}"))


@needs_matplotlib
@needs_sklearn
def test_accuracy_plot(invoke, tmp_path):
    path = tmp_path / "accuracy.png"
    result = invoke("accuracy", "--quick", "--plot", path)
    assert result.exit_code == 0, result.output
    assert png_size(path) == (2 * 6 * DPI, ACCURACY_HEIGHT)  # two panels: SNR and digits accuracy
    assert 30_000 < path.stat().st_size < 1_000_000
    colours = colours_drawn(path)
    assert len(colours) > 50
    assert {plot_colour(0), plot_colour(1)} <= colours  # ideal and wan2022 curves


@needs_matplotlib
def test_accuracy_plot_of_the_adc_sweep_alone(invoke, tmp_path):
    path = tmp_path / "accuracy.png"
    assert invoke("accuracy", "--quick", "--check", "reram-adc-sweep", "--plot", path).exit_code == 0
    assert png_size(path) == (6 * DPI, ACCURACY_HEIGHT)  # the SNR panel alone


@needs_matplotlib
def test_accuracy_plot_needs_a_plotted_section(invoke, tmp_path):
    message = usage_error(invoke("accuracy", "--quick", "--check", "ambit-library", "--plot", tmp_path / "a.png"))
    assert "--plot draws the reram-adc-sweep and reram-digits checks" in message


@needs_matplotlib
def test_bench_plot(invoke, tmp_path):
    path = tmp_path / "bench.png"
    result = invoke("bench", "--quick", "--row-mib", 1, "--row-mib", 2, "--batch", 2, "--batch", 4, "--k", 64,
                    "--n", 16, "--plot", path)
    assert result.exit_code == 0, result.output
    assert png_size(path) == (2 * 6 * DPI, BENCH_HEIGHT)  # Ambit and ReRAM panels
    assert 30_000 < path.stat().st_size < 1_000_000
    colours = colours_drawn(path)
    assert {plot_colour(i) for i in range(6)} <= colours  # baselines, emulator cases and models of Ambit


@needs_matplotlib
def test_bench_plot_of_one_engine_as_svg(invoke, tmp_path):
    path = tmp_path / "bench.svg"
    assert invoke("bench", "--quick", "--engine", "reram", "--plot", path).exit_code == 0
    svg = path.read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg


@pytest.mark.parametrize("command", [["accuracy", "--quick"], ["bench", "--quick"]])
def test_missing_matplotlib_is_a_clear_usage_error(invoke, monkeypatch, tmp_path, command):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    path = tmp_path / "plot.png"
    message = usage_error(invoke(*command, "--plot", path))
    assert "--plot needs matplotlib, which is not installed: install cim-emu[plot]" in message
    assert not path.exists()


@needs_matplotlib
def test_unknown_image_format(invoke, tmp_path):
    message = usage_error(invoke("bench", "--quick", "--plot", tmp_path / "plot.xyz"))
    assert "--plot" in message and "does not end in a suffix matplotlib writes" in message and ".png" in message


@needs_matplotlib
def test_unwritable_plot_file(invoke, tmp_path):
    result = invoke("bench", "--quick", "--engine", "ambit", "--plot", tmp_path / "missing-dir" / "plot.png")
    assert result.exit_code == 1
    assert "Could not open file" in result.stderr and "Traceback" not in result.output
