// The IR-drop column sweep of one crossbar tile, in one call: cim_emu/reram/ir_drop.py's `_sweep`
// (its docstring and the module's state the mathematics) as host C++, so that a host thread
// solving a tile holds no Python lock for the tile's ~25 ms of BLAS work. Called through ctypes
// (which releases the GIL) by cim_emu/reram/ir_drop_native.py; the Python sweep hands the GIL
// back and forth at every one of its ~3,000 BLAS calls a tile, and two threads then wait on each
// other more than they compute.
//
// Same bits as the Python sweep: the very same BLAS and LAPACK routines (SciPy's, whose
// addresses the caller passes), called in the same order with the same arguments, and the
// elementwise steps written as numpy performs them (compiled without floating-point
// contraction). tests/test_reram_ir_drop_native.py holds the two to each other.
//
// Not a CUDA kernel: plain C++17, compiled by the host compiler (cim_emu/gpu/cpu_shim.py) only.

#include <cstddef>

namespace {

// SciPy's scipy.linalg.cython_blas / cython_lapack signatures: every argument a pointer.
using PotrfFn = void (*)(const char*, const int*, double*, const int*, int*);  // dpotrf and dpotri
using SymmFn = void (*)(const char*, const char*, const int*, const int*, const double*, const double*, const int*,
                        const double*, const int*, const double*, double*, const int*);
using GemmFn = void (*)(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
                        const int*, const double*, const int*, const double*, double*, const int*);
using GerFn = void (*)(const int*, const int*, const double*, const double*, const int*, const double*, const int*,
                       double*, const int*);
using LasclFn = void (*)(const char*, const int*, const int*, const double*, const double*, const int*, const int*,
                         double*, const int*, int*);

// The routines, in the order of cim_emu.reram.lapack.Routines.
struct Blas {
    PotrfFn potrf, potri;
    SymmFn symm;
    GemmFn gemm;
    GerFn ger;
    LasclFn lascl;
};

const double kOne = 1.0, kMinusOne = -1.0, kZero = 0.0;
const int kIncrement = 1, kNoBand = 0;

// cim_emu.reram.lapack.SpdInverse: the n x n block at `a` (leading dimension ld) inverted in its
// upper triangle through Schur complements, leaves of at most `leaf` rows by dpotrf and dpotri;
// T blocks go to `work` (same leading dimension). Returns LAPACK's info (0: done).
int spd_inverse(const Blas& blas, int n, double* a, double* work, int ld, int leaf) {
    int info = 0;
    if (n <= leaf) {
        blas.potrf("U", &n, a, &ld, &info);
        if (info != 0) return info;
        blas.potri("U", &n, a, &ld, &info);
        return info;
    }
    int h = n / 2, k = n - n / 2;
    double* a12 = a + static_cast<std::size_t>(ld) * h;
    double* a22 = a12 + h;
    if ((info = spd_inverse(blas, h, a, work, ld, leaf)) != 0) return info;                        // B11
    blas.symm("L", "U", &h, &k, &kOne, a, &ld, a12, &ld, &kZero, work, &ld);                        // T
    blas.gemm("T", "N", &k, &k, &h, &kMinusOne, a12, &ld, work, &ld, &kOne, a22, &ld);              // S
    if ((info = spd_inverse(blas, k, a22, work + h, ld, leaf)) != 0) return info;                  // S^-1
    blas.symm("R", "U", &h, &k, &kMinusOne, a22, &ld, work, &ld, &kZero, a12, &ld);                 // W12
    blas.gemm("N", "T", &h, &h, &k, &kMinusOne, a12, &ld, work, &ld, &kOne, a, &ld);                // W11
    return 0;
}

}  // namespace

