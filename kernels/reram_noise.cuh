// The read noise of one ReRAM conversion (cim_emu/reram/read_noise.py, docs/spec/reram.md, "Read
// noise"), shared by the kernels that draw it: reram_read_noise.cu writes it out,
// reram_epilogue.cu adds it to the partial sums it converts.
//
//   noise = rint(root * z) * post
//
// z is the normal draw of cim_emu.rng for the conversion's 32-bit Philox word u (philox.cuh),
// root the standard deviation of the conversion's column current, rint rounds half to even as
// numpy.rint does, and post is the ADC's scale where the sums arrive prescaled, else 1. Two
// double products and a rounding, nothing a compiler may fuse (-ffp-contract=off on the host;
// products that are not followed by an add are never contracted on the GPU): the bits of the
// numpy path (rng.normal_runs, then multiply, rint and multiply).
#ifndef CIM_EMU_RERAM_NOISE_CUH
#define CIM_EMU_RERAM_NOISE_CUH

#include "cuda_shim.h"
#include "philox.cuh"

namespace cim {

// The noise of a conversion whose normal draw z is already looked up.
__device__ __forceinline__ double scaled_noise(double root, double z, double post) { return rint(root * z) * post; }

__device__ __forceinline__ double read_noise_value(double root, cim_u32 u, double post,
                                                   const double* __restrict__ table) {
  return scaled_noise(root, normal_from(u, table), post);
}

// The sink of one run's draws (philox_run_words, philox_words): element i's noise into out[i],
// with the run's root or, PerElement, the element's own (roots[i]). The run's root is held by
// value and the pointers are restrict: the host compiler vectorises the loop of puts only when
// nothing it loads could be changed by the stores.
template <bool PerElement>
struct ReadNoisePut {
  double* __restrict__ out;
  const double* __restrict__ roots;  // PerElement: the run's first element's root
  double root;                       // otherwise: the run's root
  double post;
  const double* __restrict__ table;
  __device__ __forceinline__ void operator()(cim_u64 i, cim_u32 u) const {
    out[i] = read_noise_value(PerElement ? roots[i] : root, u, post, table);
  }
};

// The sink of run r's draws, with its roots at `roots` (one, or PerElement one per element).
template <bool PerElement>
__device__ __forceinline__ ReadNoisePut<PerElement> read_noise_put(double* out, const double* roots, double post,
                                                                   const double* table) {
  return ReadNoisePut<PerElement>{out, roots, PerElement ? 0.0 : roots[0], post, table};
}

#ifdef CIM_EMU_CPU_SHIM
// The host's draws of one run of `length` elements from `first` into out (philox_words). The
// restrict parameters (restrict members alone do not do it for gcc) let the compiler vectorise
// the puts, table look-ups included.
template <bool PerElement>
__attribute__((noinline)) void draw_read_noise_run(cim_u64 seed, cim_u64 stream, cim_u64 first, cim_u64 length,
                                                   double* __restrict__ out, const double* __restrict__ roots,
                                                   double post, const double* __restrict__ table) {
  auto put = read_noise_put<PerElement>(out, roots, post, table);
  philox_words(seed, stream, first, length, put);
}
#endif

}  // namespace cim

#endif  // CIM_EMU_RERAM_NOISE_CUH
