// Whole-matrix layouts built at load (see make_kernel_prepacked in gemm_driver_impl.h), in the
// file's bytes: Q4_0 and Q8_0 with the scales kept as f16, Q4_K with its headers as stored.
// Included (deliberately without #pragma once) after gemm_quant_impl.h, whose Q4_0Tr / Q8_0Tr give
// the activation layout. Each tile computes exactly what the run-time panel's tile computes: the
// same integer block sums (exact, in whatever order) and the same float operations in the same
// order.
//
// A unit is two blocks, so units stay whole cache lines: the weight dwords of block 0, of block 1,
// then 16 f16 scales of block 0 and 16 of block 1.

#ifndef HEARTH_GEMM_TARGET
#error "define HEARTH_GEMM_TARGET before including gemm_prepacked_impl.h"
#endif

HEARTH_GEMM_TARGET inline __m512 scales_half(__m512i both, int h) {
  return _mm512_cvtph_ps(h == 0 ? _mm512_castsi512_si256(both)
                                : _mm512_extracti64x4_epi64(both, 1));
}

HEARTH_GEMM_TARGET inline __m256i f32_to_f16_exact(__m512 d) {
  // The scales came from f16, so rounding back is exact.
  return _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// One token: the block's eight dword products in two independent chains (latency, not
// throughput, bounds a single chain); integer sums are exact, so this equals the one-chain form.
template <int kGroups>
HEARTH_GEMM_TARGET inline __m512i block_sum_one_token(const __m512i* wq, const uint8_t* act,
                                                      __m512i init) {
  __m512i s0 = init, s1 = _mm512_setzero_si512();
  for (int g = 0; g < kGroups / 2; ++g) {
    s0 = dpbusd(s0, wq[g], bcast_i32(act + 4 * g));
    s1 = dpbusd(s1, wq[g + kGroups / 2], bcast_i32(act + 4 * (g + kGroups / 2)));
  }
  return _mm512_add_epi32(s0, s1);
}

// Several tokens' tiles spend long enough on each unit that the out-of-order window no longer
// reaches the loads of the units far enough ahead, and the weights' stream stalls: with Q4_0, a
// 4-sequence decode step took twice one token's step. Such tiles prefetch the unit kAhead units
// ahead (0: none, where it measured no gain). One token's tile is left to the hardware's stream:
// with the same prefetch, 8B Q4_0 decoded 0.80-0.92x as fast on one thread.
// Past a panel's end this reads into the next panel or past the matrix, which a prefetch may do.
template <int C, size_t kUnitBytes, int kAhead>
HEARTH_GEMM_TARGET inline void prefetch_ahead(const uint8_t* panel) {
  if constexpr (C > 1 && kAhead > 0)
    for (size_t l = 0; l < kUnitBytes; l += 64)
      _mm_prefetch(reinterpret_cast<const char*>(panel + kAhead * kUnitBytes + l), _MM_HINT_T0);
}

// ---- Q4_0 --------------------------------------------------------------------------------------
struct Q4_0Pk {
  using Act = Q4_0Tr;
  static constexpr int kRows = 16;
  static constexpr int64_t kUnit = 64;
  static constexpr size_t kUnitBytes = 2 * 256 + 64;  // 16 rows x 2 x 18 bytes, as in the file
  static constexpr int64_t kChunkUnits = 32;          // 2048 elements, as Q4_0Tr's panel
  // 8 units (4.6 KB) ahead: 8B, 2 threads, 4 sequences decoding together 1.12-1.75x faster, 8
  // sequences 1.33-1.52x, 16 about 1.05x (bound by arithmetic); 4 or 16 units about the same.
  static constexpr int kPrefetchUnits = 8;
  static constexpr bool kChunkedSums = false;  // acc_init carries y on
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    const int64_t nb = 2 * units;
    for (int64_t b = 0; b < nb; b += 4) {
      const int nblk = static_cast<int>(std::min<int64_t>(4, nb - b));
      __m512i r[16];
      __m512 d[4];
      gather_blocks<18, 4>(w + b * 18, row_bytes, nrows, nblk, r, d);
      transpose16x16(r);
      for (int q = 0; q < nblk; ++q) {
        const int64_t blk = b + q;
        uint8_t* du = dst + static_cast<size_t>(blk / 2) * kUnitBytes;
        const int h = static_cast<int>(blk % 2);
        for (int g = 0; g < 4; ++g) _mm512_storeu_si512(du + 256 * h + 64 * g, r[4 * q + g]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(du + 512 + 32 * h), f32_to_f16_exact(d[q]));
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    const __m512i nib = _mm512_set1_epi8(0x0F);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes) {
      prefetch_ahead<C, kUnitBytes, kPrefetchUnits>(panel);
      const __m512i sc = _mm512_loadu_si512(panel + 512);
      for (int h = 0; h < 2; ++h, act += Act::kActUnitBytes) {
        __m512i wq[8];
        for (int g = 0; g < 4; ++g) {
          const __m512i p = _mm512_loadu_si512(panel + 256 * h + 64 * g);
          wq[g] = _mm512_and_si512(p, nib);
          wq[g + 4] = _mm512_and_si512(_mm512_srli_epi16(p, 4), nib);
        }
        const __m512 dw = scales_half(sc, h);
        const uint8_t* meta = act + 32 * Act::kTile;
        __m512i s[C];
        if constexpr (C == 1) {
          s[0] = block_sum_one_token<8>(wq, act, bcast_i32(meta + 4));
        } else {
          for (int c = 0; c < C; ++c) s[c] = bcast_i32(meta + 8 * c + 4);
          for (int g = 0; g < 8; ++g)
            for (int c = 0; c < C; ++c) s[c] = dpbusd(s[c], wq[g], bcast_i32(act + 32 * c + 4 * g));
        }
        for (int c = 0; c < C; ++c)
          acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[c]),
                                   _mm512_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
      }
    }
    acc_store<C>(acc, y, ldy, m);
  }
};

