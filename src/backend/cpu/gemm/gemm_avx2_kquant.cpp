// Q4_K and Q6_K GEMM kernels (x Q8_K activations), AVX2 + FMA + F16C without VNNI. Same tile as
// gemm_avx2_quant.cpp: 8 weight rows (one ymm lane each) x C tokens, weights transposed to one
// ymm per dword position, activation dwords broadcast, vpmaddubsw into int16 pair sums.
//
// The integer sums stay integer through a whole super-block: vpmaddwd against the rows' sub-block
// scales (int16, as packed) widens them, the mins (Q4_K) or the +32 offset (Q6_K) come from the
// activation's per-sub-block sums the same way, and one conversion per super-block and token
// applies the float scales. Bounds: Q4_K pair sums of a 32-element sub-block (16 products per
// int16, each at most 15 * 127) fit int16; Q6_K products reach 63 * 127, so only two vpmaddubsw
// (4 products per int16) add up before widening. The int32 sums stay below 2^28.
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
#include "quant/half.h"

#define HEARTH_GEMM_TARGET __attribute__((target("avx2,fma,f16c")))
#define HEARTH_GEMM_NO_AVX512

namespace hearth::gemm::detail {
namespace {
#include "backend/cpu/gemm/gemm_avx2_impl.h"
#include "backend/cpu/gemm/gemm_driver_impl.h"

inline int32_t int16_pair(int lo, int hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xFFFFu) |
                              (static_cast<uint32_t>(hi) << 16));
}

template <int kTokens, Q8KMeta kMeta>
struct SuperBlockTr {
  static constexpr int kRows = 8, kTile = kTokens;
  static constexpr int64_t kUnit = 256;
  static constexpr size_t kActUnitBytes = detail::act_unit_bytes_q8_k(kTile);
  static constexpr int64_t kChunkUnits = 2;  // 512 elements, as on AVX-512
  static size_t extra_act_bytes(int64_t k, int n) {
    return static_cast<size_t>(n) * dtype_row_bytes(DType::Q8_K, k);
  }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    auto* a = static_cast<uint8_t*>(act);
    const size_t groups =
        align_up(static_cast<size_t>((n + kTile - 1) / kTile * (k / kUnit)) * kActUnitBytes);
    detail::pack_act_q8_k(x, k, n, t0, t1, a, kTile, kMeta, a + groups);
  }
  // The 8 rows' 256 weight bytes (element order) to the panel: ymm 8q + g lane i = row i's bytes
  // 32q + 4g .. 32q + 4g + 3.
  HEARTH_GEMM_TARGET static void transpose_rows(const uint8_t (*rows)[256], uint8_t* dst) {
    for (int q = 0; q < 8; ++q) {
      __m256i r[8];
      for (int i = 0; i < 8; ++i) r[i] = load8(rows[i] + 32 * q);
      transpose8x8(r);
      for (int g = 0; g < 8; ++g) store8(dst + 32 * (8 * q + g), r[g]);
    }
  }
};

