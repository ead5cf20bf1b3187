// Attention for chunks with few query rows (decode: one token's group of heads), 16 keys at a
// time. The general kernel transposes every 16 keys so that many rows share the transpose; with
// four rows that transpose costs more than the scores themselves. Here each score is a dot product
// of whole 16-float vectors, and a step's 16 keys x 4 rows partial sums are reduced together by
// one shuffle tree (30 shuffles a row instead of 128). head_dim is a compile-time constant, so the
// key rows and accumulators stay in registers.
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

constexpr int kKeys = 16;
constexpr int kRows = 4;
constexpr int kAhead = 2 * kKeys;  // how far ahead the cache rows are prefetched
static_assert(kRows == kAttnRowPad, "the state pads rows for this kernel's row groups");

template <bool F16>
HEARTH_ATTN_TARGET inline __m512 load16(const void* row, int d) {
  if constexpr (F16)
    return _mm512_cvtph_ps(_mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + d)));
  else
    return _mm512_loadu_ps(static_cast<const float*>(row) + d);
}

// v[i] holds 16 partial sums of key i's score; returns the 16 full sums, key i in lane i.
HEARTH_ATTN_TARGET inline __m512 reduce16(const __m512 v[16]) {
  __m512 a[8], b[4];
  for (int i = 0; i < 8; ++i)  // lane quad: key 2i, key 2i+1, key 2i, key 2i+1
    a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; ++i) {  // lane quad: keys 4i .. 4i+3
    const __m512d lo =
        _mm512_unpacklo_pd(_mm512_castps_pd(a[2 * i]), _mm512_castps_pd(a[2 * i + 1]));
    const __m512d hi =
        _mm512_unpackhi_pd(_mm512_castps_pd(a[2 * i]), _mm512_castps_pd(a[2 * i + 1]));
    b[i] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
  }
  // Quads: keys 0-3, 0-3, 4-7, 4-7 (and 8-15), each half of the lanes summed.
  const __m512 c0 =
      _mm512_add_ps(_mm512_shuffle_f32x4(b[0], b[1], 0x88), _mm512_shuffle_f32x4(b[0], b[1], 0xDD));
  const __m512 c1 =
      _mm512_add_ps(_mm512_shuffle_f32x4(b[2], b[3], 0x88), _mm512_shuffle_f32x4(b[2], b[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(c0, c1, 0x88), _mm512_shuffle_f32x4(c0, c1, 0xDD));
}

template <int HD, bool F16>
HEARTH_ATTN_TARGET void attend(const AttnChunk& c, int j_lo, int j_hi, const AttnState& st,
                               float* work) {
  constexpr int kVecs = HD / 16;
  constexpr int kPass = kVecs < 4 ? kVecs : 4;  // output vectors per row and PV pass
  const int rows_pad = attn_rows_pad(c);
  float* zero = work;
  std::fill(zero, zero + HD, 0.0f);
  constexpr size_t kRowBytes = HD * (F16 ? 2 : 4);
  const int len = attn_chunk_len(c);
  const int end = std::min(len, j_hi);
  const __m512 scale = _mm512_set1_ps(c.scale);

  for (int j0 = j_lo; j0 < end; j0 += kKeys) {
    const int nk = std::min(kKeys, end - j0);
    const void* krow[kKeys];
    const void* vrow[kKeys];
    c.step_rows(j0, nk, krow, vrow);
    for (int r0 = 0; r0 < rows_pad; r0 += kRows) {
      if (!c.rows_reach(r0, kRows, j0, j_hi)) continue;
      const float* qr[kRows];
      for (int x = 0; x < kRows; ++x) qr[x] = c.q_row(r0 + x, zero);
      __m512 part[kRows][kKeys];
      for (int i = 0; i < kKeys; ++i) {
        // The cache rows two steps ahead, into L2 (attention_avx512.cpp says why), one row per
        // key: issued all at once they stall the core until the misses drain, and the step's
        // arithmetic then waits for memory instead of overlapping it.
        if (r0 == 0 && j0 + kAhead + i < len) c.prefetch_key(j0 + kAhead + i, kRowBytes);
        __m512 k[kVecs];
        for (int d = 0; d < kVecs; ++d) k[d] = load16<F16>(krow[i], 16 * d);
        for (int x = 0; x < kRows; ++x) {
          __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qr[x]), k[0]);
          for (int d = 1; d < kVecs; ++d)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(qr[x] + 16 * d), k[d], acc);
          part[x][i] = acc;
        }
      }
      float corr[kRows];
      __m512 px[kRows];
      for (int x = 0; x < kRows; ++x) {
        const int r = r0 + x;
        const int valid = std::min(kKeys, c.row_len(r, j_hi) - j0);
        if (valid <= 0) {
          corr[x] = 1.0f;
          px[x] = _mm512_setzero_ps();
          continue;
        }
        px[x] = attn_avx512::softmax_step(_mm512_mul_ps(reduce16(part[x]), scale), valid, st.m[r],
                                          st.l[r], corr[x]);
      }
      alignas(64) float p[kRows][kKeys];
      for (int x = 0; x < kRows; ++x) _mm512_store_ps(p[x], px[x]);
      // o[r] = o[r] * corr + sum_i p[r][i] * V[i], kPass vectors of each row per pass.
      for (int d0 = 0; d0 < kVecs; d0 += kPass) {
        __m512 acc[kRows][kPass];
        for (int x = 0; x < kRows; ++x) {
          const __m512 cx = _mm512_set1_ps(corr[x]);
          const float* orow = st.o + static_cast<size_t>(r0 + x) * HD + 16 * d0;
          for (int v = 0; v < kPass; ++v)
            acc[x][v] = _mm512_mul_ps(_mm512_loadu_ps(orow + 16 * v), cx);
        }
        for (int i = 0; i < nk; ++i) {
          __m512 vv[kPass];
          for (int v = 0; v < kPass; ++v) vv[v] = load16<F16>(vrow[i], 16 * (d0 + v));
          for (int x = 0; x < kRows; ++x) {
            const __m512 pb = _mm512_set1_ps(p[x][i]);
            for (int v = 0; v < kPass; ++v) acc[x][v] = _mm512_fmadd_ps(pb, vv[v], acc[x][v]);
          }
        }
        for (int x = 0; x < kRows; ++x) {
          float* orow = st.o + static_cast<size_t>(r0 + x) * HD + 16 * d0;
          for (int v = 0; v < kPass; ++v) _mm512_storeu_ps(orow + 16 * v, acc[x][v]);
        }
      }
    }
  }
}

}  // namespace

bool attend_keys_dot_avx512_supports(int head_dim) {
  return head_dim == 64 || head_dim == 128;
}

void attend_keys_dot_avx512(const AttnChunk& c, int j_lo, int j_hi, const AttnState& s,
                            float* work) {
  if (c.head_dim == 128)
    c.f16 ? attend<128, true>(c, j_lo, j_hi, s, work) : attend<128, false>(c, j_lo, j_hi, s, work);
  else
    c.f16 ? attend<64, true>(c, j_lo, j_hi, s, work) : attend<64, false>(c, j_lo, j_hi, s, work);
}

}  // namespace hearth::cpu
