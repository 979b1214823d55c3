"""Evaluation order and register allocation of a compiled Ambit program.

:func:`schedule` orders the computed nodes a set of roots needs and gives each a scratch slot,
recycled as soon as the node's last user has run (a linear-scan register allocation), so a
program of thousands of commands needs only as many buffers as values live at once. The fast
executor (:mod:`cim_emu.ambit.fast`) and the fused kernel's encoding
(:mod:`cim_emu.ambit.program_encoding`) share it: both keep exactly the same values live.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .compiler import CompiledProgram

__all__ = ["Step", "schedule"]


class Step(NamedTuple):
    """One computed node: its id, operation, operand nodes, parameter and scratch slot."""

    node: int
    op: str
    args: tuple[int, ...]
    param: Any
    slot: int  # scratch slot, or -1 when the node is a result written into its output row


def schedule(compiled: CompiledProgram, roots: set[int]) -> tuple[list[Step], int]:
    """Evaluation order of the computed nodes and the scratch slot of each (register allocation),
    computed once per program and set of roots."""
    key = frozenset(roots)
    if key not in compiled.schedules:
        compiled.schedules[key] = _allocate(compiled, roots)
    return compiled.schedules[key]


def _allocate(compiled: CompiledProgram, roots: set[int]) -> tuple[list[Step], int]:
    order = [i for i in compiled.live_nodes(sorted(roots)) if compiled.nodes[i].op not in ("row", "const")]
    last_use = {}
    for position, node_id in enumerate(order):
        for arg in compiled.nodes[node_id].args:
            last_use[arg] = position
    free: list[int] = []
    slot_of: dict[int, int] = {}
    n_slots = 0
    steps = []
    for position, node_id in enumerate(order):
        node = compiled.nodes[node_id]
        slot = -1
        if node_id not in roots:
            if free:
                slot = free.pop()
            else:
                slot, n_slots = n_slots, n_slots + 1
            slot_of[node_id] = slot
        steps.append(Step(node_id, node.op, node.args, node.param, slot))
        for arg in set(node.args):
            if last_use.get(arg) == position and arg in slot_of:
                free.append(slot_of[arg])
    return steps, n_slots
