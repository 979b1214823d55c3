"""IR drop: the resistance of word and bit lines, solved exactly once per tile when it is programmed.

Wires (:class:`WireModel`, the configuration's ``wires`` section) put a resistance on every
segment of the word lines (``r_wire_row``) and bit lines (``r_wire_col``), and optionally in the
word-line drivers (``r_driver``) and the sense amplifiers (``r_sense``). The cells are ideal
linear conductances, so for fixed conductances the circuit is linear in the applied voltages and
the column currents of a tile are exactly ``I = V @ M_eff``, where ``M_eff`` (rows x columns)
is the tile's *effective* conductance matrix: row ``k`` of ``M_eff`` is the current into each
sense amplifier when word line ``k`` is driven at 1 V and every other at 0 V. ``M_eff`` is
computed once per tile (slice, polarity, row tile, column tile) when the crossbars are
programmed (:func:`effective_conductances`); it then replaces the programmed conductances and
takes the same read path, in the same fixed point (``docs/spec/reram.md``, *IR drop*).

The circuit and its conventions are badcrossbar's (Joksas & Mehonic, "badcrossbar: A Python
tool for computing and plotting currents and voltages in passive crossbar arrays", SoftwareX
12, 2020), against which ``tests/test_reram_ir_drop.py`` holds it: word line ``i`` is driven at
its left end (next to column 0) through ``r_driver`` and one segment ``r_wire_row``, and its
``C - 1`` further segments join the cells of consecutive columns (the right end is open); bit
line ``j`` runs from row 0 (open top) to row ``R - 1``, whose node reaches the grounded sense
amplifier through one segment ``r_wire_col`` and ``r_sense``. A column's output current is the
current into its sense amplifier.

The solve (:func:`transfer_matrix`) is exact nodal analysis, organised as a sweep over the
columns rather than one sparse factorisation (whose ``R`` triangular solves are slower):

* each column's bit line is a tridiagonal chain; eliminating its nodes leaves, on the word-line
  nodes of that column, the admittance ``K_j = D_j - D_j B_j^-1 D_j`` and the output functional
  ``I_j = h_j . u_j``, ``h_j = g_s D_j B_j^-1 e_(R-1)``, with ``D_j = diag(G[:, j])`` and ``B_j``
  the bit line's chain plus ``D_j`` (its inverse from the chain's pivots, exactly, in O(R**2));
* from the right end, the admittance seen into columns ``j ..`` is ``Y_(C-1) = K_(C-1)``,
  ``Y_j = K_j + g_r Y_(j+1) W_(j+1)``, ``W_j = (g_r I + Y_j)^-1`` (``g_r = 1 / r_wire_row``);
* word-line voltages pass on as ``u_(j+1) = g_r W_(j+1) u_j`` and ``u_0 = g_d W_0' V``
  (``W_0' = (g_d I + Y_0)^-1``, ``g_d = 1 / (r_wire_row + r_driver)``), so
  ``M_eff[:, j] = g_d W_0' (g_r W_1) ... (g_r W_j) h_j``, accumulated from the right as the
  ``W_j`` are formed: ``C`` dense ``R x R`` inverses per tile, each followed by the product of the
  transfers formed so far (the admittance update needs none: ``Y W = I - g_r W``), through
  :mod:`cim_emu.reram.lapack` (SciPy's LAPACK without the GIL, so that tiles solve in parallel;
  the inverse by Schur complements, mostly ``dgemm`` and ``dsymm``: :class:`~.lapack.SpdInverse`).
  Where a C++ compiler is found, the sweep of a tile is one native call making the same calls
  (:mod:`cim_emu.reram.ir_drop_native`, the same bits), so that threads do not wait on the GIL.

The chain's inverse is semiseparable, ``B_j^-1[i, k] = x_k e^(L_k) e^(-L_i)`` for ``i <= k``
(:func:`_chain_factors`), so the upper triangle of ``K_j - D_j`` is that of one outer product
``b_j a_j'``: when both wires have resistance, ``K_j`` is never formed (``C R**2`` numbers per
tile, out of cache), and the sweep adds ``diag(d_j)`` and one ``dger`` to the one matrix it
updates in place (:func:`_sweep`).

A zero resistance joins the nodes it separates (a word line with ``r_wire_row = 0`` is one node,
or the driver's voltage when ``r_driver`` is 0 too; likewise bit lines and ground); with every
resistance zero ``M_eff`` is exactly the conductance matrix.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Union

import numpy

from .._checks import finite_nonnegative, finite_positive
from ..parallel import default_threads, run_jobs
from . import ir_drop_native
from .lapack import Arguments, SpdInverse, address, spd_inverse, symmetric_product
from .lapack import load as load_lapack

__all__ = ["WireModel", "effective_conductances", "transfer_matrix"]


@dataclasses.dataclass(frozen=True)
class WireModel:
    """Wire resistances of a crossbar (default: none, no IR drop). Every resistance is in ohms."""

    r_wire_row: float = 0.0
    """Resistance of one word-line segment (between the cells of two adjacent columns, and from
    the driver to column 0), ohms, finite and >= 0."""

    r_wire_col: float = 0.0
    """Resistance of one bit-line segment (between the cells of two adjacent rows, and from the
    last row to the sense amplifier), ohms, finite and >= 0."""

    r_driver: float = 0.0
    """Output resistance of a word-line driver (DAC), ohms, finite and >= 0."""

    r_sense: float = 0.0
    """Input resistance of a column's sense amplifier (to virtual ground), ohms, finite and >= 0."""

    r_on: float = 1000.0
    """Resistance of a cell at the normalised conductance ``g = 1`` (``g_max``), ohms, finite and
    > 0: relates the normalised conductances to siemens. 1 kOhm is CrossSim's default ``Rmin``."""

    def __post_init__(self) -> None:
        for name in ("r_wire_row", "r_wire_col", "r_driver", "r_sense"):
            object.__setattr__(self, name, finite_nonnegative(name, getattr(self, name)))
        object.__setattr__(self, "r_on", finite_positive("r_on", self.r_on))

    @property
    def ideal(self) -> bool:
        """True when no wire, driver or sense resistance is set (no IR drop)."""
        return not (self.r_wire_row or self.r_wire_col or self.r_driver or self.r_sense)


