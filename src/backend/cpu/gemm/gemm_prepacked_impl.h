// Whole-matrix layouts built at load (see make_kernel_prepacked in gemm_driver_impl.h), in the
// file's bytes: Q4_0 and Q8_0 with the scales kept as f16, Q4_K with its headers as stored, Q6_K
// in 32 more bytes a unit.
// Included (deliberately without #pragma once) after gemm_quant_impl.h, whose Q4_0Tr / Q8_0Tr give
// the activation layout. Each tile computes exactly what the run-time panel's tile computes: the
// same integer block sums (exact, in whatever order) and the same float operations in the same
// order.
//
// A unit is two blocks, so units stay whole cache lines: 16 f16 scales of block 0 and 16 of
// block 1, then the weight dwords of block 0 and of block 1.
//
// Every unit starts with what its tile reads first (scales, headers), so that one token's pass
// reads each unit from front to back. Scales placed after the weights, as the file orders them,
// made each unit's first read jump ahead and back, and the hardware prefetchers ran behind: one
// token on one thread streamed from memory at 0.76x (Q4_K), 0.78x (Q8_0) and 0.85x (Q4_0) the
// front-to-back rate (BM_decode).

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

// One token's block: its eight dword products in two independent chains (latency, not
// throughput, bounds a single chain); integer sums are exact, so this equals the one-chain form.
// kFold as dpbusd_b's: for several tokens' tiles, not for one token's.
template <int kGroups, bool kFold>
HEARTH_GEMM_TARGET inline __m512i block_sum_one_token(const __m512i* wq, const uint8_t* act,
                                                      __m512i init) {
  __m512i s0 = init, s1 = _mm512_setzero_si512();
  for (int g = 0; g < kGroups / 2; ++g) {
    s0 = dpbusd_b<kFold>(s0, wq[g], act + 4 * g);
    s1 = dpbusd_b<kFold>(s1, wq[g + kGroups / 2], act + 4 * (g + kGroups / 2));
  }
  return _mm512_add_epi32(s0, s1);
}

// Several tokens' tiles spend long enough on each unit that the out-of-order window no longer
// reaches the loads of the units far enough ahead, and the weights' stream stalls: with Q4_0, a
// 4-sequence decode step took twice one token's step. Where such a tile reads its panel from
// memory (kStream), it prefetches the unit kAhead units ahead into L2.
// - Into L1 the same prefetch made Q4_K, Q6_K and Q8_0 slower. Into L2, 4 and 8 tokens on 2
//   threads streamed 1.17-1.60x faster than with none (Q4_0: than with its earlier prefetch into
//   L1), in BM_decode/*/2/1/(4|8), 6 alternating runs.
// - Of several token groups (prefill), only the first of each k chunk streams; the driver also
//   prefetches the next chunk. All of them prefetching made Q4_K and Q6_K prefill 0.95x; none
//   made 16 sequences of 8B Q4_0 decoding together (two groups) 0.82x.
// - One token's tile is left to the hardware's stream: with a prefetch into L2, one token
//   streamed 0.70-0.99x as fast (into L1, 8B Q4_0 decoded 0.80-0.92x as fast).
// Past a panel's end this reads into the next panel or past the matrix, which a prefetch may do.
template <bool kOn, size_t kUnitBytes, int kAhead>
HEARTH_GEMM_TARGET inline void prefetch_ahead(const uint8_t* panel) {
  if constexpr (kOn && kAhead > 0)
    for (size_t l = 0; l < kUnitBytes; l += 64)
      _mm_prefetch(reinterpret_cast<const char*>(panel + kAhead * kUnitBytes + l), _MM_HINT_T1);
}

