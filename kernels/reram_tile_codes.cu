// The ReRAM crossbar pipeline's matrix products on int8 tensor cores, with the ADC fused in:
// steps 2 to 4 of cim_emu/reram/pipeline.py for ideal devices, in one kernel.
//
//   codes[m, j] = sum_t ADC( sum_k inputs[t, m, k] * cells[t, first_column + j, k] )
//
//   inputs  int8 (T, rows, depth): tile t, row m = c * b + i holds input chunk c of batch row
//           i over the tile's crossbar rows, zero-padded to `depth` (a multiple of 64);
//   cells   int8 (T, cell_columns, depth): column j = n * cells_per_weight + cell holds the
//           levels of one (polarity, slice) cell of weight column n down the tile's rows (the
//           transposed operand: depth contiguous), or W+ minus W- for a signed ADC;
//   codes   int32 (rows, columns), contiguous; `Convert = false` sums the raw products instead
//           of codes (the single exact product of a lossless crossbar: T = 1, cells = W^T).
// The shift-and-add - the codes weighted by sign * 2**(s * bpc) and 2**(c * dac), summed in
// int64 - follows in reram_epilogue.cu (TensorCoreReadout.accumulate, cim_emu/reram/gpu_path.py).
//
// Exactness. Chunks (0 .. 2**dac - 1) and levels (0 .. 2**bpc - 1, or differences of two) fit
// in int8 (dac, bpc <= 7, checked by the caller); each tile's sum of at most `depth` products
// of magnitude at most 2**14 is an exact int32 (the caller checks rows * max_chunk * max_level < 2**24, so the
// sum also converts exactly to the ADC's float type, below 2**24 (float) or 2**53 (double)); the
// ADC is the exact one of reram_adc.cuh; a code sum over the tiles stays below T * (levels + 1)
// < 2**31 (checked). Integer addition is exact in any order: the bits equal numpy's.
//
// Tiling: a block of 128 threads (4 warps, 2 x 2) computes a 64 x 64 tile of codes; each warp
// 32 x 32 as 2 x 4 mma.m16n8k32 tiles (kernels/mma_s8.cuh), each thread keeping 32 int32 sums
// of the current crossbar tile and 32 code sums. Depth is staged 64 bytes at a time in shared
// memory, rows padded to 80 bytes so that the fragment loads of a warp hit 32 distinct banks.
// Grid-stride over both dimensions; indices that can pass 2**31 are 64-bit.
#include "cuda_shim.h"
#include "mma_s8.cuh"
#include "reram_adc.cuh"

namespace cim {

constexpr int kCodesTile = 64;                         // rows and columns of a block's tile
constexpr int kCodesStageDepth = 64;                   // bytes of depth staged at a time
constexpr int kCodesThreads = 128;                     // 4 warps
constexpr int kStageStride = (kCodesStageDepth + 16) / 4;  // 32-bit words per staged row

// Rows first .. first + 63 (zeros past `rows`), depth k0 .. k0 + 63, of an operand whose rows
// are `depth` bytes, into a stage of kCodesTile rows of kStageStride words.
__device__ __forceinline__ void stage_rows(cim_u32* stage, const signed char* operand, cim_i64 first, cim_i64 rows,
                                           int depth, int k0) {
  for (int piece = threadIdx.x; piece < kCodesTile * 4; piece += kCodesThreads) {
    const int row = piece / 4, part = piece % 4;
    uint4 value = {0u, 0u, 0u, 0u};
    if (first + row < rows) {
      value = *reinterpret_cast<const uint4*>(operand + (first + row) * depth + k0 + 16 * part);
    }
    cim_u32* to = stage + row * kStageStride + 4 * part;
    to[0] = value.x;
    to[1] = value.y;
    to[2] = value.z;
    to[3] = value.w;
  }
}

}  // namespace cim

