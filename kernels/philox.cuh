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
#if defined(CIM_EMU_CPU_SHIM) && defined(__AVX2__) && !defined(__AVX512F__)
#define CIM_EMU_HOST_AVX2_ONLY 1  // philox_lanes: 8 blocks a call, the multiply as _mm256_mul_epu32
#include <immintrin.h>
#endif

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
// Only the lower half of the body is read: the table is exactly antisymmetric, BODY[65535 - h]
// == -BODY[h] (rng.normal_table's construction; tests/test_rng.py holds it), so the upper half
// is the mirrored entry negated, with the same bits. Half the table's footprint (256 KB of body)
// stays in a CPU core's L2 cache beside the output stream (the host build draws a third faster),
// and the index is computed without branches: 65535 - x is x ^ 0xFFFF for 16-bit x.
__device__ __forceinline__ double normal_from(cim_u32 u, const double* __restrict__ table) {
  const cim_u32 high = u >> 16, low = u & (kNormalBodyLevels - 1);
  const cim_u32 upper = high >> 15;                            // 1 in the body's upper half (and h == 65535)
  const cim_u32 flip = (0u - upper) & (kNormalBodyLevels - 1);  // 0xFFFF there, else 0
  const cim_u32 mirrored = high ^ flip;                        // h, or 65535 - h
  const cim_u32 entry = mirrored == 0 ? kNormalBodyLevels + (low ^ flip) : mirrored;
  const double z = __ldg(table + entry);
  return upper ? -z : z;
}


#ifdef CIM_EMU_CPU_SHIM
// ---------------------------------------------------------------- host builds (the CPU shim)
// Consecutive counter blocks computed side by side: the ten rounds of philox4x32_10 on
// kHostLanes blocks at once, each counter word in a 64-bit lane, so that one vector multiply of
// the lanes' low 32-bit halves (pmuludq) gives a product's high and low words together (the
// optimised host build, -O3 -march=native on x86-64, uses the CPU's widest vectors). The same
// rounds, the same words: the tests hold every host draw to numpy's.
//
// With AVX-512, 16 blocks (the four counter words in 8 of the 32 vector registers). With AVX2
// alone, 8 blocks (16 would fill all of its 16 registers and spill), and the multiply spelled as
// _mm256_mul_epu32: gcc, which cannot tell that the lanes hold 32-bit values, would otherwise
// multiply by the constant in shifts and adds (measured on a Zen 3 EPYC, one thread: philox_words
// 2.9 ns a word before both changes, 1.4 after).
#ifdef CIM_EMU_HOST_AVX2_ONLY
constexpr int kHostLanes = 8;
#else
constexpr int kHostLanes = 16;
#endif
typedef cim_u64 HostLanes __attribute__((vector_size(8 * kHostLanes)));
typedef cim_u64 HostLanePairs __attribute__((vector_size(16 * kHostLanes)));

// product = lanes * m, the lanes below 2**32: their 64-bit products (by reference: a vector
// wider than the ABI's registers is not passed by value).
inline void multiply_lanes(const HostLanes& lanes, cim_u32 m, HostLanes& product) {
#ifdef CIM_EMU_HOST_AVX2_ONLY
  for (int half = 0; half < kHostLanes / 4; ++half) {
    __m256i x;
    __builtin_memcpy(&x, reinterpret_cast<const char*>(&lanes) + 32 * half, 32);
    x = _mm256_mul_epu32(x, _mm256_set1_epi64x(m));
    __builtin_memcpy(reinterpret_cast<char*>(&product) + 32 * half, &x, 32);
  }
#else
  product = lanes * static_cast<cim_u64>(m);
#endif
}

// words[4 * j + q] = word q of block first_block + j, j < kHostLanes (blocks past 2**64 wrap).
// Not inlined: in its callers' loops its lanes compete for registers (measured a third slower).
__attribute__((noinline)) inline void philox_lanes(cim_u64 seed, cim_u64 stream, cim_u64 first_block, cim_u32* words) {
  const cim_u64 low = 0xFFFFFFFFu;
  HostLanes c0, c1, c2, c3;
  for (int j = 0; j < kHostLanes; ++j) {
    const cim_u64 block = first_block + j;
    c0[j] = block & low;
    c1[j] = block >> 32;
    c2[j] = stream & low;
    c3[j] = stream >> 32;
  }
  cim_u64 k0 = seed & low, k1 = seed >> 32;
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      k0 = (k0 + kPhiloxW0) & low;
      k1 = (k1 + kPhiloxW1) & low;
    }
    HostLanes p0, p1;
    multiply_lanes(c0, kPhiloxM0, p0);
    multiply_lanes(c2, kPhiloxM1, p1);
    c0 = (p1 >> 32) ^ c1 ^ k0;
    c1 = p1 & low;
    c2 = (p0 >> 32) ^ c3 ^ k1;
    c3 = p0 & low;
  }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && (defined(__clang__) || __GNUC__ >= 12)
  // Block j's words 0, 1 and 2, 3 as two 64-bit values (word 0 the low half), interleaved block
  // by block: the words in order, stored whole rather than taken out of the lanes one by one.
  const HostLanes first_pair = c0 | (c1 << 32), second_pair = c2 | (c3 << 32);
