#pragma once
// IEEE half and bfloat16 conversions, bit-exact to what torch and ggml produce. Inline for the
// host and CUDA device code (quant/portable.h).
#include <cstdint>

#include "quant/portable.h"

namespace hearth {

HEARTH_HD inline float bf16_to_f32(uint16_t h) {
  return quant::bits_float(static_cast<uint32_t>(h) << 16);
}

// Round to nearest even, NaN kept quiet: the rounding torch and llama.cpp use.
HEARTH_HD inline uint16_t f32_to_bf16(float f) {
  uint32_t bits = quant::float_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

HEARTH_HD inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return quant::bits_float(bits);
}

// Round to nearest even with correct subnormal, overflow and NaN handling.
HEARTH_HD inline uint16_t f32_to_f16(float f) {
  const uint32_t x = quant::float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (absx >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {                                               // subnormal or zero
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // value = m * 2^(e-150) = (m >> shift) * 2^-24
    uint32_t out = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (out & 1u))) ++out;
    return static_cast<uint16_t>(sign | out);
  }
  const uint32_t e = (absx >> 23) - 127 + 15;
  const uint32_t m = absx & 0x7fffffu;
  uint32_t out = (e << 10) | (m >> 13);
  const uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (out & 1u))) ++out;
  return static_cast<uint16_t>(sign | out);
}

}  // namespace hearth
