#pragma once
// The arithmetic of the decode GEMV, one "unit" of a weight row at a time, for every weight type.
// A unit is what one thread takes per step: 16 or 32 bytes of quants (32 elements) for the
// quantized types, 16 or 32 bytes (8 elements) for the float types.
//
// Quantized weights are multiplied with 8-bit integer dot products (dp4a), four products per
// instruction: float math would need a conversion per 4-bit weight, which costs more issue slots
// than the memory system needs to deliver the bytes. The activations come quantized beforehand
// exactly as the CPU quantizes them (act_quant.cuh: Q8_0 for Q4_0/Q8_0, Q8_K for the K-quants);
// the weight's offsets and minimums enter through sums of those int8 values. Float weights keep
// float32 activations and plain fused multiply-adds.
//
// Everything here also compiles for the host, where the tests check each unit against a
// double-precision product over the same activations.
#include <cmath>

#include "backend/cuda/act_quant.cuh"
#include "backend/cuda/blocks.cuh"

namespace hearth::cuda {

// a . b over the four signed bytes of each word, plus c.
__host__ __device__ __forceinline__ int dp4a(int a, int b, int c) {
#ifdef __CUDA_ARCH__
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; ++i)
    c += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i)) *
         static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
  return c;
#endif
}

// Byte k (0..11) of three little-endian words, without an indexed array (which would live in slow
// local memory on the device).
__host__ __device__ __forceinline__ int byte_of(uint32_t a, uint32_t b, uint32_t c, int k) {
  const uint32_t w = k < 4 ? a : k < 8 ? b : c;
  return static_cast<int>((w >> (8 * (k & 3))) & 0xFF);
}

template <class T>
__host__ __device__ __forceinline__ T load_vec(const void* p) {
  return load_ro(static_cast<const T*>(p));
}

// Four consecutive floats of x starting at column c (c % 4 == 0, x 16-byte aligned).
__host__ __device__ __forceinline__ void load4(const float* x, int64_t c, float* v) {
  const float4 f = load_vec<float4>(x + c);
  v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
}

// A GEMV's input: float rows (float weights) or their int8 quantization (quantized weights).
struct GemvIn {
  const float* x;
  QAct q;
  int64_t cols;
};

// The int8 activations of one unit: 32 values in eight words (in the unit's element order), their
// scale, and sums of the values over groups (of 32, 16 or 8, as the type needs).
struct XInt {
  int w[8];
  float d;
  int s[4];
};

// Eight int8 activations of token t from column c (c % 8 == 0) into two words.
__host__ __device__ __forceinline__ void load_q8(const GemvIn& in, int t, int64_t c, int* w) {
  const uint2 v = load_vec<uint2>(in.q.qs + t * in.cols + c);
  w[0] = static_cast<int>(v.x), w[1] = static_cast<int>(v.y);
}

// Float activations of one 8-element unit.
struct XFloat {
  float v[8];
};

// ---- quantized units ----

// Q4_0 (repacked): unit u is block u; its 16 quant bytes hold elements j (low nibble) and j + 16.
struct UnitQ4_0 {
  using X = XInt;
  struct W {
    uint4 q;
    float d;
  };
  __host__ __device__ static int64_t units(int64_t cols) { return cols / 32; }
  // Q8_0 block u of the activations.
  __host__ __device__ static void prep(const GemvIn& in, int t, int64_t u, X& out) {
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) load_q8(in, t, 32 * u + 8 * k, out.w + 2 * k);
    const int64_t b = t * (in.cols / 32) + u;
    out.d = in.q.d[b];
    out.s[0] = in.q.s[b];
  }
  __host__ __device__ static void load(const uint8_t* row, int64_t nunits, int64_t u, W& w) {
    w.q = load_vec<uint4>(row + 16 * u);
    w.d = f16_bits(load_u16(row + 16 * nunits + 2 * u));
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    const int q[4] = {static_cast<int>(w.q.x), static_cast<int>(w.q.y), static_cast<int>(w.q.z),
                      static_cast<int>(w.q.w)};
    int acc = 0;
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      acc = dp4a(q[k] & 0x0F0F0F0F, x.w[k], acc);
      acc = dp4a((q[k] >> 4) & 0x0F0F0F0F, x.w[k + 4], acc);
    }
    return w.d * x.d * static_cast<float>(acc - 8 * x.s[0]);
  }
};

