// Float-weight GEMM (F32, F16, BF16 x F32 activations), AVX2 + FMA + F16C. A tile is 16 weight
// rows (two ymm, one lane per row) x up to 6 tokens: per k, two weight vectors and one broadcast
// per token feed 12 FMAs, 12 accumulators of the 16 ymm registers. F16 and BF16 weights are
// widened to f32 while packing, so one tile serves all three types (the panel is re-read for every
// token group, the packing is paid once).
// GCC 12's _mm*_undefined_* self-initialise and trip -Wuninitialized when inlined (GCC PR
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

#define HEARTH_GEMM_TARGET __attribute__((target("avx2,fma,f16c")))
#define HEARTH_GEMM_NO_AVX512

namespace hearth::gemm::detail {
namespace {
#include "backend/cpu/gemm/gemm_avx2_impl.h"
#include "backend/cpu/gemm/gemm_driver_impl.h"

enum class WeightKind { kF32, kF16, kBF16 };

// nk (<= 8) consecutive weights of one row as floats; the rest zero.
template <WeightKind K>
HEARTH_GEMM_TARGET inline __m256 load_row8(const uint8_t* p, int nk) {
  constexpr size_t kBytes = K == WeightKind::kF32 ? 4 : 2;
  alignas(32) uint8_t tmp[32] = {};
  if (nk < 8) {
    std::memcpy(tmp, p, static_cast<size_t>(nk) * kBytes);
    p = tmp;
  }
  if constexpr (K == WeightKind::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (K == WeightKind::kF16) {
      return _mm256_cvtph_ps(h);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
}

template <WeightKind K>
struct FloatTr {
  static constexpr int kRows = 16, kTile = 6;
  static constexpr int kMinTokens = 8;  // below, the vec_dot loop measured as fast or faster
  static constexpr int64_t kUnit = 1;
  static constexpr size_t kElemBytes = K == WeightKind::kF32 ? 4 : 2;
  static constexpr size_t kPanelUnitBytes = kRows * 4;  // per k, the 16 rows' weights as f32
  static constexpr size_t kActUnitBytes = kTile * 4;
  static constexpr int64_t kChunkUnits = 256;  // a 16 KiB panel
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k) * kElemBytes; }
  static size_t extra_act_bytes(int64_t, int) { return 0; }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    pack_act_f32(x, k, n, t0, t1, static_cast<float*>(act), kTile);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    for (int64_t kb = 0; kb < nu; kb += 8) {
      const int nk = static_cast<int>(std::min<int64_t>(8, nu - kb));
      const uint8_t* src = w + static_cast<size_t>(u0 + kb) * kElemBytes;
      for (int h = 0; h < 2; ++h) {
        __m256i r[8];
        for (int i = 0; i < 8; ++i) {
          const int row = 8 * h + i;
          r[i] = row < nrows ? _mm256_castps_si256(
                                   load_row8<K>(src + row_bytes * static_cast<size_t>(row), nk))
                             : _mm256_setzero_si256();
        }
        transpose8x8(r);
        for (int j = 0; j < nk; ++j)
          store8(panel + static_cast<size_t>(kb + j) * kPanelUnitBytes + 32 * h, r[j]);
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 a0[C], a1[C];
    acc_zero<C>(a0);
    acc_zero<C>(a1);
    const auto* x = reinterpret_cast<const float*>(act);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, x += kTile) {
      const __m256 w0 = _mm256_load_ps(reinterpret_cast<const float*>(panel));
      const __m256 w1 = _mm256_load_ps(reinterpret_cast<const float*>(panel + 32));
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256 b = _mm256_broadcast_ss(x + c);
        a0[c] = _mm256_fmadd_ps(w0, b, a0[c]);
        a1[c] = _mm256_fmadd_ps(w1, b, a1[c]);
      }
    }
    acc_store<C>(a0, y, ldy, lane_mask(nrows, 0), accumulate);
    acc_store<C>(a1, y + 8, ldy, lane_mask(nrows, 1), accumulate);
  }
};

}  // namespace

const GemmKernel kGemmF32Avx2 = make_kernel<FloatTr<WeightKind::kF32>>("f32/avx2");
const GemmKernel kGemmF16Avx2 = make_kernel<FloatTr<WeightKind::kF16>>("f16/avx2");
const GemmKernel kGemmBF16Avx2 = make_kernel<FloatTr<WeightKind::kBF16>>("bf16/avx2");

}  // namespace hearth::gemm::detail
