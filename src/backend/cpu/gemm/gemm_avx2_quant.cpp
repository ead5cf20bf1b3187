// Q4_0 and Q8_0 GEMM kernels (x Q8_0 activations), AVX2 + FMA + F16C without VNNI. A tile is 8
// weight rows (one ymm lane each) x C tokens: the packer transposes the 8 rows so that dword g of
// a block, for all rows, is one ymm, and the tile multiplies it by token c's dword g broadcast
// (vpmaddubsw: unsigned weight bytes x signed activation bytes, pairs summed to int16).
//
// Q4_0: weights enter as the stored nibbles 0..15; the offset's share, -8 * sum(activations), is
// precomputed per token and block (gemm_act.h). A pair of products is at most 2 * 15 * 127, so
// the int16 pair sums of a whole block (16 products per int16) stay below 2^15: the block's 8
// vpmaddubsw add up in int16 and widen once.
// Q8_0: weights are signed; vpmaddubsw gets |w| and the activation with w's sign (vpsignb). A pair
// reaches 2 * 128 * 127, so each product widens to int32 at once.
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
#include "format/dtype.h"
#include "quant/blocks.h"

#define HEARTH_GEMM_TARGET __attribute__((target("avx2,fma,f16c")))
#define HEARTH_GEMM_NO_AVX512

namespace hearth::gemm::detail {
namespace {
#include "backend/cpu/gemm/gemm_avx2_impl.h"
#include "backend/cpu/gemm/gemm_driver_impl.h"

// The f16 scales at base + i * stride of 8 rows as floats; rows past nrows 0.
HEARTH_GEMM_TARGET inline __m256 row_scales(const uint8_t* base, size_t stride, int nrows) {
  alignas(16) uint16_t h[8] = {};
  for (int i = 0; i < nrows; ++i) std::memcpy(&h[i], base + stride * static_cast<size_t>(i), 2);
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

template <int kTokens>
struct Block32Tr {
  static constexpr int kRows = 8, kTile = kTokens;
  static constexpr int64_t kUnit = 32;
  static constexpr size_t kActUnitBytes = detail::act_unit_bytes_q8_0(kTile);
  static constexpr int64_t kChunkUnits = 32;
  static size_t extra_act_bytes(int64_t k, int n) {
    return static_cast<size_t>(n) * dtype_row_bytes(DType::Q8_0, k);
  }
  static void pack_act_offset(const float* x, int64_t k, int n, int t0, int t1, void* act,
                              int offset) {
    auto* a = static_cast<uint8_t*>(act);
    const size_t groups =
        align_up(static_cast<size_t>((n + kTile - 1) / kTile * (k / kUnit)) * kActUnitBytes);
    detail::pack_act_q8_0(x, k, n, t0, t1, a, kTile, offset, a + groups);
  }
};

// ---- Q4_0 x Q8_0 -------------------------------------------------------------------------------
// Panel unit (one block): 8 ymm of weight bytes 0..15 (ymm g lane i = row i's elements 4g ..
// 4g + 3), then the 8 rows' scales as floats.
struct Q4_0Tr : Block32Tr<4> {
  static constexpr int kMinTokens = 2;
  static constexpr size_t kPanelUnitBytes = 8 * 32 + 32;
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 32) * 18; }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    pack_act_offset(x, k, n, t0, t1, act, 8);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nu; ++b) {
      const uint8_t* blk = w + static_cast<size_t>(u0 + b) * 18;
      uint8_t* dst = panel + static_cast<size_t>(b) * kPanelUnitBytes;
      __m256i r[8];
      for (int i = 0; i < 8; ++i) {
        if (i < nrows) {
          const __m128i q = _mm_loadu_si128(
              reinterpret_cast<const __m128i*>(blk + row_bytes * static_cast<size_t>(i) + 2));
          r[i] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), nib);
        } else {
          r[i] = _mm256_setzero_si256();
        }
      }
      transpose8x8(r);
      for (int g = 0; g < 8; ++g) store8(dst + 32 * g, r[g]);
      _mm256_store_ps(reinterpret_cast<float*>(dst + 256), row_scales(blk, row_bytes, nrows));
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 acc[C];
    acc_zero<C>(acc);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      // Tokens innermost: C independent dependency chains in flight.
      __m256i s[C];
      {
        const __m256i w = load8(panel);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) s[c] = _mm256_maddubs_epi16(w, bcast_i32(act + 32 * c));
      }
