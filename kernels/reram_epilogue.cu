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
//
// reram_noisy_shift_add draws the read noise in place instead of reading it from an array (no
// noise array is written or read: the numpy backend's native path, cim_emu/reram/host_path.py,
// where it saves most of the epilogue's memory traffic). For the partial sums of tiles
// first_tile .. first_tile + tiles - 1 it ADDS to acc (the caller zeroes it, then may pass the
// tiles one at a time). The noise of cell k (k < D draws of a weight column: P * S, in the order
// p * S + s) of column n, tile t, chunk c and batch row i is reram_noise.cuh's
//   rint(root * z(first + r * stride + n * D + k)) * post,   r = i * inner + t * chunks + c
// (the run of cim_emu.reram.gpu.NoiseRuns for (i, t, c), in the stream's order (b, t, c)), with
// root = roots[r], or PerElement: roots[o(r) + n * D + k], o(r) = (r / inner) * outer_step +
// (r % inner) * inner_step. Three readouts (`readout`):
//   kPerPolarity  entries hold the P * S cells (packed, unsigned digits); each converted with its
//                 noise, weighted sign_p * 2**(s bpc);
//   kSubtract     entries hold both polarities' 2 S sums (unpacked); one signed conversion a
//                 slice of (p+ + n+) - (p- + n-);
//   kDifferences  entries hold S sums of W+ - W- (packed, signed digits); one signed conversion a
//                 slice of (p+ - p-) + (n+ - n-).
// Every value is an exact integer in double before the cast to Code (the ADC's float type), as
// in the numpy pipeline, so the order of the additions cannot matter. On the GPU one thread per
// accumulator draws its column's D values per (t, c) (a counter block for four draws in order).
// Launched with one thread on the host, it draws each (i, t, c) run of D * columns values at
// once in lanes of counter blocks (philox_words, philox_fill). Unpacked per-polarity entries (the
// common case) are then read batch row by batch row: every conversion's noise added, converted
// and its code, times its chunk's place value, added to the row's code total of its cell, in
// vectorised passes over the run; at the row's end the totals, weighted sign_p * 2**(s bpc), go
// to acc in int64. The totals are float where every one stays below 2**24, else double below
// 2**53 (codes at most the levels of a saturating ADC, else below 2**24 or 2**53, times the place
// values' sum and the tiles), so they are exact; past that, and for the other readouts, it
// converts column by column into int64 as the GPU does.
#include "cuda_shim.h"
#include "philox.cuh"
#include "reram_adc.cuh"
#include "reram_noise.cuh"

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

  // The row of the sums that holds tile t, chunk c and batch row i.
  __device__ __forceinline__ cim_i64 sum_row(int t, int c, cim_i64 i) const {
    return (static_cast<cim_i64>(t) * chunks + c) * batch + i;
  }
};

// Cell j of a packed entry: the j-th digit in radix 2**pack_bits (the top digit unmasked).
template <class Sum>
__device__ __forceinline__ Sum packed_cell(Sum entry, int j, const PartialSumLayout& layout) {
  if (layout.pack == 1) return entry;
  const cim_u64 digits = static_cast<cim_u64>(entry) >> (layout.pack_bits * j);
  const cim_u64 mask = j == layout.pack - 1 ? ~0ull : (1ull << layout.pack_bits) - 1;
  return static_cast<Sum>(digits & mask);
}

// The read noise of a weight column's draws k < P * S read from an array (none where it is null).
struct ArrayNoise {
  const double* values;
  __device__ __forceinline__ bool present() const { return values != nullptr; }
  __device__ __forceinline__ double operator()(int k) const { return values[k]; }
};

