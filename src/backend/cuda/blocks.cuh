#pragma once
// The weight layouts the CUDA backend keeps on the device, and decoding them.
//
// F32, F16, BF16 and Q4_K rows are the file's bytes as they are (Q4_K's 144-byte super-blocks keep
// their quants 16-byte aligned already). Q4_0, Q8_0 and Q6_K blocks are 18, 34 and 210 bytes, so
// their quants sit at 2-byte boundaries and a warp could only read them two bytes at a time; at
// upload each row is repacked so that every field is one contiguous, aligned array:
//   Q4_0: qs[nb][16]  d[nb]                              (nb blocks of 32 elements)
//   Q8_0: qs[nb][32]  d[nb]
//   Q6_K: ql[nb][128] qh[nb][64] scales[nb][16] d[nb]     (nb super-blocks of 256)
// and the row stride is rounded up to 16 bytes. Values are bit-identical to the file's; the tests
// check every decoder here, on the host, against the CPU's reference dequantizer.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "format/dtype.h"

// The decoders also compile for the host (tests check them there without a GPU).
#ifdef __CUDA_ARCH__  // the device pass only: host compilers do not know the pragma
#define HEARTH_UNROLL _Pragma("unroll")
#else
#define HEARTH_UNROLL
#endif

namespace hearth::cuda {

constexpr int kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ4_KBytes = 144, kQ6_KBytes = 210;

// Every 2- and 4-byte field is aligned to its size in every layout; the host copies bytes so
// that the checks there stay well-defined C++.
__host__ __device__ __forceinline__ uint16_t load_u16(const uint8_t* p) {
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const uint16_t*>(p);
#else
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
#endif
}
__host__ __device__ __forceinline__ float load_f32(const uint8_t* p) {
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const float*>(p);
#else
  float v;
  memcpy(&v, p, 4);
  return v;
#endif
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
__host__ __device__ __forceinline__ uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
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
  T v;
  memcpy(&v, p, sizeof(T));
  return v;
#endif
}

// Sub-block j's 6-bit scale and min of a Q4_K super-block's 12 scale bytes.
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

__host__ __device__ constexpr int64_t block_elems_of(DType t) {
  return t == DType::Q8_0 || t == DType::Q4_0 ? 32 : t == DType::Q4_K || t == DType::Q6_K ? 256 : 1;
}

// Whether upload() repacks rows of this type (see the top of this file).
__host__ __device__ constexpr bool repacked(DType t) {
  return t == DType::Q4_0 || t == DType::Q8_0 || t == DType::Q6_K;
}

// Bytes of one row of `cols` elements in the file (GGUF blocks), 0 for a type not handled here.
__host__ __device__ constexpr size_t file_row_bytes(DType t, int64_t cols) {
  const size_t blocks = static_cast<size_t>(cols / block_elems_of(t));
  switch (t) {
    case DType::F32:
      return blocks * 4;
    case DType::F16:
    case DType::BF16:
      return blocks * 2;
    case DType::Q8_0:
      return blocks * kQ8_0Bytes;
    case DType::Q4_0:
      return blocks * kQ4_0Bytes;
    case DType::Q4_K:
      return blocks * kQ4_KBytes;
    case DType::Q6_K:
      return blocks * kQ6_KBytes;
    default:
      return 0;
  }
}

// Distance in bytes between rows on the device.
__host__ __device__ constexpr size_t gpu_row_stride(DType t, int64_t cols) {
  const size_t b = file_row_bytes(t, cols);
  return repacked(t) ? (b + 15) / 16 * 16 : b;
}

// Copies file block `b` (of `nb` in the row) to its places in the repacked row `dst`.
__host__ __device__ inline void repack_block(DType t, const uint8_t* src, int64_t b, int64_t nb,
                                             uint8_t* dst) {
  switch (t) {
    case DType::Q4_0:
      memcpy(dst + 16 * b, src + 2, 16);
      memcpy(dst + 16 * nb + 2 * b, src, 2);
      break;
    case DType::Q8_0:
      memcpy(dst + 32 * b, src + 2, 32);
      memcpy(dst + 32 * nb + 2 * b, src, 2);
      break;
    case DType::Q6_K:
      memcpy(dst + 128 * b, src, 128);
      memcpy(dst + 128 * nb + 64 * b, src + 128, 64);
      memcpy(dst + 192 * nb + 16 * b, src + 192, 16);
      memcpy(dst + 208 * nb + 2 * b, src + 208, 2);
      break;
    default:
      break;
  }
}

// 16 bytes from one aligned 16-byte load (a warp reads them in whole sectors, not byte by byte).
struct Bytes16 {
  uint32_t w[4];
  __host__ __device__ __forceinline__ explicit Bytes16(const uint8_t* p) {
    const uint4 v = load_ro(reinterpret_cast<const uint4*>(p));
    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
  }
  __host__ __device__ __forceinline__ int operator[](int j) const {
    return static_cast<int>((w[j / 4] >> (8 * (j % 4))) & 0xFF);
  }
};

// Groups of 32 consecutive elements of a device row (for dequantization to f16):
// decode(row, nb, g, out) writes elements 32g .. 32g + 31; nb: blocks in the row. Quants come in
// 16-byte loads: every run of quants here is 16-byte aligned in the device layouts.
struct GroupQ8_0 {
  __host__ __device__ static void decode(const uint8_t* row, int64_t nb, int64_t g, float* out) {
    const float d = f16_bits(load_u16(row + 32 * nb + 2 * g));
    const Bytes16 a(row + 32 * g), b(row + 32 * g + 16);
    HEARTH_UNROLL
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>(static_cast<int8_t>(a[j])) * d;
      out[j + 16] = static_cast<float>(static_cast<int8_t>(b[j])) * d;
    }
  }
};

