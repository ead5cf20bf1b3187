// AVX-512 kernel bodies, included (deliberately without #pragma once) by vec_dot_avx512.cpp and
// vec_dot_avx512vnni.cpp inside an anonymous namespace, with HEARTH_QK_TARGET naming the target
// attribute and HEARTH_QK_VNNI selecting vpdpbusd/vpdpwssd over vpmaddubsw/vpmaddwd chains. The two
// builds differ only in the integer multiply-accumulate helpers; results are bit-identical.
//
// Expects <immintrin.h>, blocks.h and kernels.h to be included, and the enclosing namespace to be
// hearth::quant::detail.

#ifndef HEARTH_QK_TARGET
#error "define HEARTH_QK_TARGET before including vec_dot_avx512_impl.h"
#endif

// sum over groups of four of u8 * s8 into int32 lanes. Exact (no int16 saturation in the non-VNNI
// form) when |u| * |s| pair sums stay within int16, true for every caller here.
HEARTH_QK_TARGET inline __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
#if HEARTH_QK_VNNI
  return _mm512_dpbusd_epi32(acc, u, s);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

// acc += pairwise int16 products summed into int32 lanes.
HEARTH_QK_TARGET inline __m512i dot_i16(__m512i acc, __m512i a, __m512i b) {
#if HEARTH_QK_VNNI
  return _mm512_dpwssd_epi32(acc, a, b);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

HEARTH_QK_TARGET inline float h2f(uint16_t h) {
  return _cvtsh_ss(h);
}

HEARTH_QK_TARGET inline __m512i load_2x32(const void* lo, const void* hi) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(lo))),
      _mm256_loadu_si256(static_cast<const __m256i*>(hi)), 1);
}

// Lanes 0-7 get a, lanes 8-15 get b.
HEARTH_QK_TARGET inline __m512 split_scale(float a, float b) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(a), _mm512_set1_ps(b));
}

// Two Q8_0 blocks side by side: signed x signed through |x| and y carrying x's sign. y = -128
// would overflow the negation; the Q8_0 quantizers never produce it (range -127..127).
HEARTH_QK_TARGET inline __m512i dot_q8_0_pair(const BlockQ8_0* x, const BlockQ8_0* y) {
  const __m512i qx = load_2x32(x[0].qs, x[1].qs);
  const __m512i qy = load_2x32(y[0].qs, y[1].qs);
  const __mmask64 neg = _mm512_movepi8_mask(qx);
  const __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
  return dot_u8s8(_mm512_setzero_si512(), _mm512_abs_epi8(qx), sy);
}

// Word indices for vpermt2w that pick the 16-bit field at byte offset stride * i (i = 0..7) out of
// 128 bytes held in two registers (indices 32..63 address the second). For fields past byte 127
// the offset is taken from byte 128 on, for a second pair of registers.
struct WordIndex {
  int16_t v[32];
};
constexpr WordIndex field_index(int stride) {
  WordIndex w{};
  for (int i = 0; i < 8; ++i) w.v[i] = static_cast<int16_t>(((stride * i) % 128) / 2);
  return w;
}
inline constexpr WordIndex kIndex18 = field_index(18);  // Q4_0 blocks
inline constexpr WordIndex kIndex34 = field_index(34);  // Q8_0 blocks

// The f16 scale fields of eight consecutive blocks as eight words. Loads stay inside the eight
// blocks (144 bytes for Q4_0, 272 for Q8_0). Converting each scale with a scalar f16 load costs
// more than the integer dot products; a gather is slower still on AMD cores.
template <int kStride>
HEARTH_QK_TARGET inline __m128i scale_fields8(const void* p) {
  static_assert(kStride == 18 || kStride == 34);
  const auto* b = static_cast<const uint8_t*>(p);
  const __m512i idx = _mm512_loadu_si512(kStride == 18 ? kIndex18.v : kIndex34.v);
  const __m512i lo =
      _mm512_permutex2var_epi16(_mm512_loadu_si512(b), idx, _mm512_loadu_si512(b + 64));
  if constexpr (kStride == 18) {
    return _mm512_castsi512_si128(lo);  // all eight fields lie in the first 128 bytes
  } else {
    // Fields 0-3 at bytes 0..102, fields 4-7 at 136..238.
    const __m512i hi =
        _mm512_permutex2var_epi16(_mm512_loadu_si512(b + 128), idx, _mm512_loadu_si512(b + 192));
    return _mm_mask_blend_epi16(0xF0, _mm512_castsi512_si128(lo), _mm512_castsi512_si128(hi));
  }
}

