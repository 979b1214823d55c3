"""Cost model of Ambit programs: commands, latency, energy and throughput.

Defaults follow the Ambit paper (Seshadri et al., MICRO 2017) and CMU-SAFARI's Ambit model:

* **Timing** (DDR3-1600): tRAS = 35 ns, tRP = 13.75 ns, and the second ACTIVATE of an AAP
  issued 4 ns after the first (Ambit Section 5.3), so
  ``AAP = tRAS + 4 ns + tRP = 52.75 ns`` and ``AP = tRAS + tRP = 48.75 ns``.
* **Organisation**: 8 banks with 8 KiB rows operating in parallel (Ambit Section 7, Figure 9);
  ``subarrays_per_bank`` > 1 models subarray-level parallelism (SALP).
* **Energy**: Ambit Table 3 gives, per KiB of result, NOT 1.6, AND/OR 3.2, NAND/NOR 4.0,
  XOR/XNOR 5.5 nJ. These are exactly reproduced by a per-command energy of 0.8 nJ/KiB for
  an AAP and 0.75 nJ/KiB for an AP (NOT = 2 AAP, AND = 4 AAP, NAND = 5 AAP,
  XOR = 5 AAP + 2 AP), which is the model used here, so that any program gets an energy.
  The same table gives the cost of moving the data over the DDR3 interface to the CPU
  instead: 93.7 nJ/KiB for a unary operation (read 1, write 1) and 137.9 nJ/KiB for a binary
  one (read 2, write 1).

A logical row of ``row_bits`` bits spans ``ceil(row_bits / (8 * row_bytes))`` physical rows;
each receives the whole program. ``parallel_rows = banks * subarrays_per_bank`` of them run
at once, so a program of latency ``L`` takes ``ceil(physical_rows / parallel_rows) * L``.
Energy counts whole physical rows (a DRAM activation always opens the whole row). With
these parameters the peak throughput ``parallel_rows * row_bytes / L`` reproduces Ambit
Figure 9: about 621 GB/s for NOT, 311 for AND/OR, 248 for NAND/NOR and 181 for XOR/XNOR
(bytes of result per second).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

from .._checks import finite_positive, int_in_range, positive_int
from .program import Program

#: Physically meaningful organisations, ``(smallest, largest)``; :class:`DramOrganization` and the
#: command line refuse anything else. Sources for the bounds:
#:
#: * row bytes: a rank's row is its chips' pages side by side. The smallest is one x4 DDR4 chip's
#:   512-byte page (JEDEC JESD79-4, addressing table: page size 512 B / 1 KB / 2 KB for
#:   x4 / x8 / x16); Ambit's 8 KiB is eight x8 chips' 1 KB pages. The largest single-rank row is
#:   16 KiB (eight x16 chips' 2 KB pages, JESD79-4 and JESD79-5, or sixteen x4 DDR5 chips' 1 KB
#:   pages); 64 KiB leaves 4x room for wider or ganged ranks and refuses only absurd sizes.
#: * banks working in parallel: 32 banks per DDR5 rank (JESD79-5: 8 bank groups x 4 banks;
#:   DDR4 has 16), 4 ranks per DIMM (quad-rank LRDIMMs), 2 DIMMs per channel and 16 channels
#:   (beyond today's 12-channel server sockets): 32 x 4 x 2 x 16 = 4096.
#: * subarrays per bank: a bank of ``2**18`` rows (DDR4's row address A0-A17, as
#:   :data:`cim_emu.ambit.addresses.ROW_ADDRESSES`) in subarrays of 512 rows, the common size
#:   (Kim et al., "A Case for Exploiting Subarray-Level Parallelism (SALP) in DRAM", ISCA 2012,
#:   Section 2.2), is 512 subarrays.
ROW_BYTES_RANGE = (512, 65536)
BANKS_RANGE = (1, 4096)
SUBARRAYS_PER_BANK_RANGE = (1, 512)


def _check_positive(owner: object, *names: str) -> None:
    for name in names:
        finite_positive(name, getattr(owner, name))


@dataclasses.dataclass(frozen=True)
class DramTiming:
    """Command timing of the modelled DRAM."""

    t_ras_ns: float = 35.0
    """ACTIVATE to PRECHARGE (ns); DDR3-1600, as in CMU-SAFARI's Ambit model."""

    t_rp_ns: float = 13.75
    """PRECHARGE to the next ACTIVATE (ns); DDR3-1600."""

    t_second_activate_ns: float = 4.0
    """Delay of the second ACTIVATE of an AAP after the first (ns); Ambit Section 5.3."""

    def __post_init__(self) -> None:
        _check_positive(self, "t_ras_ns", "t_rp_ns", "t_second_activate_ns")

    @property
    def aap_ns(self) -> float:
        """Latency of one AAP: tRAS + second-activate delay + tRP."""
        return self.t_ras_ns + self.t_second_activate_ns + self.t_rp_ns

    @property
    def ap_ns(self) -> float:
        """Latency of one AP: tRAS + tRP."""
        return self.t_ras_ns + self.t_rp_ns