// Sum over the (polarity, slice) cells of one weight column, one tile and one chunk, of the
// weighted codes, per-polarity ADCs, with the noise of draw p * S + s added to cell p * S + s
// (noise: ArrayNoise, or ColumnDraws below). Cell p * S + s is digit j of entry g (no division:
// the digit and the entry are stepped along).
template <class Sum, class Code, class Noise>
__device__ __forceinline__ cim_i64 per_polarity_codes(const Sum* entries, Noise& noise,
                                                      const PartialSumLayout& layout, const Adc<Code>& adc) {
  cim_i64 total = 0;
  int g = 0, j = 0, cell = 0;
  for (int polarity = 0; polarity < layout.polarities; ++polarity) {
    for (int slice = 0; slice < layout.slices; ++slice, ++cell) {
      const Sum partial_sum = packed_cell(entries[g], j, layout);
      const Code value = noise.present() ? static_cast<Code>(static_cast<double>(partial_sum) + noise(cell))
                                         : static_cast<Code>(partial_sum);
      const cim_i64 weighted = static_cast<cim_i64>(adc.convert(value)) * (1ll << (slice * layout.bits_per_cell));
      total += polarity == 0 ? weighted : -weighted;
      if (++j == layout.pack) {
        j = 0;
        ++g;
      }
    }
  }
  return total;
}

// The same with one signed ADC per slice converting W+'s sum minus W-'s (entries: both
// polarities' sums, unpacked), each with its noise: (p+ + n+) - (p- + n-).
template <class Sum, class Code, class Noise>
__device__ __forceinline__ cim_i64 subtracted_codes(const Sum* entries, Noise& noise,
                                                    const PartialSumLayout& layout, const Adc<Code>& adc) {
  cim_i64 total = 0;
  for (int slice = 0; slice < layout.slices; ++slice) {
    const Sum positive = entries[slice], negative = entries[layout.slices + slice];
    const Code value =
        noise.present() ? static_cast<Code>((static_cast<double>(positive) + noise(slice)) -
                                            (static_cast<double>(negative) + noise(layout.slices + slice)))
                        : static_cast<Code>(positive - negative);
    total += static_cast<cim_i64>(adc.convert(value)) * (1ll << (slice * layout.bits_per_cell));
  }
  return total;
}

// The readouts of reram_noisy_shift_add (cim_emu.reram.gpu.NoisyReadout; a test holds them equal).
enum Readout : int { kPerPolarity = 0, kSubtract = 1, kDifferences = 2 };

// Digit j of an entry of signed digits (ColumnPacking(signed=True): radix 2**bits, the digits
// below any one summing to less than half its unit), as ColumnPacking.unpack splits it: from
// the top digit down, each the entry's rest divided by its unit and rounded (never a tie), then
// subtracted. In integers, round(v / 2**m) = (v + 2**(m - 1)) >> m, an arithmetic shift (floor).
__device__ __forceinline__ cim_i64 signed_digit(cim_i64 value, int j, int pack, int bits) {
  for (int k = pack - 1; k >= j; --k) {
    if (k == 0) return value;
    const int shift = bits * k;
    const cim_i64 digit = (value + (1ll << (shift - 1))) >> shift;
    if (k == j) return digit;
    value -= digit * (1ll << shift);
  }
  return value;
}

// One signed ADC per slice converting the W+ - W- entries (packed: signed digits) with the
// difference of the two polarities' noise: (p+ - p-) + (n+ - n-).
template <class Sum, class Code, class Noise>
__device__ __forceinline__ cim_i64 differences_codes(const Sum* entries, Noise& noise, const PartialSumLayout& layout,
                                                     const Adc<Code>& adc) {
  cim_i64 total = 0;
  int g = 0, j = 0;
  for (int slice = 0; slice < layout.slices; ++slice) {
    const double difference = layout.pack == 1 ? static_cast<double>(entries[slice])
        : static_cast<double>(signed_digit(static_cast<cim_i64>(entries[g]), j, layout.pack, layout.pack_bits));
    const Code value = static_cast<Code>(difference + (noise(slice) - noise(layout.slices + slice)));
    total += static_cast<cim_i64>(adc.convert(value)) * (1ll << (slice * layout.bits_per_cell));
    if (++j == layout.pack) {
      j = 0;
      ++g;
    }
  }
  return total;
}

// The weighted codes of one weight column, one tile and one chunk, with the noise of its draws.
template <class Sum, class Code, class Noise>
__device__ __forceinline__ cim_i64 noisy_column_codes(const Sum* entries, Noise& noise, int readout,
                                                      const PartialSumLayout& layout, const Adc<Code>& adc) {
  if (readout == kSubtract) return subtracted_codes<Sum, Code>(entries, noise, layout, adc);
  if (readout == kDifferences) return differences_codes<Sum, Code>(entries, noise, layout, adc);
  return per_polarity_codes<Sum, Code>(entries, noise, layout, adc);
}

