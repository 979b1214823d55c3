// The fused Ambit kernel: a whole compiled program (cim_emu/ambit/compiler.py) per column word,
// in one pass over memory.
//
// The program is data - an array of AmbitInstruction made by
// cim_emu/ambit/program_encoding.py from a CompiledProgram - so one compiled kernel runs every
// program. Each thread takes an item of kLanes consecutive 64-bit words of the rows (kLanes =
// 2: 16-byte loads and stores; 1 where a row is not 16-byte aligned) and, for it:
//   1. loads every live input row once, all loads issued before the first use;
//   2. executes the instructions in order on its value slots: NOT, AND, OR, XOR, MAJ, each
//      reading its operand slots and writing its result slot;
//   3. stores an instruction's result straight into its output row when the instruction
//      computes one (each distinct result row once), clearing the row's padding bits.
// A grid-stride loop with 64-bit indices covers any row length with any grid. The rows given may
// be a slice - words word_offset .. word_offset + n_words - 1 of rows of row_bits bits, for work
// larger than the GPU's memory - and the fault draws and the padding follow the global words.
//
// Value slots. A program given as data indexes its values at run time, and a register array
// indexed at run time is demoted to local memory; the slots therefore live in shared memory
// (on chip, as close as it gets), one column per thread: slot k of thread t is element
// k * blockDim.x + t, so a warp's slot access is contiguous - 8 or 16 bytes a thread, no bank
// conflicts. Layout (program_encoding.py assigns the numbers): 0 = all zeros, 1 = all ones,
// 2 .. 2 + n_inputs - 1 = the input rows, then the results (a slot each) and the scratch values
// (slots recycled after their last use, the register allocation of cim_emu/ambit/fast.py).
// Dynamic shared memory: n_slots * blockDim.x * 8 * kLanes bytes.
//
// Every thread executes the same instruction at the same time, so the dispatch on the opcode
// never diverges; the only data-dependent branches are in fault injection. kFaults = false
// compiles fault injection away (32 registers a thread on sm_90: full occupancy); the host
// launches the kFaults = true instance only when a draw is switched on.
//
// Faults (cim_emu/ambit/faults.py, bit for bit). TRA number k = tra_base + instruction.tra
// flips its result bits `(R | (W & Q)) & eligible`, bit j of the row drawing
//   R[k, j] = Bernoulli(flip)      at (seed, Stream.TRA_FLIP  | k, j),
//   W[j]    = Bernoulli(weak)      at (seed, Stream.WEAK_MAP,      j),
//   Q[k, j] = Bernoulli(weak_flip) at (seed, Stream.WEAK_FLIP | k, j),
// with eligible = the row's bits (padding never flips), and, with only_when_inputs_disagree,
// only the bits where the three inputs are not all equal. Thresholds are
// rng.bernoulli_threshold(p); a zero threshold switches a draw off. Draws whose bits could not
// flip anyway (an ineligible word, a word without weak columns) are skipped: that changes no bit.
//
// An output row may be one of the input rows (in place): a thread loads all inputs of its words
// before it stores any.
#include "cuda_shim.h"
#include "philox.cuh"