// Q8_0 (repacked): unit u is block u.
struct UnitQ8_0 {
  using X = XInt;
  struct W {
    uint4 q0, q1;
    float d;
  };
  __host__ __device__ static int64_t units(int64_t cols) { return cols / 32; }
  __host__ __device__ static void prep(const GemvIn& in, int t, int64_t u, X& out) {
    UnitQ4_0::prep(in, t, u, out);
  }
  __host__ __device__ static void load(const uint8_t* row, int64_t nunits, int64_t u, W& w) {
    w.q0 = load_vec<uint4>(row + 32 * u);
    w.q1 = load_vec<uint4>(row + 32 * u + 16);
    w.d = f16_bits(load_u16(row + 32 * nunits + 2 * u));
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    int acc = dp4a(static_cast<int>(w.q0.x), x.w[0], 0);
    acc = dp4a(static_cast<int>(w.q0.y), x.w[1], acc);
    acc = dp4a(static_cast<int>(w.q0.z), x.w[2], acc);
    acc = dp4a(static_cast<int>(w.q0.w), x.w[3], acc);
    acc = dp4a(static_cast<int>(w.q1.x), x.w[4], acc);
    acc = dp4a(static_cast<int>(w.q1.y), x.w[5], acc);
    acc = dp4a(static_cast<int>(w.q1.z), x.w[6], acc);
    acc = dp4a(static_cast<int>(w.q1.w), x.w[7], acc);
    return w.d * x.d * static_cast<float>(acc);
  }
};

// Q4_K (file layout): unit u = super-block u / 8, v = u % 8: quant bytes 32c + 16h .. + 15 of the
// super-block (c = v / 2, h = v % 2), whose low nibbles are elements 64c + 16h + j of sub-block 2c
// and high nibbles elements 64c + 32 + 16h + j of sub-block 2c + 1.
struct UnitQ4_K {
  using X = XInt;
  struct W {
    uint4 q;
    float d_lo, m_lo, d_hi, m_hi;  // scale and min of the two sub-blocks, with d and dmin applied
  };
  __host__ __device__ static int64_t units(int64_t cols) { return cols / 32; }
  // Q8_K: the super-block's scale, and the bsums of the two 16-element runs.
  __host__ __device__ static void prep(const GemvIn& in, int t, int64_t u, X& out) {
    const int v = static_cast<int>(u % 8);
    const int64_t base = 256 * (u / 8) + 64 * (v / 2) + 16 * (v % 2);
    load_q8(in, t, base, out.w);
    load_q8(in, t, base + 8, out.w + 2);
    load_q8(in, t, base + 32, out.w + 4);
    load_q8(in, t, base + 40, out.w + 6);
    out.d = in.q.d[t * (in.cols / 256) + u / 8];
    out.s[0] = in.q.s[(t * in.cols + base) / 16];
    out.s[1] = in.q.s[(t * in.cols + base + 32) / 16];
  }
  __host__ __device__ static void load(const uint8_t* row, int64_t, int64_t u, W& w) {
    const uint8_t* b = row + (u / 8) * kQ4_KBytes;
    const int v = static_cast<int>(u % 8);
    const uint4 head = load_vec<uint4>(b);  // d, dmin, then the 12 scale bytes in y, z, w
    w.q = load_vec<uint4>(b + 16 + 16 * v);
    const float d = f16_bits(static_cast<uint16_t>(head.x & 0xFFFF));
    const float dmin = f16_bits(static_cast<uint16_t>(head.x >> 16));
    // q4k_scale_min_dev's unpacking of sub-blocks j = 2c and 2c + 1, on the words.
    auto s = [&](int k) { return byte_of(head.y, head.z, head.w, k); };
    const int j0 = 2 * (v / 2), j1 = j0 + 1;
    int sc0, m0, sc1, m1;
    if (j0 < 4) {
      sc0 = s(j0) & 63, m0 = s(j0 + 4) & 63;
      sc1 = s(j1) & 63, m1 = s(j1 + 4) & 63;
    } else {
      sc0 = (s(j0 + 4) & 0xF) | ((s(j0 - 4) >> 6) << 4),
      m0 = (s(j0 + 4) >> 4) | ((s(j0) >> 6) << 4);
      sc1 = (s(j1 + 4) & 0xF) | ((s(j1 - 4) >> 6) << 4),
      m1 = (s(j1 + 4) >> 4) | ((s(j1) >> 6) << 4);
    }
    w.d_lo = d * static_cast<float>(sc0), w.m_lo = dmin * static_cast<float>(m0);
    w.d_hi = d * static_cast<float>(sc1), w.m_hi = dmin * static_cast<float>(m1);
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    const int q[4] = {static_cast<int>(w.q.x), static_cast<int>(w.q.y), static_cast<int>(w.q.z),
                      static_cast<int>(w.q.w)};
    int lo = 0, hi = 0;
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      lo = dp4a(q[k] & 0x0F0F0F0F, x.w[k], lo);
      hi = dp4a((q[k] >> 4) & 0x0F0F0F0F, x.w[k + 4], hi);
    }
    return x.d * (w.d_lo * static_cast<float>(lo) - w.m_lo * static_cast<float>(x.s[0]) +
                  w.d_hi * static_cast<float>(hi) - w.m_hi * static_cast<float>(x.s[1]));
  }
};