// ---- Q4_K x Q8_K -------------------------------------------------------------------------------
// Panel unit (one super-block): 64 ymm of weight bytes 0..15 (ymm 8j + g lane i = row i's
// elements 32j + 4g ..), then per sub-block j the scale as an int16 pair (sc[j], sc[j]) (8 ymm),
// the mins as int16 pairs (m[2p], m[2p + 1]) (4 ymm), d and dmin as floats.
struct Q4_KTr : SuperBlockTr<4, Q8KMeta::kQ4K> {
  // The AVX2 Q4_K vec_dot is fast; the GEMM overtakes it between 4 and 8 tokens (2048 x 2048).
  static constexpr int kMinTokens = 6;
  static constexpr size_t kScOff = 64 * 32, kMinOff = kScOff + 8 * 32, kDOff = kMinOff + 4 * 32,
                          kDminOff = kDOff + 32;
  static constexpr size_t kPanelUnitBytes = kDminOff + 32;
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 256) * 144; }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    // Lanes past nrows are never written: zeroed once.
    alignas(32) uint8_t rows[8][256];
    std::memset(&rows[0][0] + 256 * nrows, 0, static_cast<size_t>(8 - nrows) * 256);
    alignas(32) int32_t sc[8][8] = {}, mn[4][8] = {};
    alignas(32) float d[8] = {}, dmin[8] = {};
    for (int64_t b = 0; b < nu; ++b) {
      uint8_t* dst = panel + static_cast<size_t>(b) * kPanelUnitBytes;
      for (int i = 0; i < nrows; ++i) {
        const auto& blk = *reinterpret_cast<const quant::BlockQ4_K*>(
            w + row_bytes * static_cast<size_t>(i) + static_cast<size_t>(u0 + b) * 144);
        for (int c = 0; c < 4; ++c) {
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
          store8(rows[i] + 64 * c, _mm256_and_si256(q, nib));
          store8(rows[i] + 64 * c + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), nib));
        }
        const quant::Q4KScales s = quant::q4k_unpack_scales(blk.scales);
        for (int j = 0; j < 8; ++j) {
          const int v = static_cast<int>(s.sc >> (8 * j) & 0xFF);
          sc[j][i] = int16_pair(v, v);
        }
        for (int p = 0; p < 4; ++p)
          mn[p][i] = int16_pair(static_cast<int>(s.m >> (16 * p) & 0xFF),
                                static_cast<int>(s.m >> (16 * p + 8) & 0xFF));
        d[i] = f16_to_f32(blk.d);
        dmin[i] = f16_to_f32(blk.dmin);
      }
      transpose_rows(rows, dst);
      std::memcpy(dst + kScOff, sc, sizeof sc);
      std::memcpy(dst + kMinOff, mn, sizeof mn);
      std::memcpy(dst + kDOff, d, sizeof d);
      std::memcpy(dst + kDminOff, dmin, sizeof dmin);
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 acc[C];
    acc_zero<C>(acc);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      __m256i isum[C];
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        __m256i s[C];
        {
          const __m256i w = load8(panel + 32 * (8 * j));
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c)
            s[c] = _mm256_maddubs_epi16(w, bcast_i32(act + 256 * c + 32 * j));
        }
#pragma GCC unroll 1
        for (int g = 1; g < 8; ++g) {
          const __m256i w = load8(panel + 32 * (8 * j + g));
#pragma GCC unroll 16
          for (int c = 0; c < C; ++c)
            s[c] = _mm256_add_epi16(
                s[c], _mm256_maddubs_epi16(w, bcast_i32(act + 256 * c + 32 * j + 4 * g)));
        }
        const __m256i sc = load8(panel + kScOff + 32 * j);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c)
          isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s[c], sc));
      }
      const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(panel + kDOff));
      const __m256 dmin = _mm256_load_ps(reinterpret_cast<const float*>(panel + kDminOff));
      const uint8_t* meta = act + 256 * kTile;
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const uint8_t* mc = meta + sizeof(detail::ActMetaQ8_K) * c;
        __m256i ms = _mm256_madd_epi16(load8(panel + kMinOff), bcast_i32(mc + 4));
        for (int p = 1; p < 4; ++p)
          ms = _mm256_add_epi32(
              ms, _mm256_madd_epi16(load8(panel + kMinOff + 32 * p), bcast_i32(mc + 4 + 4 * p)));
        const __m256 part = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), dmin,
                                             _mm256_mul_ps(_mm256_cvtepi32_ps(isum[c]), d));
        acc[c] = _mm256_fmadd_ps(part, bcast_f32(mc), acc[c]);
      }
    }
    acc_store<C>(acc, y, ldy, lane_mask(nrows, 0), accumulate);
  }
};

