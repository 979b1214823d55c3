// The int8 tensor-core instruction the ReRAM kernels use, behind one device function:
//
//   mma_m16n8k32_s8(d, a, b):  d (16 x 8, int32) += a (16 x 32, int8) b (32 x 8, int8)
//
// over a warp, with the fragment layout of mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32
// (PTX ISA, "Matrix Fragments for mma.m16n8k32"; groupID = lane / 4, threadID_in_group =
// lane % 4, byte e of a 32-bit register is its element e):
//   a[r], byte e:  A[groupID + 8 (r % 2)][4 threadID_in_group + e + 16 (r / 2)]
//   b[r], byte e:  B[4 threadID_in_group + e + 16 r][groupID]
//   d[i]:          D[groupID + 8 (i / 2)][2 threadID_in_group + i % 2]
// On the GPU (sm_80 and later) it is the instruction itself; on the CPU shim it is
// cim_shim::mma_m16n8k32_s8 (kernels/cuda_shim.h), written from the same text of the ISA.
//
// Exactness: the products of int8 values and their int32 sums are exact integers as long as no
// sum leaves the int32 range (no .satfinite: the callers bound their sums far below 2**31).
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

}  // namespace cim

#endif  // CIM_EMU_MMA_S8_CUH
