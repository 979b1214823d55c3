// The portability layer of cim-emu's kernels: the same .cu source compiles as CUDA (nvcc,
// NVRTC through cupy.RawModule) and as plain C++17 for the CPU (g++ with -DCIM_EMU_CPU_SHIM),
// so that CI, which has no GPU, runs every kernel against the numpy backend.
//
// Both sides get the fixed-width types cim_u32, cim_u64, cim_i64 (NVRTC has no <cstdint>) and
// two macros:
//   CIM_DYNAMIC_SHARED(type, name)      declares `type* name` on the block's dynamic shared
//                                       memory;
//   CIM_KERNEL_INSTANCE(mode, kernel)   explicitly instantiates a kernel template - a name
//                                       expression such as `ambit_program<2>`, the very string
//                                       CuPy's get_function takes - so that nvcc compiles its
//                                       body in CI (an uninstantiated template is only parsed),
//                                       and on the CPU registers it under that name for
//                                       cim_shim_launch below, to run in `mode`.
//
// On the CPU, kernels run as CUDA defines them:
//   * `sequential` mode runs the grid as loops: block after block, and in a block thread after
//     thread. Right for kernels whose threads do not talk to each other (no __syncthreads, no
//     warp intrinsics); calling either in this mode aborts with a message.
//   * `threaded` mode runs block after block, each with one host thread per CUDA thread, a
//     barrier for __syncthreads and one per warp for the warp intrinsics (__shfl*_sync,
//     __ballot_sync, __any_sync, __all_sync, __syncwarp), which exchange values through the
//     warp's slots between two warp barriers; the int8 tensor-core instruction of mma_s8.cuh
//     is emulated the same way (cim_shim::mma_m16n8k32_s8). Static __shared__ arrays become
//     function statics, shared by the block's threads; blocks run one at a time, so that is
//     exact. The threads run concurrently between barriers; when one throws (a misuse the
//     shim detects), the block's barriers break, so that the others stop too (no hang) and the
//     launch reports the first error.
//   * The asynchronous copies of mma_s8.cuh (cp.async, its commit and wait groups) are queued
//     per thread and done by the wait that completes them, the latest moment the ISA allows,
//     their destinations poisoned from the issue to then (cim_shim::cp_async below): reading a
//     stage before waiting for it, or copying into one still being read, gives wrong bits.
// Dynamic shared memory is filled with 0xA5 before each block, so reading what no thread
// wrote shows up as wrong results instead of lucky zeros.
//
// Entry points for ctypes, one set per shared library (each .cu is compiled into its own):
//   int cim_shim_launch(const char* name, const unsigned grid[3], const unsigned block[3],
//                       unsigned long long shared_bytes, void** args)
// with args as cuLaunchKernel takes them: args[i] points at the value of parameter i. It
// returns 0, or non-zero with a message in cim_shim_last_error(). cim_shim_signature(name)
// gives the parameter types, one code a parameter ("i4" int, "u8" unsigned long long, "f8"
// double, "pf4" pointer to float, "pp" pointer to pointers, ...), so the Python side checks
// every argument's type - and every array's element type - before a launch: a mismatch that
// would be silent on the GPU is an error in CI. cim_shim_kernel_names() lists the kernels.
#ifndef CIM_EMU_CUDA_SHIM_H
#define CIM_EMU_CUDA_SHIM_H

typedef unsigned int cim_u32;
typedef unsigned long long cim_u64;
typedef long long cim_i64;

#ifndef CIM_EMU_CPU_SHIM
// ------------------------------------------------------------------------- CUDA (nvcc, NVRTC)

#define CIM_DYNAMIC_SHARED(type, name)                                                        \
  extern __shared__ __align__(16) unsigned char cim_dynamic_shared_bytes[];                   \
  type* name = reinterpret_cast<type*>(cim_dynamic_shared_bytes)
#define CIM_KERNEL_INSTANCE(mode, ...) template __global__ decltype(__VA_ARGS__) __VA_ARGS__

#else
// ------------------------------------------------------------------------- CPU (g++)

#include <math.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

static_assert(sizeof(cim_u32) == 4 && sizeof(cim_u64) == 8 && sizeof(cim_i64) == 8,
              "cim_u32/cim_u64/cim_i64 must be 32/64/64 bits wide");

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))  // GNU: allowed among decl-specifiers, as in CUDA
#define __restrict__ __restrict
#define __shared__ static

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(16) ulonglong2 {
  unsigned long long x, y;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline ulonglong2 make_ulonglong2(unsigned long long x, unsigned long long y) { return {x, y}; }

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// Cache-hinted and read-only loads and stores are plain memory accesses on the CPU.
template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline T __ldcs(const T* p) { return *p; }
template <class T>
inline void __stcs(T* p, T v) { *p = v; }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
template <class T>
inline T atomicAdd(T* address, T value) { return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST); }

