// AVX2 + FMA + F16C kernels. Compiled per function for that target (the library itself targets
// baseline x86-64) and only called after cpu_features() says the CPU has it. Everything here has
// internal linkage so no AVX2 copy of an inline function can be picked by the linker for other
// code.
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "backend/cpu/vec_dot/kernels.h"
#include "quant/blocks.h"

#define HEARTH_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace hearth::cpu::detail {
using namespace hearth::quant;
namespace {

HEARTH_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HEARTH_AVX2 inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

HEARTH_AVX2 inline float h2f(uint16_t h) {
  return _cvtsh_ss(h);
}

// Signed 8-bit dot in eight int32 lanes, through |x| * (y with x's sign): maddubs needs one
// unsigned operand. Exact while no pair sum exceeds int16, true for |x| <= 128, |y| <= 127.
HEARTH_AVX2 inline __m256i dot_s8(__m256i x, __m256i y) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// 32 nibbles of a Q4_0 block as bytes 0..15, in element order.
HEARTH_AVX2 inline __m256i q4_0_bytes(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// x.d * y.d of four consecutive blocks: one f16 -> f32 conversion for all eight fields instead of
// eight scalar ones (the scalar conversions cost as much as the integer dot products).
template <class XBlock>
HEARTH_AVX2 inline __m128 block_scales4(const XBlock* x, const BlockQ8_0* y) {
  const __m128i h = _mm_setr_epi16(static_cast<int16_t>(x[0].d), static_cast<int16_t>(x[1].d),
                                   static_cast<int16_t>(x[2].d), static_cast<int16_t>(x[3].d),
                                   static_cast<int16_t>(y[0].d), static_cast<int16_t>(y[1].d),
                                   static_cast<int16_t>(y[2].d), static_cast<int16_t>(y[3].d));
  const __m256 f = _mm256_cvtph_ps(h);
  return _mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
}

template <int kLane>
HEARTH_AVX2 inline __m256 lane(__m128 v) {
  return _mm256_broadcastss_ps(_mm_shuffle_ps(v, v, kLane * 0x55));
}

HEARTH_AVX2 inline __m256i dot_q8_0_block(const BlockQ8_0& x, const BlockQ8_0& y) {
  return dot_s8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs)));
}

// (q - 8) . y as q . y - 8 * sum(y): q is unsigned, so maddubs takes it directly.
HEARTH_AVX2 inline __m256i dot_q4_0_block(const BlockQ4_0& x, const BlockQ8_0& y) {
  const __m256i q = q4_0_bytes(x.qs);
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
  const __m256i p =
      _mm256_sub_epi16(_mm256_maddubs_epi16(q, v), _mm256_maddubs_epi16(_mm256_set1_epi8(8), v));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// Four blocks per step with their scales converted together; the last 0-3 blocks one by one.
#define HEARTH_AVX2_BLOCK32_DOT(NAME, XBLOCK, BLOCK_DOT)                                           \
  HEARTH_AVX2 float NAME(const void* w, const void* a, int64_t n) {                                \
    assert(n % kQK0 == 0);                                                                         \
    const auto* x = static_cast<const XBLOCK*>(w);                                                 \
    const auto* y = static_cast<const BlockQ8_0*>(a);                                              \
    const int64_t nb = n / kQK0;                                                                   \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                 \
    int64_t b = 0;                                                                                 \
    for (; b + 3 < nb; b += 4) {                                                                   \
      const __m128 s = block_scales4(x + b, y + b);                                                \
      acc0 = _mm256_fmadd_ps(lane<0>(s), _mm256_cvtepi32_ps(BLOCK_DOT(x[b], y[b])), acc0);         \
      acc1 = _mm256_fmadd_ps(lane<1>(s), _mm256_cvtepi32_ps(BLOCK_DOT(x[b + 1], y[b + 1])), acc1); \
      acc0 = _mm256_fmadd_ps(lane<2>(s), _mm256_cvtepi32_ps(BLOCK_DOT(x[b + 2], y[b + 2])), acc0); \
      acc1 = _mm256_fmadd_ps(lane<3>(s), _mm256_cvtepi32_ps(BLOCK_DOT(x[b + 3], y[b + 3])), acc1); \
    }                                                                                              \
    for (; b < nb; ++b)                                                                            \
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)),                            \
                             _mm256_cvtepi32_ps(BLOCK_DOT(x[b], y[b])), acc0);                     \
    return hsum(_mm256_add_ps(acc0, acc1));                                                        \
  }

HEARTH_AVX2_BLOCK32_DOT(dot_q8_0_q8_0, BlockQ8_0, dot_q8_0_block)
HEARTH_AVX2_BLOCK32_DOT(dot_q4_0_q8_0, BlockQ4_0, dot_q4_0_block)
#undef HEARTH_AVX2_BLOCK32_DOT

