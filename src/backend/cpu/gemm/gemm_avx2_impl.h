// Helpers shared by the AVX2 GEMM kernel files (AVX2 + FMA + F16C; no AVX-512, no AVX-VNNI).
// Included (deliberately without #pragma once) inside an anonymous namespace after
// gemm_driver_impl.h, which the file includes with HEARTH_GEMM_NO_AVX512 defined.
//
// A tile's weight rows lie one per 32-bit lane of a ymm (8 rows per register); the packers
// transpose 8 rows' dwords so that one ymm holds the same k position of the 8 rows, and the
// tiles broadcast a token's activation dword (or float) against it.
//
// Loops over a tile's tokens carry `#pragma GCC unroll 16`: unrolled early, the per-token
// accumulator arrays live in registers (otherwise GCC 12 keeps them in memory and stores each one
// on every k step). Loops over a block's weight dwords carry `unroll 1`: unrolled, GCC computes all
// their products ahead of the sums and spills them. Both measured 1.2-1.7x.

#ifndef HEARTH_GEMM_TARGET
#error "define HEARTH_GEMM_TARGET before including gemm_avx2_impl.h"
#endif

// In place: r[j] lane i := r[i] lane j, for an 8 x 8 matrix of dwords.
HEARTH_GEMM_TARGET inline void transpose8x8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int h = 0; h < 2; ++h) {
    const __m256i* s = r + 4 * h;
    __m256i* d = t + 4 * h;
    d[0] = _mm256_unpacklo_epi32(s[0], s[1]);
    d[1] = _mm256_unpackhi_epi32(s[0], s[1]);
    d[2] = _mm256_unpacklo_epi32(s[2], s[3]);
    d[3] = _mm256_unpackhi_epi32(s[2], s[3]);
    // Per 128-bit lane L, u[4h + e] holds rows 4h .. 4h + 3 at dword 4L + e.
    u[4 * h + 0] = _mm256_unpacklo_epi64(d[0], d[2]);
    u[4 * h + 1] = _mm256_unpackhi_epi64(d[0], d[2]);
    u[4 * h + 2] = _mm256_unpacklo_epi64(d[1], d[3]);
    u[4 * h + 3] = _mm256_unpackhi_epi64(d[1], d[3]);
  }
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm256_permute2x128_si256(u[e], u[4 + e], 0x20);
    r[e + 4] = _mm256_permute2x128_si256(u[e], u[4 + e], 0x31);
  }
}

// All-ones in the lanes of an 8-row group that hold real rows (a short last panel pads the rest).
HEARTH_GEMM_TARGET inline __m256i lane_mask(int nrows, int group) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows - 8 * group),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
HEARTH_GEMM_TARGET inline __m256i bcast_i32(const uint8_t* p) {
  return _mm256_set1_epi32(load_i32(p));
}
HEARTH_GEMM_TARGET inline __m256 bcast_f32(const uint8_t* p) {
  return _mm256_broadcast_ss(reinterpret_cast<const float*>(p));
}
HEARTH_GEMM_TARGET inline __m256i load8(const uint8_t* p) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
}
HEARTH_GEMM_TARGET inline void store8(uint8_t* p, __m256i v) {
  _mm256_store_si256(reinterpret_cast<__m256i*>(p), v);
}

// Accumulators of one 8-row group, C tokens: they start at zero and the tile's sum is added to
// y when accumulating (k chunks after the first). Starting from y instead makes GCC keep the
// array in memory and store every accumulator on every k step.
template <int C>
HEARTH_GEMM_TARGET inline void acc_zero(__m256 acc[C]) {
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
}
template <int C>
HEARTH_GEMM_TARGET inline void acc_store(const __m256 acc[C], float* y, int64_t ldy, __m256i m,
                                         bool accumulate) {
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    __m256 v = acc[c];
    if (accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(y + c * ldy, m));
    _mm256_maskstore_ps(y + c * ldy, m, v);
  }
}
