#pragma once
// Device-side decoding of the weight formats, byte for byte the GGUF layouts of
// backend/cpu/quant/blocks.h. Two forms: one element (embedding rows, norm weights, the generic
// path) and one group of kGroup consecutive elements (the GEMV and dequantization kernels). The
// tests check both against the CPU's reference dequantizer.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "format/dtype.h"

// The decoders also compile for the host (a test checks them there without a GPU).
#ifdef __CUDA_ARCH__  // the device pass only: host compilers do not know the pragma
#define HEARTH_UNROLL _Pragma("unroll")
#else
#define HEARTH_UNROLL
#endif

namespace hearth::cuda {

__host__ __device__ __forceinline__ uint16_t load_u16(const uint8_t* p) {
  return *reinterpret_cast<const uint16_t*>(p);  // GGUF blocks keep 2-byte alignment
}
__host__ __device__ __forceinline__ float f16_bits(uint16_t h) {
  return __half2float(__ushort_as_half(h));
}
__host__ __device__ __forceinline__ float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}
__host__ __device__ __forceinline__ float bf16_bits(uint16_t h) {
  return bits_float(static_cast<uint32_t>(h) << 16);
}
// Read-only-cache loads on the device; plain loads where the host runs the decoders (checks).
template <class T>
__host__ __device__ __forceinline__ T load_ro(const T* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// Sub-block j's 6-bit scale and min of a Q4_K super-block (see q4k_scale_min).
__host__ __device__ __forceinline__ void q4k_scale_min_dev(int j, const uint8_t* s, int* sc,
                                                           int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

constexpr int kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ4_KBytes = 144, kQ6_KBytes = 210;

// Groups of 32 elements: a Q8_0/Q4_0 block, or one 32-element sub-block of a K-quant super-block.
// decode(row, g, out) writes elements 32g .. 32g + 31 of the row.
struct GroupQ8_0 {
  static constexpr int kGroup = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const uint8_t* b = row + g * kQ8_0Bytes;
    const float d = f16_bits(load_u16(b));
    const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
    HEARTH_UNROLL
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(qs[j]) * d;
  }
};

struct GroupQ4_0 {
  static constexpr int kGroup = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const uint8_t* b = row + g * kQ4_0Bytes;
    const float d = f16_bits(load_u16(b));
    // Eight 2-byte loads: the 16 quant bytes start at a 2-byte boundary only.
    HEARTH_UNROLL
    for (int k = 0; k < 8; ++k) {
      const uint16_t two = load_u16(b + 2 + 2 * k);
      const int q0 = two & 0xFF, q1 = two >> 8;
      out[2 * k] = static_cast<float>((q0 & 0xF) - 8) * d;
      out[2 * k + 1] = static_cast<float>((q1 & 0xF) - 8) * d;
      out[2 * k + 16] = static_cast<float>((q0 >> 4) - 8) * d;
      out[2 * k + 17] = static_cast<float>((q1 >> 4) - 8) * d;
    }
  }
};

struct GroupQ4_K {
  static constexpr int kGroup = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const uint8_t* b = row + (g / 8) * kQ4_KBytes;
    const int j = static_cast<int>(g % 8);
    const float d = f16_bits(load_u16(b)), dmin = f16_bits(load_u16(b + 2));
    int sc, m;
    q4k_scale_min_dev(j, b + 4, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    const uint8_t* q = b + 16 + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    HEARTH_UNROLL
    for (int l = 0; l < 32; ++l) out[l] = d1 * static_cast<float>((q[l] >> shift) & 0xF) - m1;
  }
};

struct GroupQ6_K {
  static constexpr int kGroup = 32;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const uint8_t* b = row + (g / 8) * kQ6_KBytes;
    const int j = static_cast<int>(g % 8);
    const int h = j / 4, quarter = j % 4;
    const uint8_t* ql = b + 64 * h + 32 * (quarter & 1);
    const uint8_t* qh = b + 128 + 32 * h;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * h + 2 * quarter;
    const float d = f16_bits(load_u16(b + 208));
    const int lshift = 4 * (quarter >> 1), hshift = 2 * quarter;
    HEARTH_UNROLL
    for (int l = 0; l < 32; ++l) {
      const int q = ((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4);
      out[l] = d * static_cast<float>(sc[l / 16]) * static_cast<float>(q - 32);
    }
  }
};

