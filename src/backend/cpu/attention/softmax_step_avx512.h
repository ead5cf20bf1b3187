#pragma once
// One query row's online-softmax update for a step of 16 keys, shared by the AVX-512 attention
// kernels. Include only from a translation unit whose functions carry an AVX-512 F target.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/simd/exp_avx512.h"

namespace hearth::cpu::attn_avx512 {

// The first `valid` (1..16) lanes of `scores` (already scaled) join the row's running maximum m
// and sum l. Returns the keys' weights, 0 past `valid`, and sets corr to the factor the row's
// output sums so far must be multiplied by.
__attribute__((target("avx512f,avx512dq"))) inline __m512 softmax_step(__m512 scores, int valid,
                                                                       float& m, float& l,
                                                                       float& corr) {
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
  const __m512 sx = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), mask, scores);
  const float m_new = std::max(m, _mm512_reduce_max_ps(sx));
  corr = std::exp(m - m_new);  // 0 on the first step (m = -inf)
  const __m512 px =
      _mm512_maskz_mov_ps(mask, simd::exp16(_mm512_sub_ps(sx, _mm512_set1_ps(m_new))));
  l = l * corr + _mm512_reduce_add_ps(px);
  m = m_new;
  return px;
}

}  // namespace hearth::cpu::attn_avx512