// ---- Q4_K ---------------------------------------------------------------------------------------
// A unit is one super-block of 16 rows: the 32 nibble zmm of Q4_KTr's panel, then the rows'
// 16-byte headers transposed to 4 zmm (lane = row), which the tile decodes into the scales that
// Q4_KTr::pack would have stored (Q4KHeaders): 2304 bytes, as in the file.
struct Q4_KPk {
  using Act = Q4_KTr;
  static constexpr int kRows = 16;
  static constexpr int64_t kUnit = 256;
  static constexpr size_t kQsBytes = 32 * 64;
  static constexpr size_t kUnitBytes = kQsBytes + 4 * 64;
  static constexpr int64_t kChunkUnits = 2;  // as Q4_KTr's panel
  // None: 1 or 2 units (2.3-4.6 KB) ahead made 4 sequences no faster (slightly slower).
  static constexpr int kPrefetchUnits = 0;
  static constexpr bool kChunkedSums = false;  // acc_init carries y on
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    for (int64_t u = 0; u < units; ++u) {
      uint8_t* du = dst + static_cast<size_t>(u) * kUnitBytes;
      __m512i hd[16];
      Act::transpose_block(w + static_cast<size_t>(u) * 144, row_bytes, nrows, du, hd);
      for (int j = 0; j < 4; ++j) _mm512_storeu_si512(du + kQsBytes + 64 * j, hd[j]);
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes, act += Act::kActUnitBytes) {
      prefetch_ahead<C, kUnitBytes, kPrefetchUnits>(panel);
      const uint8_t* hp = panel + kQsBytes;
      const Q4KHeaders h(_mm512_loadu_si512(hp), _mm512_loadu_si512(hp + 64),
                         _mm512_loadu_si512(hp + 128), _mm512_loadu_si512(hp + 192));
      Act::template unit<C>(panel, act, h, acc);
    }
    acc_store<C>(acc, y, ldy, m);
  }
};

#if HEARTH_GEMM_VNNI
// ---- Q8_0 (weights biased to unsigned, as Q8_0Tr's panel) --------------------------------------
struct Q8_0Pk {
  using Act = Q8_0Tr;
  static constexpr int kRows = 16;
  static constexpr int64_t kUnit = 64;
  static constexpr size_t kUnitBytes = 2 * 512 + 64;  // 16 rows x 2 x 34 bytes, as in the file
  static constexpr int64_t kChunkUnits = 16;          // 1024 elements, as Q8_0Tr's panel
  // None: 4 units (4.3 KB) ahead made 4 sequences no faster; they already run at 3.8-4x one.
  static constexpr int kPrefetchUnits = 0;
  static constexpr bool kChunkedSums = false;  // acc_init carries y on
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t u = 0; u < units; ++u) {
      __m512i r[16];
      __m512 d[2];
      gather_blocks<34, 2>(w + u * 2 * 34, row_bytes, nrows, 2, r, d);
      transpose16x16(r);
      uint8_t* du = dst + static_cast<size_t>(u) * kUnitBytes;
      for (int q = 0; q < 2; ++q) {
        for (int g = 0; g < 8; ++g)
          _mm512_storeu_si512(du + 512 * q + 64 * g, _mm512_xor_si512(r[8 * q + g], bias));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(du + 1024 + 32 * q), f32_to_f16_exact(d[q]));
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes) {
      prefetch_ahead<C, kUnitBytes, kPrefetchUnits>(panel);
      const __m512i sc = _mm512_loadu_si512(panel + 1024);
      for (int h = 0; h < 2; ++h, act += Act::kActUnitBytes) {
        __m512i wq[8];
        for (int g = 0; g < 8; ++g) wq[g] = _mm512_loadu_si512(panel + 512 * h + 64 * g);
        const __m512 dw = scales_half(sc, h);
        const uint8_t* meta = act + 32 * Act::kTile;
        for (int c = 0; c < C; ++c) {
          __m512i s;
          if constexpr (C == 1) {
            s = block_sum_one_token<8>(wq, act, bcast_i32(meta + 4));
          } else {
            s = bcast_i32(meta + 8 * c + 4);
            for (int g = 0; g < 8; ++g) s = dpbusd(s, wq[g], bcast_i32(act + 32 * c + 4 * g));
          }
          acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                   _mm512_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
        }
      }
    }
    acc_store<C>(acc, y, ldy, m);
  }
};
#endif