// The noise of draw k of one weight column as a GPU thread draws it: element start + k, its
// counter block computed when it is not the last one's (a block for four draws taken in order),
// its word chosen by selects - no array, so that nothing goes to local memory.
template <bool PerElement>
struct ColumnDraws {
  cim_u64 seed, stream, start;
  const double* roots;  // PerElement: the root of the column's first draw; else the run's root
  double post;
  const double* table;
  cim_u64 block;  // the counter block held in `words` (~0: none yet)
  PhiloxBlock words;

  __device__ __forceinline__ bool present() const { return true; }

  __device__ __forceinline__ double operator()(int k) {
    const cim_u64 element = start + static_cast<cim_u64>(k);
    if ((element >> 2) != block) {
      block = element >> 2;
      words = philox_block(seed, stream, block);
    }
    return read_noise_value(roots[PerElement ? k : 0], block_word(words, static_cast<cim_u32>(element & 3)), post,
                            table);
  }
};

// The walk of both epilogue kernels, one thread per accumulator (row, column): batch rows over
// the grid's y, columns over x, grid-stride both ways with 64-bit indices (no 64-bit division),
// acc[row, column] (+)= sum_c 2**(c dac) sum_t codes(row, column, t, c, sum_row), sum_row the
// row (t, c * b + row) of the sums. Added with `add`, else written.
template <class Codes>
__device__ __forceinline__ void shift_add_accumulators(const PartialSumLayout& layout, cim_i64* acc,
                                                       cim_i64 acc_row_stride, bool add, Codes& codes) {
  const cim_i64 column_stride = static_cast<cim_i64>(gridDim.x) * blockDim.x;
  for (cim_i64 row = blockIdx.y; row < layout.batch; row += gridDim.y) {
    for (cim_i64 column = static_cast<cim_i64>(blockIdx.x) * blockDim.x + threadIdx.x; column < layout.columns;
         column += column_stride) {
      cim_i64 total = 0;
      for (int chunk = 0; chunk < layout.chunks; ++chunk) {
        cim_i64 chunk_total = 0;
        for (int tile = 0; tile < layout.tiles; ++tile) {
          chunk_total += codes(row, column, tile, chunk, layout.sum_row(tile, chunk, row));
        }
        total += chunk_total * (1ll << (chunk * layout.dac_bits));
      }
      acc[row * acc_row_stride + column] = add ? acc[row * acc_row_stride + column] + total : total;
    }
  }
}

// Where the read noise of reram_noisy_shift_add comes from: the runs of NoiseRuns (header).
struct NoiseSource {
  cim_u64 seed, stream, first, stride, inner, outer_step, inner_step;
  const double* roots;
  double post;
  const double* table;

  // The run of batch row i, tile t (counted over the whole block) and chunk c: i * inner + t * C + c.
  __device__ __forceinline__ cim_u64 run(cim_i64 i, int t, int c, int chunks) const {
    return static_cast<cim_u64>(i) * inner + static_cast<cim_u64>(t) * chunks + c;
  }

  // The offset o(r) of run r in the layout of per-element roots.
  __device__ __forceinline__ cim_u64 offset(cim_u64 r) const { return (r / inner) * outer_step + (r % inner) * inner_step; }
};