// ---- Q4_0 --------------------------------------------------------------------------------------
struct Q4_0Pk {
  using Act = Q4_0Tr;
  static constexpr int kRows = 16;
  static constexpr int64_t kUnit = 64;
  static constexpr size_t kUnitBytes = 2 * 256 + 64;  // 16 rows x 2 x 18 bytes, as in the file
  static constexpr size_t kQsOff = 64;
  static constexpr int64_t kChunkUnits = 32;  // 2048 elements, as Q4_0Tr's panel
  // 16 units (9.2 KB) ahead; into L1 8 units ahead had made 4 sequences of 8B decoding together
  // 1.12-1.75x faster than none. Into L2, 16 units: 4 tokens 1.31x, 8 tokens 1.24x faster than
  // into L1 8 ahead (8: 1.15x, 1.29x).
  static constexpr int kPrefetchUnits = 16;
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
        for (int g = 0; g < 4; ++g)
          _mm512_storeu_si512(du + kQsOff + 256 * h + 64 * g, r[4 * q + g]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(du + 32 * h), f32_to_f16_exact(d[q]));
      }
    }
  }

  template <int C, bool kStream = false>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    const __m512i nib = _mm512_set1_epi8(0x0F);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes) {
      prefetch_ahead<kStream && (C > 1), kUnitBytes, kPrefetchUnits>(panel);
      const __m512i sc = _mm512_loadu_si512(panel);
      for (int h = 0; h < 2; ++h, act += Act::kActUnitBytes) {
        __m512i wq[8];
        for (int g = 0; g < 4; ++g) {
          const __m512i p = _mm512_loadu_si512(panel + kQsOff + 256 * h + 64 * g);
          wq[g] = _mm512_and_si512(p, nib);
          wq[g + 4] = _mm512_and_si512(_mm512_srli_epi16(p, 4), nib);
        }
        const __m512 dw = scales_half(sc, h);
        const uint8_t* meta = act + 32 * Act::kTile;
        __m512i s[C];
        if constexpr (C == 1) {
          s[0] = block_sum_one_token<8, false>(wq, act, bcast_i32(meta + 4));
        } else {
          for (int c = 0; c < C; ++c) s[c] = bcast_i32(meta + 8 * c + 4);
          for (int g = 0; g < 8; ++g)
            for (int c = 0; c < C; ++c) s[c] = dpbusd_b<true>(s[c], wq[g], act + 32 * c + 4 * g);
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
// A unit is one super-block of 16 rows: the rows' 16-byte headers transposed to 4 zmm (lane =
// row), which the tile decodes into the scales that Q4_KTr::pack would have stored (Q4KHeaders),
// then the 32 nibble zmm of Q4_KTr's panel: 2304 bytes, as in the file.
struct Q4_KPk {
  using Act = Q4_KTr;
  static constexpr int kRows = 16;
  static constexpr int64_t kUnit = 256;
  static constexpr size_t kQsBytes = 32 * 64;
  static constexpr size_t kUnitBytes = kQsBytes + 4 * 64;
  static constexpr size_t kHdOff = 0, kQsOff = 4 * 64;
  // 8 units (18 KB, 2048 elements): a prefill tile ran 1.10-1.20x faster than with Q4_KTr's 2
  // (BM_prefill); 4 and 16 were slower than 8. Each call's headers and accumulators cost less
  // spread over more units.
  static constexpr int64_t kChunkUnits = 8;
  // 2 units (4.6 KB) ahead: 4 tokens 1.17x, 8 tokens 1.32x (4 units: 1.15x, 1.21x).
  static constexpr int kPrefetchUnits = 2;
  static constexpr bool kChunkedSums = false;  // acc_init carries y on
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    for (int64_t u = 0; u < units; ++u) {
      uint8_t* du = dst + static_cast<size_t>(u) * kUnitBytes;
      __m512i hd[16];
      Act::transpose_block(w + static_cast<size_t>(u) * 144, row_bytes, nrows, du + kQsOff, hd);
      for (int j = 0; j < 4; ++j) _mm512_storeu_si512(du + kHdOff + 64 * j, hd[j]);
    }
  }

  template <int C, bool kStream = false>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes, act += Act::kActUnitBytes) {
      prefetch_ahead<kStream && (C > 1), kUnitBytes, kPrefetchUnits>(panel);
      const uint8_t* hp = panel + kHdOff;
      const Q4KHeaders h(_mm512_loadu_si512(hp), _mm512_loadu_si512(hp + 64),
                         _mm512_loadu_si512(hp + 128), _mm512_loadu_si512(hp + 192));
      Act::template unit<C>(panel + kQsOff, act, h, acc);
    }
    acc_store<C>(acc, y, ldy, m);
  }
};

