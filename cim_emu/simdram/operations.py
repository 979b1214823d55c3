"""The SIMDRAM operations: what each computes (its numpy definition) and how it is built.

SIMDRAM's 16 operations (Hajinazar et al., ASPLOS 2021, Section 7 and Table 3) plus negation,
each with the program builder of this package and a plain numpy reference that defines the
result bit for bit. ``n`` is the operand width (1 to 64 bits), ``signed`` says whether operands
are two's complement. The builders live in :mod:`.arithmetic`, :mod:`.comparison` and
:mod:`.reduction`; the tests hold every program to its reference.

Semantics (the reference functions below):

* ``add``, ``sub``, ``mul``, ``neg``: the low ``n`` bits of the exact result (wrap-around
  modulo ``2**n``), read back as signed or unsigned like the operands. numpy's fixed-width
  integer arithmetic does the same at 8, 16, 32 and 64 bits.
* ``div``: ``(quotient, remainder)``. Unsigned: division by zero gives quotient ``2**n - 1``
  (all ones) and remainder = dividend, the RISC-V convention. Signed: truncation toward zero
  (C, RISC-V — numpy's ``//`` floors instead), remainder ``a - b*q`` with the sign of ``a``;
  ``x / 0 = -1`` with remainder ``x``; ``INT_MIN / -1`` wraps to ``INT_MIN``, remainder 0.
* ``abs``: ``|x|``, with ``abs(-2**(n-1)) = -2**(n-1)`` (wraps, as ``numpy.abs`` does for int8
  .. int64); the identity for unsigned operands. ``relu``: ``max(x, 0)``; the identity for
  unsigned operands.
* ``equal``, ``greater``, ``greater_equal``: bool results, comparing as signed or unsigned.
  ``min``, ``max``: elementwise, likewise.
* ``if_else(condition, a, b)``: ``a`` where the bool ``condition`` holds, else ``b``; the
  condition is a bool array or integers 0 and 1 (:func:`~cim_emu.simdram.api.simdram_op`
  refuses any other value).
* ``bitcount``: the number of set bits of the ``n``-bit pattern (two's complement for signed
  operands), an unsigned result of ``n.bit_length()`` bits.
* ``and_reduce``, ``or_reduce``, ``xor_reduce``: AND, OR, XOR of the ``n`` bits of each element,
  as bool.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import numpy

from ..ambit.addresses import AMBIT_DATA_ROWS
from ..ambit.program import Program
from . import arithmetic, comparison, reduction
from .allocator import RowAllocator
from .builder import Operand, ProgramBuilder
from .layout import check_bits


def wrap(values: Any, bits: int, signed: bool) -> Any:
    """Integers (any numpy integer array) reduced modulo ``2**bits``, as int64 or uint64."""
    mask = numpy.uint64((1 << bits) - 1)
    low = numpy.asarray(values).astype(numpy.uint64) & mask
    if not signed:
        return low
    sign = numpy.uint64(1 << (bits - 1))
    return ((low ^ sign) - sign).view(numpy.int64)


def popcount(values: Any, bits: int) -> Any:
    """Set bits among the low ``bits`` bits of each value (uint64 in, int64 out)."""
    low = numpy.ascontiguousarray(wrap(values, bits, False))
    return numpy.unpackbits(low.view(numpy.uint8).reshape(-1, 8), axis=1).sum(axis=1, dtype=numpy.int64)


def _as_uint(x: Any) -> Any:
    """Two's complement bit patterns as uint64 (signed values wrap, unsigned ones are kept)."""
    x = numpy.asarray(x)
    return x.astype(numpy.int64).view(numpy.uint64) if x.dtype.kind == "i" else x.astype(numpy.uint64)


