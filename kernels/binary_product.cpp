// The product of binary inputs with a matrix, by look-up tables: out = bits @ op (+ base), where
// every input is 0 or 1 (the input chunks of 1-bit DACs, packed eight a byte). Called through
// ctypes (which releases the GIL) by cim_emu/reram/bit_tiles.py, in place of a BLAS product of
// the same inputs as floats.
//
// The method ("four Russians"): the depth rows of `op` are taken four at a time; for each group g
// of four rows and every pattern p of four bits, the table holds the sum of the rows p selects,
//     table[g][p] = sum_{j : bit j of p} op[4 g + j]         (16 rows a group, 15 additions),
// and each output row is then the sum over the groups of one table row each,
//     out[r] = base + sum_g table[g][pattern of r's bits 4g .. 4g+3],
// depth / 4 vector additions an output instead of depth multiply-adds. The tables are built for a
// block of columns at a time (32 floats, 16 doubles: a 64 KB table for 128 rows) and shared by
// every output row.
//
// Same bits as BLAS: the caller guarantees that every sum of a subset of op's rows (the base row
// included or not) is an integer that Real holds exactly (the crossbar pipeline's partial sums are
// integers below 2**24 in float32, 2**53 in float64, and their operands non-negative or bounded in
// magnitude by the same bound). Every addition here, like every one of a BLAS product in any
// order, then adds two such sums and is exact, so the result is the exact product whatever the
// order. tests/test_reram_bit_tiles.py holds the two to each other.
//
// Not a CUDA kernel: plain C++17 with GCC/Clang vector extensions (32-byte vectors: AVX on x86-64
// with -march=native, pairs of 16-byte ones elsewhere), compiled by the host compiler
// (cim_emu/gpu/cpu_shim.py) only.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using i64 = long long;

template <class Real>
struct Vector {
  typedef Real type __attribute__((vector_size(32)));
  static constexpr int kLanes = 32 / sizeof(Real);
};