#ifdef CIM_EMU_CPU_SHIM
// totals[k] += place * ADC(row[k] + noise_k) over one run of unpacked per-polarity sums, where
// noise_k = rint(root * z(words[k])) * post (read_noise_value; root = roots[k] PerElement, else
// roots[0]; words null: no draw, z = 0), in blocks: the block's normal draws z first (table
// look-ups alone, which the core overlaps), then the noise added, converted and weighed by the
// chunk's place value in one pass that the compiler vectorises (the ADC's flags constants, the
// buffers restrict). Every value is the one the GPU branch computes; the totals are exact
// integers (the caller chose Total so).
template <int Flags, bool ExactReciprocal, class Sum, class Code, class Total, bool PerElement>
__attribute__((noinline)) void add_noisy_codes(const Sum* __restrict__ row, const cim_u32* __restrict__ words,
                                               const double* __restrict__ roots, double post,
                                               const double* __restrict__ table, Total place,
                                               Total* __restrict__ totals, cim_u64 length, const Adc<Code> adc) {
  constexpr cim_u64 span = 256;  // draws a block: their z in 2 KB of the stack
  double z[span];
  const double root = roots[0];
  for (cim_u64 first = 0; first < length; first += span) {
    const cim_u64 count = length - first < span ? length - first : span;
    if (words == nullptr) {  // a run without noise (the caller's choice): z = 0
      for (cim_u64 j = 0; j < count; ++j) z[j] = 0;
    } else {
      for (cim_u64 j = 0; j < count; ++j) z[j] = normal_from(words[first + j], table);
    }
    for (cim_u64 j = 0; j < count; ++j) {
      const cim_u64 k = first + j;
      const double noise = scaled_noise(PerElement ? roots[k] : root, z[j], post);
      const Code value = static_cast<Code>(static_cast<double>(row[k]) + noise);
      const Code code = adc.convert_as(value, Flags, ExactReciprocal);
      totals[k] += static_cast<Total>(code) * place;
    }
  }
}

// add_noisy_codes for an ADC's prescaled and saturates flags and whether its reciprocal is exact,
// chosen at run time among its eight compiled forms.
template <class Sum, class Code, class Total, bool PerElement>
inline auto noisy_codes_for(const Adc<Code>& adc) {
  using Form = decltype(&add_noisy_codes<0, false, Sum, Code, Total, PerElement>);
  static constexpr Form kForms[8] = {
      &add_noisy_codes<0, false, Sum, Code, Total, PerElement>,
      &add_noisy_codes<kAdcPrescaled, false, Sum, Code, Total, PerElement>,
      &add_noisy_codes<kAdcSaturates, false, Sum, Code, Total, PerElement>,
      &add_noisy_codes<kAdcPrescaled | kAdcSaturates, false, Sum, Code, Total, PerElement>,
      &add_noisy_codes<0, true, Sum, Code, Total, PerElement>,
      &add_noisy_codes<kAdcPrescaled, true, Sum, Code, Total, PerElement>,
      &add_noisy_codes<kAdcSaturates, true, Sum, Code, Total, PerElement>,
      &add_noisy_codes<kAdcPrescaled | kAdcSaturates, true, Sum, Code, Total, PerElement>};
  const int form = ((adc.flags & kAdcPrescaled) ? 1 : 0) | ((adc.flags & kAdcSaturates) ? 2 : 0) |
                   (adc.has_exact_reciprocal() ? 4 : 0);
  return kForms[form];
}