#pragma GCC unroll 1
      for (int g = 1; g < 8; ++g) {
        const __m256i w = load8(panel + 32 * g);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c)
          s[c] = _mm256_add_epi16(s[c], _mm256_maddubs_epi16(w, bcast_i32(act + 32 * c + 4 * g)));
      }
      const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(panel + 256));
      const uint8_t* meta = act + 32 * kTile;
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256i si =
            _mm256_add_epi32(_mm256_madd_epi16(s[c], ones), bcast_i32(meta + 8 * c + 4));
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), _mm256_mul_ps(dw, bcast_f32(meta + 8 * c)),
                                 acc[c]);
      }
    }
    acc_store<C>(acc, y, ldy, lane_mask(nrows, 0), accumulate);
  }
};

// ---- Q8_0 x Q8_0 -------------------------------------------------------------------------------
// Panel unit: 8 ymm of weight dwords as stored (signed), 8 ymm of their magnitudes, then the
// scales as floats.
struct Q8_0Tr : Block32Tr<4> {
  static constexpr int kMinTokens = 3;
  static constexpr size_t kPanelUnitBytes = 16 * 32 + 32;
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 32) * 34; }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    pack_act_offset(x, k, n, t0, t1, act, 0);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    for (int64_t b = 0; b < nu; ++b) {
      const uint8_t* blk = w + static_cast<size_t>(u0 + b) * 34;
      uint8_t* dst = panel + static_cast<size_t>(b) * kPanelUnitBytes;
      __m256i r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = i < nrows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                               blk + row_bytes * static_cast<size_t>(i) + 2))
                         : _mm256_setzero_si256();
      transpose8x8(r);
      for (int g = 0; g < 8; ++g) {
        store8(dst + 32 * g, r[g]);
        store8(dst + 256 + 32 * g, _mm256_abs_epi8(r[g]));
      }
      _mm256_store_ps(reinterpret_cast<float*>(dst + 512), row_scales(blk, row_bytes, nrows));
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 acc[C];
    acc_zero<C>(acc);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      __m256i s[C];
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) s[c] = _mm256_setzero_si256();
#pragma GCC unroll 1
      for (int g = 0; g < 8; ++g) {
        const __m256i w = load8(panel + 32 * g), aw = load8(panel + 256 + 32 * g);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const __m256i p =
              _mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast_i32(act + 32 * c + 4 * g), w));
          s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(p, ones));
        }
      }
      const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(panel + 512));
      const uint8_t* meta = act + 32 * kTile;
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c)
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[c]),
                                 _mm256_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
    }
    acc_store<C>(acc, y, ldy, lane_mask(nrows, 0), accumulate);
  }
};

// ---- Prepacked at load (gemm.h) ---------------------------------------------------------------
// The run-time panels above unpack nibbles to bytes (Q4_0) or keep |w| beside w (Q8_0): twice the
// file's bytes, fine in cache but not for streaming a model from memory. The prepacked layout keeps
// the file's size: a unit is two blocks of 8 rows, the weight dwords as stored (ymm g lane i = row
// i's quant dword g) of block 0, of block 1, then 8 f16 scales of block 0 and 8 of block 1. The
// tiles compute what Q4_0Tr / Q8_0Tr compute: the same exact integer block sums, then the same
// float operations in the same order, so the outputs are bit-identical.

// The f16 scales at base + i * stride of 8 rows; rows past nrows 0.
inline void row_scales_f16(const uint8_t* base, size_t stride, int nrows, uint8_t* dst) {
  uint16_t h[8] = {};
  for (int i = 0; i < nrows; ++i) std::memcpy(&h[i], base + stride * static_cast<size_t>(i), 2);
  std::memcpy(dst, h, sizeof h);
}

HEARTH_GEMM_TARGET inline __m256 load_scales(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Dwords [off, off + 16) of block b and of block b + 1 of 8 rows, transposed: r[g] lane i = row i's
// dword g of block b (g < 4), of block b + 1 (g >= 4). Q4_0's 16 quant bytes.
HEARTH_GEMM_TARGET inline void gather_q4_0_pair(const uint8_t* blk, size_t row_bytes, int nrows,
                                                __m256i r[8]) {
  for (int i = 0; i < 8; ++i) {
    if (i < nrows) {
      const uint8_t* row = blk + row_bytes * static_cast<size_t>(i);
      r[i] = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 18 + 2)),
                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2)));
    } else {
      r[i] = _mm256_setzero_si256();
    }
  }
  transpose8x8(r);
}