template <class Real>
inline typename Vector<Real>::type load(const Real* p) {
  typename Vector<Real>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class Real>
inline void store(Real* p, typename Vector<Real>::type v) {
  std::memcpy(p, &v, sizeof v);
}

constexpr int kGroupRows = 4;
constexpr int kPatterns = 1 << kGroupRows;

// The tables of columns c0 .. c0 + Width of op (zeros past its columns and rows): table[g][p],
// base added to every entry of group 0. Width = Vectors * lanes.
template <class Real, int Width>
void build_tables(const Real* __restrict__ op, int depth, i64 cols, i64 ld, const Real* __restrict__ base, i64 c0,
                  int groups, Real* __restrict__ table) {
  constexpr int kVectors = Width / Vector<Real>::kLanes;
  const int width = static_cast<int>(std::min<i64>(Width, cols - c0));
  for (int g = 0; g < groups; ++g) {
    Real rows[kGroupRows][Width];
    for (int j = 0; j < kGroupRows; ++j) {
      const int row = g * kGroupRows + j;
      for (int k = 0; k < Width; ++k) rows[j][k] = row < depth && k < width ? op[row * ld + c0 + k] : Real(0);
    }
    Real* entries = table + static_cast<i64>(g) * kPatterns * Width;
    for (int k = 0; k < Width; ++k) entries[k] = g == 0 && base != nullptr && k < width ? base[c0 + k] : Real(0);
    for (int p = 1; p < kPatterns; ++p) {  // p = (p without its lowest bit) + that bit's row
      const Real* from = entries + (p & (p - 1)) * Width;
      const Real* row = rows[__builtin_ctz(p)];
      for (int v = 0; v < kVectors; ++v) {
        const int k = v * Vector<Real>::kLanes;
        store<Real>(entries + p * Width + k, load<Real>(from + k) + load<Real>(row + k));
      }
    }
  }
}

// out rows r .. r + Rows - 1, columns c0 .. c0 + width - 1: each the sum of its groups' entries.
template <class Real, int Width, int Rows>
inline void add_entries(const uint16_t* __restrict__ offsets, i64 stride, int groups, const Real* __restrict__ table,
                        Real* __restrict__ out, i64 out_ld, int width) {
  using Vec = typename Vector<Real>::type;
  constexpr int kVectors = Width / Vector<Real>::kLanes;
  Vec totals[Rows][kVectors];
  for (int q = 0; q < Rows; ++q) {
    for (int v = 0; v < kVectors; ++v) totals[q][v] = Vec{};
  }
  for (int g = 0; g < groups; ++g) {
    const Real* entries = table + static_cast<i64>(g) * kPatterns * Width;
    for (int q = 0; q < Rows; ++q) {
      const Real* entry = entries + offsets[q * stride + g];
      for (int v = 0; v < kVectors; ++v) totals[q][v] += load<Real>(entry + v * Vector<Real>::kLanes);
    }
  }
  for (int q = 0; q < Rows; ++q) {
    Real* row = out + q * out_ld;
    if (width == Width) {
      for (int v = 0; v < kVectors; ++v) store<Real>(row + v * Vector<Real>::kLanes, totals[q][v]);
    } else {
      Real staged[Width];
      for (int v = 0; v < kVectors; ++v) store<Real>(staged + v * Vector<Real>::kLanes, totals[q][v]);
      for (int k = 0; k < width; ++k) row[k] = staged[k];
    }
  }
}

// out (R x cols, row stride out_ld) = bits (R x depth, row stride row_bytes bytes, bit j % 8 of
// byte j / 8 the input of op's row j, bits past depth ignored) @ op (depth x cols, row stride ld)
// + base (or nothing).
template <class Real, int Width, int Rows>
void binary_product(const uint8_t* __restrict__ bits, i64 R, i64 row_bytes, const Real* __restrict__ op, int depth,
                    i64 cols, i64 ld, const Real* __restrict__ base, Real* __restrict__ out, i64 out_ld) {
  const int groups = std::max(1, (depth + kGroupRows - 1) / kGroupRows);
  const i64 stride = 2 * row_bytes;  // offsets a row: one a nibble, of which the first `groups` are read
  thread_local std::vector<Real> table_buffer;
  thread_local std::vector<uint16_t> offset_buffer;
  table_buffer.resize(static_cast<size_t>(groups) * kPatterns * Width);
  offset_buffer.resize(static_cast<size_t>(R * stride));
  Real* table = table_buffer.data();
  uint16_t* offsets = offset_buffer.data();
  for (i64 i = 0; i < R * row_bytes; ++i) {  // each nibble's pattern as the offset of its entry in its group's table
    offsets[2 * i] = static_cast<uint16_t>((bits[i] & (kPatterns - 1)) * Width);
    offsets[2 * i + 1] = static_cast<uint16_t>((bits[i] >> kGroupRows) * Width);
  }
  for (i64 c0 = 0; c0 < cols; c0 += Width) {
    const int width = static_cast<int>(std::min<i64>(Width, cols - c0));
    build_tables<Real, Width>(op, depth, cols, ld, base, c0, groups, table);
    i64 r = 0;
    for (; r + Rows <= R; r += Rows) {
      add_entries<Real, Width, Rows>(offsets + r * stride, stride, groups, table, out + r * out_ld + c0, out_ld, width);
    }
    for (; r < R; ++r) {
      add_entries<Real, Width, 1>(offsets + r * stride, stride, groups, table, out + r * out_ld + c0, out_ld, width);
    }
  }
}

template <class Real>
void binary_product_any(const uint8_t* bits, i64 R, i64 row_bytes, const Real* op, int depth, i64 cols, i64 ld,
                        const Real* base, Real* out, i64 out_ld) {
  constexpr int kLanes = Vector<Real>::kLanes;
  if (cols <= kLanes) {  // one vector of columns: more rows at a time
    binary_product<Real, kLanes, 8>(bits, R, row_bytes, op, depth, cols, ld, base, out, out_ld);
  } else {
    binary_product<Real, 4 * kLanes, 3>(bits, R, row_bytes, op, depth, cols, ld, base, out, out_ld);
  }
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void cim_binary_product_f32(const uint8_t* bits, i64 R, i64 row_bytes,
                                                                   const float* op, int depth, i64 cols, i64 ld,
                                                                   const float* base, float* out, i64 out_ld) {
  binary_product_any<float>(bits, R, row_bytes, op, depth, cols, ld, base, out, out_ld);
}

__attribute__((visibility("default"))) void cim_binary_product_f64(const uint8_t* bits, i64 R, i64 row_bytes,
                                                                   const double* op, int depth, i64 cols, i64 ld,
                                                                   const double* base, double* out, i64 out_ld) {
  binary_product_any<double>(bits, R, row_bytes, op, depth, cols, ld, base, out, out_ld);
}

}  // extern "C"
