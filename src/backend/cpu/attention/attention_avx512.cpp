// Attention over a range of one chunk's keys, 16 at a time. The 16 key rows are transposed once
// into [head_dim][16] so each query row's 16 scores come from head_dim FMAs with no horizontal
// sums, and that transpose is shared by every query row of the chunk (tokens x grouped heads).
// Softmax is online (running max and sum per row), so no score buffer grows with the context.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention/attention_kernel.h"
#include "backend/cpu/attention/softmax_step_avx512.h"

#define HEARTH_ATTN_TARGET __attribute__((target("avx512f,avx512dq")))

namespace hearth::cpu {
namespace {

constexpr int kKeys = 16;  // keys per step: one zmm of scores
constexpr int kRows = 4;   // query rows whose scores and outputs live in registers together

// r[i] holds row i; afterwards r[j] holds column j.
HEARTH_ATTN_TARGET inline void transpose16(__m512 r[16]) {
  __m512 u[4][4];
  for (int q = 0; q < 4; ++q) {
    const __m512 lo_ab = _mm512_unpacklo_ps(r[4 * q], r[4 * q + 1]);
    const __m512 hi_ab = _mm512_unpackhi_ps(r[4 * q], r[4 * q + 1]);
    const __m512 lo_cd = _mm512_unpacklo_ps(r[4 * q + 2], r[4 * q + 3]);
    const __m512 hi_cd = _mm512_unpackhi_ps(r[4 * q + 2], r[4 * q + 3]);
    u[q][0] =
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(lo_ab), _mm512_castps_pd(lo_cd)));
    u[q][1] =
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(lo_ab), _mm512_castps_pd(lo_cd)));
    u[q][2] =
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(hi_ab), _mm512_castps_pd(hi_cd)));
    u[q][3] =
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(hi_ab), _mm512_castps_pd(hi_cd)));
  }
  // u[q][i], 128-bit lane L: rows 4q..4q+3 of column 4L + i.
  for (int i = 0; i < 4; ++i) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[0][i], u[1][i], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(u[0][i], u[1][i], 0xDD);
    const __m512 v2 = _mm512_shuffle_f32x4(u[2][i], u[3][i], 0x88);
    const __m512 v3 = _mm512_shuffle_f32x4(u[2][i], u[3][i], 0xDD);
    r[i] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[4 + i] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + i] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

// 16 cache elements from `row` + d, as floats.
HEARTH_ATTN_TARGET inline __m512 load16(const void* row, bool f16, int d) {
  if (f16)
    return _mm512_cvtph_ps(_mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + d)));
  return _mm512_loadu_ps(static_cast<const float*>(row) + d);
}

static_assert(kRows == kAttnRowPad, "the state pads rows for this kernel's row groups");

}  // namespace

HEARTH_ATTN_TARGET void attend_keys_avx512(const AttnChunk& c, int j_lo, int j_hi,
                                           const AttnState& st, float* work) {
  const int hd = c.head_dim;
  const int rows_pad = attn_rows_pad(c);
  float* o = st.o;
  float* m = st.m;
  float* l = st.l;
  float* kt = work;  // [hd][16]
  float* p = kt + static_cast<size_t>(hd) * kKeys;
  float* zero = p + kRows * kKeys;
  std::fill(zero, zero + hd, 0.0f);

  const int end = std::min(attn_chunk_len(c), j_hi);
  const __m512 scale = _mm512_set1_ps(c.scale);

  for (int j0 = j_lo; j0 < end; j0 += kKeys) {
    const int nk = std::min(kKeys, end - j0);
    const void* krow[kKeys];
    const void* vrow[kKeys];
    c.step_rows(j0, nk, krow, vrow);
    // The cache rows of the keys two steps ahead: each is a short run (one head's slice) at a
    // stride of the whole slot, which the hardware prefetchers do not follow well, and decode
    // spends most of its attention time waiting for them otherwise. Into L2: a step's rows are
    // 128 lines, more misses than L1 can keep in flight (prefetching them into L1, one step
    // ahead, measured 1.7x slower in attention_bench at depth 4000).
    for (int j = j0 + 2 * kKeys; j < std::min(j0 + 3 * kKeys, end); ++j)
      c.prefetch_key(j, hd * c.elem_bytes());
    for (int d0 = 0; d0 < hd; d0 += 16) {
      __m512 t[16];
      for (int i = 0; i < 16; ++i) t[i] = load16(krow[i], c.f16, d0);
      transpose16(t);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(kt + static_cast<size_t>(d0 + i) * kKeys, t[i]);
    }

    for (int r0 = 0; r0 < rows_pad; r0 += kRows) {
      if (!c.rows_reach(r0, kRows, j0, j_hi)) continue;
      const float* qr[kRows];
      for (int x = 0; x < kRows; ++x) qr[x] = c.q_row(r0 + x, zero);
      __m512 s[kRows];
      for (int x = 0; x < kRows; ++x) s[x] = _mm512_setzero_ps();
      for (int d = 0; d < hd; ++d) {
        const __m512 kd = _mm512_loadu_ps(kt + static_cast<size_t>(d) * kKeys);
        for (int x = 0; x < kRows; ++x) s[x] = _mm512_fmadd_ps(_mm512_set1_ps(qr[x][d]), kd, s[x]);
      }
      float corr[kRows];
      for (int x = 0; x < kRows; ++x) {
        const int r = r0 + x;
        const int valid = std::min(kKeys, c.row_len(r, j_hi) - j0);
        if (valid <= 0) {
          corr[x] = 1.0f;
          _mm512_storeu_ps(p + x * kKeys, _mm512_setzero_ps());
          continue;
        }
        const __m512 px =
            attn_avx512::softmax_step(_mm512_mul_ps(s[x], scale), valid, m[r], l[r], corr[x]);
        _mm512_storeu_ps(p + x * kKeys, px);
      }
      // o[r] = o[r] * corr + sum_i p[r][i] * V[i], 64 output floats (4 zmm per row) per pass.
      for (int d0 = 0; d0 < hd; d0 += 64) {
        const int nv = std::min(4, (hd - d0) / 16);
        __m512 acc[kRows][4];
        for (int x = 0; x < kRows; ++x) {
          const __m512 cx = _mm512_set1_ps(corr[x]);
          float* orow = o + static_cast<size_t>(r0 + x) * hd + d0;
          for (int v = 0; v < 4; ++v)
            acc[x][v] =
                v < nv ? _mm512_mul_ps(_mm512_loadu_ps(orow + 16 * v), cx) : _mm512_setzero_ps();
        }
        for (int i = 0; i < nk; ++i) {
          __m512 vv[4];
          for (int v = 0; v < 4; ++v)
            vv[v] = v < nv ? load16(vrow[i], c.f16, d0 + 16 * v) : _mm512_setzero_ps();
          for (int x = 0; x < kRows; ++x) {
            const __m512 px = _mm512_set1_ps(p[x * kKeys + i]);
            for (int v = 0; v < 4; ++v) acc[x][v] = _mm512_fmadd_ps(px, vv[v], acc[x][v]);
          }
        }
        for (int x = 0; x < kRows; ++x) {
          float* orow = o + static_cast<size_t>(r0 + x) * hd + d0;
          for (int v = 0; v < nv; ++v) _mm512_storeu_ps(orow + 16 * v, acc[x][v]);
        }
      }
    }
  }
}

}  // namespace hearth::cpu