// M_eff (R x C, Fortran order, into `out`) of one tile. Arrays are float64; matrices Fortran-ordered
// R x R unless said. rank_one: `x`, `y` (C x R, row j the j-th column's b and a; A += x_j y_j')
// else `x` holds the columns' K (C x R x R, C order; A += K[j]') and `y` is unused. `shift`,
// `swept` (C x R): what is added to A's diagonal after a column's K, on the exact and the
// subtracting step. A: zeros; product, Y: scratch; work: R x ceil(R / 2) scratch; Z and Z_next:
// both h' (R x C). Returns 0, or the info of the LAPACK call that failed (not positive definite).
extern "C" __attribute__((visibility("default"))) int cim_ir_drop_sweep(
        const unsigned long long* routines, int R, int C, int leaf, int rank_one, const double* x, const double* y,
        const double* shift, const double* swept, double g_r, double g_d, double cancellation_limit, double* A,
        double* product, double* Y, double* work, double* Z, double* Z_next, double* out) {
    Blas blas;
    blas.potrf = reinterpret_cast<PotrfFn>(routines[0]);
    blas.potri = reinterpret_cast<PotrfFn>(routines[1]);
    blas.symm = reinterpret_cast<SymmFn>(routines[2]);
    blas.gemm = reinterpret_cast<GemmFn>(routines[3]);
    blas.ger = reinterpret_cast<GerFn>(routines[4]);
    blas.lascl = reinterpret_cast<LasclFn>(routines[5]);
    const std::size_t square = static_cast<std::size_t>(R) * R;
    const double scale = -g_r * g_r;
    int info = 0;

    auto add = [&](int j, const double* extra) {  // A += K_j + diag(extra_j)
        const std::size_t row = static_cast<std::size_t>(R) * j;
        if (rank_one) {
            blas.ger(&R, &R, &kOne, x + row, &kIncrement, y + row, &kIncrement, A, &R);
        } else {
            const double* K = x + square * j;  // C-ordered K_j: its transpose, Fortran-ordered, is the same memory
            for (std::size_t p = 0; p < square; ++p) A[p] += K[p];
        }
        for (int i = 0; i < R; ++i) A[static_cast<std::size_t>(i) * (R + 1)] += extra[row + i];
    };

    add(C - 1, shift);
    for (int j = C - 1; j > 0; --j) {
        double largest = A[0];
        for (int i = 1; i < R; ++i) {
            const double value = A[static_cast<std::size_t>(i) * (R + 1)];
            largest = value > largest ? value : largest;
        }
        const bool exact = g_r > cancellation_limit * (largest - g_r);
        if (exact) {  // Y_j, both triangles: triu(A) + triu(A, 1)' then its diagonal less g_r
            for (int k = 0; k < R; ++k) {
                for (int i = 0; i < R; ++i) {
                    const double upper = i <= k ? A[i + static_cast<std::size_t>(k) * R] : 0.0;
                    const double lower = i > k ? A[k + static_cast<std::size_t>(i) * R] : 0.0;
                    Y[i + static_cast<std::size_t>(k) * R] = upper + lower;
                }
            }
            for (int i = 0; i < R; ++i) Y[static_cast<std::size_t>(i) * (R + 1)] -= g_r;
        }
        if ((info = spd_inverse(blas, R, A, work, R, leaf)) != 0) return info;  // W_j
        int width = C - j;
        const std::size_t column = static_cast<std::size_t>(R) * j;
        blas.symm("L", "U", &R, &width, &g_r, A, &R, Z + column, &R, &kZero, Z_next + column, &R);
        double* swap = Z;
        Z = Z_next;
        Z_next = swap;
        if (exact) {
            blas.symm("L", "U", &R, &R, &g_r, A, &R, Y, &R, &kZero, product, &R);
            for (std::size_t p = 0; p < square; ++p) A[p] = product[p];
            add(j - 1, shift);
        } else {  // -g_r**2 W_j: the upper triangle scaled (cfrom = 1)
            blas.lascl("U", &kNoBand, &kNoBand, &kOne, &scale, &R, &R, A, &R, &info);
            add(j - 1, swept);
        }
    }
    if ((info = spd_inverse(blas, R, A, work, R, leaf)) != 0) return info;
    blas.symm("L", "U", &R, &C, &g_d, A, &R, Z, &R, &kZero, out, &R);
    return 0;
}
