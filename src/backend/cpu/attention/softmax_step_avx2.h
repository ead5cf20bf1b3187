#pragma once
// One query row's online-softmax update for a step of 8 keys, shared by the AVX2 attention
// kernels. Include only from a translation unit whose functions carry an "avx2,fma,f16c" target.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/simd/exp_avx2.h"

namespace hearth::cpu::attn_avx2 {

__attribute__((target("avx2,fma,f16c"))) inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma,f16c"))) inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The first `valid` (1..8) lanes of `scores` (already scaled) join the row's running maximum m
// and sum l. Returns the keys' weights, 0 past `valid`, and sets corr to the factor the row's
// output sums so far must be multiplied by.
__attribute__((target("avx2,fma,f16c"))) inline __m256 softmax_step(__m256 scores, int valid,
                                                                    float& m, float& l,
                                                                    float& corr) {
  const __m256 mask = _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  const __m256 sx = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), scores, mask);
  const float m_new = std::max(m, hmax8(sx));
  corr = std::exp(m - m_new);  // 0 on the first step (m = -inf)
  const __m256 px = _mm256_and_ps(mask, simd::exp8(_mm256_sub_ps(sx, _mm256_set1_ps(m_new))));
  l = l * corr + hsum8(px);
  m = m_new;
  return px;
}

}  // namespace hearth::cpu::attn_avx2
