// A test kernel for the CPU shim's threaded mode (kernels/cuda_shim.h): it communicates between
// threads in every way the shim emulates - a static __shared__ array with __syncthreads, dynamic
// shared memory, and the warp intrinsics - so that a wrong barrier or exchange shows up as a
// wrong number. Compiled by tests/test_kernels_shim.py for the CPU and with nvcc.
#include "cuda_shim.h"

// Per block: the sum of its values (tree reduction in shared memory) and its values reversed
// (through dynamic shared memory). Per warp: the sum by __shfl_down_sync and, in every lane, by
// __shfl_xor_sync (checked against lane 0's through __shfl_sync), the ballot of odd values,
// and whether __any_sync / __all_sync agree with the ballot.
template <int kThreads>
__global__ void shim_selftest(const cim_i64* values, cim_i64 n, cim_i64* block_sums, cim_i64* reversed,
                              cim_i64* warp_sums, unsigned* ballots, int* warp_agreement) {
  __shared__ cim_i64 partial[kThreads];
  CIM_DYNAMIC_SHARED(cim_i64, staged);
  const unsigned t = threadIdx.x;
  const cim_i64 i = static_cast<cim_i64>(blockIdx.x) * blockDim.x + t;
  const cim_i64 value = i < n ? values[i] : 0;

  partial[t] = value;
  staged[blockDim.x - 1 - t] = value;
  __syncthreads();
  reversed[i] = staged[t];
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();
  }
  if (t == 0) block_sums[blockIdx.x] = partial[0];

  cim_i64 down = value, butterfly = value;
  for (int offset = 16; offset > 0; offset /= 2) {
    down += __shfl_down_sync(0xffffffffu, down, offset);
    butterfly += __shfl_xor_sync(0xffffffffu, butterfly, offset);
  }
  const cim_i64 lane0 = __shfl_sync(0xffffffffu, down, 0);
  const unsigned odd = __ballot_sync(0xffffffffu, static_cast<int>(value & 1));
  const int any = __any_sync(0xffffffffu, static_cast<int>(value & 1));
  const int all = __all_sync(0xffffffffu, static_cast<int>(value & 1));
  __syncwarp();
  const bool agree = butterfly == lane0 && (any != 0) == (odd != 0) && (all != 0) == (odd == 0xffffffffu);
  const unsigned agreeing = __ballot_sync(0xffffffffu, agree);
  if (t % 32 == 0) {
    warp_sums[i / 32] = down;
    ballots[i / 32] = odd;
    warp_agreement[i / 32] = agreeing == 0xffffffffu;
  }
}

CIM_KERNEL_INSTANCE(threaded, shim_selftest<64>);
