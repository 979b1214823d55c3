"""The cost model against the Ambit paper's figures."""

import math

import numpy
import pytest

from cim_emu.ambit import (
    OPERATIONS,
    AmbitCostModel,
    DramOrganization,
    DramTiming,
    Subarray,
    bulk_op,
    program_for,
)

# docs/spec/ambit.md / Ambit Figure 8: commands of each library program.
COMMANDS = {
    "copy": (1, 0), "not": (2, 0), "and": (4, 0), "or": (4, 0), "nand": (5, 0), "nor": (5, 0),
    "xor": (5, 2), "xnor": (5, 2), "maj": (4, 0),
}  # fmt: skip
# Ambit Table 3 (nJ/KiB) and Figure 9 (GB/s, 8 banks x 8 KiB rows, DDR3-1600).
TABLE3_ENERGY = {"not": 1.6, "and": 3.2, "or": 3.2, "nand": 4.0, "nor": 4.0, "xor": 5.5, "xnor": 5.5}
FIGURE9_GBPS = {"not": 620, "and": 310, "or": 310, "nand": 250, "nor": 250, "xor": 180, "xnor": 180}


def library_program(op):
    arity = OPERATIONS[op][0]
    return program_for(op, [f"D{i}" for i in range(arity)], f"D{arity}")


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_latency_is_command_count_times_paper_timing(op):
    aap, ap = COMMANDS[op]
    cost = AmbitCostModel().program_cost(library_program(op), 8192 * 8)
    assert cost.commands == {"AAP": aap, "AP": ap}
    assert cost.physical_rows == 1 and cost.commands_issued == aap + ap
    assert cost.latency_ns == pytest.approx(aap * 52.75 + ap * 48.75)


def test_aap_and_ap_latency_from_ddr3_timing():
    timing = DramTiming()
    assert timing.aap_ns == pytest.approx(35 + 4 + 13.75) and timing.ap_ns == pytest.approx(35 + 13.75)


@pytest.mark.parametrize("op", sorted(TABLE3_ENERGY))
def test_energy_reproduces_table_3(op):
    model = AmbitCostModel()
    assert model.energy_nj_per_kib(library_program(op)) == pytest.approx(TABLE3_ENERGY[op])
    assert model.program_cost(library_program(op), 8192 * 8).energy_nj == pytest.approx(8 * TABLE3_ENERGY[op])


@pytest.mark.parametrize("op", sorted(FIGURE9_GBPS))
def test_peak_throughput_reproduces_figure_9(op):
    gbps = AmbitCostModel().peak_throughput_bytes_per_s(library_program(op)) / 1e9
    assert gbps == pytest.approx(FIGURE9_GBPS[op], rel=0.03)


def test_long_rows_span_physical_rows_that_run_in_parallel_waves():
    model = AmbitCostModel(organization=DramOrganization(row_bytes=1024, banks=4))
    program = library_program("and")
    row_bits = 1024 * 8 * 10 + 1  # 11 physical rows -> 3 waves of 4
    cost = model.program_cost(program, row_bits)
    assert cost.physical_rows == 11 and cost.commands_issued == 44
    assert cost.latency_ns == pytest.approx(3 * 4 * 52.75)
    assert cost.energy_nj == pytest.approx(11 * 3.2)
    assert cost.throughput_bytes_per_s == pytest.approx(row_bits / 8 / (cost.latency_ns * 1e-9))


def test_subarray_and_bulk_op_report_the_cost_of_what_they_ran():
    zeros = numpy.zeros(100, bool)
    result = bulk_op("xor", zeros, zeros)
    assert result.cost.commands == {"AAP": 5, "AP": 2}
    assert result.cpu_energy_nj == pytest.approx(137.9 * 100 / 8 / 1024)
    cost = Subarray(100, 3).run(library_program("not"))
    assert cost.latency_ns == pytest.approx(2 * 52.75)


def test_ddr4_preset_and_validation():
    model = AmbitCostModel.ddr4_2400()
    assert model.timing.aap_ns == pytest.approx(32 + 4 + 13.32)
    assert model.organization.banks == 16
    with pytest.raises(ValueError, match="t_ras_ns"):
        DramTiming(t_ras_ns=0)
    with pytest.raises(ValueError, match="banks"):
        DramOrganization(banks=0)
    with pytest.raises(ValueError, match="row_bits"):
        model.physical_rows(0)
    assert math.isclose(model.program_latency_ns(library_program("copy")), 49.32)