struct GroupQ4_0 {
  __host__ __device__ static void decode(const uint8_t* row, int64_t nb, int64_t g, float* out) {
    const float d = f16_bits(load_u16(row + 16 * nb + 2 * g));
    const Bytes16 qs(row + 16 * g);
    HEARTH_UNROLL
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
      out[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
};

struct GroupQ4_K {
  __host__ __device__ static void decode(const uint8_t* row, int64_t, int64_t g, float* out) {
    const uint8_t* b = row + (g / 8) * kQ4_KBytes;
    const int j = static_cast<int>(g % 8);
    const float d = f16_bits(load_u16(b)), dmin = f16_bits(load_u16(b + 2));
    int sc, m;
    q4k_scale_min_dev(j, b + 4, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    const Bytes16 q0(b + 16 + 32 * (j / 2)), q1(b + 32 + 32 * (j / 2));
    const int shift = 4 * (j % 2);
    HEARTH_UNROLL
    for (int l = 0; l < 16; ++l) {
      out[l] = d1 * static_cast<float>((q0[l] >> shift) & 0xF) - m1;
      out[l + 16] = d1 * static_cast<float>((q1[l] >> shift) & 0xF) - m1;
    }
  }
};

struct GroupQ6_K {
  __host__ __device__ static void decode(const uint8_t* row, int64_t nb, int64_t g, float* out) {
    const int64_t s = g / 8;
    const int j = static_cast<int>(g % 8);
    const int h = j / 4, quarter = j % 4;
    const uint8_t* ql = row + 128 * s + 64 * h + 32 * (quarter & 1);
    const uint8_t* qh = row + 128 * nb + 64 * s + 32 * h;
    const auto* sc = reinterpret_cast<const int8_t*>(row + 192 * nb + 16 * s) + 8 * h + 2 * quarter;
    const float d = f16_bits(load_u16(row + 208 * nb + 2 * s));
    const float dsc0 = d * static_cast<float>(sc[0]), dsc1 = d * static_cast<float>(sc[1]);
    const int lshift = 4 * (quarter >> 1), hshift = 2 * quarter;
    const Bytes16 l0(ql), l1(ql + 16), h0(qh), h1(qh + 16);
    HEARTH_UNROLL
    for (int l = 0; l < 16; ++l) {
      const int qa = ((l0[l] >> lshift) & 0xF) | (((h0[l] >> hshift) & 3) << 4);
      const int qb = ((l1[l] >> lshift) & 0xF) | (((h1[l] >> hshift) & 3) << 4);
      out[l] = dsc0 * static_cast<float>(qa - 32);
      out[l + 16] = dsc1 * static_cast<float>(qb - 32);
    }
  }
};

// Element i of a device row of type t with `cols` elements.
__host__ __device__ inline float load_elem(DType t, const uint8_t* row, int64_t cols, int64_t i) {
  switch (t) {
    case DType::F32:
      return load_f32(row + 4 * i);
    case DType::F16:
      return f16_bits(load_u16(row + 2 * i));
    case DType::BF16:
      return bf16_bits(load_u16(row + 2 * i));
    case DType::Q8_0:
      return static_cast<float>(static_cast<int8_t>(row[i])) *
             f16_bits(load_u16(row + cols + 2 * (i / 32)));
    case DType::Q4_0: {
      const int64_t b = i / 32;
      const int j = static_cast<int>(i % 32);
      const uint8_t byte = row[16 * b + (j % 16)];
      const int q = j < 16 ? (byte & 0xF) : (byte >> 4);
      return static_cast<float>(q - 8) * f16_bits(load_u16(row + cols / 2 + 2 * b));
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
      const int64_t nb = cols / 256, s = i / 256;
      const int e = static_cast<int>(i % 256);
      const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
      const uint8_t ql = row[128 * s + 64 * h + 32 * (quarter & 1) + l];
      const uint8_t qh = row[128 * nb + 64 * s + 32 * h + l];
      const int q = ((ql >> (4 * (quarter >> 1))) & 0xF) | (((qh >> (2 * quarter)) & 3) << 4);
      const int8_t sc = static_cast<int8_t>(row[192 * nb + 16 * s + e / 16]);
      return f16_bits(load_u16(row + 208 * nb + 2 * s)) * static_cast<float>(sc) *
             static_cast<float>(q - 32);
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
