// Attention over a range of one chunk's keys with AVX2 + FMA + F16C, 8 at a time: the AVX-512
// kernel's scheme (keys transposed once per step and shared by every query row, online softmax)
// at half the width, with 16 output floats per row and pass so the accumulators fit AVX2's 16
// registers.
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

constexpr int kKeys = 8;  // keys per step: one ymm of scores
constexpr int kRows = 4;  // query rows whose scores and outputs live in registers together

// r[i] holds row i; afterwards r[j] holds column j.
HEARTH_ATTN_TARGET inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int h = 0; h < 2; ++h) {
    t[4 * h + 0] = _mm256_unpacklo_ps(r[4 * h], r[4 * h + 1]);
    t[4 * h + 1] = _mm256_unpackhi_ps(r[4 * h], r[4 * h + 1]);
    t[4 * h + 2] = _mm256_unpacklo_ps(r[4 * h + 2], r[4 * h + 3]);
    t[4 * h + 3] = _mm256_unpackhi_ps(r[4 * h + 2], r[4 * h + 3]);
    u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
  }
  // u[4h + e], 128-bit lane L: rows 4h .. 4h + 3 of column 4L + e.
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
    r[e + 4] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
  }
}

// 8 cache elements from `row` + d, as floats.
HEARTH_ATTN_TARGET inline __m256 load8(const void* row, bool f16, int d) {
  if (f16)
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + d)));
  return _mm256_loadu_ps(static_cast<const float*>(row) + d);
}

static_assert(kRows == kAttnRowPad, "the state pads rows for this kernel's row groups");

}  // namespace

HEARTH_ATTN_TARGET void attend_keys_avx2(const AttnChunk& c, int j_lo, int j_hi,
                                         const AttnState& st, float* work) {
  const int hd = c.head_dim;
  const int rows_pad = attn_rows_pad(c);
  float* o = st.o;
  float* m = st.m;
  float* l = st.l;
  float* kt = work;  // [hd][8]
  float* p = kt + static_cast<size_t>(hd) * kKeys;
  float* zero = p + kRows * kKeys;
  std::fill(zero, zero + hd, 0.0f);

  const int end = std::min(attn_chunk_len(c), j_hi);
  const __m256 scale = _mm256_set1_ps(c.scale);

  for (int j0 = j_lo; j0 < end; j0 += kKeys) {
    const int nk = std::min(kKeys, end - j0);
    const void* krow[kKeys];
    const void* vrow[kKeys];
    c.step_rows(j0, nk, krow, vrow);
    // The cache rows two steps ahead (short runs at the slot's stride, which the hardware
    // prefetchers do not follow well), into L2 as in the AVX-512 kernel.
    for (int j = j0 + 2 * kKeys; j < std::min(j0 + 3 * kKeys, end); ++j)
      c.prefetch_key(j, hd * c.elem_bytes());
    for (int d0 = 0; d0 < hd; d0 += 8) {
      __m256 t[8];
      for (int i = 0; i < 8; ++i) t[i] = load8(krow[i], c.f16, d0);
      transpose8(t);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(kt + static_cast<size_t>(d0 + i) * kKeys, t[i]);
    }

    for (int r0 = 0; r0 < rows_pad; r0 += kRows) {
      if (!c.rows_reach(r0, kRows, j0, j_hi)) continue;
      const float* qr[kRows];
      for (int x = 0; x < kRows; ++x) qr[x] = c.q_row(r0 + x, zero);
      __m256 s[kRows];
      for (int x = 0; x < kRows; ++x) s[x] = _mm256_setzero_ps();
      for (int d = 0; d < hd; ++d) {
        const __m256 kd = _mm256_loadu_ps(kt + static_cast<size_t>(d) * kKeys);
        for (int x = 0; x < kRows; ++x)
          s[x] = _mm256_fmadd_ps(_mm256_broadcast_ss(qr[x] + d), kd, s[x]);
      }
      float corr[kRows];
      for (int x = 0; x < kRows; ++x) {
        const int r = r0 + x;
        const int valid = std::min(kKeys, c.row_len(r, j_hi) - j0);
        if (valid <= 0) {
          corr[x] = 1.0f;
          _mm256_storeu_ps(p + x * kKeys, _mm256_setzero_ps());
          continue;
        }
        const __m256 px =
            attn_avx2::softmax_step(_mm256_mul_ps(s[x], scale), valid, m[r], l[r], corr[x]);
        _mm256_storeu_ps(p + x * kKeys, px);
      }
      // o[r] = o[r] * corr + sum_i p[r][i] * V[i], 16 output floats (2 ymm per row) per pass.
      for (int d0 = 0; d0 < hd; d0 += 16) {
        const int nv = std::min(2, (hd - d0) / 8);
        __m256 acc[kRows][2];
        for (int x = 0; x < kRows; ++x) {
          const __m256 cx = _mm256_set1_ps(corr[x]);
          float* orow = o + static_cast<size_t>(r0 + x) * hd + d0;
          for (int v = 0; v < 2; ++v)
            acc[x][v] =
                v < nv ? _mm256_mul_ps(_mm256_loadu_ps(orow + 8 * v), cx) : _mm256_setzero_ps();
        }
        for (int i = 0; i < nk; ++i) {
          __m256 vv[2];
          for (int v = 0; v < 2; ++v)
            vv[v] = v < nv ? load8(vrow[i], c.f16, d0 + 8 * v) : _mm256_setzero_ps();
          for (int x = 0; x < kRows; ++x) {
            const __m256 px = _mm256_broadcast_ss(p + x * kKeys + i);
            for (int v = 0; v < 2; ++v) acc[x][v] = _mm256_fmadd_ps(px, vv[v], acc[x][v]);
          }
        }
        for (int x = 0; x < kRows; ++x) {
          float* orow = o + static_cast<size_t>(r0 + x) * hd + d0;
          for (int v = 0; v < nv; ++v) _mm256_storeu_ps(orow + 8 * v, acc[x][v]);
        }
      }
    }
  }
}

}  // namespace hearth::cpu
