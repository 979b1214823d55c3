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
//           of codes (the single exact product of a lossless crossbar: T = 1, cells = W^T),
//           accumulated over the tiles in the mma's int32 sums themselves.
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
// Zeros are staged for the rows and columns past the operands' (they reach no code written);
// the asynchronous copies move bytes unchanged.
//
// Tiling: a block of 128 threads (4 warps, 2 x 2) computes a 64 x 64 tile of codes; each warp
// 32 x 32 as 2 x 4 mma.m16n8k32 tiles (kernels/mma_s8.cuh), each thread keeping 32 int32 sums
// of the current crossbar tile and 32 code sums (32 sums in all for the raw products). Depth is staged 64 bytes at a time in shared
// memory, in two buffers: the stages of an output tile - depth 0 .. 63, 64 .. 127, ... of
// crossbar tile 0, then of tile 1, ... - alternate between them. A stage opens with the wait for
// the thread's copies of it and a barrier (every thread's copies have landed; every warp is done
// with the other buffer), then issues the copies of the next stage into the other buffer, as one
// cp.async group of 16-byte copies that go to shared memory without registers, and computes
// while they load: one barrier a stage. Rows are padded to 80 bytes, a multiple of 16, so that
// the fragment loads of a warp hit 32 distinct banks, and the copies of each quarter warp 8
// distinct groups of 4 banks (stage_rows_async). __launch_bounds__ asks for as many blocks an SM
// as the registers allow without spills (codes_min_blocks; the ptxas report before and after the
// staging was rewritten is in kernels/README.md). Grid-stride over both dimensions; indices that
// can pass 2**31 are 64-bit.
#include "cuda_shim.h"
#include "mma_s8.cuh"
#include "reram_adc.cuh"

namespace cim {

constexpr int kCodesTile = 64;                                    // rows and columns of a block's tile
constexpr int kCodesStageDepth = 64;                              // bytes of depth staged at a time
constexpr int kCodesThreads = 128;                                // 4 warps
constexpr int kStageStride = (kCodesStageDepth + 16) / 4;         // 32-bit words per staged row (80 bytes)
constexpr int kStageWords = kCodesTile * kStageStride;            // one operand's stage
constexpr int kStageChunks = kCodesTile * kCodesStageDepth / 16;  // its 16-byte copies

static_assert(kStageStride % 4 == 0, "staged rows keep the 16-byte alignment of the copies");
static_assert(kStageChunks % kCodesThreads == 0 && kCodesStageDepth == 64, "each warp copies 8 rows of 64 bytes");

// The blocks an SM must be able to hold (__launch_bounds__: at most 65536 / (128 x blocks)
// registers a thread): the most that ptxas fits without spilling, for sm_80 and sm_90 (nvcc 13.0,
// NVRTC 12.9) - 4 with a float ADC (128 registers, 64 of them the sums), 3 with a double one
// (its conversion takes about 150; at 4 blocks it spills), 6 for the raw sums (80 registers;
// at 8 blocks it spills).
template <class Code, bool Convert>
constexpr int codes_min_blocks() {
  return !Convert ? 6 : sizeof(Code) == 4 ? 4 : 3;
}

// Issues the asynchronous copies (cp_async_16) of rows first .. first + 63 of an operand whose
// rows are `depth` bytes, depth k0 .. k0 + 63, into a stage of kCodesTile rows of kStageStride
// words; rows past `rows` are zeros (no byte read: source_bytes 0). Each warp copies 8 whole rows
// a step (full 32-byte sectors of global memory); each quarter warp - the 8 threads whose 16-byte
// shared-memory accesses share a pass through the 32 banks - copies 32 bytes of each of 4 even or
// 4 odd rows of them. Row r of a stage starts at 16-byte bank group 5 r mod 8, so the 8 chunks of
// a quarter fall into 8 distinct groups of 4 banks: no conflict.
__device__ __forceinline__ void stage_rows_async(cim_u32* stage, const signed char* operand, cim_i64 first,
                                                 cim_i64 rows, int depth, int k0) {
  #pragma unroll
  for (int step = 0; step < kStageChunks / kCodesThreads; ++step) {
    const int chunk = static_cast<int>(threadIdx.x) + kCodesThreads * step;
    const int lane = chunk % 32, quarter = lane / 8, in_quarter = lane % 8;
    const int row = 8 * (chunk / 32) + 2 * (in_quarter / 2) + quarter / 2;
    const int part = 2 * (quarter % 2) + in_quarter % 2;  // 16 bytes of the row's 64
    const bool inside = first + row < rows;
    const signed char* from = operand + (inside ? (first + row) * depth : 0) + k0 + 16 * part;  // row 0 if not
    cp_async_16(stage + row * kStageStride + 4 * part, from, inside ? 16 : 0);
  }
}

// One stage: depth k0 .. k0 + 63 of both operands of a crossbar tile (`a`, `b`: its input row 0
// and its cell column first_column), as one group of copies.
__device__ __forceinline__ void stage_async(cim_u32* a_stage, cim_u32* b_stage, const signed char* a,
                                            const signed char* b, cim_i64 m0, cim_i64 n0, cim_i64 rows,
                                            cim_i64 columns, int depth, int k0) {
  stage_rows_async(a_stage, a, m0, rows, depth, k0);
  stage_rows_async(b_stage, b, n0, columns, depth, k0);
  cp_async_commit();
}

}  // namespace cim