namespace cim {

// Opcodes and the instruction layout, mirrored by cim_emu/ambit/program_encoding.py.
enum AmbitOp : int { kAmbitNot = 0, kAmbitAnd = 1, kAmbitOr = 2, kAmbitXor = 3, kAmbitMaj = 4 };

struct alignas(16) AmbitInstruction {
  int op;     // AmbitOp
  int a;      // operand slots: NOT reads a; AND, OR, XOR read a and b; MAJ reads a, b and c
  int b;
  int c;
  int out;    // result slot
  int store;  // output row that receives the result, or -1
  int tra;    // MAJ: TRA ordinal in the program (fault key tra_base + tra), or -1: no faults
  int reserved;
};

enum AmbitSlot : int { kSlotZeros = 0, kSlotOnes = 1, kFirstInputSlot = 2 };

// Stream domains of the fault draws (cim_emu.rng.Stream.TRA_FLIP, WEAK_MAP, WEAK_FLIP; a test holds them equal).
constexpr cim_u64 kStreamTraFlip = 0xA1ull << 56;
constexpr cim_u64 kStreamWeakMap = 0xA2ull << 56;
constexpr cim_u64 kStreamWeakFlip = 0xA3ull << 56;

// kLanes consecutive words of a row: the unit of work of one thread.
template <int kLanes>
struct alignas(8 * kLanes) Words {
  cim_u64 lane[kLanes];
};

#define CIM_WORDS_OPERATOR(OP)                                                              \
  template <int kLanes>                                                                     \
  __device__ __forceinline__ Words<kLanes> operator OP(Words<kLanes> x, const Words<kLanes>& y) { \
    _Pragma("unroll") for (int l = 0; l < kLanes; ++l) x.lane[l] = x.lane[l] OP y.lane[l];        \
    return x;                                                                               \
  }
CIM_WORDS_OPERATOR(&)
CIM_WORDS_OPERATOR(|)
CIM_WORDS_OPERATOR(^)
#undef CIM_WORDS_OPERATOR

template <int kLanes>
__device__ __forceinline__ Words<kLanes> operator~(Words<kLanes> x) {
#pragma unroll
  for (int l = 0; l < kLanes; ++l) x.lane[l] = ~x.lane[l];
  return x;
}

template <int kLanes>
__device__ __forceinline__ Words<kLanes> splat(cim_u64 value) {
  Words<kLanes> x;
#pragma unroll
  for (int l = 0; l < kLanes; ++l) x.lane[l] = value;
  return x;
}

// Bits of word `word` that belong to a row of `row_bits` bits (zero past the row's end).
__device__ __forceinline__ cim_u64 row_bits_of_word(cim_u64 word, cim_u64 row_bits) {
  const cim_u64 first_bit = 64 * word;
  if (first_bit >= row_bits) return 0;
  const cim_u64 remaining = row_bits - first_bit;
  return remaining >= 64 ? ~0ull : (1ull << remaining) - 1;
}

// Streaming (evict-first) accesses: every word is read once and written once.
__device__ __forceinline__ void load_words(Words<1>& value, const cim_u64* row, cim_u64 first_word, cim_u64) {
  value.lane[0] = __ldcs(row + first_word);
}
__device__ __forceinline__ void load_words(Words<2>& value, const cim_u64* row, cim_u64 first_word, cim_u64 n_words) {
  if (first_word + 1 < n_words) {
    const ulonglong2 pair = __ldcs(reinterpret_cast<const ulonglong2*>(row + first_word));
    value.lane[0] = pair.x;
    value.lane[1] = pair.y;
  } else {  // the last, odd word of the row
    value.lane[0] = __ldcs(row + first_word);
    value.lane[1] = 0;
  }
}
__device__ __forceinline__ void store_words(cim_u64* row, cim_u64 first_word, cim_u64, const Words<1>& value) {
  __stcs(row + first_word, value.lane[0]);
}
__device__ __forceinline__ void store_words(cim_u64* row, cim_u64 first_word, cim_u64 n_words, const Words<2>& value) {
  if (first_word + 1 < n_words) {
    __stcs(reinterpret_cast<ulonglong2*>(row + first_word), make_ulonglong2(value.lane[0], value.lane[1]));
  } else {
    __stcs(row + first_word, value.lane[0]);
  }
}

// The TRA fault model of one launch.
struct TraFaults {
  cim_u64 seed;
  cim_u64 tra_base;
  cim_u64 flip_threshold;       // R: 0 = off
  cim_u64 weak_threshold;       // W: 0 = off
  cim_u64 weak_flip_threshold;  // Q: 0 = off
  bool only_when_inputs_disagree;

  __device__ __forceinline__ bool enabled() const { return flip_threshold != 0 || weak_columns_enabled(); }
  __device__ __forceinline__ bool weak_columns_enabled() const {
    return weak_threshold != 0 && weak_flip_threshold != 0;
  }

  // The weak-cell map W of one word (drawn once per word; the same for every TRA).
  __device__ __forceinline__ cim_u64 weak_columns(cim_u64 word) const {
    return weak_columns_enabled() ? bernoulli_bits64(seed, kStreamWeakMap, word, weak_threshold) : 0;
  }

  // The flip mask of TRA `tra` (ordinal in the program) on one word.
  __device__ __forceinline__ cim_u64 flips(int tra, cim_u64 word, cim_u64 a, cim_u64 b, cim_u64 c,
                                           cim_u64 row_bits, cim_u64 weak) const {
    cim_u64 eligible = row_bits_of_word(word, row_bits);
    if (only_when_inputs_disagree) eligible &= (a ^ b) | (b ^ c);
    if (eligible == 0) return 0;
    const cim_u64 k = tra_base + static_cast<cim_u64>(tra);
    cim_u64 mask = flip_threshold != 0 ? bernoulli_bits64(seed, kStreamTraFlip | k, word, flip_threshold) : 0;
    weak &= eligible;
    if (weak != 0) mask |= weak & bernoulli_bits64(seed, kStreamWeakFlip | k, word, weak_flip_threshold);
    return mask & eligible;
  }
};

}  // namespace cim