template <class Code, bool Convert>
__global__ void __launch_bounds__(cim::kCodesThreads)
    reram_tile_codes(const signed char* __restrict__ inputs, const signed char* __restrict__ cells,
                     int* __restrict__ codes, int tiles, cim_i64 rows, cim_i64 columns, cim_i64 first_column,
                     cim_i64 cell_columns, int depth, Code scale, Code bias, Code divisor, Code reciprocal,
                     Code levels, int adc_flags) {
  using cim::kCodesTile;
  using cim::kStageStride;
  __shared__ cim_u32 a_stage[kCodesTile * kStageStride];
  __shared__ cim_u32 b_stage[kCodesTile * kStageStride];
  const cim::Adc<Code> adc{scale, bias, divisor, reciprocal, levels, adc_flags};
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = lane / 4, in_group = lane % 4;  // the ISA's groupID and threadID_in_group
  const int warp_row = (warp / 2) * 32, warp_column = (warp % 2) * 32;
  const cim_i64 input_tile = rows * depth, cell_tile = cell_columns * depth;
  for (cim_i64 m0 = static_cast<cim_i64>(blockIdx.y) * kCodesTile; m0 < rows;
       m0 += static_cast<cim_i64>(gridDim.y) * kCodesTile) {
    for (cim_i64 n0 = static_cast<cim_i64>(blockIdx.x) * kCodesTile; n0 < columns;
         n0 += static_cast<cim_i64>(gridDim.x) * kCodesTile) {
      int total[2][4][4] = {};
      for (int t = 0; t < tiles; ++t) {
        int sum[2][4][4] = {};
        for (int k0 = 0; k0 < depth; k0 += cim::kCodesStageDepth) {
          __syncthreads();  // every warp is done with the previous stage
          cim::stage_rows(a_stage, inputs + t * input_tile, m0, rows, depth, k0);
          cim::stage_rows(b_stage, cells + t * cell_tile + first_column * depth, n0, columns, depth, k0);
          __syncthreads();
          for (int word = 0; word < cim::kCodesStageDepth / 4; word += 8) {  // 32 bytes of depth a step
            cim_u32 a[2][4], b[4][2];
            #pragma unroll
            for (int i = 0; i < 2; ++i) {
              const cim_u32* row = a_stage + (warp_row + 16 * i + group) * kStageStride + word + in_group;
              a[i][0] = row[0];
              a[i][1] = row[8 * kStageStride];
              a[i][2] = row[4];
              a[i][3] = row[8 * kStageStride + 4];
            }
            #pragma unroll
            for (int j = 0; j < 4; ++j) {
              const cim_u32* column = b_stage + (warp_column + 8 * j + group) * kStageStride + word + in_group;
              b[j][0] = column[0];
              b[j][1] = column[4];
            }
            #pragma unroll
            for (int i = 0; i < 2; ++i) {
              #pragma unroll
              for (int j = 0; j < 4; ++j) cim::mma_m16n8k32_s8(sum[i][j], a[i], b[j]);
            }
          }
        }
        #pragma unroll
        for (int i = 0; i < 2; ++i) {  // the crossbar tile is complete: convert its partial sums
          #pragma unroll
          for (int j = 0; j < 4; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e) {
              total[i][j][e] += Convert ? static_cast<int>(adc.convert(static_cast<Code>(sum[i][j][e]))) : sum[i][j][e];
            }
          }
        }
      }
      #pragma unroll
      for (int i = 0; i < 2; ++i) {
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
          #pragma unroll
          for (int e = 0; e < 4; ++e) {
            const cim_i64 row = m0 + warp_row + 16 * i + group + 8 * (e / 2);
            const cim_i64 column = n0 + warp_column + 8 * j + 2 * in_group + e % 2;
            if (row < rows && column < columns) codes[row * columns + column] = total[i][j][e];
          }
        }
      }
    }
  }
}

CIM_KERNEL_INSTANCE(threaded, reram_tile_codes<float, true>);
CIM_KERNEL_INSTANCE(threaded, reram_tile_codes<double, true>);
CIM_KERNEL_INSTANCE(threaded, reram_tile_codes<float, false>);