def _bit_lines(G: numpy.ndarray, r_col: float, r_sense: float, *,
               rank_one: bool = False) -> tuple[Union[numpy.ndarray, tuple], numpy.ndarray]:
    """``(K, h)`` of every column of the tiles ``G`` ``(..., R, C)``: ``K`` ``(..., C, R, R)`` the
    admittance the column's cells and bit line present to its word-line nodes (symmetric; only
    its lower triangle is read, and only it may be filled: the upper triangle of its transpose,
    the Fortran-ordered matrix LAPACK reads), ``h`` ``(..., C, R)`` its output current per
    word-node voltage.

    With ``rank_one`` (and a bit line of resistance, chain factors in range, and products that
    stay finite), ``K`` is instead ``(d, a, b)`` ``(..., C, R)`` each, never materialised:
    ``K_j = diag(d_j) + U(b_j a_j')`` with ``U`` the upper triangle of the Fortran-ordered matrix
    (``[i, k] = b_i a_k`` for ``i <= k``), what :func:`_sweep` adds with one ``dger``."""
    d = numpy.ascontiguousarray(numpy.swapaxes(G, -1, -2))  # (..., C, R): the cells of each column
    R = d.shape[-1]
    if r_col == 0 and r_sense == 0:  # the bit line is ground: the cells' currents are the output
        K = numpy.zeros(d.shape + (R,))
        K[..., numpy.arange(R), numpy.arange(R)] = d
        return K, d.copy()
    if r_col == 0:  # one node per bit line, to ground through r_sense
        g_s = 1.0 / r_sense
        inverse = numpy.broadcast_to((1.0 / (d.sum(axis=-1) + g_s))[..., None, None], d.shape + (R,))
        K = -(d[..., :, None] * d[..., None, :]) * inverse
        last = inverse[..., :, R - 1]
    else:
        g_s = 1.0 / (r_col + r_sense)
        diagonal, log_rho = _chain_factors(d, 1.0 / r_col, g_s)
        factors = bool(log_rho.min(initial=0.0) > -600.0)
        if factors:  # B^-1[i, k] = x_k e^(L_k) e^(-L_i) (i <= k), no overflow
            column, row = diagonal * numpy.exp(log_rho), numpy.exp(-log_rho)
            a, b, last = d * column, numpy.negative(d * row), row * column[..., R - 1:]
            if rank_one and _bounded(a, b):
                return (d, a, b), g_s * d * last
        if factors and not rank_one:
            # -d_i d_k B^-1[i, k] for i <= k, stored at [k, i]: the lower triangle (the sweep reads
            # each matrix transposed, Fortran-ordered, thus this as its upper triangle)
            K = numpy.tril(a[..., :, None] * b[..., None, :])
        else:  # a chain too long or too lossy for the factors (or the rank-one form's bound):
            # B^-1[i, k] = x_max(i,k) e^-|L_i - L_k|, formed without the factors
            inverse = numpy.abs(log_rho[..., :, None] - log_rho[..., None, :])
            numpy.exp(numpy.negative(inverse, out=inverse), out=inverse)
            inverse *= diagonal[..., numpy.maximum.outer(numpy.arange(R), numpy.arange(R))]
            K = -(d[..., :, None] * d[..., None, :]) * inverse
            last = inverse[..., :, R - 1]
    K[..., numpy.arange(R), numpy.arange(R)] += d
    return K, g_s * d * last


