// Float-weight GEMM (F32, F16, BF16 x F32 activations), AVX-512 F/BW/VL/DQ. A tile is 32 weight
// rows (two zmm, one lane per row) x up to 12 tokens: per k, two weight vectors and one broadcast
// per token feed 24 FMAs. Activations stay f32 for every weight type (bf16 activations and
// vdpbf16ps would double the FMA rate but cost the conformance tolerance).
// GCC 12's _mm512_undefined_* self-initialise and trip -Wuninitialized when inlined (GCC PR
// 105593); the pragma must precede the header since the warning points into it.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backend/cpu/gemm/gemm_act.h"
#include "backend/cpu/gemm/gemm_kernels.h"

#define HEARTH_GEMM_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

namespace hearth::gemm::detail {
namespace {
#include "backend/cpu/gemm/gemm_driver_impl.h"

// A tile's accumulators: C tokens x 32 rows (a0: rows 0-15, a1: rows 16-31).
template <int C>
HEARTH_GEMM_TARGET inline void acc_init(__m512 a0[C], __m512 a1[C], const float* y, int64_t ldy,
                                        int nrows, bool accumulate) {
  const __mmask16 m0 = row_mask(nrows, 0), m1 = row_mask(nrows, 1);
  for (int c = 0; c < C; ++c) {
    a0[c] = accumulate ? _mm512_maskz_loadu_ps(m0, y + c * ldy) : _mm512_setzero_ps();
    a1[c] = accumulate ? _mm512_maskz_loadu_ps(m1, y + c * ldy + 16) : _mm512_setzero_ps();
  }
}
template <int C>
HEARTH_GEMM_TARGET inline void acc_store(const __m512 a0[C], const __m512 a1[C], float* y,
                                         int64_t ldy, int nrows) {
  const __mmask16 m0 = row_mask(nrows, 0), m1 = row_mask(nrows, 1);
  for (int c = 0; c < C; ++c) {
    _mm512_mask_storeu_ps(y + c * ldy, m0, a0[c]);
    _mm512_mask_storeu_ps(y + c * ldy + 16, m1, a1[c]);
  }
}
// One k: the 32 rows' weights (w0, w1) times each token's x[c].
template <int C>
HEARTH_GEMM_TARGET inline void fma_step(const __m512 w0, const __m512 w1, const float* x,
                                        __m512 a0[C], __m512 a1[C]) {
  for (int c = 0; c < C; ++c) {
    const __m512 b = _mm512_set1_ps(x[c]);
    a0[c] = _mm512_fmadd_ps(w0, b, a0[c]);
    a1[c] = _mm512_fmadd_ps(w1, b, a1[c]);
  }
}

// F32 weights: the panel holds, per k, the 32 rows' weights (a 16 x 16 transpose per 16 k).
struct F32Tr {
  static constexpr int kRows = 32, kTile = 12;
  static constexpr int kMinTokens = 8;
  static constexpr int64_t kUnit = 1;
  static constexpr size_t kPanelUnitBytes = kRows * 4;
  static constexpr size_t kActUnitBytes = kTile * 4;
  static constexpr int64_t kChunkUnits = 256;  // 32 KiB panel
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k) * 4; }
  static size_t extra_act_bytes(int64_t, int) { return 0; }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    pack_act_f32(x, k, n, t0, t1, static_cast<float*>(act), kTile);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    for (int64_t kb = 0; kb < nu; kb += 16) {
      const int nk = static_cast<int>(std::min<int64_t>(16, nu - kb));
      const auto m = static_cast<__mmask16>((1u << nk) - 1u);
      const uint8_t* src = w + static_cast<size_t>(u0 + kb) * 4;
      for (int h = 0; h < 2; ++h) {
        __m512i r[16];
        for (int i = 0; i < 16; ++i) {
          const int row = 16 * h + i;
          r[i] = row < nrows
                     ? _mm512_maskz_loadu_epi32(m, src + row_bytes * static_cast<size_t>(row))
                     : _mm512_setzero_si512();
        }
        transpose16x16(r);
        for (int j = 0; j < nk; ++j)
          _mm512_store_si512(panel + static_cast<size_t>(kb + j) * kPanelUnitBytes + 64 * h, r[j]);
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m512 a0[C], a1[C];
    acc_init<C>(a0, a1, y, ldy, nrows, accumulate);
    const auto* x = reinterpret_cast<const float*>(act);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, x += kTile)
      fma_step<C>(_mm512_load_ps(panel), _mm512_load_ps(panel + 64), x, a0, a1);
    acc_store<C>(a0, a1, y, ldy, nrows);
  }
};