@dataclasses.dataclass(frozen=True)
class DramEnergy:
    """Energy per KiB of physical row that a command operates on (derived from Ambit Table 3)."""

    aap_nj_per_kib: float = 0.8
    """Energy of one AAP per KiB of row (nJ)."""

    ap_nj_per_kib: float = 0.75
    """Energy of one AP per KiB of row (nJ)."""

    cpu_unary_nj_per_kib: float = 93.7
    """Moving a unary operation's data over DDR3 to the CPU and back (nJ/KiB, Ambit Table 3)."""

    cpu_binary_nj_per_kib: float = 137.9
    """Moving a binary operation's data over DDR3 to the CPU and back (nJ/KiB, Ambit Table 3)."""

    def __post_init__(self) -> None:
        _check_positive(self, "aap_nj_per_kib", "ap_nj_per_kib", "cpu_unary_nj_per_kib",
                        "cpu_binary_nj_per_kib")

    def cpu_nj_per_kib(self, n_inputs: int) -> Optional[float]:
        """The published CPU-side energy for 1 or 2 inputs (``None`` otherwise)."""
        return {1: self.cpu_unary_nj_per_kib, 2: self.cpu_binary_nj_per_kib}.get(n_inputs)


@dataclasses.dataclass(frozen=True)
class DramOrganization:
    """How much DRAM works in lockstep."""

    row_bytes: int = 8192
    """Bytes of one physical row across a rank (8 KiB in Ambit's evaluation); 512 .. 65536."""

    banks: int = 8
    """Banks operating in parallel (8 in Ambit's evaluation); 1 .. 1024."""

    subarrays_per_bank: int = 1
    """Subarrays per bank operating in parallel (1: no subarray-level parallelism); 1 .. 512."""

    def __post_init__(self) -> None:
        for name, (low, high) in (("row_bytes", ROW_BYTES_RANGE), ("banks", BANKS_RANGE),
                                  ("subarrays_per_bank", SUBARRAYS_PER_BANK_RANGE)):
            object.__setattr__(self, name, int_in_range(name, getattr(self, name), low, high))

    @property
    def parallel_rows(self) -> int:
        return self.banks * self.subarrays_per_bank


@dataclasses.dataclass(frozen=True)
class ProgramCost:
    """What one program costs on a logical row of ``row_bits`` bits."""

    commands: dict
    """Commands of the program, by kind, e.g. ``{"AAP": 5, "AP": 2}``."""

    row_bits: int
    physical_rows: int
    """Physical DRAM rows the logical row spans (each gets the whole program)."""

    commands_issued: int
    """Commands issued over all physical rows."""

    latency_ns: float
    energy_nj: float

    @property
    def throughput_bytes_per_s(self) -> float:
        """Bytes of result per second achieved for this row length."""
        return (self.row_bits / 8) / (self.latency_ns * 1e-9)

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["throughput_bytes_per_s"] = self.throughput_bytes_per_s
        return data


@dataclasses.dataclass(frozen=True)
class AmbitCostModel:
    """Latency and energy of Ambit programs (defaults: the paper's DDR3-1600 system)."""

    timing: DramTiming = DramTiming()
    energy: DramEnergy = DramEnergy()
    organization: DramOrganization = DramOrganization()

    @classmethod
    def ddr3_1600(cls) -> "AmbitCostModel":
        """The Ambit paper's system (the default)."""
        return cls()

    @classmethod
    def ddr4_2400(cls) -> "AmbitCostModel":
        """DDR4-2400R timing (JEDEC JESD79-4: tRAS 32 ns, tRP 13.32 ns), 16 banks, 8 KiB rows.

        Energy keeps the DDR3 per-KiB figures of Ambit Table 3: no DDR4 figures are published.
        """
        return cls(DramTiming(t_ras_ns=32.0, t_rp_ns=13.32), DramEnergy(), DramOrganization(banks=16))

    def command_latency_ns(self, op: str) -> float:
        return self.timing.aap_ns if op == "AAP" else self.timing.ap_ns

    def command_energy_nj_per_kib(self, op: str) -> float:
        return self.energy.aap_nj_per_kib if op == "AAP" else self.energy.ap_nj_per_kib

    def program_latency_ns(self, program: Program) -> float:
        """Latency of one run of ``program`` on one physical row."""
        return sum(self.command_latency_ns(op) * n for op, n in program.counts().items())

    def physical_rows(self, row_bits: int) -> int:
        return math.ceil(positive_int("row_bits", row_bits) / (8 * self.organization.row_bytes))

    def program_cost(self, program: Program, row_bits: int) -> ProgramCost:
        """Commands, latency and energy of ``program`` on a logical row of ``row_bits`` bits."""
        counts = program.counts()
        rows = self.physical_rows(row_bits)
        waves = math.ceil(rows / self.organization.parallel_rows)
        row_kib = self.organization.row_bytes / 1024
        return ProgramCost(
            commands=counts,
            row_bits=row_bits,
            physical_rows=rows,
            commands_issued=len(program) * rows,
            latency_ns=waves * self.program_latency_ns(program),
            energy_nj=self.energy_nj_per_kib(program) * rows * row_kib,
        )

    def peak_throughput_bytes_per_s(self, program: Program) -> float:
        """Bytes of result per second with every parallel row busy (Ambit Figure 9)."""
        org = self.organization
        return org.parallel_rows * org.row_bytes / (self.program_latency_ns(program) * 1e-9)

    def energy_nj_per_kib(self, program: Program) -> float:
        """Energy per KiB of result (comparable with Ambit Table 3)."""
        return sum(self.command_energy_nj_per_kib(op) * n for op, n in program.counts().items())