// x.d * y.d of eight consecutive blocks, in lanes 0-7.
template <int kXStride>
HEARTH_QK_TARGET inline __m512 block_scales8(const void* x, const void* y) {
  const __m256 fx = _mm256_cvtph_ps(scale_fields8<kXStride>(x));
  const __m256 fy = _mm256_cvtph_ps(scale_fields8<34>(y));
  return _mm512_castps256_ps512(_mm256_mul_ps(fx, fy));
}

// Lanes 0-7 take scale 2k of block_scales8, lanes 8-15 scale 2k + 1.
HEARTH_QK_TARGET inline __m512 pair_scale(__m512 scales8, int k) {
  const __m512i idx =
      _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(2 * k), _mm512_set1_epi32(2 * k + 1));
  return _mm512_permutexvar_ps(idx, scales8);
}

HEARTH_QK_TARGET float dot_q8_0_q8_0(const void* w, const void* a, int64_t n) {
  assert(n % kQK0 == 0);
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK0;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 7 < nb; b += 8) {
    const __m512 s = block_scales8<34>(x + b, y + b);
    for (int k = 0; k < 4; k += 2) {
      const __m512i p0 = dot_q8_0_pair(x + b + 2 * k, y + b + 2 * k);
      const __m512i p1 = dot_q8_0_pair(x + b + 2 * k + 2, y + b + 2 * k + 2);
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), pair_scale(s, k), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), pair_scale(s, k + 1), acc1);
    }
  }
  for (; b + 1 < nb; b += 2) {
    const __m512i p = dot_q8_0_pair(x + b, y + b);
    acc0 = _mm512_fmadd_ps(
        _mm512_cvtepi32_ps(p),
        split_scale(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d)), acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (b < nb) {
    int sumi = 0;
    for (int j = 0; j < kQK0; ++j) sumi += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(sumi) * (h2f(x[b].d) * h2f(y[b].d));
  }
  return sum;
}

// Two Q4_0 blocks' nibbles as 64 bytes in element order: each block's 16 bytes go to two 128-bit
// lanes, the upper of which is shifted down by 4 before masking: [lo0 hi0 lo1 hi1].
HEARTH_QK_TARGET inline __m512i q4_0_pair_bytes(const BlockQ4_0* x) {
  const __m256i q0 =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[0].qs)));
  const __m256i q1 =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[1].qs)));
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
  const __m512i shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
  return _mm512_and_si512(_mm512_srlv_epi64(z, shift), _mm512_set1_epi8(0x0F));
}

// (q - 8) . y = q . y - 8 * sum(y), q unsigned.
HEARTH_QK_TARGET inline __m512i dot_q4_0_pair(const BlockQ4_0* x, const BlockQ8_0* y) {
  const __m512i q = q4_0_pair_bytes(x);
  const __m512i v = load_2x32(y[0].qs, y[1].qs);
#if HEARTH_QK_VNNI
  const __m512i qv = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, v);
  const __m512i sv = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), v);
  return _mm512_sub_epi32(qv, sv);
#else
  const __m512i p =
      _mm512_sub_epi16(_mm512_maddubs_epi16(q, v), _mm512_maddubs_epi16(_mm512_set1_epi8(8), v));
  return _mm512_madd_epi16(p, _mm512_set1_epi16(1));
#endif
}

HEARTH_QK_TARGET float dot_q4_0_q8_0(const void* w, const void* a, int64_t n) {
  assert(n % kQK0 == 0);
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / kQK0;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 7 < nb; b += 8) {
    const __m512 s = block_scales8<18>(x + b, y + b);
    for (int k = 0; k < 4; k += 2) {
      const __m512i p0 = dot_q4_0_pair(x + b + 2 * k, y + b + 2 * k);
      const __m512i p1 = dot_q4_0_pair(x + b + 2 * k + 2, y + b + 2 * k + 2);
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), pair_scale(s, k), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), pair_scale(s, k + 1), acc1);
    }
  }
  for (; b + 1 < nb; b += 2) {
    const __m512i p = dot_q4_0_pair(x + b, y + b);
    acc0 = _mm512_fmadd_ps(
        _mm512_cvtepi32_ps(p),
        split_scale(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d)), acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (b < nb) {
    int sumi = 0;
    for (int j = 0; j < kQK0 / 2; ++j)
      sumi += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
    sum += static_cast<float>(sumi) * (h2f(x[b].d) * h2f(y[b].d));
  }
  return sum;
}