HEARTH_AVX2 float dot_q4_k_q8_k(const void* w, const void* a, int64_t n) {
  assert(n % kQKK == 0);
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i nib = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const Q4KScales packed = q4k_unpack_scales(x[b].scales);
    const __m128i m8 = _mm_cvtsi64_si128(static_cast<int64_t>(packed.m));
    // Mins: each m[j] pairs with bsums[2j] and bsums[2j + 1].
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    // Scales as int16 (sc[j] in lane j) in both 128-bit halves, broadcast per sub-block below.
    const __m256i sc16 = _mm256_broadcastsi128_si256(
        _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(packed.sc))));
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums));
    const __m256i summ = _mm256_madd_epi16(bsums, mins);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * c));
      const __m256i lo = _mm256_and_si256(q, nib);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nib);
      const __m256i ylo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs + 64 * c));
      const __m256i yhi =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs + 64 * c + 32));
      // Sub-block 2c's scale for the low nibbles, 2c + 1's for the high ones, in every lane.
      const __m256i slo = _mm256_shuffle_epi8(
          sc16, _mm256_set1_epi16(static_cast<int16_t>(((4 * c + 1) << 8) | (4 * c))));
      const __m256i shi = _mm256_shuffle_epi8(
          sc16, _mm256_set1_epi16(static_cast<int16_t>(((4 * c + 3) << 8) | (4 * c + 2))));
      const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, ylo), slo);
      const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, yhi), shi);
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(plo, phi));
    }
    const float d = y[b].d * h2f(x[b].d);
    const float dmin = y[b].d * h2f(x[b].dmin);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), acc);
  }
  return hsum(acc);
}

HEARTH_AVX2 float dot_q6_k_q8_k(const void* w, const void* a, int64_t n) {
  assert(n % kQKK == 0);
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i nib = _mm256_set1_epi8(0x0F);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const int8_t* sc = x[b].scales;
    // q is stored with +32; subtract 32 * sum_g sc[g] * bsum[g] once per block instead.
    const __m256i sc16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums));
    __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5);
    sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
    for (int h = 0; h < 2; ++h) {
      const auto* ql = reinterpret_cast<const __m256i*>(x[b].ql + 64 * h);
      const __m256i ql0 = _mm256_loadu_si256(ql);
      const __m256i ql1 = _mm256_loadu_si256(ql + 1);
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh + 32 * h));
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, nib),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, nib),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nib),
                             _mm256_and_si256(qh, m30));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nib),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
      for (int k = 0; k < 4; ++k) {
        const int g = 8 * h + 2 * k;  // q[k] covers the 16-element groups g and g + 1
        const __m256i v =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs + 128 * h + 32 * k));
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], v), s));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

HEARTH_AVX2 float dot_f32(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k)
      acc[k] =
          _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8)
    acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

HEARTH_AVX2 inline __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

HEARTH_AVX2 inline __m256 load_bf16x8(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

HEARTH_AVX2 float dot_f16(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_fmadd_ps(load_f16x8(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8)
    acc[0] = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += h2f(x[i]) * y[i];
  return sum;
}

HEARTH_AVX2 float dot_bf16(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_fmadd_ps(load_bf16x8(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8)
    acc[0] = _mm256_fmadd_ps(load_bf16x8(x + i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += bf16_to_f32(x[i]) * y[i];
  return sum;
}

HEARTH_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HEARTH_AVX2 inline __m256 abs_ps(__m256 v) {
  return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

// roundf (halves away from zero), exactly: truncate, then step away from zero when the exact
// fractional part is at least one half.
HEARTH_AVX2 inline __m256i round_away(__m256 s) {
  const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = abs_ps(_mm256_sub_ps(s, t));
  const __m256 sign = _mm256_and_ps(s, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN)));
  const __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                    _mm256_or_ps(sign, _mm256_set1_ps(1.0f)));
  return _mm256_cvttps_epi32(_mm256_add_ps(t, step));
}

// Four vectors of eight int32 in -128..127 -> 32 int8 in order.
HEARTH_AVX2 inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i abcd = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

HEARTH_AVX2 void quantize_q8_0(const float* x, void* dst, int64_t n) {
  assert(n % kQK0 == 0);
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK0; ++b, x += kQK0) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      m = _mm256_max_ps(m, abs_ps(v[k]));
    }
    const float amax = hmax(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = round_away(_mm256_mul_ps(v[k], vid));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs),
                        pack_i32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

HEARTH_AVX2 void quantize_q8_k(const float* x, void* dst, int64_t n) {
  assert(n % kQKK == 0);
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 32; ++k) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + 8 * k)));
    const float amax = hmax(m);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The first element of largest magnitude sets the sign of the scale, as in the reference.
    float max = 0.0f;
    const __m256 vamax = _mm256_set1_ps(amax);
    for (int k = 0; k < 32; ++k) {
      const int hit =
          _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + 8 * k)), vamax, _CMP_EQ_OQ));
      if (hit != 0) {
        max = x[8 * k + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vis = _mm256_set1_ps(iscale);
    for (int k = 0; k < 32; k += 4) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j) {
        const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * (k + j)), vis);
        q[j] =
            _mm256_cvttps_epi32(_mm256_round_ps(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      }
      y[b].bsums[k / 2] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[0], q[1])));
      y[b].bsums[k / 2 + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[2], q[3])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + 8 * k),
                          pack_i32_to_i8(q[0], q[1], q[2], q[3]));
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace

const KernelSet kAvx2Kernels = {
    dot_q4_0_q8_0, dot_q8_0_q8_0, dot_q4_k_q8_k, dot_q6_k_q8_k, dot_f32,
    dot_f16,       dot_bf16,      quantize_q8_0, quantize_q8_k,
};

}  // namespace hearth::cpu::detail
