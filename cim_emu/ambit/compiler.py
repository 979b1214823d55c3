"""Compile an Ambit program into one simplified expression per written row.

The program is run once through :class:`~cim_emu.ambit.semantics.BankInterpreter` with
*symbolic* row values: a value is the id of a node in a hash-consed expression DAG whose
leaves are the rows' values at program start and the constants 0 and 1. The result says,
for every row the program changes, which expression of the initial rows it ends up holding,
so the fast executor can evaluate all of them in one pass over memory, reading each input row
once and writing each distinct result once.

Simplification (only when faults are off; with faults every TRA stays a ``maj`` node, keyed
by its ordinal, so the executor injects exactly the faults the reference does):

* constant folding: ``NOT 0 = 1``, ``MAJ(x, y, 0) = x AND y``, ``MAJ(x, y, 1) = x OR y``;
* ``NOT NOT x = x``; ``MAJ(x, x, y) = x``; ``MAJ(x, NOT x, y) = y``; ``x AND x = x``,
  ``x AND NOT x = 0`` and their duals;
* XOR recognition, which turns Ambit's XOR/XNOR sequences into one operation:
  ``(e AND f) OR (NOT e AND NOT f) = NOT (e XOR f)``,
  ``(e OR f) AND (NOT e OR NOT f) = e XOR f``, and ``NOT x XOR y = NOT (x XOR y)``.

Every rule is a Boolean identity, so the compiled program computes exactly the reference's
bits; the tests hold the two executors to identical final states on random programs.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple, Optional

from .program import Command
from .semantics import BankInterpreter


class Node(NamedTuple):
    """An expression node: ``op`` in row, const, not, and, or, xor, maj.

    ``param`` is the row name for ``row``, the bit for ``const``, and, for ``maj``, the
    ordinal of its triple-row activation within the program (faults are keyed by it).
    """

    op: str
    args: tuple[int, ...] = ()
    param: Any = None


class SymbolicAlgebra:
    """Row values as node ids in a hash-consed DAG (see module docstring for the rules)."""

    def __init__(self, simplify: bool) -> None:
        self.simplify = simplify
        self.nodes: list[Node] = []
        self._ids: dict[Node, int] = {}

    def _make(self, op: str, args: tuple[int, ...] = (), param: Any = None) -> int:
        node = Node(op, args, param)
        found = self._ids.get(node)
        if found is None:
            found = self._ids[node] = len(self.nodes)
            self.nodes.append(node)
        return found

    def leaf(self, row: str) -> int:
        return self._make("row", (), row)

    def constant(self, bit: int) -> int:
        return self._make("const", (), int(bit))

    def _const_value(self, x: int) -> Optional[int]:
        node = self.nodes[x]
        return node.param if node.op == "const" else None

    def _complementary(self, x: int, y: int) -> bool:
        nx, ny = self.nodes[x], self.nodes[y]
        if nx.op == "const" and ny.op == "const":
            return nx.param != ny.param
        return (nx.op == "not" and nx.args[0] == y) or (ny.op == "not" and ny.args[0] == x)

    def invert(self, x: int) -> int:
        node = self.nodes[x]
        if node.op == "const":
            return self.constant(1 - node.param)
        if node.op == "not":
            return node.args[0]
        return self._make("not", (x,))

    def majority(self, a: int, b: int, c: int, tra_index: int) -> int:
        if not self.simplify:
            return self._make("maj", tuple(sorted((a, b, c))), tra_index)
        a, b, c = sorted((a, b, c))
        for x, y, z in ((a, b, c), (a, c, b), (b, c, a)):
            if x == y:
                return x
            if self._complementary(x, y):
                return z
        for x, y, z in ((a, b, c), (b, c, a), (c, a, b)):
            bit = self._const_value(z)
            if bit is not None:
                return self.or_(x, y) if bit else self.and_(x, y)
        return self._make("maj", (a, b, c))

    def _binary(self, op: str, x: int, y: int) -> Optional[int]:
        """Rules common to AND and OR; ``None`` when none applies."""
        absorbing, neutral = (0, 1) if op == "and" else (1, 0)
        for p, q in ((x, y), (y, x)):
            bit = self._const_value(p)
            if bit is not None:
                return self.constant(absorbing) if bit == absorbing else q
        if x == y:
            return x
        if self._complementary(x, y):
            return self.constant(absorbing)
        dual = "or" if op == "and" else "and"
        nx, ny = self.nodes[x], self.nodes[y]
        if nx.op == dual and ny.op == dual and len(nx.args) == 2:
            e, f = nx.args
            if sorted((self.invert(e), self.invert(f))) == sorted(ny.args):
                # (e OR f) AND (NOT e OR NOT f) = e XOR f; (e AND f) OR (...) = NOT (e XOR f)
                xor = self.xor(e, f)
                return xor if op == "and" else self.invert(xor)
        return None

    def and_(self, x: int, y: int) -> int:
        found = self._binary("and", x, y)
        return self._make("and", tuple(sorted((x, y)))) if found is None else found

    def or_(self, x: int, y: int) -> int:
        found = self._binary("or", x, y)
        return self._make("or", tuple(sorted((x, y)))) if found is None else found

    def xor(self, x: int, y: int) -> int:
        if x == y:
            return self.constant(0)
        if self._complementary(x, y):
            return self.constant(1)
        for p, q in ((x, y), (y, x)):
            bit = self._const_value(p)
            if bit is not None:
                return self.invert(q) if bit else q
            if self.nodes[p].op == "not":
                return self.invert(self.xor(self.nodes[p].args[0], q))
        return self._make("xor", tuple(sorted((x, y))))


class _LeafRows(dict):
    """Row state for the symbolic run: a row not yet written reads as its initial value."""

    def __init__(self, algebra: SymbolicAlgebra) -> None:
        super().__init__()
        self.algebra = algebra
        self.read_initial: set[str] = set()

    def __missing__(self, row: str) -> int:
        self.read_initial.add(row)
        return self.algebra.leaf(row)


@dataclasses.dataclass(frozen=True)
class CompiledProgram:
    """A program compiled for a subarray size and fault setting.

    ``nodes`` is topologically ordered (arguments precede their users); ``outputs`` maps every
    row whose final value differs from its initial value to the node it holds; ``reads``
    names the rows whose initial values the program reads (they must hold values);
    ``tra_count`` is the number of triple-row activations (fault keys advance by it).
    """

    instructions: tuple[Command, ...]
    nodes: tuple[Node, ...]
    outputs: dict
    reads: frozenset
    tra_count: int
    schedules: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """Evaluation schedules of the fast executor and their kernel encodings, by set of roots
    (filled on first use)."""

    def live_nodes(self, roots: list[int]) -> list[int]:
        """Ids of the nodes needed to compute ``roots``, in evaluation order."""
        needed: set[int] = set()
        stack = list(roots)
        while stack:
            node_id = stack.pop()
            if node_id not in needed:
                needed.add(node_id)
                stack.extend(self.nodes[node_id].args)
        return sorted(needed)


@functools.lru_cache(maxsize=512)
def compile_program(instructions: tuple[Command, ...], data_rows: int, with_faults: bool) -> CompiledProgram:
    """Compile commands (without comments) for a subarray of ``data_rows`` data rows.

    Raises :class:`~cim_emu.ambit.semantics.AmbitCommandError` for an illegal command, exactly
    as the reference executor would.
    """
    algebra = SymbolicAlgebra(simplify=not with_faults)
    rows = _LeafRows(algebra)
    interpreter = BankInterpreter(algebra, rows, data_rows)
    for command in instructions:
        interpreter.execute(command)
    outputs = {row: node for row, node in rows.items() if node != algebra.leaf(row)}
    return CompiledProgram(
        instructions=instructions,
        nodes=tuple(algebra.nodes),
        outputs=outputs,
        reads=frozenset(rows.read_initial),
        tra_count=interpreter.tra_count,
    )
