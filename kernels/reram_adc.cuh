// The column ADC of cim_emu/reram/adc.py as a device function, for the ReRAM epilogue (and for
// any kernel that fuses the epilogue into its matrix product).
//
//   code = clamp(floor((scale * p + bias) / divisor), 0, levels)
//
// with (scale, bias, divisor) = (2, 2**F, 2**(F+1)) for a unit-step ADC or
// (2 Q, FS 2**F, 2 FS 2**F) otherwise; `prescaled` sums already hold scale * p + bias; a signed
// ADC converts |p| and keeps the sign. The arithmetic follows Adc.convert step by step, in the
// ADC's float type (Code = float or double, Adc.dtype), but for the division (below).
//
// Exactness (why CUDA and numpy agree to the bit): the crossbar chooses Code so that every value
// here - p, scale * p, scale * p + bias, the divisor - is an integer of magnitude below 2**24
// (float) or 2**53 (double), hence exact, however the compiler contracts the multiply and add
// (an FMA rounds once where numpy rounds twice: both give the exact integer). numpy's
// floor(u / divisor) is the exact integer floor: IEEE division is correctly rounded, and its
// error, under |u / v| * 2**-24 (2**-53), is smaller than the distance 1 / v from a non-integer
// quotient to the next integer because |u| < 2**24 (2**53). Here the same exact floor is reached
// without a division: q = floor(u * reciprocal) is within 1 of it (two roundings of relative
// size 2**-24 on a quotient below 2**23, as the divisor is at least 2), and one step corrects
// it - q -= 1 if q * divisor > u, q += 1 if (q + 1) * divisor <= u. The products are exact
// below 2**24 and, rounding being monotone, a product past 2**24 still compares correctly with
// u. Clamping and the sign are exact.
#ifndef CIM_EMU_RERAM_ADC_CUH
#define CIM_EMU_RERAM_ADC_CUH

#include "cuda_shim.h"

namespace cim {

// Bits of the `flags` word that describes an ADC (cim_emu.reram.gpu.AdcFlag; a test holds them equal).
enum AdcFlag : int { kAdcSigned = 1, kAdcPrescaled = 2, kAdcSaturates = 4 };

__device__ __forceinline__ float floor_of(float x) { return floorf(x); }
__device__ __forceinline__ double floor_of(double x) { return floor(x); }

template <class Code>
struct Adc {
  Code scale;
  Code bias;
  Code divisor;     // at least 2
  Code reciprocal;  // 1 / divisor, rounded to Code
  Code levels;
  int flags;        // AdcFlag bits

  __device__ __forceinline__ bool is_signed() const { return (flags & kAdcSigned) != 0; }

  // Whether the divisor is a power of two whose reciprocal is held exactly (floor_quotient).
  __device__ __forceinline__ bool has_exact_reciprocal() const {
    int exponent = 0;
    return reciprocal * divisor == Code(1) && frexp(divisor, &exponent) == Code(0.5);
  }

  // floor(u / divisor) of an integer-valued u, without a division (see the header comment).
  // exact_reciprocal: the divisor is a power of two (a unit-step ADC's 2**(F+1)), so that
  // reciprocal is exact, u * reciprocal too, and its floor is the quotient's: no correction.
  __device__ __forceinline__ Code floor_quotient(Code u, bool exact_reciprocal = false) const {
    Code q = floor_of(u * reciprocal);
    if (exact_reciprocal) return q;
    if (q * divisor > u) {
      q -= 1;
    } else if ((q + 1) * divisor <= u) {
      q += 1;
    }
    return q;
  }

  // The code of one integer-valued partial sum (a float holding an exact integer).
  __device__ __forceinline__ Code convert(Code value) const { return convert_as(value, flags); }

  // The same with the flags given: where they are a constant, the compiler drops the branches
  // of the others (the host's vectorised loops, reram_epilogue.cu), and so with exact_reciprocal
  // (floor_quotient; the caller checks it).
  __device__ __forceinline__ Code convert_as(Code value, int flags, bool exact_reciprocal = false) const {
    Code sign = 1;
    if (flags & kAdcSigned) {
      sign = value > 0 ? Code(1) : value < 0 ? Code(-1) : Code(0);
      value = value < 0 ? -value : value;
    }
    if (!(flags & kAdcPrescaled)) value = value * scale + bias;
    value = floor_quotient(value, exact_reciprocal);
    if (flags & kAdcSaturates) value = value < 0 ? Code(0) : value > levels ? levels : value;
    return value * sign;
  }
};

}  // namespace cim

#endif  // CIM_EMU_RERAM_ADC_CUH