// The host's walk of unpacked per-polarity sums (the common case): batch row after batch row,
// every (t, c) run of D * columns draws taken at once (philox_fill), then added to the row's
// code totals, totals[n * D + k] = sum_t sum_c 2**(c dac) code(t, c, n, k), in one vectorised
// pass; at the row's end, acc[n] += sum_k sign_p 2**(s bpc) totals[n * D + k], in int64. Total is
// float or double, chosen by the caller so that every total is an exact integer in it.
template <class Sum, class Code, class Total, bool PerElement>
inline void noisy_unpacked_rows_on_host(const Sum* __restrict__ sums, cim_i64* __restrict__ acc,
                                        cim_i64 acc_row_stride, int first_tile, const PartialSumLayout layout,
                                        const NoiseSource source, const Adc<Code> adc) {
  const cim_u64 draws = static_cast<cim_u64>(layout.polarities) * layout.slices;
  const cim_u64 length = draws * layout.columns;
  std::vector<cim_u32> word_buffer(length);
  std::vector<Total> total_buffer(length);
  std::vector<cim_i64> weights(draws);  // sign_p * 2**(s bpc) of cell p * S + s
  for (cim_u64 cell = 0; cell < draws; ++cell) {
    const cim_i64 weight = 1ll << ((cell % layout.slices) * layout.bits_per_cell);
    weights[cell] = cell < static_cast<cim_u64>(layout.slices) ? weight : -weight;
  }
  cim_u32* __restrict__ words = word_buffer.data();
  Total* __restrict__ totals = total_buffer.data();
  const auto add_codes = noisy_codes_for<Sum, Code, Total, PerElement>(adc);  // unsigned: a per-polarity ADC
  for (cim_i64 i = 0; i < layout.batch; ++i) {
    for (cim_u64 k = 0; k < length; ++k) totals[k] = 0;
    for (int t = 0; t < layout.tiles; ++t) {
      for (int c = 0; c < layout.chunks; ++c) {
        const cim_u64 r = source.run(i, first_tile + t, c, layout.chunks);
        const Sum* row = sums + layout.sum_row(t, c, i) * layout.columns * layout.width;
        const double* roots = source.roots + (PerElement ? source.offset(r) : r);
        const Total place = static_cast<Total>(1ll << (c * layout.dac_bits));
        // a run whose inputs are all zero has root 0: its noise rint(0 * z) * post is zero whatever
        // z (a signed zero, which leaves every sum as it is), so it is not drawn
        const bool silent = !PerElement && roots[0] == 0;
        if (!silent) philox_fill(source.seed, source.stream, source.first + r * source.stride, length, words);
        add_codes(row, silent ? nullptr : words, roots, source.post, source.table, place, totals, length, adc);
      }
    }
    cim_i64* __restrict__ acc_row = acc + i * acc_row_stride;
    for (cim_i64 n = 0; n < layout.columns; ++n) {
      cim_i64 total = 0;
      for (cim_u64 cell = 0; cell < draws; ++cell) {
        total += static_cast<cim_i64>(totals[n * draws + cell]) * weights[cell];
      }
      acc_row[n] += total;
    }
  }
}

// The largest magnitude of a code total of noisy_unpacked_rows_on_host: codes below the ADC's
// levels where it saturates (else below 2**digits(Code): the values it converts are exact
// integers of Code), times the place values' sum, times the tiles.
template <class Code>
inline double largest_code_total(const PartialSumLayout& layout, const Adc<Code>& adc) {
  const double code = (adc.flags & kAdcSaturates) ? static_cast<double>(adc.levels)
                                                  : ldexp(1.0, sizeof(Code) == sizeof(float) ? 24 : 53);
  double places = 0;
  for (int c = 0; c < layout.chunks; ++c) places += ldexp(1.0, c * layout.dac_bits);
  return code * places * layout.tiles;
}

// The host's walk (one thread) of one launch's sums. Unpacked per-polarity sums whose code totals
// stay exact in float (or double) take noisy_unpacked_rows_on_host; every other readout, row after
// row of one launch's sums, each (i, t, c) run drawn at once into an array, then converted column
// by column. Everything is taken by value and the buffers through restrict pointers: a store
// through a float or double pointer could otherwise alias the ADC's and the noise's parameters,
// which the compiler would then reload at every element.
template <class Sum, class Code, bool PerElement>
inline void noisy_rows_on_host(const Sum* __restrict__ sums, cim_i64* __restrict__ acc, cim_i64 acc_row_stride,
                               int first_tile, int readout, const PartialSumLayout layout, const NoiseSource source,
                               const Adc<Code> adc) {
  if (readout == kPerPolarity && layout.pack == 1) {
    const double reach = largest_code_total(layout, adc);
    if (reach < 0x1p24) {
      noisy_unpacked_rows_on_host<Sum, Code, float, PerElement>(sums, acc, acc_row_stride, first_tile, layout, source, adc);
      return;
    }
    if (reach < 0x1p53) {
      noisy_unpacked_rows_on_host<Sum, Code, double, PerElement>(sums, acc, acc_row_stride, first_tile, layout, source, adc);
      return;
    }
  }
  const cim_u64 draws = static_cast<cim_u64>(layout.polarities) * layout.slices;
  const cim_u64 length = draws * layout.columns;
  std::vector<double> noise_buffer(length);
  double* __restrict__ noise = noise_buffer.data();
  for (int t = 0; t < layout.tiles; ++t) {
    for (int c = 0; c < layout.chunks; ++c) {
      const cim_i64 place = 1ll << (c * layout.dac_bits);
      for (cim_i64 i = 0; i < layout.batch; ++i) {
        const cim_u64 r = source.run(i, first_tile + t, c, layout.chunks);
        draw_read_noise_run<PerElement>(source.seed, source.stream, source.first + r * source.stride, length, noise,
                                        source.roots + (PerElement ? source.offset(r) : r), source.post, source.table);
        const Sum* __restrict__ row = sums + layout.sum_row(t, c, i) * layout.columns * layout.width;
        cim_i64* __restrict__ acc_row = acc + i * acc_row_stride;
        for (cim_i64 n = 0; n < layout.columns; ++n) {
          ArrayNoise column_noise{noise + n * draws};
          acc_row[n] += noisy_column_codes<Sum, Code>(row + n * layout.width, column_noise, readout, layout, adc) * place;
        }
      }
    }
  }
}
#endif

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
  auto codes = [&](cim_i64, cim_i64 column, int, int, cim_i64 sum_row) {
    const Sum* entries = sums + sum_row * entries_per_row + column * width;
    cim::ArrayNoise cell_noise{noise ? noise + (sum_row * columns + column) * cells : nullptr};
    return adc.is_signed() ? cim::subtracted_codes<Sum, Code>(entries, cell_noise, layout, adc)
                           : cim::per_polarity_codes<Sum, Code>(entries, cell_noise, layout, adc);
  };
  cim::shift_add_accumulators(layout, acc, acc_row_stride, false, codes);
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

