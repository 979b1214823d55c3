// The ReRAM epilogue: ADC and shift-and-add over the crossbar partial sums, into exact int64
// accumulators (steps 3 to 5 of cim_emu/reram/pipeline.py; Pipeline.accumulate).
//
// Input, for a block of b batch rows and `columns` weight columns, as the matrix product of
// Pipeline.accumulate leaves it:
//   sums   (T, C * b, columns * width)  Sum = float or double, exact integers; row t, c * b + i
//          holds tile t, input chunk c, batch row i; weight column n owns the `width` entries
//          n * width .. n * width + width - 1, which hold its P * S (polarity, slice) cells in
//          the order p * S + s, `pack` cells to an entry (sum_j cell_{g * pack + j} *
//          2**(pack_bits * j); width = ceil(P * S / pack); pack = 1: one cell an entry);
//   noise  null, or (T, C * b, columns, P * S) float64 read noise, added to each cell's sum
//          before the ADC (Pipeline.read_noise, already scaled when prescaled).
// Output: acc[i * acc_row_stride + n] = sum_t sum_c 2**(c * dac_bits)
//          * sum_{p, s} sign_p * 2**(s * bits_per_cell) * code(t, c, i, n, p, s),
// sign_p = +1 for W+ (p = 0), -1 for W- (p = 1). A signed ADC (`subtract` readout, pack = 1,
// P = 2) converts the difference of the two polarities' sums once per slice instead.
//
// Exactness: the codes are exact integers (reram_adc.cuh); every weighted sum is an exact int64
// sum, equal to the numpy pipeline's float sums, which CrossbarArray checks at construction
// to stay below 2**24 (float32 codes) or 2**53 (float64) - so those are exact integers too, in
// any order. Unpacking a packed entry by shifts and masks of its integer value gives the digits
// that ColumnPacking.parts (layout.py) computes by scaling and floor (the cells are below 2**pack_bits).
// The order of the sums differs from numpy's and cannot matter: integer addition is exact.
//
// One thread per accumulator (i, n): batch rows over the grid's y, columns over x, grid-stride
// both ways with 64-bit indices. For fixed (t, c) the threads of a warp (consecutive n) read
// one contiguous run of 32 * width entries: coalesced.
#include "cuda_shim.h"
#include "reram_adc.cuh"

namespace cim {

// The layout of one block of partial sums and of its weights.
struct PartialSumLayout {
  int tiles;          // T
  int chunks;         // C
  cim_i64 batch;      // b
  cim_i64 columns;    // weight columns in the block
  int width;          // entries per weight column
  int pack;           // cells per entry
  int pack_bits;      // bits per packed cell
  int polarities;     // P
  int slices;         // S
  int bits_per_cell;  // shift of a slice
  int dac_bits;       // shift of an input chunk
};

// Cell j of a packed entry: the j-th digit in radix 2**pack_bits (the top digit unmasked).
template <class Sum>
__device__ __forceinline__ Sum packed_cell(Sum entry, int j, const PartialSumLayout& layout) {
  if (layout.pack == 1) return entry;
  const cim_u64 digits = static_cast<cim_u64>(entry) >> (layout.pack_bits * j);
  const cim_u64 mask = j == layout.pack - 1 ? ~0ull : (1ull << layout.pack_bits) - 1;
  return static_cast<Sum>(digits & mask);
}

// Sum over the (polarity, slice) cells of one weight column, one tile and one chunk, of the
// weighted codes, per-polarity ADCs.
template <class Sum, class Code>
__device__ __forceinline__ cim_i64 per_polarity_codes(const Sum* entries, const double* noise,
                                                      const PartialSumLayout& layout, const Adc<Code>& adc) {
  const int cells = layout.polarities * layout.slices;
  cim_i64 total = 0;
  for (int g = 0; g < layout.width; ++g) {
    const Sum entry = entries[g];
    for (int j = 0; j < layout.pack; ++j) {
      const int cell = g * layout.pack + j;
      if (cell >= cells) break;  // the empty cells that pad the last entry
      const Sum partial_sum = packed_cell(entry, j, layout);
      const Code value = noise ? static_cast<Code>(static_cast<double>(partial_sum) + noise[cell])
                               : static_cast<Code>(partial_sum);
      const int polarity = cell / layout.slices, slice = cell % layout.slices;
      const cim_i64 weighted = static_cast<cim_i64>(adc.convert(value)) * (1ll << (slice * layout.bits_per_cell));
      total += polarity == 0 ? weighted : -weighted;
    }
  }
  return total;
}

// The same with one signed ADC per slice converting W+'s sum minus W-'s.
template <class Sum, class Code>
__device__ __forceinline__ cim_i64 subtracted_codes(const Sum* entries, const double* noise,
                                                    const PartialSumLayout& layout, const Adc<Code>& adc) {
  cim_i64 total = 0;
  for (int slice = 0; slice < layout.slices; ++slice) {
    const Sum positive = entries[slice], negative = entries[layout.slices + slice];
    const Code value =
        noise ? static_cast<Code>((static_cast<double>(positive) + noise[slice]) -
                                  (static_cast<double>(negative) + noise[layout.slices + slice]))
              : static_cast<Code>(positive - negative);
    total += static_cast<cim_i64>(adc.convert(value)) * (1ll << (slice * layout.bits_per_cell));
  }
  return total;
}

}  // namespace cim