#ifdef CIM_EMU_HOST_AVX2_ONLY
  const HostLanePairs pairs = __builtin_shufflevector(first_pair, second_pair, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13,
                                                     6, 14, 7, 15);
#else
  const HostLanePairs pairs = __builtin_shufflevector(first_pair, second_pair, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5,
                                                     21, 6, 22, 7, 23, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29,
                                                     14, 30, 15, 31);
#endif
  __builtin_memcpy(words, &pairs, sizeof pairs);
#else
  for (int j = 0; j < kHostLanes; ++j) {
    words[4 * j] = static_cast<cim_u32>(c0[j]);
    words[4 * j + 1] = static_cast<cim_u32>(c1[j]);
    words[4 * j + 2] = static_cast<cim_u32>(c2[j]);
    words[4 * j + 3] = static_cast<cim_u32>(c3[j]);
  }
#endif
}

// put(i, u(seed, stream, first + i)) for i = 0 .. count - 1, in order: whole lanes of blocks
// where at least half of them are used, single blocks at the ends of short runs.
template <class Put>
inline void philox_words(cim_u64 seed, cim_u64 stream, cim_u64 first, cim_u64 count, Put& put) {
  cim_u32 words[4 * kHostLanes];
  cim_u64 i = 0;
  while (i < count) {
    const cim_u64 element = first + i, block = element >> 2;
    const cim_u64 blocks_left = ((element + (count - i - 1)) >> 2) - block + 1;
    cim_u64 blocks = 1;
    if (blocks_left >= kHostLanes / 2) {
      philox_lanes(seed, stream, block, words);
      blocks = blocks_left < kHostLanes ? blocks_left : kHostLanes;
    } else {
      const PhiloxBlock one = philox_block(seed, stream, block);
      for (int q = 0; q < 4; ++q) words[q] = one.word[q];
    }
    const cim_u64 skip = element & 3, wanted = skip + (count - i);
    const cim_u64 end = wanted < 4 * blocks ? wanted : 4 * blocks;
    for (cim_u64 w = skip; w < end; ++w) put(i++, words[w]);
  }
}

// The sink of philox_words that keeps the words: u(first + i) into words[i].
struct WordStore {
  cim_u32* words;
  void operator()(cim_u64 i, cim_u32 u) const { words[i] = u; }
};

// words[i] = u(seed, stream, first + i) for i < count: whole lanes of counter blocks written in
// place, the words before the first whole block and after the last whole lane by philox_words.
inline void philox_fill(cim_u64 seed, cim_u64 stream, cim_u64 first, cim_u64 count, cim_u32* words) {
  const cim_u64 to_block = (4 - (first & 3)) & 3;
  cim_u64 i = to_block < count ? to_block : count;
  WordStore head{words};
  philox_words(seed, stream, first, i, head);
  for (; count - i >= 4 * kHostLanes; i += 4 * kHostLanes) philox_lanes(seed, stream, (first + i) >> 2, words + i);
  WordStore tail{words + i};
  philox_words(seed, stream, first + i, count - i, tail);
}
#endif  // CIM_EMU_CPU_SHIM

// Runs of consecutive elements: run r < runs covers elements first + r * stride + i, i < length
// (the caller keeps first + (runs - 1) * stride + length <= 2**64). For every run visited,
// `auto put = sink.run(r)`, then put(i, u(seed, stream, first + r * stride + i)) for its
// elements. On the GPU, one thread per counter block of a run (grid-stride); on the host, one
// thread walks the runs in order, in lanes of blocks.
template <class Sink>
__device__ __forceinline__ void philox_run_words(cim_u64 seed, cim_u64 stream, cim_u64 first, cim_u64 stride,
                                                 cim_u64 length, cim_u64 runs, const Sink& sink) {
  if (length == 0 || runs == 0) return;
#ifdef CIM_EMU_CPU_SHIM
  if (static_cast<cim_u64>(gridDim.x) * blockDim.x == 1) {
    for (cim_u64 r = 0; r < runs; ++r) {
      auto put = sink.run(r);
      philox_words(seed, stream, first + r * stride, length, put);
    }
    return;
  }
#endif
  // Work item w is block k of run r (w = r * per_run + k); a run of `length` elements touches at
  // most per_run = ceil((length + 3) / 4) counter blocks, fewer when its start is aligned.
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
      const PhiloxBlock words = philox_block(seed, stream, block);
      auto put = sink.run(r);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const cim_u64 offset = 4 * block + q - start;  // wraps past length when the element is before start
        if (offset < length) put(offset, words.word[q]);
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

}  // namespace cim

#endif  // CIM_EMU_PHILOX_CUH
