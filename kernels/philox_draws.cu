// Counter-based random draws on the GPU: the kernels behind cim_emu.rng on CuPy.
//
//   philox_range<Draw>  the draws of elements start .. start + count - 1   (rng.uniform_uint32,
//                       rng.bernoulli, rng.normal); one thread per counter block of 4 elements
//   philox_at<Draw>     the draws at arbitrary element indices             (rng.random_uint32,
//                       rng.bernoulli_at, rng.normal_at); one thread per index
//   philox_runs<Draw>   `runs` runs of `length` consecutive elements, run r starting at element
//                       first + r * stride, into out[r * length + i]        (rng.normal_runs:
//                       the read noise of a block of crossbar columns); one thread per counter
//                       block of a run
//
// Draw is cim::UniformDraw (uint32 out), cim::BernoulliDraw (bool out, `threshold` =
// rng.bernoulli_threshold(p)) or cim::NormalDraw (float64 out, `table` = rng.normal_table());
// unused parameters are ignored. Grid-stride loops with 64-bit indices: any grid covers any
// count, and the bits depend on neither.
#include "cuda_shim.h"
#include "philox.cuh"

namespace cim {

struct UniformDraw {
  typedef cim_u32 Out;
  static __device__ __forceinline__ Out from(cim_u32 u, cim_u64, const double*) { return u; }
};

struct BernoulliDraw {
  typedef bool Out;
  static __device__ __forceinline__ Out from(cim_u32 u, cim_u64 threshold, const double*) {
    return bernoulli_from(u, threshold);
  }
};

struct NormalDraw {
  typedef double Out;
  static __device__ __forceinline__ Out from(cim_u32 u, cim_u64, const double* table) {
    return normal_from(u, table);
  }
};

// Four consecutive outputs, stored with one (or, for doubles, two) vector store.
template <class T>
struct alignas(4 * sizeof(T)) Quad {
  T value[4];
};

}  // namespace cim

template <class Draw>
__global__ void __launch_bounds__(256)
    philox_range(cim_u64 seed, cim_u64 stream, cim_u64 start, cim_u64 count, cim_u64 threshold,
                 const double* __restrict__ table, typename Draw::Out* __restrict__ out) {
  typedef typename Draw::Out Out;
  if (count == 0) return;
  const cim_u64 first_block = start >> 2;
  const cim_u64 n_blocks = ((start + (count - 1)) >> 2) - first_block + 1;  // no overflow at 2**64
  // Whole blocks land on whole, aligned quads of `out` when start is a multiple of 4.
  const bool quads = (start & 3) == 0 && reinterpret_cast<cim_u64>(out) % sizeof(cim::Quad<Out>) == 0;
  const cim_u64 stride = static_cast<cim_u64>(gridDim.x) * blockDim.x;
  for (cim_u64 b = static_cast<cim_u64>(blockIdx.x) * blockDim.x + threadIdx.x; b < n_blocks; b += stride) {
    const cim::PhiloxBlock block = cim::philox_block(seed, stream, first_block + b);
    const cim::Quad<Out> quad = {{Draw::from(block.word[0], threshold, table), Draw::from(block.word[1], threshold, table),
                                  Draw::from(block.word[2], threshold, table), Draw::from(block.word[3], threshold, table)}};
    if (quads && 4 * b + 4 <= count) {
      reinterpret_cast<cim::Quad<Out>*>(out)[b] = quad;
    } else {  // the ragged ends: element i goes to out[i - start] when start <= i < start + count
      const cim_u64 first_element = 4 * (first_block + b);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const cim_u64 offset = first_element + k - start;  // wraps past count when i < start
        if (offset < count) out[offset] = quad.value[k];
      }
    }
  }
}

template <class Draw>
__global__ void __launch_bounds__(256)
    philox_at(cim_u64 seed, cim_u64 stream, const cim_u64* __restrict__ index, cim_u64 count, cim_u64 threshold,
              const double* __restrict__ table, typename Draw::Out* __restrict__ out) {
  const cim_u64 stride = static_cast<cim_u64>(gridDim.x) * blockDim.x;
  for (cim_u64 i = static_cast<cim_u64>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    out[i] = Draw::from(cim::philox_uint32(seed, stream, __ldg(index + i)), threshold, table);
  }
}

template <class Draw>
__global__ void __launch_bounds__(256)
    philox_runs(cim_u64 seed, cim_u64 stream, cim_u64 first, cim_u64 stride, cim_u64 length, cim_u64 runs,
                cim_u64 threshold, const double* __restrict__ table, typename Draw::Out* __restrict__ out) {
  if (length == 0 || runs == 0) return;
  // Work item w is block k of run r (w = r * per_run + k); a run of `length` elements touches at
  // most per_run = ceil((length + 3) / 4) counter blocks, fewer when its start is aligned. The
  // caller keeps first + (runs - 1) * stride + length <= 2**64, so no element index overflows.
  const cim_u64 per_run = (length + 6) >> 2;
  const cim_u64 items = runs * per_run;
  const cim_u64 step = static_cast<cim_u64>(gridDim.x) * blockDim.x;
  const cim_u64 step_runs = step / per_run, step_blocks = step % per_run;
  cim_u64 w = static_cast<cim_u64>(blockIdx.x) * blockDim.x + threadIdx.x;
  cim_u64 r = w / per_run, k = w % per_run;  // one division per thread; the loop steps them
  for (; w < items; w += step) {
    const cim_u64 start = first + r * stride;
    const cim_u64 block = (start >> 2) + k;
    if (block <= ((start + (length - 1)) >> 2)) {
      const cim::PhiloxBlock words = cim::philox_block(seed, stream, block);
      typename Draw::Out* __restrict__ run_out = out + r * length;
      if (4 * block >= start && 4 * block - start + 4 <= length) {  // the whole block lies in the run
        run_out += 4 * block - start;
#pragma unroll
        for (int q = 0; q < 4; ++q) run_out[q] = Draw::from(words.word[q], threshold, table);
      } else {  // a ragged end of the run
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const cim_u64 offset = 4 * block + q - start;  // wraps past length when the element is before start
          if (offset < length) run_out[offset] = Draw::from(words.word[q], threshold, table);
        }
      }
    }
    r += step_runs;
    k += step_blocks;
    if (k >= per_run) {
      k -= per_run;
      ++r;
    }
  }
}

CIM_KERNEL_INSTANCE(sequential, philox_range<cim::UniformDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_range<cim::BernoulliDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_range<cim::NormalDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_at<cim::UniformDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_at<cim::BernoulliDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_at<cim::NormalDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_runs<cim::UniformDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_runs<cim::BernoulliDraw>);
CIM_KERNEL_INSTANCE(sequential, philox_runs<cim::NormalDraw>);