template <int kLanes, bool kFaults>
__global__ void __launch_bounds__(256)
    ambit_program(const cim::AmbitInstruction* __restrict__ program, int n_instructions,
                  const cim_u64* const* __restrict__ inputs, int n_inputs, cim_u64* const* __restrict__ outputs,
                  cim_u64 row_bits, cim_u64 word_offset, cim_u64 n_words, cim_u64 seed, cim_u64 tra_base,
                  cim_u64 flip_threshold,
                  cim_u64 weak_threshold, cim_u64 weak_flip_threshold, int only_when_inputs_disagree) {
  typedef cim::Words<kLanes> Value;
  CIM_DYNAMIC_SHARED(Value, slot_memory);
  Value* const slots = slot_memory + threadIdx.x;  // slot k of this thread: slots[k * slot_stride]
  const unsigned slot_stride = blockDim.x;
  slots[cim::kSlotZeros * slot_stride] = cim::splat<kLanes>(0);
  slots[cim::kSlotOnes * slot_stride] = cim::splat<kLanes>(~0ull);

  const cim::TraFaults faults{seed, tra_base, flip_threshold, weak_threshold, weak_flip_threshold,
                              only_when_inputs_disagree != 0};
  const bool inject = kFaults && faults.enabled();  // kFaults = false compiles the draws away
  const cim_u64 n_items = (n_words + kLanes - 1) / kLanes;
  const cim_u64 item_stride = static_cast<cim_u64>(gridDim.x) * blockDim.x;

  for (cim_u64 item = static_cast<cim_u64>(blockIdx.x) * blockDim.x + threadIdx.x; item < n_items;
       item += item_stride) {
    const cim_u64 first_word = item * kLanes;
#pragma unroll 4
    for (int i = 0; i < n_inputs; ++i) {
      cim::load_words(slots[(cim::kFirstInputSlot + i) * slot_stride], inputs[i], first_word, n_words);
    }
    Value in_row, weak;  // the words' row bits (the stored padding is zero) and weak columns
#pragma unroll
    for (int l = 0; l < kLanes; ++l) {
      in_row.lane[l] = cim::row_bits_of_word(word_offset + first_word + l, row_bits);
      weak.lane[l] = inject ? faults.weak_columns(word_offset + first_word + l) & in_row.lane[l] : 0;
    }

    for (int pc = 0; pc < n_instructions; ++pc) {
      const cim::AmbitInstruction instruction = program[pc];
      const Value a = slots[instruction.a * slot_stride];
      Value result;
      switch (instruction.op) {
        case cim::kAmbitNot:
          result = ~a;
          break;
        case cim::kAmbitAnd:
          result = a & slots[instruction.b * slot_stride];
          break;
        case cim::kAmbitOr:
          result = a | slots[instruction.b * slot_stride];
          break;
        case cim::kAmbitXor:
          result = a ^ slots[instruction.b * slot_stride];
          break;
        default: {  // kAmbitMaj: the triple-row activation
          const Value b = slots[instruction.b * slot_stride];
          const Value c = slots[instruction.c * slot_stride];
          result = (a & b) | (c & (a | b));
          if (inject && instruction.tra >= 0) {
#pragma unroll
            for (int l = 0; l < kLanes; ++l) {
              result.lane[l] ^= faults.flips(instruction.tra, word_offset + first_word + l, a.lane[l], b.lane[l],
                                             c.lane[l], row_bits, weak.lane[l]);
            }
          }
        }
      }
      slots[instruction.out * slot_stride] = result;
      if (instruction.store >= 0) cim::store_words(outputs[instruction.store], first_word, n_words, result & in_row);
    }
  }
}

CIM_KERNEL_INSTANCE(sequential, ambit_program<1, false>);
CIM_KERNEL_INSTANCE(sequential, ambit_program<2, false>);
CIM_KERNEL_INSTANCE(sequential, ambit_program<1, true>);
CIM_KERNEL_INSTANCE(sequential, ambit_program<2, true>);