// ---- Q6_K ---------------------------------------------------------------------------------------
// A unit is one super-block of 16 rows, the file's bytes transposed to dwords (zmm lane = row):
// each row's scales and d (18 bytes) as 5 zmm, ql as 32 and qh as 16, in the order given by ql_off
// and qh_off. 3392 bytes against the file's 3360 (whole cache lines), where Q6_KTr's run-time
// panel, with the values already decoded to bytes and the scales to floats, takes 5120. The tile
// rebuilds each 6-bit value from its nibble and its two high bits, and each sub-block's d * scale
// as Q6_KTr::pack does, so the floats are the same.
struct Q6_KPk {
  using Act = Q6_KTr;
  static constexpr int kRows = 16;
  static constexpr int64_t kUnit = 256;
  static constexpr size_t kUnitBytes = 53 * 64;
  // Where each zmm lies in a unit: in the order the tile first reads them (the scales and d, then
  // per half ql 0-3, qh 0-3, ql 4-7, qh 4-7, ql 8-15). Laid out as the file orders them (ql, qh,
  // scales), one token streamed 8-9 GB/s on one thread against 21-23 for the file's rows: the
  // hardware prefetchers did not follow the three interleaved streams.
  static constexpr size_t kScOff = 0;
  static constexpr size_t ql_off(int z) {
    const int base = 5 + 24 * (z / 16), r = z % 16;
    return 64 * static_cast<size_t>(r < 4 ? base + r : r < 8 ? base + 4 + r : base + 8 + r);
  }
  static constexpr size_t qh_off(int z) {
    const int base = 5 + 24 * (z / 8), r = z % 8;
    return 64 * static_cast<size_t>(r < 4 ? base + 4 + r : base + 8 + r);
  }
  // 8 units (27 KB): 1.13x Q6_KTr's 2 in a prefill tile, 4 and 16 in between (BM_prefill).
  static constexpr int64_t kChunkUnits = 8;
  // 2 units (6.8 KB) ahead: 4 tokens 1.41x, 8 tokens 1.60x (4 units: 1.39x, 1.58x).
  static constexpr int kPrefetchUnits = 2;
  static constexpr bool kChunkedSums = false;  // acc_init carries y on
  static bool fits(int64_t, int64_t) { return true; }

  HEARTH_GEMM_TARGET static void pack_panel(const uint8_t* w, size_t row_bytes, int nrows,
                                            int64_t units, uint8_t* dst) {
    for (int64_t u = 0; u < units; ++u) {
      const uint8_t* blk = w + static_cast<size_t>(u) * 210;
      uint8_t* du = dst + static_cast<size_t>(u) * kUnitBytes;
      // ql[0..63], ql[64..127], qh: 64 bytes a row each.
      for (int part = 0; part < 3; ++part) {
        __m512i r[16];
        load_rows_masked(blk + 64 * part, row_bytes, nrows, 64, r);
        transpose16x16(r);
        for (int j = 0; j < 16; ++j)
          _mm512_storeu_si512(du + (part < 2 ? ql_off(16 * part + j) : qh_off(j)), r[j]);
      }
      __m512i hd[16];
      load_rows_masked(blk + offsetof(quant::BlockQ6_K, scales), row_bytes, nrows, 18, hd);
      transpose16x16(hd);
      for (int j = 0; j < 5; ++j) _mm512_storeu_si512(du + kScOff + 64 * j, hd[j]);
    }
  }

