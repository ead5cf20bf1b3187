#pragma once
// Block layouts of the quantized formats, byte for byte those of GGUF/ggml (a tensor in a GGUF
// file is an array of these), and the K-quant scale decoding. All f16 fields are IEEE half bit
// patterns. C++17 and __host__ __device__ (quant/portable.h), so CUDA code can share them.
#include <cstddef>
#include <cstdint>

#include "quant/half.h"
#include "quant/portable.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF blocks are little-endian"
#endif

namespace hearth::quant {

constexpr int kQK0 = 32;   // elements per Q4_0 / Q8_0 block
constexpr int kQKK = 256;  // elements per K-quant super-block

// value[i] = d * qs[i]
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK0];
};

// value[i] = d * (q[i] - 8); byte j holds element j (low nibble) and element j + 16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK0 / 2];
};

// Eight sub-blocks of 32: value = d * sc[j] * q - dmin * m[j], sc and m 6-bit (see q4k_scale_min).
// qs: for each 64-element chunk c, 32 bytes whose low nibbles are elements 64c..64c+31 and whose
// high nibbles are elements 64c+32..64c+63.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};

// Sixteen sub-blocks of 16: value = d * scales[i / 16] * (q - 32), q 6-bit. For each 128-element
// half h (ql += 64h, qh += 32h), l in 0..31:
//   q[l]      = ql[l]      & 15 | (qh[l] >> 0 & 3) << 4
//   q[l + 32] = ql[l + 32] & 15 | (qh[l] >> 2 & 3) << 4
//   q[l + 64] = ql[l]      >> 4 | (qh[l] >> 4 & 3) << 4
//   q[l + 96] = ql[l + 32] >> 4 | (qh[l] >> 6 & 3) << 4
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};

// Activation side of the K-quant dot products: value = d * qs[i]; bsums[g] = sum of
// qs[16g..16g+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2, "Q8_0 layout");
static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2, "Q4_0 layout");
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, scales) == 4 &&
                  offsetof(BlockQ4_K, qs) == 16,
              "Q4_K layout");
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, qh) == 128 &&
                  offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208,
              "Q6_K layout");
static_assert(sizeof(BlockQ8_K) == 292 && offsetof(BlockQ8_K, bsums) == 260, "Q8_K layout");

// Sub-block j's 6-bit scale and min. Bytes 0-3: low 6 bits = sc[0..3], bytes 4-7: low 6 bits =
// m[0..3]; bytes 8-11: low nibble = low 4 bits of sc[4..7], high nibble = low 4 bits of m[4..7];
// the top 2 bits of bytes 0-3 / 4-7 are the high 2 bits of sc[4..7] / m[4..7].
HEARTH_HD inline void q4k_scale_min(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// All eight scales and mins at once, word-parallel: the low word holds sc[0..7] (byte j = sc[j]),
// the high word m[0..7]. Vector kernels move the two words straight into a register.
struct Q4KScales {
  uint64_t sc;
  uint64_t m;
};
HEARTH_HD inline Q4KScales q4k_unpack_scales(const uint8_t* s) {
  const uint32_t w0 = load_u32(s), w1 = load_u32(s + 4), w2 = load_u32(s + 8);
  const uint32_t sc_lo = w0 & 0x3f3f3f3fu;
  const uint32_t m_lo = w1 & 0x3f3f3f3fu;
  const uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
  return {sc_lo | (static_cast<uint64_t>(sc_hi) << 32), m_lo | (static_cast<uint64_t>(m_hi) << 32)};
}

// Round half to even through the float adder, exactly as ggml's nearest_int does (valid for
// |x| < 2^22; outside that it returns the same garbage ggml does, without undefined behaviour).
HEARTH_HD inline int nearest_int(float x) {
  const uint32_t i = float_bits(x + 12582912.f);
  return static_cast<int>(i & 0x007fffff) - 0x00400000;
}

}  // namespace hearth::quant
