// The CUDA twin of cim_emu.rng: Philox4x32-10 and the draws derived from it, as device
// functions. The docstring of the package cim_emu.rng is the specification; every function here
// gives the same bits as its numpy counterpart (tests/test_kernels_shim.py holds them to it).
//
//   u(seed, stream, i) = philox4x32_10(counter(i >> 2, stream), key(seed))[i & 3]
//   key       = (seed & 0xFFFFFFFF, seed >> 32)
//   counter   = (block & 0xFFFFFFFF, block >> 32, stream & 0xFFFFFFFF, stream >> 32)
//   Bernoulli = u < threshold, compared in 64 bits (threshold = round(p * 2**32), host-side)
//   normal    = table lookup of u (the 2**17-entry table of rng.normal_table(), passed in)
//
// All index arithmetic is 64-bit: element indices run over [0, 2**64).
#ifndef CIM_EMU_PHILOX_CUH
#define CIM_EMU_PHILOX_CUH

#include "cuda_shim.h"

namespace cim {

constexpr cim_u32 kPhiloxM0 = 0xD2511F53u;  // multiplier of counter word 0
constexpr cim_u32 kPhiloxM1 = 0xCD9E8D57u;  // multiplier of counter word 2
constexpr cim_u32 kPhiloxW0 = 0x9E3779B9u;  // Weyl increment of key word 0
constexpr cim_u32 kPhiloxW1 = 0xBB67AE85u;  // Weyl increment of key word 1
constexpr int kPhiloxRounds = 10;
constexpr cim_u32 kNormalBodyLevels = 1u << 16;  // rng.NORMAL_BODY_BITS = 16

// The four output words of one counter block.
struct PhiloxBlock {
  cim_u32 word[4];
};

// Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1): ten rounds, the key bumped
// between rounds (nine times), exactly as rng._philox.
__device__ __forceinline__ PhiloxBlock philox4x32_10(cim_u32 c0, cim_u32 c1, cim_u32 c2, cim_u32 c3,
                                                     cim_u32 k0, cim_u32 k1) {
#pragma unroll
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    const cim_u32 hi0 = __umulhi(kPhiloxM0, c0), lo0 = kPhiloxM0 * c0;
    const cim_u32 hi1 = __umulhi(kPhiloxM1, c2), lo1 = kPhiloxM1 * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// The four draws u(seed, stream, 4 * block + 0 .. 3).
__device__ __forceinline__ PhiloxBlock philox_block(cim_u64 seed, cim_u64 stream, cim_u64 block) {
  return philox4x32_10(static_cast<cim_u32>(block), static_cast<cim_u32>(block >> 32),
                       static_cast<cim_u32>(stream), static_cast<cim_u32>(stream >> 32),
                       static_cast<cim_u32>(seed), static_cast<cim_u32>(seed >> 32));
}

// Word `k` (0..3) of a block, by selects: a run-time index into the array would put it in
// local memory.
__device__ __forceinline__ cim_u32 block_word(const PhiloxBlock& block, cim_u32 k) {
  return k == 0 ? block.word[0] : k == 1 ? block.word[1] : k == 2 ? block.word[2] : block.word[3];
}

// The single draw u(seed, stream, index) (rng.random_uint32). Costs a whole block; prefer
// philox_block when consecutive indices are wanted.
__device__ __forceinline__ cim_u32 philox_uint32(cim_u64 seed, cim_u64 stream, cim_u64 index) {
  return block_word(philox_block(seed, stream, index >> 2), static_cast<cim_u32>(index & 3));
}

// Bernoulli draw from u: true with probability threshold / 2**32 (threshold in [0, 2**32]).
__device__ __forceinline__ bool bernoulli_from(cim_u32 u, cim_u64 threshold) {
  return static_cast<cim_u64>(u) < threshold;
}

// The Bernoulli draws of elements 64 * word .. 64 * word + 63 as the bits of one 64-bit word
// (bit k = element 64 * word + k): the packed layout of cim_emu/bits.py. Sixteen blocks.
__device__ __forceinline__ cim_u64 bernoulli_bits64(cim_u64 seed, cim_u64 stream, cim_u64 word,
                                                    cim_u64 threshold) {
  cim_u64 bits = 0;
#pragma unroll 4
  for (int quad = 0; quad < 16; ++quad) {
    const PhiloxBlock block = philox_block(seed, stream, 16 * word + quad);
    const cim_u64 nibble = (bernoulli_from(block.word[0], threshold) ? 1u : 0u) |
                           (bernoulli_from(block.word[1], threshold) ? 2u : 0u) |
                           (bernoulli_from(block.word[2], threshold) ? 4u : 0u) |
                           (bernoulli_from(block.word[3], threshold) ? 8u : 0u);
    bits |= nibble << (4 * quad);
  }
  return bits;
}

// Standard normal draw from u by lookup in rng.normal_table() (2**17 float64 entries: the
// body Phi^-1((h + 0.5) / 2**16), then the lower tail Phi^-1((l + 0.5) / 2**32)), with
// h = u >> 16 and l = u & 0xFFFF:  0 < h < 65535: BODY[h];  h == 0: TAIL[l];
// h == 65535: -TAIL[65535 - l].
__device__ __forceinline__ double normal_from(cim_u32 u, const double* __restrict__ table) {
  const cim_u32 high = u >> 16, low = u & (kNormalBodyLevels - 1);
  const cim_u32 top = kNormalBodyLevels - 1;
  const cim_u32 entry = high == 0 ? kNormalBodyLevels + low : high == top ? 2 * kNormalBodyLevels - 1 - low : high;
  const double z = __ldg(table + entry);
  return high == top ? -z : z;
}

}  // namespace cim

#endif  // CIM_EMU_PHILOX_CUH
