"""The benchmark models and the model benchmark: shapes, conversion, and a quick run's record."""

import pytest

torch = pytest.importorskip("torch")

from cim_emu.nn import convert, crossbar_layers  # noqa: E402
from cim_emu.studies import model_benchmarks, models  # noqa: E402
from cim_emu.studies.model_benchmarks import ModelCase, default_cases, model_benchmark  # noqa: E402

#: Keys of every record, in order (memory keys only with memory=True).
RECORD_KEYS = ["engine", "case", "model", "mode", "devices", "batch", "input_shape", "adc_bits", "device", "config",
               "signed_input_layers", "crossbar_layers", "calibration", "baseline", "rounds", "emulator_s",
               "baseline_s", "emulator_cpu_s", "baseline_cpu_s", "ratio_to_baseline", "ratio_rounds_min",
               "ratio_rounds_max", "rounds_rule", "emulator_cores_busy", "baseline_cores_busy", "emulator_rounds_s",
               "baseline_rounds_s", "relative_error", "top1_agreement", "threads", "thread_settings"]
MEMORY_KEYS = ["baseline_peak_rss_bytes", "baseline_rss_before_run_bytes", "baseline_setup_peak_rss_bytes",
               "emulator_peak_rss_bytes", "emulator_rss_before_run_bytes", "emulator_setup_peak_rss_bytes",
               "peak_memory_ratio", "setup_peak_memory_ratio", "memory_method"]
PLAUSIBILITY_KEYS = ["floor_ratio", "floor_basis", "plausible", "implausible_reason"]


def test_models_have_the_stated_shapes_and_every_projection_converts():
    generator = torch.Generator().manual_seed(0)
    resnet, block = models.resnet18(), models.transformer_block()
    images, tokens = models.cifar_like_images(2, generator), models.token_features(2, generator)
    assert images.min() < 0 < images.max()  # normalised images: signed
    assert tokens.min() >= 0
    with torch.no_grad():
        assert resnet.eval()(images).shape == (2, 10)
        assert block(tokens).shape == (2, models.SEQUENCE, models.WIDTH)
    # ResNet-18: stem + 16 block convolutions + 3 shortcuts + the classifier
    assert len(crossbar_layers(convert(resnet))) == 21
    names = [name for name, _ in crossbar_layers(convert(block))]
    assert names == ["q", "k", "v", "out", "up", "down"]
    assert sum(p.numel() for p in resnet.parameters()) == 11_173_962  # the CIFAR ResNet-18's count


def test_default_cases_and_case_checks():
    cases = default_cases()
    assert [case.name for case in cases] == list(model_benchmarks.CASE_NAMES) == [
        "resnet18-eval-ideal", "resnet18-eval-reram_wan2022", "resnet18-train-reram_wan2022",
        "transformer-eval-ideal", "transformer-eval-reram_wan2022"]
    assert [case.batch for case in cases] == [32, 32, 32, 8, 8]
    assert {case.adc_bits for case in cases} == {8}
    assert all(case.batch == case.calibration_inputs == 2 for case in default_cases(quick=True))
    assert ModelCase("resnet18", "eval", "ideal", 1, None).name == "resnet18-eval-ideal-lossless"
    with pytest.raises(ValueError, match="model must be one of"):
        ModelCase("vgg", "eval", "ideal", 1)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        ModelCase("resnet18", "eval", "ideal", 0)
    from cim_emu.reram import ReramConfig

    configured = ModelCase("resnet18", "train", "ideal", 1, config=ReramConfig.prime().to_dict())
    assert configured.name == "resnet18-train-configured" and configured.configuration == ReramConfig.prime()
    with pytest.raises(ValueError, match="bits"):
        ModelCase("resnet18", "eval", "ideal", 1, config={"adc": {"bits": 0}})


def test_quick_lossless_run_records_everything_and_stays_close_to_float():
    """Batch 2, 2 rounds, lossless crossbars: only the 8-bit quantization of weights and inputs
    separates the outputs from float; peak memory measured in fresh processes (a few seconds)."""
    block = model_benchmark(ModelCase("transformer", "eval", "ideal", 2, None, 2), rounds=2, threads=1)
    assert list(block) == RECORD_KEYS + MEMORY_KEYS + PLAUSIBILITY_KEYS
    assert block["case"] == "transformer-eval-ideal-lossless" and block["crossbar_layers"] == 6
    assert block["signed_input_layers"] == ["q", "k", "v", "out", "up"]
    assert block["rounds"] == 2 and len(block["emulator_rounds_s"]) == 2 and block["threads"] == 1
    assert block["thread_settings"]["torch_threads"] == 1 and block["thread_settings"]["cim_emu_threads"] == "1"
    assert block["relative_error"] < 0.02 and block["top1_agreement"] is None
    assert block["emulator_peak_rss_bytes"] >= block["emulator_rss_before_run_bytes"] > 0
    assert block["floor_ratio"] == 1.0
    assert block["plausible"] == (block["ratio_to_baseline"] >= 0.8)



@pytest.mark.slow
def test_quick_lossless_resnet_stays_close_to_float():
    """The ResNet's signed stem and 21 layers (about 10 s: programming the crossbars dominates)."""
    resnet = model_benchmark(ModelCase("resnet18", "eval", "ideal", 1, None, 4), rounds=2, memory=False)
    assert list(resnet) == RECORD_KEYS + PLAUSIBILITY_KEYS
    assert resnet["input_shape"] == [1, 3, 32, 32] and resnet["signed_input_layers"] == ["conv1"]
    assert resnet["crossbar_layers"] == 21
    assert resnet["relative_error"] < 0.15 and resnet["top1_agreement"] == 1.0
    assert resnet["ratio_to_baseline"] == pytest.approx(resnet["emulator_s"] / resnet["baseline_s"])


def test_peak_memory_rejects_an_unknown_side():
    with pytest.raises(ValueError, match="side must be"):
        model_benchmarks.peak_memory(default_cases()[0], "both")