template <class Code, bool Convert>
__global__ void __launch_bounds__(cim::kCodesThreads, (cim::codes_min_blocks<Code, Convert>()))
    reram_tile_codes(const signed char* __restrict__ inputs, const signed char* __restrict__ cells,
                     int* __restrict__ codes, int tiles, cim_i64 rows, cim_i64 columns, cim_i64 first_column,
                     cim_i64 cell_columns, int depth, Code scale, Code bias, Code divisor, Code reciprocal,
                     Code levels, int adc_flags) {
  using cim::kCodesStageDepth;
  using cim::kCodesTile;
  using cim::kStageStride;
  __shared__ __align__(16) cim_u32 a_stages[2][cim::kStageWords];  // the two buffers of the stages
  __shared__ __align__(16) cim_u32 b_stages[2][cim::kStageWords];
  const cim::Adc<Code> adc{scale, bias, divisor, reciprocal, levels, adc_flags};
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = lane / 4, in_group = lane % 4;  // the ISA's groupID and threadID_in_group
  const int warp_row = (warp / 2) * 32, warp_column = (warp % 2) * 32;
  const cim_i64 input_tile = rows * depth, cell_tile = cell_columns * depth;
  const signed char* const first_cells = cells + first_column * depth;
  // The buffer the next stage goes to. It carries over from one output tile to the next: the
  // next's first stage then goes to the buffer of the last stage but one, which every warp is
  // done with (each has passed the last stage's barrier), while a slower warp may still be
  // computing from the other.
  int buffer = 0;
  for (cim_i64 m0 = static_cast<cim_i64>(blockIdx.y) * kCodesTile; m0 < rows;
       m0 += static_cast<cim_i64>(gridDim.y) * kCodesTile) {
    for (cim_i64 n0 = static_cast<cim_i64>(blockIdx.x) * kCodesTile; n0 < columns;
         n0 += static_cast<cim_i64>(gridDim.x) * kCodesTile) {
      if (tiles > 0) {
        cim::stage_async(a_stages[buffer], b_stages[buffer], inputs, first_cells, m0, n0, rows, columns, depth, 0);
      }
      int total[2][4][4] = {};
      int sum[2][4][4];  // a crossbar tile's sums, for its ADC (Convert only)
      for (int t = 0; t < tiles; ++t) {
        int (&partial)[2][4][4] = Convert ? sum : total;  // raw sums: the mma adds every tile to total
        if constexpr (Convert) {
          #pragma unroll
          for (int i = 0; i < 2; ++i) {
            #pragma unroll
            for (int j = 0; j < 4; ++j) {
              #pragma unroll
              for (int e = 0; e < 4; ++e) sum[i][j][e] = 0;
            }
          }
        }
        for (int k0 = 0; k0 < depth; k0 += kCodesStageDepth) {
          cim::cp_async_wait<0>();  // this thread's copies of the stage have landed
          __syncthreads();          // every thread's have; every warp is done with the other buffer
          const bool last_of_tile = k0 + kCodesStageDepth == depth;
          if (!last_of_tile || t + 1 < tiles) {  // the next stage loads while this one is computed
            const int next_t = last_of_tile ? t + 1 : t;
            cim::stage_async(a_stages[buffer ^ 1], b_stages[buffer ^ 1], inputs + next_t * input_tile,
                             first_cells + next_t * cell_tile, m0, n0, rows, columns, depth,
                             last_of_tile ? 0 : k0 + kCodesStageDepth);
          }
          const cim_u32* const a_stage = a_stages[buffer];
          const cim_u32* const b_stage = b_stages[buffer];
          #pragma unroll
          for (int word = 0; word < kCodesStageDepth / 4; word += 8) {  // 32 bytes of depth a step
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
              for (int j = 0; j < 4; ++j) cim::mma_m16n8k32_s8(partial[i][j], a[i], b[j]);
            }
          }
          buffer ^= 1;
        }
        if constexpr (Convert) {
          #pragma unroll
          for (int i = 0; i < 2; ++i) {  // the crossbar tile is complete: convert its partial sums
            #pragma unroll
            for (int j = 0; j < 4; ++j) {
              #pragma unroll
              for (int e = 0; e < 4; ++e) total[i][j][e] += static_cast<int>(adc.convert(static_cast<Code>(sum[i][j][e])));
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