template <class Sum, class Code>
__global__ void reram_adc_shift_add(const Sum* __restrict__ sums, const double* __restrict__ noise,
                                    cim_i64* __restrict__ acc, cim_i64 acc_row_stride, int tiles, int chunks,
                                    cim_i64 batch, cim_i64 columns, int width, int pack, int pack_bits,
                                    int polarities, int slices, int bits_per_cell, int dac_bits, Code scale,
                                    Code bias, Code divisor, Code reciprocal, Code levels, int adc_flags) {
  const cim::PartialSumLayout layout{tiles, chunks, batch, columns, width, pack, pack_bits,
                                     polarities, slices, bits_per_cell, dac_bits};
  const cim::Adc<Code> adc{scale, bias, divisor, reciprocal, levels, adc_flags};
  const cim_i64 entries_per_row = columns * width;
  const cim_i64 cells = static_cast<cim_i64>(polarities) * slices;
  // A 2-D grid-stride loop: rows over y, columns over x (no 64-bit division for the indices).
  const cim_i64 column_stride = static_cast<cim_i64>(gridDim.x) * blockDim.x;
  for (cim_i64 row = blockIdx.y; row < batch; row += gridDim.y) {
    for (cim_i64 column = static_cast<cim_i64>(blockIdx.x) * blockDim.x + threadIdx.x; column < columns;
         column += column_stride) {
      cim_i64 total = 0;
      for (int chunk = 0; chunk < chunks; ++chunk) {
        cim_i64 chunk_total = 0;
        for (int tile = 0; tile < tiles; ++tile) {
          const cim_i64 sum_row = (static_cast<cim_i64>(tile) * chunks + chunk) * batch + row;
          const Sum* entries = sums + sum_row * entries_per_row + column * width;
          const double* cell_noise = noise ? noise + (sum_row * columns + column) * cells : nullptr;
          chunk_total += adc.is_signed() ? cim::subtracted_codes(entries, cell_noise, layout, adc)
                                         : cim::per_polarity_codes(entries, cell_noise, layout, adc);
        }
        total += chunk_total * (1ll << (chunk * dac_bits));
      }
      acc[row * acc_row_stride + column] = total;
    }
  }
}

CIM_KERNEL_INSTANCE(sequential, reram_adc_shift_add<float, float>);
CIM_KERNEL_INSTANCE(sequential, reram_adc_shift_add<float, double>);
CIM_KERNEL_INSTANCE(sequential, reram_adc_shift_add<double, float>);
CIM_KERNEL_INSTANCE(sequential, reram_adc_shift_add<double, double>);
// Sum = int: codes the tensor-core kernel (reram_tile_codes.cu) already converted and summed over
// the tiles, passed through the transfer floor((2 v + 0) / 2) = v (exact for integers; no clamp):
// the shift-and-add alone (cim_emu.reram.gpu.reram_shift_add_codes).
CIM_KERNEL_INSTANCE(sequential, reram_adc_shift_add<int, float>);
CIM_KERNEL_INSTANCE(sequential, reram_adc_shift_add<int, double>);