  // Sub-block G (elements 16G .. 16G + 15) of a unit for C tokens, added to part[c]. Within each
  // 128-element half, quarter Q (32 elements) takes its low bits from ql bytes [32Q, 32Q + 32)
  // mod 64 (low nibbles for Q < 2, high for Q >= 2) and its high bits from bits 2Q, 2Q + 1 of qh
  // bytes [0, 32), as BlockQ6_K stores them. G is a template parameter so that every offset and
  // shift is a constant: computed at run time they cost 3.5x.
  template <int C, int G>
  [[gnu::always_inline]] HEARTH_GEMM_TARGET static void sub_block(const uint8_t* unit,
                                                                  const uint8_t* act, __m512 d,
                                                                  __m512 part[C]) {
    constexpr int h = G / 8, quarter = (G % 8) / 2;
    const __m512i nib = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m512i wq[4];
    for (int q = 0; q < 4; ++q) {
      const int e = 16 * (G % 8) + 4 * q;  // element within the half
      const __m512i ql = _mm512_loadu_si512(unit + ql_off(16 * h + (e - 64 * (quarter / 2)) / 4));
      const __m512i qh = _mm512_loadu_si512(unit + qh_off(8 * h + (e - 32 * quarter) / 4));
      __m512i lo = ql, hi = qh;
      if constexpr (quarter >= 2) lo = _mm512_srli_epi16(ql, 4);
      if constexpr (quarter == 0) hi = _mm512_slli_epi16(qh, 4);
      if constexpr (quarter == 1) hi = _mm512_slli_epi16(qh, 2);
      if constexpr (quarter == 3) hi = _mm512_srli_epi16(qh, 2);
      wq[q] = _mm512_ternarylogic_epi64(lo, nib, _mm512_and_si512(hi, m30), 0xEA);  // lo&nib | hi
    }
    const __m512 dsc = Act::d_scale(d, _mm512_loadu_si512(unit + kScOff + 64 * (G / 4)), G);
    Act::template add_sub_block<C>(wq, dsc, act, G, part);
  }

  // In order, as Q6_KTr::tile adds them. (A lambda would lack the target attribute, and the
  // sub-blocks would not be inlined.)
  template <int C, int... G>
  [[gnu::always_inline]] HEARTH_GEMM_TARGET static void sub_blocks(
      const uint8_t* unit, const uint8_t* act, __m512 d, __m512 part[C],
      std::integer_sequence<int, G...>) {
    (sub_block<C, G>(unit, act, d, part), ...);
  }

  template <int C, bool kStream = false>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes, act += Act::kActUnitBytes) {
      prefetch_ahead<kStream && (C > 1), kUnitBytes, kPrefetchUnits>(panel);
      const __m512 d = Act::row_d(_mm512_loadu_si512(panel + kScOff + 4 * 64));
      __m512 part[C];
      for (int c = 0; c < C; ++c) part[c] = _mm512_setzero_ps();
      sub_blocks<C>(panel, act, d, part, std::make_integer_sequence<int, 16>{});
      Act::template add_unit<C>(part, act, acc);
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
  static constexpr size_t kQsOff = 64;
  static constexpr int64_t kChunkUnits = 16;  // 1024 elements, as Q8_0Tr's panel; 8 was slower
  // 4 units (4.3 KB) ahead: 4 tokens 1.18x, 8 tokens 1.34x (8 units: 1.15x, 1.42x).
  static constexpr int kPrefetchUnits = 4;
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
          _mm512_storeu_si512(du + kQsOff + 512 * q + 64 * g, _mm512_xor_si512(r[8 * q + g], bias));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(du + 32 * q), f32_to_f16_exact(d[q]));
      }
    }
  }

  template <int C, bool kStream = false>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kUnitBytes) {
      prefetch_ahead<kStream && (C > 1), kUnitBytes, kPrefetchUnits>(panel);
      const __m512i sc = _mm512_loadu_si512(panel);
      for (int h = 0; h < 2; ++h, act += Act::kActUnitBytes) {
        __m512i wq[8];
        for (int g = 0; g < 8; ++g) wq[g] = _mm512_loadu_si512(panel + kQsOff + 512 * h + 64 * g);
        const __m512 dw = scales_half(sc, h);
        const uint8_t* meta = act + 32 * Act::kTile;
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          // Two chains a token for several tokens too: 1.04-1.05x (BM_prefill).
          const __m512i s =
              block_sum_one_token<8, (C > 1)>(wq, act + 32 * c, bcast_i32(meta + 8 * c + 4));
          acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                   _mm512_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
        }
      }
    }
    acc_store<C>(acc, y, ldy, m);
  }
};
#endif