struct Q4_0Pk {
  using Act = Q4_0Tr;
  static constexpr int kRows = 8;
  static constexpr int64_t kUnit = 64;
  static constexpr size_t kUnitBytes = 2 * 128 + 32;  // 8 rows x 2 x 18 bytes, as in the file
  static constexpr int64_t kChunkUnits = 16;
  static constexpr bool kChunkedSums = true;  // acc_store adds the chunk to y
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    for (int64_t u = 0; u < units; ++u, dst += kUnitBytes) {
      const uint8_t* blk = w + static_cast<size_t>(u) * 2 * 18;
      __m256i r[8];
      gather_q4_0_pair(blk, row_bytes, nrows, r);
      for (int g = 0; g < 8; ++g) store8(dst + 32 * g, r[g]);
      row_scales_f16(blk, row_bytes, nrows, dst + 256);
      row_scales_f16(blk + 18, row_bytes, nrows, dst + 272);
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 acc[C];
    acc_zero<C>(acc);
    const __m256i ones = _mm256_set1_epi16(1), nib = _mm256_set1_epi8(0x0F);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes) {
#pragma GCC unroll 1
      for (int h = 0; h < 2; ++h, act += Act::kActUnitBytes) {
        const uint8_t* q = panel + 128 * h;
        __m256i s[C];
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) s[c] = _mm256_setzero_si256();
          // Dword g of the stored bytes holds elements 4g.. (low nibbles) and 16 + 4g.. (high).
#pragma GCC unroll 1
        for (int g = 0; g < 4; ++g) {
          const __m256i p = load8(q + 32 * g);
          const __m256i lo = _mm256_and_si256(p, nib);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), nib);
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c)
            s[c] = _mm256_add_epi16(
                s[c],
                _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast_i32(act + 32 * c + 4 * g)),
                                 _mm256_maddubs_epi16(hi, bcast_i32(act + 32 * c + 16 + 4 * g))));
        }
        const __m256 dw = load_scales(panel + 256 + 16 * h);
        const uint8_t* meta = act + 32 * Act::kTile;
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const __m256i si =
              _mm256_add_epi32(_mm256_madd_epi16(s[c], ones), bcast_i32(meta + 8 * c + 4));
          acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si),
                                   _mm256_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
        }
      }
    }
    acc_store<C>(acc, y, ldy, lane_mask(nrows, 0), accumulate);
  }
};

struct Q8_0Pk {
  using Act = Q8_0Tr;
  static constexpr int kRows = 8;
  static constexpr int64_t kUnit = 64;
  static constexpr size_t kUnitBytes = 2 * 256 + 32;  // 8 rows x 2 x 34 bytes, as in the file
  static constexpr int64_t kChunkUnits = 16;
  static constexpr bool kChunkedSums = true;  // acc_store adds the chunk to y
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    for (int64_t u = 0; u < units; ++u, dst += kUnitBytes) {
      for (int h = 0; h < 2; ++h) {
        const uint8_t* blk = w + static_cast<size_t>(2 * u + h) * 34;
        __m256i r[8];
        for (int i = 0; i < 8; ++i)
          r[i] = i < nrows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                 blk + row_bytes * static_cast<size_t>(i) + 2))
                           : _mm256_setzero_si256();
        transpose8x8(r);
        for (int g = 0; g < 8; ++g) store8(dst + 256 * h + 32 * g, r[g]);
        row_scales_f16(blk, row_bytes, nrows, dst + 512 + 16 * h);
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 acc[C];
    acc_zero<C>(acc);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes) {
#pragma GCC unroll 1
      for (int h = 0; h < 2; ++h, act += Act::kActUnitBytes) {
        __m256i s[C];
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) s[c] = _mm256_setzero_si256();
#pragma GCC unroll 1
        for (int g = 0; g < 8; ++g) {
          const __m256i w = load8(panel + 256 * h + 32 * g), aw = _mm256_abs_epi8(w);
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c) {
            const __m256i p =
                _mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast_i32(act + 32 * c + 4 * g), w));
            s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(p, ones));
          }
        }
        const __m256 dw = load_scales(panel + 512 + 16 * h);
        const uint8_t* meta = act + 32 * Act::kTile;
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c)
          acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[c]),
                                   _mm256_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
      }
    }
    acc_store<C>(acc, y, ldy, lane_mask(nrows, 0), accumulate);
  }
};

}  // namespace

const GemmKernel kGemmQ4_0Avx2 = make_kernel_prepacked<Q4_0Tr, Q4_0Pk>("q4_0/avx2");
const GemmKernel kGemmQ8_0Avx2 = make_kernel_prepacked<Q8_0Tr, Q8_0Pk>("q8_0/avx2");

}  // namespace hearth::gemm::detail
