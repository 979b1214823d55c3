"""The sweeps' ``accuracy`` study: a section's verdict and summary from the checks the command gathers."""

import pytest

from cim_emu.studies import accuracy_sections
from cim_emu.sweep import engines


@pytest.mark.parametrize("section", ["ambit-library", "ambit-fault-rate", "realchip", "reram-adc-sweep"])
def test_a_point_counts_the_sections_checks_and_adds_its_summary(section):
    metrics = engines.accuracy_section({"section": section, "quick": True}, 2, "numpy")
    found = accuracy_sections.checks(section, True, 2, "numpy")
    assert metrics == {"checks": len(found.records), "failed": 0, "passed": True, **found.summary}
    assert list(metrics)[:3] == ["checks", "failed", "passed"]


def test_a_failed_check_fails_the_point(monkeypatch):
    def one_failure(section, quick, seed, backend):
        return accuracy_sections.SectionChecks([{"passed": True}, {"passed": False}], {"bit_errors": 3})

    monkeypatch.setattr(accuracy_sections, "checks", one_failure)
    metrics = engines.accuracy_section({"section": "ambit-library", "quick": True}, 0, "numpy")
    assert metrics == {"checks": 2, "failed": 1, "passed": False, "bit_errors": 3}


def test_the_torch_section_runs_on_one_thread_and_restores_the_count(monkeypatch):
    torch = pytest.importorskip("torch")
    seen = []

    def threads_seen(section, quick, seed, backend):
        seen.append(torch.get_num_threads())
        return accuracy_sections.SectionChecks([{"passed": True, "accuracy": 0.9}],
                                               {"float_accuracy": 0.9, "min_accuracy": 0.9})

    monkeypatch.setattr(accuracy_sections, "checks", threads_seen)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        engines.accuracy_section({"section": "torch-digits-cnn", "quick": True}, 0, "numpy")
        assert seen == [1] and torch.get_num_threads() == 2
        engines.accuracy_section({"section": "reram-exact", "quick": True}, 0, "numpy")
        assert seen == [1, 2]  # other sections leave torch's threads alone
    finally:
        torch.set_num_threads(before)
