// The sm_80 instructions of the int8 tensor-core kernel (reram_tile_codes.cu), each behind one
// device function:
//
//   mma_m16n8k32_s8(d, a, b):  d (16 x 8, int32) += a (16 x 32, int8) b (32 x 8, int8)
//
// over a warp, with the fragment layout of mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32
// (PTX ISA, "Matrix Fragments for mma.m16n8k32"; groupID = lane / 4, threadID_in_group =
// lane % 4, byte e of a 32-bit register is its element e):
//   a[r], byte e:  A[groupID + 8 (r % 2)][4 threadID_in_group + e + 16 (r / 2)]
//   b[r], byte e:  B[4 threadID_in_group + e + 16 r][groupID]
//   d[i]:          D[groupID + 8 (i / 2)][2 threadID_in_group + i % 2]
//
//   cp_async_16(to, from, source_bytes), cp_async_commit(), cp_async_wait<kPending>()
//
// the asynchronous copy from global to shared memory (cp.async.cg.shared.global, 16 bytes: the
// first source_bytes, 0 to 16, read at `from`, the rest zeros; both addresses 16-byte aligned),
// which loads shared memory without passing through registers, while the thread goes on; and
// its completion: commit closes the thread's copies issued since the last commit into a group,
// wait<N> returns once all but the N most recent of the thread's groups have landed. Only the
// thread's own copies: a __syncthreads after the wait makes the block's visible to all.
//
// On the GPU (sm_80 and later) these are the instructions themselves; on the CPU shim they are
// cim_shim::mma_m16n8k32_s8 and cim_shim::cp_async* (kernels/cuda_shim.h), written from the same
// text of the ISA: a copy there lands at the latest moment the ISA allows, the wait that
// completes it, and its destination holds poison from the issue until then.
//
// Exactness: the products of int8 values and their int32 sums are exact integers as long as no
// sum leaves the int32 range (no .satfinite: the callers bound their sums far below 2**31).
// Copies move bytes.
#ifndef CIM_EMU_MMA_S8_CUH
#define CIM_EMU_MMA_S8_CUH

#include "cuda_shim.h"

namespace cim {

__device__ __forceinline__ void mma_m16n8k32_s8(int (&d)[4], const cim_u32 (&a)[4], const cim_u32 (&b)[2]) {
#ifdef CIM_EMU_CPU_SHIM
  cim_shim::mma_m16n8k32_s8(d, a, b);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __forceinline__ void cp_async_16(void* to, const void* from, int source_bytes) {
#ifdef CIM_EMU_CPU_SHIM
  cim_shim::cp_async(to, from, 16, source_bytes);
#else
  const unsigned shared_to = static_cast<unsigned>(__cvta_generic_to_shared(to));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_to), "l"(from), "r"(source_bytes)
               : "memory");
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#ifdef CIM_EMU_CPU_SHIM
  cim_shim::cp_async_commit_group();
#else
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  static_assert(kPending >= 0, "a count of groups");
#ifdef CIM_EMU_CPU_SHIM
  cim_shim::cp_async_wait_group(kPending);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

}  // namespace cim

#endif  // CIM_EMU_MMA_S8_CUH
