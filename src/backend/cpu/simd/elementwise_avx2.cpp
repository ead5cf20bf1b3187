#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/simd/elementwise.h"
#include "backend/cpu/simd/exp_avx2.h"

namespace hearth::cpu::simd {

__attribute__((target("avx2,fma"))) void swiglu_avx2(const float* gate, const float* up,
                                                     size_t count, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 silu =
        _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  if (i == count) return;
  // The tail through the same vector code, so every element gets the same rounding.
  float g[8] = {}, u[8] = {}, o[8];
  for (size_t j = i; j < count; ++j) g[j - i] = gate[j], u[j - i] = up[j];
  swiglu_avx2(g, u, 8, o);
  for (size_t j = i; j < count; ++j) out[j] = o[j - i];
}

__attribute__((target("avx2,f16c"))) void f32_to_f16_avx2(const float* src, uint16_t* dst,
                                                          size_t count) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm_storeu_si128(
        reinterpret_cast<__m128i*>(dst + i),
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (i == count) return;
  float s[8] = {};
  uint16_t d[8];
  for (size_t j = i; j < count; ++j) s[j - i] = src[j];
  f32_to_f16_avx2(s, d, 8);
  for (size_t j = i; j < count; ++j) dst[j] = d[j - i];
}

}  // namespace hearth::cpu::simd