// Plain floats: 8 elements from one 16-byte load (rows must be 16-byte aligned: cols % 8 == 0).
struct GroupF32 {
  static constexpr int kGroup = 8;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const auto* p = reinterpret_cast<const float4*>(row) + 2 * g;
    const float4 a = load_ro(p), b = load_ro(p + 1);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  }
};

struct GroupF16 {
  static constexpr int kGroup = 8;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const uint4 v = load_ro(reinterpret_cast<const uint4*>(row) + g);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      out[2 * k] = f16_bits(static_cast<uint16_t>(w[k] & 0xFFFF));
      out[2 * k + 1] = f16_bits(static_cast<uint16_t>(w[k] >> 16));
    }
  }
};

struct GroupBF16 {
  static constexpr int kGroup = 8;
  __host__ __device__ static void decode(const uint8_t* row, int64_t g, float* out) {
    const uint4 v = load_ro(reinterpret_cast<const uint4*>(row) + g);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      out[2 * k] = bits_float(w[k] << 16);
      out[2 * k + 1] = bits_float(w[k] & 0xFFFF0000u);
    }
  }
};

// Element i of a row of type t, straight from the format definition.
__host__ __device__ inline float load_elem(DType t, const uint8_t* row, int64_t i) {
  switch (t) {
    case DType::F32:
      return reinterpret_cast<const float*>(row)[i];
    case DType::F16:
      return f16_bits(load_u16(row + 2 * i));
    case DType::BF16:
      return bf16_bits(load_u16(row + 2 * i));
    case DType::Q8_0: {
      const uint8_t* b = row + (i / 32) * kQ8_0Bytes;
      return static_cast<float>(reinterpret_cast<const int8_t*>(b + 2)[i % 32]) *
             f16_bits(load_u16(b));
    }
    case DType::Q4_0: {
      const uint8_t* b = row + (i / 32) * kQ4_0Bytes;
      const int j = static_cast<int>(i % 32);
      const int q = j < 16 ? (b[2 + j] & 0xF) : (b[2 + j - 16] >> 4);
      return static_cast<float>(q - 8) * f16_bits(load_u16(b));
    }
    case DType::Q4_K: {
      const uint8_t* b = row + (i / 256) * kQ4_KBytes;
      const int e = static_cast<int>(i % 256);
      const int c = e / 64, half = (e % 64) / 32, l = e % 32;
      int sc, m;
      q4k_scale_min_dev(e / 32, b + 4, &sc, &m);
      const float d1 = f16_bits(load_u16(b)) * static_cast<float>(sc);
      const float m1 = f16_bits(load_u16(b + 2)) * static_cast<float>(m);
      return d1 * static_cast<float>((b[16 + 32 * c + l] >> (4 * half)) & 0xF) - m1;
    }
    case DType::Q6_K: {
      const uint8_t* b = row + (i / 256) * kQ6_KBytes;
      const int e = static_cast<int>(i % 256);
      const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
      const uint8_t ql = b[64 * h + 32 * (quarter & 1) + l];
      const uint8_t qh = b[128 + 32 * h + l];
      const int q = ((ql >> (4 * (quarter >> 1))) & 0xF) | (((qh >> (2 * quarter)) & 3) << 4);
      const int8_t sc = reinterpret_cast<const int8_t*>(b + 192)[e / 16];
      return f16_bits(load_u16(b + 208)) * static_cast<float>(sc) * static_cast<float>(q - 32);
    }
    default:
      return 0.0f;  // rejected on the host before any launch
  }
}

#ifdef __CUDACC__
__device__ __forceinline__ float warp_sum(float v) {
  HEARTH_UNROLL
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
#endif

}  // namespace hearth::cuda