namespace cim_shim {

// A reusable barrier (std::barrier is C++20). Once broken (a thread of the block failed), every
// wait on it throws instead of waiting for a thread that will never arrive.
class Barrier {
 public:
  explicit Barrier(unsigned count) : count_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const unsigned long long generation = generation_;
    if (!broken_ && ++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      released_.notify_all();
    } else {
      released_.wait(lock, [&] { return generation != generation_ || broken_; });
    }
    if (generation == generation_) throw std::runtime_error("another thread of the block failed");
  }
  void break_barrier() {
    std::lock_guard<std::mutex> lock(mutex_);
    broken_ = true;
    released_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  unsigned count_;
  unsigned arrived_ = 0;
  unsigned long long generation_ = 0;
  bool broken_ = false;
};

// One warp of a threaded block: its barrier and the slots its lanes exchange values through.
struct Warp {
  explicit Warp(unsigned lanes) : lanes(lanes), barrier(lanes) {}
  unsigned lanes;
  Barrier barrier;
  unsigned long long slots[32] = {};
  cim_u32 mma_a[32][4] = {};  // the lanes' fragments of a warp matrix multiply (mma_m16n8k32_s8)
  cim_u32 mma_b[32][2] = {};
};

// What the threads of one threaded block share.
struct Block {
  explicit Block(unsigned threads) : barrier(threads) {
    for (unsigned first = 0; first < threads; first += 32) {
      warps.emplace_back(new Warp(threads - first < 32 ? threads - first : 32));
    }
  }
  ~Block() {
    for (Warp* warp : warps) delete warp;
  }
  void break_barriers() {
    barrier.break_barrier();
    for (Warp* warp : warps) warp->barrier.break_barrier();
  }
  Barrier barrier;
  std::vector<Warp*> warps;
};

inline thread_local unsigned char* dynamic_shared = nullptr;
inline thread_local Block* block = nullptr;  // null in sequential mode

inline unsigned linear_thread() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

[[noreturn]] inline void fail_sequential(const char* what) {
  std::fprintf(stderr,
               "cim_shim: %s called by a kernel registered in sequential mode; register it with "
               "CIM_KERNEL_INSTANCE(threaded, ...)\n",
               what);
  std::abort();
}

inline Warp& my_warp(const char* what) {
  if (block == nullptr) fail_sequential(what);
  return *block->warps[linear_thread() / 32];
}

// Every lane publishes `value`; returns the value of lane `source` (a lane of this warp).
template <class T>
inline T exchange(T value, unsigned source, const char* what) {
  static_assert(sizeof(T) <= sizeof(unsigned long long), "warp exchange of a value over 8 bytes");
  Warp& warp = my_warp(what);
  const unsigned lane = linear_thread() % 32;
  std::memcpy(&warp.slots[lane], &value, sizeof(T));
  warp.barrier.arrive_and_wait();
  T result;
  std::memcpy(&result, &warp.slots[source < warp.lanes ? source : lane], sizeof(T));
  warp.barrier.arrive_and_wait();  // nobody overwrites a slot before every lane has read
  return result;
}

inline unsigned lane_id() { return linear_thread() % 32; }

// mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 - D = A B + C over a warp, int8 operands and
// int32 accumulators - as the PTX ISA specifies its fragments ("Matrix Fragments for
// mma.m16n8k32"; groupID = lane / 4, threadID_in_group = lane % 4; byte e of a 32-bit register
// is its element e, bits 8e to 8e + 7):
//   A, 16 x 32, register r of a lane, byte e: row groupID + 8 (r % 2),
//                                             column 4 threadID_in_group + e + 16 (r / 2);
//   B, 32 x 8,  register r of a lane, byte e: row 4 threadID_in_group + e + 16 r, column groupID;
//   C, D, 16 x 8, element i of a lane:        row groupID + 8 (i / 2), column 2 threadID_in_group + i % 2.
// The lanes publish their fragments in the warp's scratch; each assembles A and B from all of
// them and computes its own four elements of D. Written from the ISA's text, independently of
// the kernels that use the instruction, so that their fragment indexing is checked against it.
inline void mma_m16n8k32_s8(int d[4], const cim_u32 a[4], const cim_u32 b[2]) {
  Warp& warp = my_warp("mma.sync");
  if (warp.lanes != 32) throw std::runtime_error("mma.sync needs a full warp of 32 threads");
  const unsigned lane = lane_id();
  std::memcpy(warp.mma_a[lane], a, sizeof warp.mma_a[lane]);
  std::memcpy(warp.mma_b[lane], b, sizeof warp.mma_b[lane]);
  warp.barrier.arrive_and_wait();
  signed char A[16][32], B[32][8];
  for (unsigned source = 0; source < 32; ++source) {
    const unsigned group = source / 4, in_group = source % 4;
    for (unsigned e = 0; e < 4; ++e) {
      for (unsigned r = 0; r < 4; ++r) {
        A[group + 8 * (r % 2)][4 * in_group + e + 16 * (r / 2)] =
            static_cast<signed char>((warp.mma_a[source][r] >> (8 * e)) & 0xffu);
      }
      for (unsigned r = 0; r < 2; ++r) {
        B[4 * in_group + e + 16 * r][group] = static_cast<signed char>((warp.mma_b[source][r] >> (8 * e)) & 0xffu);
      }
    }
  }
  warp.barrier.arrive_and_wait();  // nobody publishes the next fragments before every lane has read
  const unsigned group = lane / 4, in_group = lane % 4;
  for (unsigned i = 0; i < 4; ++i) {
    const unsigned row = group + 8 * (i / 2), column = 2 * in_group + i % 2;
    int total = 0;
    for (unsigned k = 0; k < 32; ++k) total += static_cast<int>(A[row][k]) * static_cast<int>(B[k][column]);
    d[i] += total;
  }
}

// cp.async.cg.shared.global and its groups (cim::cp_async_16, cp_async_commit, cp_async_wait of
// mma_s8.cuh), per thread as the PTX ISA states them: the copies issued since the last
// commit_group belong to no group yet; commit_group closes them into one; wait_group n returns
// once all but the n most recent groups are complete, and until then the destination's bytes
// are undefined. So here the issue fills the destination with 0xA5 (what the shim writes for
// memory no thread wrote) and the wait_group that completes the copy does it - the latest moment
// the ISA allows: a kernel that reads a stage before waiting for it, or waits for too few
// groups, reads poison or stale bytes and fails its test, and one that issues copies into a
// buffer other threads still read (a missing barrier) overwrites their operands with poison.
// Under the threaded schedule (threads run concurrently between barriers) the copies done by a
// thread's wait are ordered before other threads' reads after the next __syncthreads by the
// barrier's mutex, as the barrier orders them on the GPU; a race is a race on the shim too, seen
// when the threads happen to interleave so. The ISA's requirements are errors here: both
// addresses aligned to the copy's size, source_bytes at most that size; and a thread must not
// return with copies it never waited for. The source is read when the copy is done (the kernels
// never write what they copy from).
struct AsyncCopy {
  void* to;
  const void* from;
  unsigned bytes, source_bytes;
};
struct AsyncCopies {
  std::vector<AsyncCopy> open;               // issued since the last commit_group
  std::deque<std::vector<AsyncCopy>> groups;  // committed, not yet waited for, oldest first
};
inline thread_local AsyncCopies async_copies;

inline void cp_async(void* to, const void* from, unsigned bytes, int source_bytes) {
  const auto address = [](const void* p) { return reinterpret_cast<unsigned long long>(p); };
  if (address(to) % bytes || address(from) % bytes) {
    throw std::runtime_error("cp.async: the shared and global addresses must be aligned to the copy's " +
                             std::to_string(bytes) + " bytes");
  }
  if (source_bytes < 0 || static_cast<unsigned>(source_bytes) > bytes) {
    throw std::runtime_error("cp.async: src-size " + std::to_string(source_bytes) + " outside 0.." +
                             std::to_string(bytes));
  }
  std::memset(to, 0xA5, bytes);  // in flight: undefined until the wait
  async_copies.open.push_back(AsyncCopy{to, from, bytes, static_cast<unsigned>(source_bytes)});
}

inline void cp_async_commit_group() {
  async_copies.groups.push_back(std::move(async_copies.open));
  async_copies.open.clear();
}

inline void cp_async_wait_group(unsigned pending) {
  while (async_copies.groups.size() > pending) {
    for (const AsyncCopy& copy : async_copies.groups.front()) {
      unsigned char* to = static_cast<unsigned char*>(copy.to);
      if (copy.source_bytes) std::memcpy(to, copy.from, copy.source_bytes);
      std::memset(to + copy.source_bytes, 0, copy.bytes - copy.source_bytes);
    }
    async_copies.groups.pop_front();
  }
}

// Called as a thread of a launch ends: copies never waited for are an error (and none leaks into
// the next thread run on this host thread).
inline void check_no_pending_copies() {
  const bool pending = !async_copies.open.empty() || !async_copies.groups.empty();
  async_copies = AsyncCopies();
  if (pending) {
    throw std::runtime_error("cp.async: a thread returned with copies it never waited for (cp.async.wait_group)");
  }
}

}  // namespace cim_shim