// Q6_K (repacked): unit u = super-block s = u / 8, v = u % 8, half h = v / 4, j = v % 4: bytes
// 8j .. 8j + 7 of the half's two 32-byte ql runs and of its qh run, which hold elements
// 128h + 32k + 8j + i for the four chunks k (ggml's q1..q4).
struct UnitQ6_K {
  using X = XInt;
  struct W {
    uint2 qa, qb, qh;
    float dsc[4];  // d times the scale of chunk k's 16-element sub-block
  };
  __host__ __device__ static int64_t units(int64_t cols) { return cols / 32; }
  // Q8_K: the super-block's scale; sums over each chunk's 8 values by dp4a against ones.
  __host__ __device__ static void prep(const GemvIn& in, int t, int64_t u, X& out) {
    const int v = static_cast<int>(u % 8);
    const int64_t base = 256 * (u / 8) + 128 * (v / 4) + 8 * (v % 4);
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      load_q8(in, t, base + 32 * k, out.w + 2 * k);
      out.s[k] = dp4a(out.w[2 * k + 1], 0x01010101, dp4a(out.w[2 * k], 0x01010101, 0));
    }
    out.d = in.q.d[t * (in.cols / 256) + u / 8];
  }
  __host__ __device__ static void load(const uint8_t* row, int64_t nunits, int64_t u, W& w) {
    const int64_t nb = nunits / 8, s = u / 8;
    const int v = static_cast<int>(u % 8), h = v / 4, j = v % 4;
    w.qa = load_vec<uint2>(row + 128 * s + 64 * h + 8 * j);
    w.qb = load_vec<uint2>(row + 128 * s + 64 * h + 32 + 8 * j);
    w.qh = load_vec<uint2>(row + 128 * nb + 64 * s + 32 * h + 8 * j);
    const uint2 scw = load_vec<uint2>(row + 192 * nb + 16 * s + 8 * h);  // this half's 8 scales
    const float d = f16_bits(load_u16(row + 208 * nb + 2 * s));
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int sc = static_cast<int8_t>(byte_of(scw.x, scw.y, 0, j / 2 + 2 * k));
      w.dsc[k] = d * static_cast<float>(sc);
    }
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    const int a[2] = {static_cast<int>(w.qa.x), static_cast<int>(w.qa.y)};
    const int b[2] = {static_cast<int>(w.qb.x), static_cast<int>(w.qb.y)};
    const int hb[2] = {static_cast<int>(w.qh.x), static_cast<int>(w.qh.y)};
    int acc[4] = {0, 0, 0, 0};
    HEARTH_UNROLL
    for (int e = 0; e < 2; ++e) {
      // 6-bit quants 0..63: four low bits from ql, two high bits from qh (bits 2k, 2k + 1).
      const int q0 = (a[e] & 0x0F0F0F0F) | ((hb[e] << 4) & 0x30303030);
      const int q1 = (b[e] & 0x0F0F0F0F) | ((hb[e] << 2) & 0x30303030);
      const int q2 = ((a[e] >> 4) & 0x0F0F0F0F) | (hb[e] & 0x30303030);
      const int q3 = ((b[e] >> 4) & 0x0F0F0F0F) | ((hb[e] >> 2) & 0x30303030);
      acc[0] = dp4a(q0, x.w[e], acc[0]);
      acc[1] = dp4a(q1, x.w[2 + e], acc[1]);
      acc[2] = dp4a(q2, x.w[4 + e], acc[2]);
      acc[3] = dp4a(q3, x.w[6 + e], acc[3]);
    }
    float s = 0.0f;
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) s += w.dsc[k] * static_cast<float>(acc[k] - 32 * x.s[k]);
    return x.d * s;
  }
};

