"""What the timing of ``ACT RF, t1, PRE, t2, ACT RS`` makes of it, and what it costs.

The windows (ns):

========================  ==================  ==================================================
``t1``                     ``t2``              regime
========================  ==================  ==================================================
``<= 3``                   ``<= 6``            *charge sharing*: RF's bitline charge is not yet
                                               sensed when every row of the group joins it; the
                                               group settles to the majority of its rows (SiMRA
                                               Section 7, best at ``t1 = 1.5``, ``t2 = 3``)
``>= 18``                  ``<= 6``            *sensed*: the sense amplifiers hold RF's value,
                                               and every row of the group takes it: Multi-RowCopy
                                               (SiMRA Section 8, ``t1 = 36``), or NOT across
                                               neighbouring subarrays (FCDRAM Section 4)
any                        ``>= tRP``          precharge completes: ``ACT RS`` is an ordinary
                                               activation, nothing changes
anything else                                  reported as unreliable: refused
========================  ==================  ==================================================

The emulator refuses (:class:`~cim_emu.ambit.realchip.decoder.RealChipCommandError`) the
timings between the windows rather than invent a result: SiMRA Figure 6 reports low success
for them, and no model of partial sensing is published. The window edges 3 and 6 ns are the
largest ``t1`` and ``t2`` SiMRA reports as working (its figures step ``t1``, ``t2`` in 1.5 ns);
18 ns is the sensing time the issue quotes (SiMRA uses 36 ns). Inside a window the success
table of ``t1 = 1.5``, ``t2 = 3`` (charge sharing) or ``t1 = 36``, ``t2 = 3`` (sensed) applies:
the emulator does not vary success with the timing inside a window (not characterised).

Cost on the DDR4-2400 preset (:meth:`cim_emu.ambit.cost.AmbitCostModel.ddr4_2400`): an APA is
``t1 + t2 + tRAS + tRP`` (the second activation completes and the bank is precharged
properly); a Frac is ``1.5 ns + tRP``.
"""

from __future__ import annotations

from ..._checks import is_real, shown
from .decoder import RealChipCommandError

#: The largest t1 of charge sharing, the smallest of a sensed row, and the largest violated t2 (ns).
T1_CHARGE_SHARE_MAX_NS = 3.0
T1_SENSED_MIN_NS = 18.0
T2_LATCHED_MAX_NS = 6.0

#: DDR4-2400 tRP (JEDEC JESD79-4), as in AmbitCostModel.ddr4_2400; and its tRAS.
DDR4_T_RP_NS = 13.32
DDR4_T_RAS_NS = 32.0

#: The delay of Frac's PRECHARGE after its ACTIVATE (FCDRAM, SiMRA: 1.5 ns).
FRAC_T_NS = 1.5

#: The published operating points: SiMRA's majority and Multi-RowCopy timings.
MAJ_TIMING = (1.5, 3.0)
COPY_TIMING = (36.0, 3.0)

REGIMES = ("charge-share", "sensed", "ordinary")


def check_time(name: str, value: object) -> float:
    """``value`` as a finite number of ns in ``[0, 1000]``."""
    if not is_real(value) or not 0 <= value <= 1000:  # type: ignore[operator]
        raise ValueError(f"{name} must be a number of ns in [0, 1000]; got {shown(value)}")
    return float(value)  # type: ignore[arg-type]


def regime(t1: object, t2: object, t_rp_ns: float = DDR4_T_RP_NS) -> str:
    """The regime of an APA with these timings (see the module docstring)."""
    t1_ns, t2_ns = check_time("t1", t1), check_time("t2", t2)
    if t2_ns >= t_rp_ns:
        return "ordinary"
    if t2_ns <= T2_LATCHED_MAX_NS:
        if t1_ns <= T1_CHARGE_SHARE_MAX_NS:
            return "charge-share"
        if t1_ns >= T1_SENSED_MIN_NS:
            return "sensed"
    raise RealChipCommandError(
        f"APA with t1 = {t1_ns:g} ns, t2 = {t2_ns:g} ns is outside the working windows (t1 <= "
        f"{T1_CHARGE_SHARE_MAX_NS:g} or >= {T1_SENSED_MIN_NS:g}, with t2 <= {T2_LATCHED_MAX_NS:g}; or t2 >= tRP "
        f"= {t_rp_ns:g}): the papers report it as failing")


def apa_latency_ns(t1: float, t2: float, t_ras_ns: float = DDR4_T_RAS_NS, t_rp_ns: float = DDR4_T_RP_NS) -> float:
    """Latency of one APA: ``t1 + t2 + tRAS + tRP``."""
    return t1 + t2 + t_ras_ns + t_rp_ns


def frac_latency_ns(t_rp_ns: float = DDR4_T_RP_NS) -> float:
    """Latency of one Frac: ``1.5 ns + tRP``."""
    return FRAC_T_NS + t_rp_ns