enum class HalfKind { kF16, kBF16 };

// F16 / BF16 weights: the panel keeps the 16-bit values, as dwords of two consecutive k (even k
// in the low half): packing is a plain dword transpose over 32 k at a time, and the tile widens
// each weight vector once for its 12 tokens (BF16 by a shift or mask, F16 by vcvtph2ps).
template <HalfKind K>
HEARTH_GEMM_TARGET inline __m512 widen_even(__m512i v) {
  if constexpr (K == HalfKind::kF16) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
}
template <HalfKind K>
HEARTH_GEMM_TARGET inline __m512 widen_odd(__m512i v) {
  if constexpr (K == HalfKind::kF16) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
  } else {
    return _mm512_castsi512_ps(
        _mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
}

template <HalfKind K>
struct HalfTr {
  static constexpr int kRows = 32, kTile = 12;
  static constexpr int kMinTokens = 8;
  static constexpr int64_t kUnit = 1;
  static constexpr size_t kPanelUnitBytes = kRows * 2;  // per k; a pair of k is 128 bytes
  static constexpr size_t kActUnitBytes = kTile * 4;
  static constexpr int64_t kChunkUnits = 512;  // even, so pairs never straddle chunks; 32 KiB
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k) * 2; }
  static size_t extra_act_bytes(int64_t, int) { return 0; }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    pack_act_f32(x, k, n, t0, t1, static_cast<float*>(act), kTile);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    for (int64_t kb = 0; kb < nu; kb += 32) {
      const int nk = static_cast<int>(std::min<int64_t>(32, nu - kb));
      const int npairs = (nk + 1) / 2;
      const __mmask32 m = nk == 32 ? ~__mmask32{0} : (__mmask32{1} << nk) - 1;
      const uint8_t* src = w + static_cast<size_t>(u0 + kb) * 2;
      for (int h = 0; h < 2; ++h) {
        __m512i r[16];
        for (int i = 0; i < 16; ++i) {
          const int row = 16 * h + i;
          r[i] = row < nrows
                     ? _mm512_maskz_loadu_epi16(m, src + row_bytes * static_cast<size_t>(row))
                     : _mm512_setzero_si512();
        }
        transpose16x16(r);
        for (int j = 0; j < npairs; ++j)
          _mm512_store_si512(panel + static_cast<size_t>(kb / 2 + j) * 128 + 64 * h, r[j]);
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m512 a0[C], a1[C];
    acc_init<C>(a0, a1, y, ldy, nrows, accumulate);
    const auto* x = reinterpret_cast<const float*>(act);
    int64_t u = 0;
    for (; u + 1 < nu; u += 2, panel += 128, x += 2 * kTile) {
      const __m512i v0 = _mm512_load_si512(panel), v1 = _mm512_load_si512(panel + 64);
      fma_step<C>(widen_even<K>(v0), widen_even<K>(v1), x, a0, a1);
      fma_step<C>(widen_odd<K>(v0), widen_odd<K>(v1), x + kTile, a0, a1);
    }
    if (u < nu) {  // an odd k: the last pair's upper half is padding
      fma_step<C>(widen_even<K>(_mm512_load_si512(panel)),
                  widen_even<K>(_mm512_load_si512(panel + 64)), x, a0, a1);
    }
    acc_store<C>(a0, a1, y, ldy, nrows);
  }
};

}  // namespace

const GemmKernel kGemmF32Avx512 = make_kernel<F32Tr>("f32/avx512");
const GemmKernel kGemmF16Avx512 = make_kernel<HalfTr<HalfKind::kF16>>("f16/avx512");
const GemmKernel kGemmBF16Avx512 = make_kernel<HalfTr<HalfKind::kBF16>>("bf16/avx512");

}  // namespace hearth::gemm::detail