// ---- float units: 8 elements, float32 activations ----

struct FloatUnitBase {
  using X = XFloat;
  __host__ __device__ static int64_t units(int64_t cols) { return cols / 8; }
  __host__ __device__ static void prep(const GemvIn& in, int t, int64_t u, X& out) {
    const float* x = in.x + t * in.cols;
    load4(x, 8 * u, out.v);
    load4(x, 8 * u + 4, out.v + 4);
  }
};

struct UnitBF16 : FloatUnitBase {
  struct W {
    uint4 q;
  };
  __host__ __device__ static void load(const uint8_t* row, int64_t, int64_t u, W& w) {
    w.q = load_vec<uint4>(row + 16 * u);
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    const uint32_t q[4] = {w.q.x, w.q.y, w.q.z, w.q.w};
    float s = 0.0f;
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      s = fmaf(bits_float(q[k] << 16), x.v[2 * k], s);
      s = fmaf(bits_float(q[k] & 0xFFFF0000u), x.v[2 * k + 1], s);
    }
    return s;
  }
};

struct UnitF16 : FloatUnitBase {
  struct W {
    uint4 q;
  };
  __host__ __device__ static void load(const uint8_t* row, int64_t, int64_t u, W& w) {
    w.q = load_vec<uint4>(row + 16 * u);
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    const uint32_t q[4] = {w.q.x, w.q.y, w.q.z, w.q.w};
    float s = 0.0f;
    HEARTH_UNROLL
    for (int k = 0; k < 4; ++k) {
      s = fmaf(f16_bits(static_cast<uint16_t>(q[k] & 0xFFFF)), x.v[2 * k], s);
      s = fmaf(f16_bits(static_cast<uint16_t>(q[k] >> 16)), x.v[2 * k + 1], s);
    }
    return s;
  }
};

struct UnitF32 : FloatUnitBase {
  struct W {
    float4 a, b;
  };
  __host__ __device__ static void load(const uint8_t* row, int64_t, int64_t u, W& w) {
    w.a = load_vec<float4>(row + 32 * u);
    w.b = load_vec<float4>(row + 32 * u + 16);
  }
  __host__ __device__ static float dot(const W& w, const X& x) {
    float s = w.a.x * x.v[0];
    s = fmaf(w.a.y, x.v[1], s);
    s = fmaf(w.a.z, x.v[2], s);
    s = fmaf(w.a.w, x.v[3], s);
    s = fmaf(w.b.x, x.v[4], s);
    s = fmaf(w.b.y, x.v[5], s);
    s = fmaf(w.b.z, x.v[6], s);
    s = fmaf(w.b.w, x.v[7], s);
    return s;
  }
};

}  // namespace hearth::cuda