inline void __syncthreads() {
  if (cim_shim::block == nullptr) cim_shim::fail_sequential("__syncthreads");
  cim_shim::block->barrier.arrive_and_wait();
}
inline void __syncwarp(unsigned = 0xffffffffu) { cim_shim::my_warp("__syncwarp").barrier.arrive_and_wait(); }
template <class T>
inline T __shfl_sync(unsigned, T value, int source, int width = 32) {
  const unsigned lane = cim_shim::lane_id();
  const unsigned segment = lane & ~static_cast<unsigned>(width - 1);
  return cim_shim::exchange(value, segment + (static_cast<unsigned>(source) % width), "__shfl_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned, T value, int lane_mask, int width = 32) {
  const unsigned lane = cim_shim::lane_id();
  const unsigned source = lane ^ static_cast<unsigned>(lane_mask);
  const bool inside = (source & ~static_cast<unsigned>(width - 1)) == (lane & ~static_cast<unsigned>(width - 1));
  return cim_shim::exchange(value, inside ? source : lane, "__shfl_xor_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned, T value, unsigned delta, int width = 32) {
  const unsigned lane = cim_shim::lane_id();
  const unsigned in_segment = (lane % width) + delta;
  return cim_shim::exchange(value, in_segment < static_cast<unsigned>(width) ? lane + delta : lane,
                            "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned, T value, unsigned delta, int width = 32) {
  const unsigned lane = cim_shim::lane_id();
  return cim_shim::exchange(value, (lane % width) >= delta ? lane - delta : lane, "__shfl_up_sync");
}
inline unsigned __ballot_sync(unsigned, int predicate) {
  cim_shim::Warp& warp = cim_shim::my_warp("__ballot_sync");
  unsigned bits = 0;
  for (unsigned source = 0; source < warp.lanes; ++source) {
    bits |= (cim_shim::exchange(predicate != 0, source, "__ballot_sync") ? 1u : 0u) << source;
  }
  return bits;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  return __ballot_sync(mask, !predicate) == 0;
}

#define CIM_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(cim_shim::dynamic_shared)

namespace cim_shim {

enum class Mode { sequential, threaded };

// Type code of a kernel parameter: "i", "u" or "f" and the size in bytes ("b1" for bool); for a
// pointer "p" and the code of what it points to ("pp" for a pointer to pointers, "ps32" for a
// pointer to a 32-byte struct).
template <class P>
std::string type_code() {
  if constexpr (std::is_pointer<P>::value) {
    typedef std::remove_cv_t<std::remove_pointer_t<P>> Pointee;
    if constexpr (std::is_pointer<Pointee>::value) {
      return "pp";
    } else if constexpr (std::is_class<Pointee>::value) {
      return "ps" + std::to_string(sizeof(Pointee));
    } else {
      return "p" + type_code<Pointee>();
    }
  } else if constexpr (std::is_same<P, bool>::value) {
    return "b1";
  } else {
    const char kind = std::is_floating_point<P>::value ? 'f' : (std::is_signed<P>::value ? 'i' : 'u');
    return kind + std::to_string(sizeof(P));
  }
}

struct Kernel {
  std::string name;  // as written in CIM_KERNEL_INSTANCE
  Mode mode;
  std::string signature;
  void (*run)(void* kernel, void** args);
  void* kernel;
};

inline std::map<std::string, Kernel>& registry() {
  static std::map<std::string, Kernel> kernels;
  return kernels;
}
inline std::string& last_error() {
  static std::string message;
  return message;
}
inline std::string without_spaces(const char* text) {
  std::string out;
  for (; *text; ++text) {
    if (*text != ' ' && *text != '\t' && *text != '\n') out += *text;
  }
  return out;
}

template <class... P, std::size_t... I>
void call_packed(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <class... P>
struct Registration {
  Registration(const char* name, Mode mode, void (*kernel)(P...)) {
    std::string signature;
    for (const std::string& code : {std::string(), type_code<P>()...}) {
      if (code.empty()) continue;
      signature += (signature.empty() ? "" : ",") + code;
    }
    registry()[without_spaces(name)] = Kernel{
        name, mode, signature,
        [](void* erased, void** args) {
          call_packed(reinterpret_cast<void (*)(P...)>(erased), args, std::index_sequence_for<P...>{});
        },
        reinterpret_cast<void*>(kernel)};
  }
};

inline void run_block(const Kernel& kernel, void** args, std::vector<unsigned char>& shared) {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  std::memset(shared.data(), 0xA5, shared.size());
  const uint3 this_block = blockIdx;
  auto run_thread = [&](unsigned linear, Block* shared_block) {
    blockIdx = this_block;
    threadIdx = {linear % blockDim.x, (linear / blockDim.x) % blockDim.y, linear / (blockDim.x * blockDim.y)};
    dynamic_shared = shared.data();
    block = shared_block;
    async_copies = AsyncCopies();
    kernel.run(kernel.kernel, args);
    check_no_pending_copies();
  };
  if (kernel.mode == Mode::sequential) {
    for (unsigned linear = 0; linear < threads; ++linear) run_thread(linear, nullptr);
    return;
  }
  Block shared_block(threads);
  const dim3 grid = gridDim, block_dim = blockDim;
  std::vector<std::thread> pool;
  std::exception_ptr failure;
  std::mutex failure_mutex;
  for (unsigned linear = 0; linear < threads; ++linear) {
    pool.emplace_back([&, linear] {
      gridDim = grid;
      blockDim = block_dim;
      try {
        run_thread(linear, &shared_block);
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(failure_mutex);
          if (!failure) failure = std::current_exception();  // the first: the others stop because of it
        }
        shared_block.break_barriers();
      }
    });
  }
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace cim_shim

#define CIM_SHIM_CONCAT_(a, b) a##b
#define CIM_SHIM_CONCAT(a, b) CIM_SHIM_CONCAT_(a, b)
#define CIM_KERNEL_INSTANCE(mode, ...)                                                        \
  template decltype(__VA_ARGS__) __VA_ARGS__;                                                 \
  static const cim_shim::Registration CIM_SHIM_CONCAT(cim_shim_registration_, __COUNTER__)(  \
      #__VA_ARGS__, cim_shim::Mode::mode, &__VA_ARGS__)

extern "C" {

__attribute__((visibility("default"), used)) const char* cim_shim_last_error() {
  return cim_shim::last_error().c_str();
}

// The registered kernels' names, one a line.
__attribute__((visibility("default"), used)) const char* cim_shim_kernel_names() {
  static std::string names;
  names.clear();
  for (const auto& entry : cim_shim::registry()) names += (names.empty() ? "" : "\n") + entry.second.name;
  return names.c_str();
}

// Comma-separated parameter type codes of a registered kernel, or null when unknown.
__attribute__((visibility("default"), used)) const char* cim_shim_signature(const char* name) {
  auto found = cim_shim::registry().find(cim_shim::without_spaces(name));
  return found == cim_shim::registry().end() ? nullptr : found->second.signature.c_str();
}

__attribute__((visibility("default"), used)) int cim_shim_launch(const char* name, const unsigned* grid,
                                                                const unsigned* block_dim,
                                                                unsigned long long shared_bytes, void** args) {
  auto found = cim_shim::registry().find(cim_shim::without_spaces(name));
  if (found == cim_shim::registry().end()) {
    cim_shim::last_error() = std::string("no kernel registered as ") + name;
    return 1;
  }
  const unsigned long long threads = 1ull * block_dim[0] * block_dim[1] * block_dim[2];
  if (threads == 0 || threads > 1024 || grid[0] == 0 || grid[1] == 0 || grid[2] == 0) {
    cim_shim::last_error() = "invalid launch configuration (as CUDA: 1..1024 threads a block, non-empty grid)";
    return 2;
  }
  try {
    std::vector<unsigned char> shared(shared_bytes);
    gridDim = dim3(grid[0], grid[1], grid[2]);
    blockDim = dim3(block_dim[0], block_dim[1], block_dim[2]);
    for (unsigned z = 0; z < grid[2]; ++z) {
      for (unsigned y = 0; y < grid[1]; ++y) {
        for (unsigned x = 0; x < grid[0]; ++x) {
          blockIdx = {x, y, z};
          cim_shim::run_block(found->second, args, shared);
        }
      }
    }
  } catch (const std::exception& error) {
    cim_shim::last_error() = error.what();
    return 3;
  }
  return 0;
}

}  // extern "C"

#endif  // CIM_EMU_CPU_SHIM
#endif  // CIM_EMU_CUDA_SHIM_H