template <class Sum, class Code, bool PerElement>
__global__ void reram_noisy_shift_add(const Sum* __restrict__ sums, cim_i64* __restrict__ acc, cim_i64 acc_row_stride,
                                      int tiles, int first_tile, int chunks, cim_i64 batch, cim_i64 columns, int width,
                                      int pack, int pack_bits, int polarities, int slices, int bits_per_cell,
                                      int dac_bits, int readout, cim_u64 seed, cim_u64 stream, cim_u64 first,
                                      cim_u64 stride, cim_u64 inner, cim_u64 outer_step, cim_u64 inner_step,
                                      const double* __restrict__ roots, double post, const double* __restrict__ table,
                                      Code scale, Code bias, Code divisor, Code reciprocal, Code levels,
                                      int adc_flags) {
  const cim::PartialSumLayout layout{tiles, chunks, batch, columns, width, pack, pack_bits,
                                     polarities, slices, bits_per_cell, dac_bits};
  const cim::Adc<Code> adc{scale, bias, divisor, reciprocal, levels, adc_flags};
  const cim::NoiseSource source{seed, stream, first, stride, inner, outer_step, inner_step, roots, post, table};
#ifdef CIM_EMU_CPU_SHIM
  if (static_cast<cim_u64>(gridDim.x) * gridDim.y * blockDim.x == 1) {
    cim::noisy_rows_on_host<Sum, Code, PerElement>(sums, acc, acc_row_stride, first_tile, readout, layout, source, adc);
    return;
  }
#endif
  const int draws = polarities * slices;
  const cim_i64 entries_per_row = columns * width;
  auto codes = [&](cim_i64 row, cim_i64 column, int tile, int chunk, cim_i64 sum_row) {
    const cim_u64 r = source.run(row, first_tile + tile, chunk, chunks);
    const cim_u64 first_draw = static_cast<cim_u64>(column) * draws;  // of the run
    cim::ColumnDraws<PerElement> noise{seed, stream, first + r * stride + first_draw,
                                       roots + (PerElement ? source.offset(r) + first_draw : r), post, table, ~0ull, {}};
    return cim::noisy_column_codes<Sum, Code>(sums + sum_row * entries_per_row + column * width, noise, readout,
                                              layout, adc);
  };
  cim::shift_add_accumulators(layout, acc, acc_row_stride, true, codes);
}

CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<float, float, false>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<float, float, true>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<float, double, false>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<float, double, true>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<double, float, false>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<double, float, true>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<double, double, false>);
CIM_KERNEL_INSTANCE(sequential, reram_noisy_shift_add<double, double, true>);