// ---- Q6_K x Q8_K -------------------------------------------------------------------------------
// Panel unit: 64 ymm of 6-bit weights as stored, 0..63 (ymm 4g + q lane i = row i's elements
// 16g + 4q ..), then per 16-element sub-block g the scale as an int16 pair (16 ymm), the scales
// as pairs (sc[2p], sc[2p + 1]) (8 ymm) for the offset term, and d as floats.
struct Q6_KTr : SuperBlockTr<5, Q8KMeta::kPairs16> {
  static constexpr int kMinTokens = 3;
  static constexpr size_t kScOff = 64 * 32, kPairOff = kScOff + 16 * 32, kDOff = kPairOff + 8 * 32;
  static constexpr size_t kPanelUnitBytes = kDOff + 32;
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 256) * 210; }

  // One row's 256 six-bit values in element order (see BlockQ6_K).
  HEARTH_GEMM_TARGET static void decode(const quant::BlockQ6_K& q, uint8_t out[256]) {
    const __m256i nib = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.qh + 32 * h));
      uint8_t* o = out + 128 * h;
      store8(o, _mm256_or_si256(_mm256_and_si256(ql0, nib),
                                _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)));
      store8(o + 32, _mm256_or_si256(_mm256_and_si256(ql1, nib),
                                     _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)));
      store8(o + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nib),
                                     _mm256_and_si256(qh, m30)));
      store8(o + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nib),
                                     _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)));
    }
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    // Lanes past nrows are never written: zeroed once.
    alignas(32) uint8_t rows[8][256];
    std::memset(&rows[0][0] + 256 * nrows, 0, static_cast<size_t>(8 - nrows) * 256);
    alignas(32) int32_t sc[16][8] = {}, pairs[8][8] = {};
    alignas(32) float d[8] = {};
    for (int64_t b = 0; b < nu; ++b) {
      uint8_t* dst = panel + static_cast<size_t>(b) * kPanelUnitBytes;
      for (int i = 0; i < nrows; ++i) {
        const auto& blk = *reinterpret_cast<const quant::BlockQ6_K*>(
            w + row_bytes * static_cast<size_t>(i) + static_cast<size_t>(u0 + b) * 210);
        decode(blk, rows[i]);
        for (int g = 0; g < 16; ++g) sc[g][i] = int16_pair(blk.scales[g], blk.scales[g]);
        for (int p = 0; p < 8; ++p)
          pairs[p][i] = int16_pair(blk.scales[2 * p], blk.scales[2 * p + 1]);
        d[i] = f16_to_f32(blk.d);
      }
      transpose_rows(rows, dst);
      std::memcpy(dst + kScOff, sc, sizeof sc);
      std::memcpy(dst + kPairOff, pairs, sizeof pairs);
      std::memcpy(dst + kDOff, d, sizeof d);
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    __m256 acc[C];
    acc_zero<C>(acc);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      __m256i isum[C];
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
      for (int g = 0; g < 16; ++g) {
        const uint8_t* wg = panel + 32 * (4 * g);
        const __m256i w0 = load8(wg), w1 = load8(wg + 32), w2 = load8(wg + 64), w3 = load8(wg + 96);
        const __m256i sc = load8(panel + kScOff + 32 * g);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const uint8_t* a = act + 256 * c + 16 * g;
          const __m256i t0 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, bcast_i32(a)),
                                              _mm256_maddubs_epi16(w1, bcast_i32(a + 4)));
          const __m256i t1 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, bcast_i32(a + 8)),
                                              _mm256_maddubs_epi16(w3, bcast_i32(a + 12)));
          isum[c] = _mm256_add_epi32(
              isum[c], _mm256_add_epi32(_mm256_madd_epi16(t0, sc), _mm256_madd_epi16(t1, sc)));
        }
      }
      const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(panel + kDOff));
      const uint8_t* meta = act + 256 * kTile;
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const uint8_t* mc = meta + sizeof(detail::ActMetaQ8_K) * c;
        // The stored weights are q + 32: subtract 32 * sum_g sc[g] * bsums[g].
        __m256i os = _mm256_madd_epi16(load8(panel + kPairOff), bcast_i32(mc + 4));
        for (int p = 1; p < 8; ++p)
          os = _mm256_add_epi32(
              os, _mm256_madd_epi16(load8(panel + kPairOff + 32 * p), bcast_i32(mc + 4 + 4 * p)));
        const __m256i total = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(os, 5));
        acc[c] =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, bcast_f32(mc)), acc[c]);
      }
    }
    acc_store<C>(acc, y, ldy, lane_mask(nrows, 0), accumulate);
  }
};

}  // namespace

const GemmKernel kGemmQ4_KAvx2 = make_kernel<Q4_KTr>("q4_k/avx2");
const GemmKernel kGemmQ6_KAvx2 = make_kernel<Q6_KTr>("q6_k/avx2");

}  // namespace hearth::gemm::detail
