#pragma once
// The quant library's inline functions are written once for the host and CUDA device code: under
// nvcc they are __host__ __device__, so the CUDA backend can decode blocks with the very functions
// the CPU and the converters use. Everything here is C++17 (nvcc's dialect in this build).
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define HEARTH_HD __host__ __device__
#else
#define HEARTH_HD
#endif

namespace hearth::quant {

HEARTH_HD inline uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

HEARTH_HD inline float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// Little-endian loads from byte pointers that may be only 1- or 2-byte aligned (GGUF blocks).
HEARTH_HD inline uint16_t load_u16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
HEARTH_HD inline uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace hearth::quant
