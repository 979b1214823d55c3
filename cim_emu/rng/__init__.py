"""Counter-based random numbers: the single source of randomness of cim-emu.

Every random number in the package is a pure function of ``(seed, stream, index)``: it does not
depend on call order, on thread schedule, or on how a range of indices is split into chunks.
The same functions run on every backend (``backend=``: numpy, or a backend whose kernel provider
runs ``kernels/philox_draws.cu``, the CUDA twin written from this docstring), with the same bits.

Generator
---------
Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011, doi:10.1145/2063384.2063405), the same generator as Random123's ``philox4x32_R(10,
...)`` and cuRAND's ``Philox4_32_10``. It maps a 128-bit counter ``(c0, c1, c2, c3)`` and a
64-bit key ``(k0, k1)`` (32-bit words) to four 32-bit words by ten rounds of::

    (hi0, lo0) = M0 * c0        # 32x32 -> 64-bit product, high and low words
    (hi1, lo1) = M1 * c2
    (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)

with the key bumped *between* rounds (nine times in all, not after the last round)::

    k0 = (k0 + W0) mod 2**32;   k1 = (k1 + W1) mod 2**32

and the constants ``M0 = 0xD2511F53``, ``M1 = 0xCD9E8D57`` (multipliers) and
``W0 = 0x9E3779B9``, ``W1 = 0xBB67AE85`` (Weyl increments: the golden ratio and sqrt(3) - 1
in 0.32 fixed point). The output is the counter after the tenth round. Known answers: the
``philox4x32 10`` lines of Random123's ``kat_vectors`` (checked in ``tests/test_rng.py``).

Mapping from (seed, stream, index) to numbers
---------------------------------------------
All three are integers in ``[0, 2**64)``.

- key: ``k0 = seed & 0xFFFFFFFF``, ``k1 = seed >> 32``.
- Element ``i`` lives in counter block ``b = i >> 2`` (``i // 4``), at output word ``i & 3``.
- counter of block ``b``: ``c0 = b & 0xFFFFFFFF``, ``c1 = b >> 32``,
  ``c2 = stream & 0xFFFFFFFF``, ``c3 = stream >> 32``.
- ``u(seed, stream, i) = philox4x32_10(counter(b, stream), key(seed))[i & 3]``, a uint32.

So elements 0, 1, 2, 3 of seed 0, stream 0 are the four words of the first known-answer
vector (counter 0, key 0). The CUDA twin evaluates this function directly (one block per
``i >> 2``); nothing relies on cuRAND's ``curand_init`` state layout. A range of ``count``
elements costs about ``count / 4`` Philox evaluations. Different *streams* are different
counter halves, so they never overlap; callers assign one stream per purpose (e.g. per noise
source) and index elements within it.

Derived draws
-------------
Bernoulli(p)
    ``t = round(p * 2**32)`` (exact arithmetic, round half to even;
    :func:`bernoulli_threshold`), and the draw is ``u < t`` compared in 64 bits. Its
    probability is exactly ``t / 2**32``; ``p = 0`` gives never, ``p = 1`` (``t = 2**32``)
    always.
Normal N(0, 1), by table lookup (no transcendental function at draw time, so that libm and
CUDA cannot differ in the last bit)
    :func:`normal_table` holds ``2**17`` float64 values: ``BODY[h] = Phi^-1((h + 0.5) / 2**16)``
    for ``h`` in ``[0, 65536)`` at entries ``0 .. 65535``, and
    ``TAIL[l] = Phi^-1((l + 0.5) / 2**32)`` for ``l`` in ``[0, 65536)`` at entries
    ``65536 .. 131071`` (the lower tail, all negative). With ``h = u >> 16`` and
    ``l = u & 0xFFFF``::

        0 < h < 65535:  z = BODY[h]
        h == 0:         z = TAIL[l]
        h == 65535:     z = -TAIL[65535 - l]

    (``BODY[0]`` and ``BODY[65535]`` are in the table but never drawn.) This is an exact
    sample of a discretisation of N(0, 1): ``z = Phi^-1(m)`` where ``m`` is the midpoint of the
    probability cell that holds ``u / 2**32``, with cells of width ``2**-16`` in the body and
    ``2**-32`` in the two outer cells (``u / 2**32 < 2**-16`` or ``>= 1 - 2**-16``, i.e.
    ``|z|`` beyond about 3.8). Its mean is exactly 0 (the table is exactly antisymmetric), its
    variance is ``1 - 2.3e-6``, and ``|z| <= -TAIL[0] = 6.3380`` (``Phi^-1(2**-33)``).
    ``Phi^-1`` is Python's :meth:`statistics.NormalDist.inv_cdf`, which implements Wichura's
    algorithm AS 241 (PPND16, Applied Statistics 37(3), 1988; relative accuracy about 1e-16).
    The table is computed once on the host and the very same array is shipped to the GPU.

Validation
----------
``seed`` and ``stream`` are Python ints (or numpy integer scalars) in ``[0, 2**64)``;
``start >= 0``, ``count >= 0`` and ``start + count <= 2**64``; ``p`` is a real number in
``[0, 1]``; ``index`` is an integer array with elements in ``[0, 2**64)``; runs (``first``,
``stride``, ``length``, ``runs``: :func:`uniform_runs`, :func:`normal_runs`) end by ``2**64``.
Violations raise :class:`TypeError` (wrong kind) or :class:`ValueError` (out of range) whose
message names the parameter and its allowed range.

Modules: :mod:`~cim_emu.rng.philox` (the generator and uint32 draws), :mod:`~cim_emu.rng.draws`
(Bernoulli and normal draws), :mod:`~cim_emu.rng.normal_table`, :mod:`~cim_emu.rng.streams`
(the registry of every stream the package draws from), :mod:`~cim_emu.rng.gpu` (the launch
wrappers of the CUDA twin), :mod:`~cim_emu.rng.native` (the CUDA twin compiled for the host: the
numpy backend's draws when a C++ compiler is found; ``CIM_EMU_NATIVE=0`` forces numpy's array
Philox, with the same bits).
"""

from .draws import bernoulli, bernoulli_at, bernoulli_threshold, normal, normal_at, normal_runs
from .normal_table import NORMAL_BODY_BITS, normal_table
from .philox import (
    PHILOX_M0,
    PHILOX_M1,
    PHILOX_ROUNDS,
    PHILOX_W0,
    PHILOX_W1,
    philox4x32,
    random_uint32,
    uniform_runs,
    uniform_uint32,
)
from .streams import Stream

__all__ = [
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_W0",
    "PHILOX_W1",
    "PHILOX_ROUNDS",
    "NORMAL_BODY_BITS",
    "Stream",
    "philox4x32",
    "random_uint32",
    "uniform_uint32",
    "uniform_runs",
    "bernoulli_threshold",
    "bernoulli",
    "bernoulli_at",
    "normal_table",
    "normal",
    "normal_at",
    "normal_runs",
]
