// Read noise of the ReRAM pipeline's conversions, drawn and scaled in one pass: the kernel
// behind cim_emu/reram/pipeline.py (Pipeline.read_noise) on CuPy and, compiled for the host by
// the CPU shim, on the numpy backend (cim_emu/reram/gpu.py, reram_read_noise).
//
//   out[o(r) + i] = rint(root * z(first + r * stride + i)) * post      r < runs, i < length
//   o(r)          = (r / inner) * outer_step + (r % inner) * inner_step  (the output's layout)
//   root          = roots[r]         reram_read_noise<false>: one standard deviation per run
//                 = roots[o(r) + i]  reram_read_noise<true>: one per element, laid out as out
//
// z is the normal draw of cim_emu.rng at (seed, stream, element) (philox.cuh), and post is the
// ADC's scale where the sums arrive prescaled, else 1: cim::read_noise_value (reram_noise.cuh),
// the bits of the numpy path, which the tests hold it to.
//
// On the GPU one thread per counter block of a run (grid-stride, any grid); launched with one
// thread on the host, it walks the runs in order, in lanes of counter blocks
// (cim::philox_run_words).
#include "cuda_shim.h"
#include "philox.cuh"
#include "reram_noise.cuh"

namespace cim {

template <bool PerElement>
struct ReadNoiseOut {
  double* out;
  const double* roots;
  cim_u64 inner, outer_step, inner_step;
  double post;
  const double* table;
  __device__ __forceinline__ ReadNoisePut<PerElement> run(cim_u64 r) const {
    const cim_u64 offset = (r / inner) * outer_step + (r % inner) * inner_step;
    return read_noise_put<PerElement>(out + offset, roots + (PerElement ? offset : r), post, table);
  }
};

}  // namespace cim

template <bool PerElement>
__global__ void __launch_bounds__(256)
    reram_read_noise(cim_u64 seed, cim_u64 stream, cim_u64 first, cim_u64 stride, cim_u64 length, cim_u64 runs,
                     cim_u64 inner, cim_u64 outer_step, cim_u64 inner_step, const double* __restrict__ roots,
                     double post, const double* __restrict__ table, double* __restrict__ out) {
  const cim::ReadNoiseOut<PerElement> sink = {out, roots, inner, outer_step, inner_step, post, table};
  cim::philox_run_words(seed, stream, first, stride, length, runs, sink);
}

CIM_KERNEL_INSTANCE(sequential, reram_read_noise<false>);
CIM_KERNEL_INSTANCE(sequential, reram_read_noise<true>);
