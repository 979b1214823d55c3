// Counter-based random draws on the GPU: the kernels behind cim_emu.rng on CuPy.
//
//   philox_range<Draw>  the draws of elements start .. start + count - 1   (rng.uniform_uint32,
//                       rng.bernoulli, rng.normal); one thread per counter block of 4 elements
//   philox_at<Draw>     the draws at arbitrary element indices             (rng.random_uint32,
//                       rng.bernoulli_at, rng.normal_at); one thread per index
//   philox_runs<Draw>   `runs` runs of `length` consecutive elements, run r starting at element
//                       first + r * stride, into out[r * length + i]        (rng.normal_runs:
//                       the read noise of a block of crossbar columns); one thread per counter
//                       block of a run (cim::philox_run_words)
//
// Draw is cim::UniformDraw (uint32 out), cim::BernoulliDraw (bool out, `threshold` =
// rng.bernoulli_threshold(p)) or cim::NormalDraw (float64 out, `table` = rng.normal_table());
// unused parameters are ignored. Grid-stride loops with 64-bit indices: any grid covers any
// count, and the bits depend on neither. Launched with one thread on the host (the native draws
// of cim_emu/rng/native.py), philox_range and philox_runs walk their elements in order, in
// lanes of counter blocks (cim::philox_words).
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

// The sink of philox_runs: element i of run r to out[r * length + i].
template <class Draw>
struct RunsOut {
  typedef typename Draw::Out Out;
  struct Put {
    Out* __restrict__ run_out;
    cim_u64 threshold;
    const double* __restrict__ table;
    __device__ __forceinline__ void operator()(cim_u64 i, cim_u32 u) const {
      run_out[i] = Draw::from(u, threshold, table);
    }
  };
  Out* out;
  cim_u64 length, threshold;
  const double* table;
  __device__ __forceinline__ Put run(cim_u64 r) const { return Put{out + r * length, threshold, table}; }
};

}  // namespace cim

template <class Draw>
__global__ void __launch_bounds__(256)
    philox_range(cim_u64 seed, cim_u64 stream, cim_u64 start, cim_u64 count, cim_u64 threshold,
                 const double* __restrict__ table, typename Draw::Out* __restrict__ out) {
  typedef typename Draw::Out Out;
  if (count == 0) return;
#ifdef CIM_EMU_CPU_SHIM
  if (static_cast<cim_u64>(gridDim.x) * blockDim.x == 1) {  // one host thread: lanes of blocks
    typename cim::RunsOut<Draw>::Put put = {out, threshold, table};
    cim::philox_words(seed, stream, start, count, put);
    return;
  }
#endif
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
  const cim::RunsOut<Draw> sink = {out, length, threshold, table};
  cim::philox_run_words(seed, stream, first, stride, length, runs, sink);
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