def _bounded(a: numpy.ndarray, b: numpy.ndarray) -> bool:
    """Whether ``sum_j max|a_j| max|b_j|`` stays below ``1e300`` in every tile: the bound of what the
    rank-one updates (``dger``, over the whole matrix) accumulate in the lower triangle, which the
    sweep never reads but must keep finite (``a_i b_k`` for ``i > k`` grows as ``e^(L_k - L_i)``)."""
    with numpy.errstate(over="ignore"):
        bound = (numpy.abs(a).max(axis=-1, initial=0.0) * numpy.abs(b).max(axis=-1, initial=0.0)).sum(axis=-1)
    return bool((bound < 1e300).all())


def _chain_factors(d: numpy.ndarray, g_c: float, g_s: float) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``(x, L)`` ``(..., R)`` of every bit-line matrix ``B = g_c T + diag(d)`` (``T`` the chain's
    Laplacian: open at row 0, grounded through ``g_s`` at row ``R - 1``), from the chain's forward
    pivots ``f`` and backward pivots ``b``: ``B^-1[i, k] = x_max(i,k) * prod_(m = min(i,k))^(max(i,k)
    - 1) rho_m`` with ``x_k = 1 / (f_k + b_k - a_k)`` its diagonal and ``rho_m = g_c / f_m`` in
    ``(0, 1]``, the products being ``exp(L_max - L_min)`` of the cumulative sums ``L_i = sum_(m <
    i) log rho_m`` (``<= 0``; relative error about ``R`` ulps)."""
    R = d.shape[-1]
    a = d + 2 * g_c
    a[..., 0] -= g_c
    a[..., R - 1] += g_s - g_c
    # f_i = a_i - g_c rho_(i-1), rho_i = g_c / f_i; b_i = a_i - g_c sigma_(i+1), sigma_i = g_c / b_i:
    # both recurrences at once, one row of every chain per step ((R, 2, ...), b from the far end)
    pivots = numpy.moveaxis(numpy.stack([a, a[..., ::-1]]), -1, 0).copy()
    g_c2 = g_c * g_c
    for i in range(1, R):
        pivots[i] -= g_c2 / pivots[i - 1]
    log_rho = numpy.zeros((R,) + a.shape[:-1])
    numpy.cumsum(numpy.log(g_c / pivots[:R - 1, 0]), axis=0, out=log_rho[1:])
    forward, backward = numpy.moveaxis(pivots[:, 0], 0, -1), numpy.moveaxis(pivots[::-1, 1], 0, -1)
    x = numpy.ascontiguousarray(1.0 / (forward + backward - a))
    return x, numpy.ascontiguousarray(numpy.moveaxis(log_rho, 0, -1))


def transfer_matrix(conductances: Any, r_wire_row: float = 0.0, r_wire_col: float = 0.0, *,
                    r_driver: float = 0.0, r_sense: float = 0.0) -> numpy.ndarray:
    """``M_eff`` ``(..., R, C)`` of crossbars with cell conductances ``(..., R, C)`` (siemens, or any
    unit whose reciprocal the resistances are in): the output currents are ``V @ M_eff`` for
    word-line voltages ``V`` ``(R,)``. Conventions as badcrossbar's (module docstring); every
    resistance finite and >= 0. float64; exactly the conductances when every resistance is 0."""
    G = numpy.array(conductances, dtype=numpy.float64)
    if G.ndim < 2 or 0 in G.shape[-2:]:
        raise ValueError(f"conductances must be (..., rows, columns) with rows, columns >= 1; got shape {G.shape}")
    if not numpy.isfinite(G).all() or (G < 0).any():
        raise ValueError("conductances must be finite and >= 0")
    r_wire_row, r_wire_col, r_driver, r_sense = (
        finite_nonnegative(name, value) for name, value in
        (("r_wire_row", r_wire_row), ("r_wire_col", r_wire_col), ("r_driver", r_driver), ("r_sense", r_sense)))
    if not (r_wire_row or r_wire_col or r_driver or r_sense):
        return G
    K, h = _bit_lines(G, r_wire_col, r_sense, rank_one=r_wire_row != 0)
    if r_wire_row == 0:  # one node per word line: every column sees the same voltages
        if r_driver == 0:
            return numpy.swapaxes(h, -1, -2).copy()
        assert isinstance(K, numpy.ndarray)  # materialised: rank_one was off
        return _solve_one_node(K, h, 1.0 / r_driver)
    out = numpy.empty(G.shape)
    for index in numpy.ndindex(G.shape[:-2]):
        tile = tuple(part[index] for part in K) if isinstance(K, tuple) else K[index]
        out[index] = _sweep(tile, h[index], 1.0 / r_wire_row, 1.0 / (r_wire_row + r_driver))
    return out


def _solve_one_node(K: numpy.ndarray, h: numpy.ndarray, g_d: float) -> numpy.ndarray:
    """``M_eff`` ``(..., R, C)`` when each word line is one node, driven through ``1 / g_d``."""
    Y = K.sum(axis=-3)
    out = numpy.empty(Y.shape[:-1] + (h.shape[-2],))
    for index in numpy.ndindex(Y.shape[:-2]):
        W0 = numpy.asfortranarray(Y[index].T)
        _diagonal(W0)[...] += g_d
        out[index] = symmetric_product(g_d, spd_inverse(W0), numpy.asfortranarray(h[index].T),
                                       numpy.empty((h.shape[-1], h.shape[-2]), order="F"))
    return out


#: The admittance update ``g_r Y W`` (``W = (g_r I + Y)^-1``) is formed as ``g_r I - g_r**2 W``,
#: with no matrix product, while ``g_r`` is at most this many times ``Y``'s largest diagonal entry:
#: the subtraction then loses at most ``log10`` of it in digits (4 of 16). Past it (wires nearly
#: short circuits beside the cells) the product is formed.
CANCELLATION_LIMIT = 1e4


def _sweep(K: Union[numpy.ndarray, tuple], h: numpy.ndarray, g_r: float, g_d: float) -> numpy.ndarray:
    """``M_eff`` ``(R, C)`` of one tile from its columns' ``K`` (``(C, R, R)``, or the rank-one
    form ``(d, a, b)`` of :func:`_bit_lines`) and ``h`` ``(C, R)`` (module docstring): the
    admittances from the right end, the transfers accumulated alongside.

    One ``R x R`` matrix ``A = Y_j + g_r I`` (``Y_0 + g_d I`` last) is inverted in place
    (:class:`~cim_emu.reram.lapack.SpdInverse`, upper triangle; the lower one is scratch) and
    turned into the next: ``Y_(j-1) + g_r I = K_(j-1) + 2 g_r I - g_r**2 W_j`` (``dlascl`` of the
    upper triangle, the diagonal, ``dger`` or the materialised ``K``), since ``g_r Y W = g_r I -
    g_r**2 W`` (:data:`CANCELLATION_LIMIT`; past it the product is formed). ``Z``'s columns ``j ..
    C-1`` are those of ``M_eff`` before the transfers up to column ``j``; one ``dsymm`` by ``g_r
    W_j`` moves them into the other buffer, whose column ``j - 1`` still holds ``h_(j-1)``."""
    C, R = h.shape
    rank_one = isinstance(K, tuple)
    shift = K[0] + g_r if rank_one else numpy.full((C, R), g_r)  # A_j = Y_j + g_r I: K_j's cells and g_r
    shift[0] = K[0][0] + g_d if rank_one else g_d
    swept = shift + g_r  # Y_(j-1) = K_(j-1) + g_r I - g_r**2 W_j, A_(j-1) = Y_(j-1) + g_r I
    native = ir_drop_native.library()
    if native is not None:  # the same sweep in one native call, the same bits (cim_emu.reram.ir_drop_native)
        columns, other = (K[2], K[1]) if isinstance(K, tuple) else (K, None)
        return ir_drop_native.sweep(native, rank_one, columns, other, shift, swept, h.T, g_r, g_d, CANCELLATION_LIMIT)
    routines, arguments = load_lapack(), Arguments()
    A, product = numpy.zeros((R, R), order="F"), numpy.empty((R, R), order="F")
    inverse, diagonal = SpdInverse(A), _diagonal(A)
    Z = numpy.array(h.T, order="F")  # a copy: h.T may already be Fortran-ordered
    Z_next = Z.copy(order="F")
    U, L, m, one, zero = (arguments.char(b"U"), arguments.char(b"L"), arguments.integer(R), arguments.double(1.0),
                          arguments.double(0.0))
    width, width_at = arguments.mutable_int(C)
    transfer, scale = arguments.double(g_r), arguments.double(-g_r * g_r)
    a, at = address(A), arguments.integer(0)
    step = 8 * R  # bytes per column of Z, per row of d, a, b
    z, z_next = address(Z), address(Z_next)
    if rank_one:
        x, y = (numpy.ascontiguousarray(v) for v in (K[2], K[1]))
        x0, y0, increment = x.ctypes.data, y.ctypes.data, arguments.integer(1)

    def add(j: int, extra: numpy.ndarray) -> None:  # A += K_j + diag(extra_j)
        if rank_one:
            routines.ger(m, m, one, x0 + step * j, increment, y0 + step * j, increment, a, m)
        else:
            A[...] += K[j].T
        diagonal[...] += extra[j]

    add(C - 1, shift)
    for j in range(C - 1, 0, -1):
        exact = g_r > CANCELLATION_LIMIT * (diagonal.max() - g_r)
        if exact:  # keep Y_j (symmetric, both triangles) for the product
            Y = numpy.asfortranarray(numpy.triu(A) + numpy.triu(A, 1).T)
            _diagonal(Y)[...] -= g_r
        inverse()  # W_j, upper triangle
        width.value = C - j
        routines.symm(L, U, m, width_at, transfer, a, m, z + step * j, m, zero, z_next + step * j, m)
        Z, Z_next, z, z_next = Z_next, Z, z_next, z
        if exact:
            A[...] = symmetric_product(g_r, A, Y, product)
            add(j - 1, shift)
        else:  # -g_r**2 W_j: its upper triangle scaled in one multiplication (cfrom = 1)
            routines.lascl(U, at, at, one, scale, m, m, a, m, arguments.info_address())
            add(j - 1, swept)
    inverse()
    return symmetric_product(g_d, A, Z, numpy.empty((R, C), order="F"))


def _diagonal(A: numpy.ndarray) -> numpy.ndarray:
    """The diagonal of the Fortran-contiguous square ``A``, as a writable view."""
    if not A.flags.f_contiguous:
        raise ValueError("the diagonal view needs a Fortran-contiguous matrix")
    return A.reshape(-1, order="F")[:: A.shape[0] + 1]


#: Tiles solved together in one job (their bit lines in one vectorised pass; each tile's sweep
#: is its own, so batches of 4 were no faster on 128 x 128 tiles, and the columns' ``K``, where
#: materialised, ``(tiles, C, R, R)``, outgrow the caches).
TILE_BATCH = 1


def effective_conductances(g: numpy.ndarray, wires: WireModel, *, rows: int, cols: int, columns: int,
                           threads: Optional[int] = None) -> numpy.ndarray:
    """The effective conductances ``(P, S, K, N')`` (units of ``g_max``, float64) of programmed
    conductances ``g`` ``(P, S, K, N')``: ``M_eff`` of every tile, in place of its cells.

    A tile is row tile ``t`` (rows ``t*rows ..``) of column tile ``c``: weight columns
    ``c*cols .. min(columns, (c+1)*cols) - 1`` and, when ``N' > columns``, the tile's reference
    column ``columns + c`` as its last bit line (farthest from the drivers). A partial tile is a
    smaller crossbar (only the rows and columns it holds). Tiles of one shape are solved in
    batches of ``TILE_BATCH`` over the host threads (single-threaded BLAS each)."""
    P, S, K, N = g.shape
    references = N > columns
    scale = 1.0 / wires.r_on  # resistances in units of r_on, so conductances stay normalised
    out = numpy.empty_like(g, dtype=numpy.float64)
    groups: dict[tuple, list] = {}
    for t0 in range(0, K, rows):
        for c, n0 in enumerate(range(0, columns, cols)):
            index = numpy.arange(n0, min(columns, n0 + cols))
            if references:
                index = numpy.append(index, columns + c)
            groups.setdefault((min(rows, K - t0), len(index)), []).append((t0, index))
    jobs = []
    for tiles in groups.values():
        cells = [(p, s, t0, index) for t0, index in tiles for p in range(P) for s in range(S)]
        jobs += [cells[i:i + TILE_BATCH] for i in range(0, len(cells), TILE_BATCH)]

    def solve(batch: list) -> None:
        stack = numpy.stack([g[p, s, t0:t0 + rows][:, index] for p, s, t0, index in batch])
        M = transfer_matrix(stack, wires.r_wire_row * scale, wires.r_wire_col * scale,
                            r_driver=wires.r_driver * scale, r_sense=wires.r_sense * scale)
        for (p, s, t0, index), m in zip(batch, M):
            out[p, s, t0:t0 + m.shape[0]][:, index] = m

    load_lapack()  # SciPy's BLAS loaded first, so that the limit below sees it (it may be its own OpenBLAS)
    import threadpoolctl  # noqa: PLC0415 - after SciPy, so that its BLAS is found

    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        run_jobs(solve, jobs, default_threads() if threads is None else threads)
    return out
