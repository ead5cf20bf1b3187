// attention_dot_avx512.cpp's scheme with AVX2 + FMA + F16C, 8 keys at a time: each score a dot
// product of whole 8-float vectors, a step's 8 keys x 4 rows partial sums reduced together by one
// shuffle tree (14 shuffles a row instead of the 8x8 transposes of the general kernel), key rows
// converted once per step and the cache rows prefetched one row per key, two steps ahead.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention/attention_kernel.h"
#include "backend/cpu/attention/softmax_step_avx2.h"

#define HEARTH_ATTN_TARGET __attribute__((target("avx2,fma,f16c")))

namespace hearth::cpu {
namespace {

constexpr int kKeys = 8;
constexpr int kRows = 4;
constexpr int kAhead = 2 * kKeys;
static_assert(kRows == kAttnRowPad, "the state pads rows for this kernel's row groups");

template <bool F16>
HEARTH_ATTN_TARGET inline __m256 load8(const void* row, int d) {
  if constexpr (F16)
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + d)));
  else
    return _mm256_loadu_ps(static_cast<const float*>(row) + d);
}

// v[i] holds 8 partial sums of key i's score; returns the 8 full sums, key i in lane i.
HEARTH_ATTN_TARGET inline __m256 reduce8(const __m256 v[8]) {
  __m256 a[4];
  for (int i = 0; i < 4; ++i)  // per 128-bit half: key 2i, key 2i+1, key 2i, key 2i+1
    a[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  __m256 b[2];
  for (int i = 0; i < 2; ++i) {  // per 128-bit half: keys 4i .. 4i+3
    const __m256d lo =
        _mm256_unpacklo_pd(_mm256_castps_pd(a[2 * i]), _mm256_castps_pd(a[2 * i + 1]));
    const __m256d hi =
        _mm256_unpackhi_pd(_mm256_castps_pd(a[2 * i]), _mm256_castps_pd(a[2 * i + 1]));
    b[i] = _mm256_add_ps(_mm256_castpd_ps(lo), _mm256_castpd_ps(hi));
  }
  return _mm256_add_ps(_mm256_permute2f128_ps(b[0], b[1], 0x20),
                       _mm256_permute2f128_ps(b[0], b[1], 0x31));
}

template <int HD, bool F16>
HEARTH_ATTN_TARGET void attend(const AttnChunk& c, int j_lo, int j_hi, const AttnState& st,
                               float* work) {
  constexpr int kVecs = HD / 8;
  constexpr int kPass = 2;  // output vectors per row and PV pass: 8 accumulators of 16 registers
  const int rows_pad = attn_rows_pad(c);
  float* zero = work;
  std::fill(zero, zero + HD, 0.0f);
  constexpr size_t kRowBytes = HD * (F16 ? 2 : 4);
  const int len = attn_chunk_len(c);
  const int end = std::min(len, j_hi);
  const __m256 scale = _mm256_set1_ps(c.scale);

  for (int j0 = j_lo; j0 < end; j0 += kKeys) {
    const int nk = std::min(kKeys, end - j0);
    const void* krow[kKeys];
    const void* vrow[kKeys];
    c.step_rows(j0, nk, krow, vrow);
    for (int r0 = 0; r0 < rows_pad; r0 += kRows) {
      if (!c.rows_reach(r0, kRows, j0, j_hi)) continue;
      const float* qr[kRows];
      for (int x = 0; x < kRows; ++x) qr[x] = c.q_row(r0 + x, zero);
      __m256 part[kRows][kKeys];
      for (int i = 0; i < kKeys; ++i) {
        if (r0 == 0 && j0 + kAhead + i < len) c.prefetch_key(j0 + kAhead + i, kRowBytes);
        __m256 acc[kRows];
        for (int x = 0; x < kRows; ++x) acc[x] = _mm256_setzero_ps();
        for (int d = 0; d < kVecs; ++d) {
          const __m256 kd = load8<F16>(krow[i], 8 * d);
          for (int x = 0; x < kRows; ++x)
            acc[x] = _mm256_fmadd_ps(_mm256_loadu_ps(qr[x] + 8 * d), kd, acc[x]);
        }
        for (int x = 0; x < kRows; ++x) part[x][i] = acc[x];
      }
      float corr[kRows];
      alignas(32) float p[kRows][kKeys];
      for (int x = 0; x < kRows; ++x) {
        const int r = r0 + x;
        const int valid = std::min(kKeys, c.row_len(r, j_hi) - j0);
        if (valid <= 0) {
          corr[x] = 1.0f;
          _mm256_store_ps(p[x], _mm256_setzero_ps());
          continue;
        }
        const __m256 px = attn_avx2::softmax_step(_mm256_mul_ps(reduce8(part[x]), scale), valid,
                                                  st.m[r], st.l[r], corr[x]);
        _mm256_store_ps(p[x], px);
      }
      // o[r] = o[r] * corr + sum_i p[r][i] * V[i], kPass vectors of each row per pass.
      for (int d0 = 0; d0 < kVecs; d0 += kPass) {
        __m256 acc[kRows][kPass];
        for (int x = 0; x < kRows; ++x) {
          const __m256 cx = _mm256_set1_ps(corr[x]);
          const float* orow = st.o + static_cast<size_t>(r0 + x) * HD + 8 * d0;
          for (int v = 0; v < kPass; ++v)
            acc[x][v] = _mm256_mul_ps(_mm256_loadu_ps(orow + 8 * v), cx);
        }
        for (int i = 0; i < nk; ++i) {
          __m256 vv[kPass];
          for (int v = 0; v < kPass; ++v) vv[v] = load8<F16>(vrow[i], 8 * (d0 + v));
          for (int x = 0; x < kRows; ++x) {
            const __m256 pb = _mm256_broadcast_ss(&p[x][i]);
            for (int v = 0; v < kPass; ++v) acc[x][v] = _mm256_fmadd_ps(pb, vv[v], acc[x][v]);
          }
        }
        for (int x = 0; x < kRows; ++x) {
          float* orow = st.o + static_cast<size_t>(r0 + x) * HD + 8 * d0;
          for (int v = 0; v < kPass; ++v) _mm256_storeu_ps(orow + 8 * v, acc[x][v]);
        }
      }
    }
  }
}

}  // namespace

bool attend_keys_dot_avx2_supports(int head_dim) {
  return head_dim == 64 || head_dim == 128;
}

void attend_keys_dot_avx2(const AttnChunk& c, int j_lo, int j_hi, const AttnState& s, float* work) {
  if (c.head_dim == 128)
    c.f16 ? attend<128, true>(c, j_lo, j_hi, s, work) : attend<128, false>(c, j_lo, j_hi, s, work);
  else
    c.f16 ? attend<64, true>(c, j_lo, j_hi, s, work) : attend<64, false>(c, j_lo, j_hi, s, work);
}

}  // namespace hearth::cpu