def _divmod_reference(a: Any, b: Any, bits: int, signed: bool) -> tuple:
    a_negative = numpy.asarray(a) < 0 if signed else False
    b_negative = numpy.asarray(b) < 0 if signed else False
    a, b = _as_uint(a), _as_uint(b)
    magnitude_a = numpy.where(a_negative, numpy.uint64(0) - a, a)  # |INT_MIN| = 2**(n-1) as unsigned
    magnitude_b = numpy.where(b_negative, numpy.uint64(0) - b, b)
    zero = magnitude_b == 0
    safe = numpy.where(zero, numpy.uint64(1), magnitude_b)
    quotient = numpy.where(zero, numpy.uint64((1 << bits) - 1), magnitude_a // safe)
    remainder = numpy.where(zero, magnitude_a, magnitude_a % safe)
    quotient = numpy.where((a_negative != b_negative) & ~zero, numpy.uint64(0) - quotient, quotient)
    remainder = numpy.where(a_negative, numpy.uint64(0) - remainder, remainder)
    return wrap(quotient, bits, signed), wrap(remainder, bits, signed)


def _abs_reference(x: Any, bits: int, signed: bool) -> Any:
    if not signed:
        return _as_uint(x)
    x = numpy.asarray(x).astype(numpy.int64)
    return wrap(numpy.where(x < 0, -x, x), bits, signed)


REFERENCES: dict[str, Callable[..., Any]] = {
    "add": lambda a, b, bits, signed: wrap(_as_uint(a) + _as_uint(b), bits, signed),
    "sub": lambda a, b, bits, signed: wrap(_as_uint(a) - _as_uint(b), bits, signed),
    "mul": lambda a, b, bits, signed: wrap(_as_uint(a) * _as_uint(b), bits, signed),
    "div": _divmod_reference,
    "neg": lambda x, bits, signed: wrap(numpy.uint64(0) - _as_uint(x), bits, signed),
    "abs": _abs_reference,
    "relu": lambda x, bits, signed: numpy.maximum(numpy.asarray(x), 0),
    "equal": lambda a, b, bits, signed: numpy.asarray(a) == numpy.asarray(b),
    "greater": lambda a, b, bits, signed: numpy.asarray(a) > numpy.asarray(b),
    "greater_equal": lambda a, b, bits, signed: numpy.asarray(a) >= numpy.asarray(b),
    "min": lambda a, b, bits, signed: numpy.minimum(a, b),
    "max": lambda a, b, bits, signed: numpy.maximum(a, b),
    "if_else": lambda c, a, b, bits, signed: numpy.where(numpy.asarray(c, dtype=bool), a, b),
    "bitcount": lambda x, bits, signed: popcount(x, bits),
    "and_reduce": lambda x, bits, signed: popcount(x, bits) == bits,
    "or_reduce": lambda x, bits, signed: popcount(x, bits) > 0,
    "xor_reduce": lambda x, bits, signed: popcount(x, bits) % 2 == 1,
}


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation: its inputs, its builder and the kind of each result."""

    name: str
    arity: int
    build: Callable[..., tuple]
    """``build(builder, rows, *operands, signed)`` -> the result operands."""

    results: tuple
    """Kind of each result: ``"value"`` (n bits, signedness of the operands), ``"bool"`` (one
    bit) or ``"count"`` (``n.bit_length()`` bits, unsigned)."""

    condition_first: bool = False
    """True when the first operand is a one-bit condition (if-else)."""

    def reference(self, *operands: Any, bits: int, signed: bool) -> tuple:
        """The numpy definition of the results."""
        out = REFERENCES[self.name](*operands, bits=bits, signed=signed)
        return out if isinstance(out, tuple) else (out,)


def _one(build: Callable[..., Operand]) -> Callable[..., tuple]:
    return lambda p, rows, *operands, signed: (build(p, rows, *operands),)


def _signed(build: Callable[..., Operand]) -> Callable[..., tuple]:
    return lambda p, rows, *operands, signed: (build(p, rows, *operands, signed),)


def _reduce(op: str) -> Callable[..., tuple]:
    return lambda p, rows, x, signed: (reduction.and_or_reduce(p, rows, x, op),)


OPERATIONS: dict[str, Operation] = {op.name: op for op in [
    Operation("add", 2, _one(arithmetic.add), ("value",)),
    Operation("sub", 2, _one(arithmetic.sub), ("value",)),
    Operation("mul", 2, _one(arithmetic.mul), ("value",)),
    Operation("div", 2, arithmetic.divide, ("value", "value")),
    Operation("neg", 1, _one(arithmetic.negate), ("value",)),
    Operation("abs", 1, _signed(arithmetic.absolute), ("value",)),
    Operation("relu", 1, _signed(arithmetic.relu), ("value",)),
    Operation("equal", 2, _one(comparison.equal), ("bool",)),
    Operation("greater", 2, _signed(comparison.greater), ("bool",)),
    Operation("greater_equal", 2, _signed(comparison.greater_equal), ("bool",)),
    Operation("min", 2, _signed(comparison.minimum), ("value",)),
    Operation("max", 2, _signed(comparison.maximum), ("value",)),
    Operation("if_else", 3, _one(comparison.if_else), ("value",), condition_first=True),
    Operation("bitcount", 1, _one(reduction.bitcount), ("count",)),
    Operation("and_reduce", 1, _reduce("and"), ("bool",)),
    Operation("or_reduce", 1, _reduce("or"), ("bool",)),
    Operation("xor_reduce", 1, _one(reduction.xor_reduce), ("bool",)),
]}  # fmt: skip


def get_operation(name: str) -> Operation:
    if name not in OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(OPERATIONS)}; got {name!r}")
    return OPERATIONS[name]


def operand_widths(operation: Operation, bits: int) -> tuple[int, ...]:
    """Bits of each operand (the if-else condition has one)."""
    return tuple(1 if operation.condition_first and i == 0 else bits for i in range(operation.arity))


@dataclasses.dataclass(frozen=True)
class BuiltOperation:
    """A program and where its operands and results live."""

    program: Program
    inputs: tuple
    """The operand rows, one tuple per operand, least significant bit first."""

    outputs: tuple
    """The result rows, one tuple per result."""

    rows_used: int
    """Data rows the operation needs at most (operands, results and temporaries)."""


@functools.lru_cache(maxsize=256)
def build_operation(name: str, bits: int, signed: bool = False, data_rows: int = AMBIT_DATA_ROWS) -> BuiltOperation:
    """The program of ``name`` on ``bits``-bit operands, its operands in the lowest data rows.

    Raises :class:`~cim_emu.simdram.allocator.OutOfRowsError` when ``data_rows`` rows do not
    suffice and ``ValueError`` for an unknown operation or a width outside 1..64.
    """
    operation = get_operation(name)
    bits = check_bits(bits)
    rows = RowAllocator(data_rows)
    inputs = tuple(rows.take(width, f"operand {i} of {name}")
                   for i, width in enumerate(operand_widths(operation, bits)))
    builder = ProgramBuilder()
    outputs = operation.build(builder, rows, *inputs, signed=bool(signed))
    return BuiltOperation(builder.program(), inputs, tuple(outputs), rows.high_water)