HEARTH_QK_TARGET float dot_q4_k_q8_k(const void* w, const void* a, int64_t n) {
  assert(n % kQKK == 0);
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m512i nib = _mm512_set1_epi8(0x0F);
  // Upper 256 bits of a broadcast chunk shifted by 4: low nibbles below, high nibbles above.
  const __m512i shift_hi = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
  // Scale selectors: 16 int16 lanes of sub-block 2c's scale, then 16 of sub-block 2c + 1's.
  __m512i sel[4];
  for (int c = 0; c < 4; ++c)
    sel[c] = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(static_cast<int16_t>(2 * c)),
                                     _mm512_set1_epi16(static_cast<int16_t>(2 * c + 1)));
  // Mins duplicated per bsum pair: lanes 2j and 2j + 1 take m[j] (entry 8 + j of the scales).
  const __m256i min_sel =
      _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_min = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const Q4KScales packed = q4k_unpack_scales(x[b].scales);
    const __m256i sm16 = _mm256_cvtepu8_epi16(
        _mm_set_epi64x(static_cast<int64_t>(packed.m), static_cast<int64_t>(packed.sc)));
    const __m512i sm16z = _mm512_castsi256_si512(sm16);
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      __m512i q = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * c)));
      q = _mm512_and_si512(_mm512_srlv_epi64(q, shift_hi), nib);
      const __m512i v = _mm512_loadu_si512(y[b].qs + 64 * c);
      const __m512i p = _mm512_maddubs_epi16(q, v);
      sumi = dot_i16(sumi, p, _mm512_permutexvar_epi16(sel[c], sm16z));
    }
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums));
    const __m256i summ = _mm256_madd_epi16(bsums, _mm256_permutexvar_epi16(min_sel, sm16));
    const float d = y[b].d * h2f(x[b].d);
    const float dmin = y[b].d * h2f(x[b].dmin);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(summ), _mm256_set1_ps(dmin), acc_min);
  }
  return _mm512_reduce_add_ps(_mm512_sub_ps(acc, _mm512_zextps256_ps512(acc_min)));
}

// vpermw indices: lanes 8g..8g+7 of selector k take scale 4k + g (g = 0..3).
constexpr WordIndex q6k_scale_index(int k) {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) w.v[l] = static_cast<int16_t>(4 * k + l / 8);
  return w;
}
inline constexpr WordIndex kQ6kScaleIndex[4] = {q6k_scale_index(0), q6k_scale_index(1),
                                                q6k_scale_index(2), q6k_scale_index(3)};

HEARTH_QK_TARGET float dot_q6_k_q8_k(const void* w, const void* a, int64_t n) {
  assert(n % kQKK == 0);
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  // qh is broadcast to both 256-bit halves; these shifts bring each element's two high bits to
  // bits 4-5: half A (elements 0..63) takes qh bits 0-1 / 2-3, half B (64..127) bits 4-5 / 6-7.
  const __m512i shl_a = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
  const __m512i shr_b = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
  // Scale selectors: for the 64 elements 64k..64k+63, four groups of 16, eight int16 lanes each.
  __m512i sel[4];
  for (int k = 0; k < 4; ++k) sel[k] = _mm512_loadu_si512(kQ6kScaleIndex[k].v);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const __m256i sc16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
    const __m512i sc16z = _mm512_castsi256_si512(sc16);
    // q is stored with +32: subtract 32 * sum_g sc[g] * bsum[g] once per block.
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums));
    const __m256i offs = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5);
    __m512i sumi = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(offs));
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(x[b].ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh + 32 * h)));
      const __m512i hi_a = _mm512_and_si512(_mm512_sllv_epi64(qh, shl_a), m30);
      const __m512i hi_b = _mm512_and_si512(_mm512_srlv_epi64(qh, shr_b), m30);
      // (a & b) | c
      const __m512i qa = _mm512_ternarylogic_epi64(ql, nib, hi_a, 0xEA);
      const __m512i qb = _mm512_ternarylogic_epi64(_mm512_srli_epi16(ql, 4), nib, hi_b, 0xEA);
      const __m512i va = _mm512_loadu_si512(y[b].qs + 128 * h);
      const __m512i vb = _mm512_loadu_si512(y[b].qs + 128 * h + 64);
      sumi =
          dot_i16(sumi, _mm512_maddubs_epi16(qa, va), _mm512_permutexvar_epi16(sel[2 * h], sc16z));
      sumi = dot_i16(sumi, _mm512_maddubs_epi16(qb, vb),
                     _mm512_permutexvar_epi16(sel[2 * h + 1], sc16z));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(h2f(x[b].d) * y[b].d), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

HEARTH_QK_TARGET inline __m512 load_f16x16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
HEARTH_QK_TARGET inline __m512 load_f16x16_masked(const uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
HEARTH_QK_TARGET inline __m512 load_bf16x16(const uint16_t* p) {
  const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
HEARTH_QK_TARGET inline __m512 load_bf16x16_masked(const uint16_t* p, __mmask16 m) {
  const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
HEARTH_QK_TARGET inline __m512 load_f32x16(const float* p) {
  return _mm512_loadu_ps(p);
}
HEARTH_QK_TARGET inline __m512 load_f32x16_masked(const float* p, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, p);
}

// Float dot with four accumulators and a masked tail; Load/LoadMasked widen 16 weights to f32.
#define HEARTH_QK_FLOAT_DOT(NAME, T, LOAD, LOAD_MASKED)                                     \
  HEARTH_QK_TARGET float NAME(const void* w, const void* a, int64_t n) {                    \
    const auto* x = static_cast<const T*>(w);                                               \
    const auto* y = static_cast<const float*>(a);                                           \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                          \
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();                          \
    int64_t i = 0;                                                                          \
    for (; i + 64 <= n; i += 64) {                                                          \
      acc0 = _mm512_fmadd_ps(LOAD(x + i), _mm512_loadu_ps(y + i), acc0);                    \
      acc1 = _mm512_fmadd_ps(LOAD(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);          \
      acc2 = _mm512_fmadd_ps(LOAD(x + i + 32), _mm512_loadu_ps(y + i + 32), acc2);          \
      acc3 = _mm512_fmadd_ps(LOAD(x + i + 48), _mm512_loadu_ps(y + i + 48), acc3);          \
    }                                                                                       \
    for (; i + 16 <= n; i += 16)                                                            \
      acc0 = _mm512_fmadd_ps(LOAD(x + i), _mm512_loadu_ps(y + i), acc0);                    \
    if (i < n) {                                                                            \
      const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);                      \
      acc1 = _mm512_fmadd_ps(LOAD_MASKED(x + i, m), _mm512_maskz_loadu_ps(m, y + i), acc1); \
    }                                                                                       \
    return _mm512_reduce_add_ps(                                                            \
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));               \
  }

HEARTH_QK_FLOAT_DOT(dot_f32, float, load_f32x16, load_f32x16_masked)
HEARTH_QK_FLOAT_DOT(dot_f16, uint16_t, load_f16x16, load_f16x16_masked)
HEARTH_QK_FLOAT_DOT(dot_bf16, uint16_t, load_bf16x16, load_bf16x16_masked)
#undef HEARTH_QK_FLOAT_DOT

HEARTH_QK_TARGET inline __m512i round_away(__m512 s) {
  const __m512 t = _mm512_roundscale_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 step =
      _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(s, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(INT32_MIN)),
                      _mm512_castps_si512(_mm512_set1_ps(1.0f))));
  return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, step, t, one));
}

HEARTH_QK_TARGET void quantize_q8_0(const float* x, void* dst, int64_t n) {
  assert(n % kQK0 == 0);
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK0; ++b, x += kQK0) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    const __m512 vid = _mm512_set1_ps(id);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs),
                     _mm512_cvtsepi32_epi8(round_away(_mm512_mul_ps(v0, vid))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16),
                     _mm512_cvtsepi32_epi8(round_away(_mm512_mul_ps(v1, vid))));
  }
}

HEARTH_QK_TARGET void quantize_q8_k(const float* x, void* dst, int64_t n) {
  assert(n % kQKK == 0);
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    __m512 m = _mm512_setzero_ps();
    for (int k = 0; k < 16; ++k) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)));
    const float amax = _mm512_reduce_max_ps(m);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The first element of largest magnitude sets the sign of the scale, as in the reference.
    float max = 0.0f;
    const __m512 vamax = _mm512_set1_ps(amax);
    for (int k = 0; k < 16; ++k) {
      const __mmask16 hit =
          _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)), vamax, _CMP_EQ_OQ);
      if (hit != 0) {
        max = x[16 * k + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m512 vis = _mm512_set1_ps(iscale);
    for (int k = 0; k < 16; ++k) {  // one vector = one 16-element bsum group
      const __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * k), vis),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m128i q8 = _mm512_cvtsepi32_epi8(q);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * k), q8);
      y[b].bsums[k] = static_cast<int16_t>(_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q8)));
    }
    y[b].d = 1.0f / iscale;
  }
}
