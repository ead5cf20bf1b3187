// Quantized GEMM kernels (Q4_0, Q8_0 x Q8_0; Q4_K, Q6_K x Q8_K), AVX-512. Included (deliberately
// without #pragma once) inside an anonymous namespace by gemm_avx512vnni.cpp and gemm_avx512.cpp
// after gemm_driver_impl.h, with HEARTH_GEMM_VNNI choosing vpdpbusd or its vpmaddubsw/vpmaddwd
// form. Both give the same integer sums; the second is exact only while a pair of u8 * s8
// products fits int16, true for weights up to 63 (so Q8_0 weights need VNNI).
//
// Layout: a tile is 16 weight rows (one zmm lane each) x C tokens. The packer transposes a panel
// of 16 rows so that dword g of a block, for all 16 rows, is one zmm; the kernel multiplies it by
// the token's dword g broadcast to every lane (vpdpbusd: 4 u8 weights x 4 s8 activations per
// lane). Weights enter as unsigned (nibbles as stored, Q8_0 plus 128, Q6_K as stored): the
// offset's contribution, -offset * sum(activation block), is precomputed per token and block and
// starts the integer sum. Each block's integer sum is converted once and scaled in float.

#ifndef HEARTH_GEMM_TARGET
#error "define HEARTH_GEMM_TARGET before including gemm_quant_impl.h"
#endif

HEARTH_GEMM_TARGET inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
#if HEARTH_GEMM_VNNI
  return _mm512_dpbusd_epi32(acc, u, s);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

HEARTH_GEMM_TARGET inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
#if HEARTH_GEMM_VNNI
  return _mm512_dpwssd_epi32(acc, a, b);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

inline int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
HEARTH_GEMM_TARGET inline __m512i bcast_i32(const uint8_t* p) {
  return _mm512_set1_epi32(load_i32(p));
}
// dpbusd with the activation dword broadcast from memory. GCC does not fold the broadcast into
// vpdpbusd's {1to16} operand by itself. Folded (kFold) it issues one uop fewer, and several tokens'
// GEMM tiles, whose dword chains wait in the FP scheduler, ran 1.04-1.10x faster (BM_prefill). One
// token's tiles, which stream their weights from memory, are left unfolded: folded, Q8_0 streamed
// 0.85-0.9x as fast (BM_decode).
template <bool kFold>
HEARTH_GEMM_TARGET inline __m512i dpbusd_b(__m512i acc, __m512i u, const uint8_t* p) {
#if HEARTH_GEMM_VNNI
  if constexpr (kFold) {
    asm("vpdpbusd %2%{1to16%}, %1, %0"
        : "+v"(acc)
        : "v"(u), "m"(*reinterpret_cast<const int32_t*>(p)));
    return acc;
  }
#endif
  return dpbusd(acc, u, bcast_i32(p));
}
HEARTH_GEMM_TARGET inline __m512 bcast_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_ps(v);
}

// Word indices for vpermw / vpermt2w.
struct WordIndex {
  int16_t v[32];
};

// For kBlocks blocks of kStride bytes (an f16 scale, then the quant bytes), 64 quant bytes in all:
// the word of the blocks that holds quant word i, and the word that holds block i's scale.
template <int kStride, int kBlocks>
constexpr WordIndex quant_word_index() {
  constexpr int kQWords = 32 / kBlocks;
  WordIndex w{};
  for (int i = 0; i < 32; ++i)
    w.v[i] = static_cast<int16_t>(i / kQWords * (kStride / 2) + 1 + i % kQWords);
  return w;
}
template <int kStride, int kBlocks>
constexpr WordIndex scale_word_index() {
  WordIndex w{};
  for (int i = 0; i < kBlocks; ++i) w.v[i] = static_cast<int16_t>(i * (kStride / 2));
  return w;
}
// Word 4 * row + block of sixteen rows' four-word groups, for one block.
constexpr WordIndex row_scale_index(int block) {
  WordIndex w{};
  for (int i = 0; i < 16; ++i) w.v[i] = static_cast<int16_t>(4 * i + block);
  return w;
}
inline constexpr WordIndex kRowScaleIndex[4] = {row_scale_index(0), row_scale_index(1),
                                                row_scale_index(2), row_scale_index(3)};

// nblk (<= kBlocks) consecutive blocks of 16 rows from base (row i at base + i * row_bytes): the
// quant bytes of row i as r[i] (64 bytes), block q's scales of all rows as d[q]. Rows past nrows
// and blocks past nblk read as zero.
template <int kStride, int kBlocks>
HEARTH_GEMM_TARGET inline void gather_blocks(const uint8_t* base, size_t row_bytes, int nrows,
                                             int nblk, __m512i r[16], __m512 d[kBlocks]) {
  static_assert(kBlocks <= 4 && kBlocks * kStride <= 128 && kBlocks * (kStride - 2) == 64);
  static constexpr WordIndex kQ = quant_word_index<kStride, kBlocks>();
  static constexpr WordIndex kD = scale_word_index<kStride, kBlocks>();
  const __m512i qidx = _mm512_loadu_si512(kQ.v), didx = _mm512_loadu_si512(kD.v);
  const unsigned bytes = static_cast<unsigned>(nblk * kStride);
  const __mmask64 m0 = bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  const __mmask64 m1 = bytes > 64 ? (__mmask64{1} << (bytes - 64)) - 1 : 0;
  alignas(64) uint64_t scales[16];
  for (int i = 0; i < 16; ++i) {
    if (i < nrows) {
      const uint8_t* p = base + row_bytes * static_cast<size_t>(i);
      const __m512i z0 = _mm512_maskz_loadu_epi8(m0, p);
      const __m512i z1 = _mm512_maskz_loadu_epi8(m1, p + 64);
      r[i] = _mm512_permutex2var_epi16(z0, qidx, z1);
      scales[i] = static_cast<uint64_t>(
          _mm_cvtsi128_si64(_mm512_castsi512_si128(_mm512_permutexvar_epi16(didx, z0))));
    } else {
      r[i] = _mm512_setzero_si512();
      scales[i] = 0;
    }
  }
  const __m512i s0 = _mm512_load_si512(scales), s1 = _mm512_load_si512(scales + 8);
  for (int q = 0; q < kBlocks; ++q)
    d[q] = _mm512_cvtph_ps(_mm512_castsi512_si256(
        _mm512_permutex2var_epi16(s0, _mm512_loadu_si512(kRowScaleIndex[q].v), s1)));
}

// The first `bytes` (<= 64) bytes at base + i * stride of 16 rows; rows past nrows zero.
HEARTH_GEMM_TARGET inline void load_rows_masked(const uint8_t* base, size_t stride, int nrows,
                                                unsigned bytes, __m512i r[16]) {
  const __mmask64 m = bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  for (int i = 0; i < 16; ++i)
    r[i] = i < nrows ? _mm512_maskz_loadu_epi8(m, base + stride * static_cast<size_t>(i))
                     : _mm512_setzero_si512();
}

// Accumulators: C tokens x 16 rows. Starting from y (k chunks after the first) or zero.
// The token loops here and in Q8_0Pk's tile are unrolled before GCC decides where the
// accumulators live. Unrolled later, they stayed in a stack array as well as in registers (a
// zeroing rep stos on entry, a store per accumulator per unit): Q8_0 and Q4_0 prefill tiles
// ran 1.05-1.08x faster without (BM_prefill).
template <int C>
HEARTH_GEMM_TARGET inline void acc_init(__m512 acc[C], const float* y, int64_t ldy, __mmask16 m,
                                        bool accumulate) {
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c)
    acc[c] = accumulate ? _mm512_maskz_loadu_ps(m, y + c * ldy) : _mm512_setzero_ps();
}
template <int C>
HEARTH_GEMM_TARGET inline void acc_store(const __m512 acc[C], float* y, int64_t ldy, __mmask16 m) {
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(y + c * ldy, m, acc[c]);
}

// ---- Q4_0 x Q8_0 -------------------------------------------------------------------------------
// Panel unit (one block): 4 zmm of nibble dwords (zmm g lane i = row i's qs[4g .. 4g + 3]: low
// nibbles are elements 4g.., high nibbles 16 + 4g..), then the 16 rows' scales as floats.
struct Q4_0Tr {
  static constexpr int kRows = 16, kTile = 8;
  static constexpr int kMinTokens = 4;  // below, the vec_dot loop measured faster in batched decode
  static constexpr int64_t kUnit = 32;
  static constexpr size_t kPanelUnitBytes = 4 * 64 + 64;
  static constexpr size_t kActUnitBytes = detail::act_unit_bytes_q8_0(kTile);
  static constexpr int64_t kChunkUnits = 64;  // 2048 elements: a 20 KiB panel, measured best
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 32) * 18; }
  static size_t extra_act_bytes(int64_t k, int n) {
    return static_cast<size_t>(n) * dtype_row_bytes(DType::Q8_0, k);
  }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    auto* a = static_cast<uint8_t*>(act);
    const size_t groups =
        align_up(static_cast<size_t>((n + kTile - 1) / kTile * (k / kUnit)) * kActUnitBytes);
    detail::pack_act_q8_0(x, k, n, t0, t1, a, kTile, 8, a + groups);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    const uint8_t* blocks = w + static_cast<size_t>(u0) * 18;
    for (int64_t b = 0; b < nu; b += 4) {
      // Four blocks' 16 quant bytes per row make one 64-byte row of a 16 x 16 dword transpose.
      const int nblk = static_cast<int>(std::min<int64_t>(4, nu - b));
      __m512i r[16];
      __m512 d[4];
      gather_blocks<18, 4>(blocks + b * 18, row_bytes, nrows, nblk, r, d);
      transpose16x16(r);
      for (int q = 0; q < nblk; ++q) {
        uint8_t* dst = panel + static_cast<size_t>(b + q) * kPanelUnitBytes;
        for (int g = 0; g < 4; ++g) _mm512_store_si512(dst + 64 * g, r[4 * q + g]);
        _mm512_store_ps(dst + 256, d[q]);
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
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      __m512i wq[8];
      for (int g = 0; g < 4; ++g) {
        const __m512i p = _mm512_load_si512(panel + 64 * g);
        wq[g] = _mm512_and_si512(p, nib);
        wq[g + 4] = _mm512_and_si512(_mm512_srli_epi16(p, 4), nib);
      }
      const __m512 dw = _mm512_load_ps(panel + 256);
      const uint8_t* meta = act + 32 * kTile;
      // Tokens innermost: C independent dependency chains in flight.
      __m512i s[C];
      for (int c = 0; c < C; ++c) s[c] = bcast_i32(meta + 8 * c + 4);
      for (int g = 0; g < 8; ++g)
        for (int c = 0; c < C; ++c) s[c] = dpbusd_b<true>(s[c], wq[g], act + 32 * c + 4 * g);
      for (int c = 0; c < C; ++c)
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[c]),
                                 _mm512_mul_ps(dw, bcast_f32(meta + 8 * c)), acc[c]);
    }
    acc_store<C>(acc, y, ldy, m);
  }
};

#if HEARTH_GEMM_VNNI
// ---- Q8_0 x Q8_0 -------------------------------------------------------------------------------
// Panel unit: 8 zmm of weight dwords + 128 (zmm g lane i = row i's qs[4g .. 4g + 3] ^ 0x80), then
// the scales as floats.
struct Q8_0Tr {
  static constexpr int kRows = 16, kTile = 8;
  static constexpr int kMinTokens = 6;  // below, the vec_dot loop measured faster in batched decode
  static constexpr int64_t kUnit = 32;
  static constexpr size_t kPanelUnitBytes = 8 * 64 + 64;
  static constexpr size_t kActUnitBytes = detail::act_unit_bytes_q8_0(kTile);
  static constexpr int64_t kChunkUnits = 32;  // an 18 KiB panel, measured best
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 32) * 34; }
  static size_t extra_act_bytes(int64_t k, int n) {
    return static_cast<size_t>(n) * dtype_row_bytes(DType::Q8_0, k);
  }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    auto* a = static_cast<uint8_t*>(act);
    const size_t groups =
        align_up(static_cast<size_t>((n + kTile - 1) / kTile * (k / kUnit)) * kActUnitBytes);
    detail::pack_act_q8_0(x, k, n, t0, t1, a, kTile, 128, a + groups);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    const uint8_t* blocks = w + static_cast<size_t>(u0) * 34;
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t b = 0; b < nu; b += 2) {
      const int nblk = static_cast<int>(std::min<int64_t>(2, nu - b));
      __m512i r[16];
      __m512 d[2];
      gather_blocks<34, 2>(blocks + b * 34, row_bytes, nrows, nblk, r, d);
      transpose16x16(r);
      for (int q = 0; q < nblk; ++q) {
        uint8_t* dst = panel + static_cast<size_t>(b + q) * kPanelUnitBytes;
        for (int g = 0; g < 8; ++g)
          _mm512_store_si512(dst + 64 * g, _mm512_xor_si512(r[8 * q + g], bias));
        _mm512_store_ps(dst + 512, d[q]);
      }
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      __m512i wq[8];
      for (int g = 0; g < 8; ++g) wq[g] = _mm512_load_si512(panel + 64 * g);
      const __m512 dw = _mm512_load_ps(panel + 512);
      const uint8_t* meta = act + 32 * kTile;
      for (int c = 0; c < C; ++c) {
        __m512i s = bcast_i32(meta + 8 * c + 4);
        for (int g = 0; g < 8; ++g) s = dpbusd_b<true>(s, wq[g], act + 32 * c + 4 * g);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, bcast_f32(meta + 8 * c)),
                                 acc[c]);
      }
    }
    acc_store<C>(acc, y, ldy, m);
  }
};
#endif

// The super-block headers of 16 Q4_K rows, lane = row, from their four transposed dwords (d |
// dmin << 16, then the three packed scale words): the word-parallel unpacking of
// quant::q4k_unpack_scales. The run-time packer stores what it gives; the prepacked tile computes
// it from the headers as they were stored, with the same operations, so both see the same floats.
struct Q4KHeaders {
  __m512 d, dmin;
  __m512i sc[2], mn[2];  // byte j % 4 of sc[j / 4]: sub-block j's 6-bit scale; mn: its min

  HEARTH_GEMM_TARGET Q4KHeaders(__m512i h0, __m512i w0, __m512i w1, __m512i w2) {
    d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h0));
    dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h0, 16)));
    const __m512i m3f = _mm512_set1_epi32(0x3f3f3f3f), m0f = _mm512_set1_epi32(0x0f0f0f0f),
                  m03 = _mm512_set1_epi32(0x03030303);
    sc[0] = _mm512_and_si512(w0, m3f);
    sc[1] = _mm512_or_si512(_mm512_and_si512(w2, m0f),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w0, 6), m03), 4));
    mn[0] = _mm512_and_si512(w1, m3f);
    mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), m0f),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w1, 6), m03), 4));
  }
  HEARTH_GEMM_TARGET __m512 dmins() const { return dmin; }
  // d * scale of sub-block j, as floats.
  HEARTH_GEMM_TARGET __m512 dsc(int j) const {
    const __m512i v =
        _mm512_and_si512(_mm512_srli_epi32(sc[j / 4], 8 * (j % 4)), _mm512_set1_epi32(0xFF));
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(v));
  }
  // The mins of sub-blocks 2p and 2p + 1 as an int16 pair per lane (for vpdpwssd with the
  // activation's block sums).
  HEARTH_GEMM_TARGET __m512i min_pair(int p) const {
    const __m512i v = mn[p / 2];
    const __m512i ff = _mm512_set1_epi32(0xFF), ff16 = _mm512_set1_epi32(0xFF0000);
    return p % 2 == 0 ? _mm512_or_si512(_mm512_and_si512(v, ff),
                                        _mm512_and_si512(_mm512_slli_epi32(v, 8), ff16))
                      : _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(v, 16), ff),
                                        _mm512_and_si512(_mm512_srli_epi32(v, 8), ff16));
  }
};

// ---- Q4_K x Q8_K -------------------------------------------------------------------------------
// Panel unit (one 256-element super-block): 32 zmm of nibble dwords (zmm 8c + g lane i = row i's
// qs[32c + 4g ..]: low nibbles are sub-block 2c, high nibbles sub-block 2c + 1), then per
// sub-block j the floats d * sc[j] (8 zmm), the mins as int16 pairs (m[2p], m[2p + 1]) (4 zmm), and
// dmin as floats.
struct Q4_KTr {
  static constexpr int kRows = 16, kTile = 8;
  static constexpr int kMinTokens = 3;  // below, the vec_dot loop measured faster in batched decode
  static constexpr int64_t kUnit = 256;
  static constexpr size_t kQsBytes = 32 * 64, kScOff = kQsBytes, kMinOff = kScOff + 8 * 64,
                          kDminOff = kMinOff + 4 * 64;
  static constexpr size_t kPanelUnitBytes = kDminOff + 64;
  static constexpr size_t kActUnitBytes = detail::act_unit_bytes_q8_k(kTile);
  static constexpr int64_t kChunkUnits = 2;  // 512 elements; 4 or 8 measured slower
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 256) * 144; }
  static size_t extra_act_bytes(int64_t k, int n) {
    return static_cast<size_t>(n) * dtype_row_bytes(DType::Q8_K, k);
  }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    auto* a = static_cast<uint8_t*>(act);
    const size_t groups =
        align_up(static_cast<size_t>((n + kTile - 1) / kTile * (k / kUnit)) * kActUnitBytes);
    detail::pack_act_q8_k(x, k, n, t0, t1, a, kTile, detail::Q8KMeta::kQ4K, a + groups);
  }

  // One super-block of 16 rows (nrows real), transposed: its 32 nibble zmm stored at `qs` (the
  // panel's layout above), its headers returned in hd[0..3], lane = row: d | dmin << 16, then the
  // three scale words. Shared by this packer and the prepacked one (Q4_KPk).
  HEARTH_GEMM_TARGET static void transpose_block(const uint8_t* blk, size_t row_bytes, int nrows,
                                                 uint8_t* qs, __m512i hd[16]) {
    for (int h = 0; h < 2; ++h) {
      __m512i r[16];
      load_rows_masked(blk + 16 + 64 * h, row_bytes, nrows, 64, r);
      transpose16x16(r);
      for (int j = 0; j < 16; ++j) _mm512_storeu_si512(qs + 64 * (16 * h + j), r[j]);
    }
    load_rows_masked(blk, row_bytes, nrows, 16, hd);
    transpose16x16(hd);
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    for (int64_t b = 0; b < nu; ++b) {
      uint8_t* dst = panel + static_cast<size_t>(b) * kPanelUnitBytes;
      __m512i hd[16];
      transpose_block(w + static_cast<size_t>(u0 + b) * 144, row_bytes, nrows, dst, hd);
      const Q4KHeaders h(hd[0], hd[1], hd[2], hd[3]);
      for (int j = 0; j < 8; ++j) _mm512_store_ps(dst + kScOff + 64 * j, h.dsc(j));
      for (int p = 0; p < 4; ++p) _mm512_store_si512(dst + kMinOff + 64 * p, h.min_pair(p));
      _mm512_store_ps(dst + kDminOff, h.dmin);
    }
  }

  // The scales of a run-time panel's unit, as pack() stored them.
  struct PanelScales {
    const uint8_t* unit;
    HEARTH_GEMM_TARGET __m512 dsc(int j) const { return _mm512_load_ps(unit + kScOff + 64 * j); }
    HEARTH_GEMM_TARGET __m512i min_pair(int p) const {
      return _mm512_load_si512(unit + kMinOff + 64 * p);
    }
    HEARTH_GEMM_TARGET __m512 dmins() const { return _mm512_load_ps(unit + kDminOff); }
  };

  // One super-block for C tokens: qs holds its 32 nibble zmm, `sc` its scales (PanelScales, or
  // Q4KHeaders computed from a prepacked unit's headers: the same floats either way).
  template <int C, class Scales>
  HEARTH_GEMM_TARGET static void unit(const uint8_t* qs, const uint8_t* act, const Scales& sc,
                                      __m512 acc[C]) {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __m512 part[C];
    for (int c = 0; c < C; ++c) part[c] = _mm512_setzero_ps();
    for (int j = 0; j < 8; ++j) {
      __m512i wq[8];
      for (int g = 0; g < 8; ++g) {
        const __m512i p = _mm512_load_si512(qs + 64 * (8 * (j / 2) + g));
        wq[g] = _mm512_and_si512(j % 2 == 0 ? p : _mm512_srli_epi16(p, 4), nib);
      }
      const __m512 dsc = sc.dsc(j);
      for (int c = 0; c < C; ++c) {
        // Two chains a token, for one token and for several: one chain of eight is bound by
        // vpdpbusd's latency, and with 8 tokens the chains waiting in the scheduler left the
        // pipes idle (two chains: 1.03-1.15x, BM_prefill). Integer sums are exact, so every
        // split gives the same sum.
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        for (int g = 0; g < 4; ++g) {
          s0 = dpbusd_b<(C > 1)>(s0, wq[g], act + 256 * c + 32 * j + 4 * g);
          s1 = dpbusd_b<(C > 1)>(s1, wq[g + 4], act + 256 * c + 32 * j + 4 * (g + 4));
        }
        part[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), dsc, part[c]);
      }
    }
    const __m512 dmin = sc.dmins();
    const uint8_t* meta = act + 256 * kTile;
    for (int c = 0; c < C; ++c) {
      const uint8_t* mc = meta + sizeof(detail::ActMetaQ8_K) * c;
      __m512i s = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) s = dpwssd(s, sc.min_pair(p), bcast_i32(mc + 4 + 4 * p));
      part[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(s), dmin, part[c]);
      acc[c] = _mm512_fmadd_ps(part[c], bcast_f32(mc), acc[c]);
    }
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes)
      unit<C>(panel, act, PanelScales{panel}, acc);
    acc_store<C>(acc, y, ldy, m);
  }
};

// ---- Q6_K x Q8_K -------------------------------------------------------------------------------
// Panel unit: 64 zmm of 6-bit weight dwords as stored, 0..63 (zmm q lane i = row i's elements
// 4q .. 4q + 3), then per 16-element sub-block g the floats d * scales[g] (16 zmm).
struct Q6_KTr {
  static constexpr int kRows = 16, kTile = 8;
  static constexpr int kMinTokens = 3;
  static constexpr int64_t kUnit = 256;
  static constexpr size_t kScOff = 64 * 64;
  static constexpr size_t kPanelUnitBytes = kScOff + 16 * 64;
  static constexpr size_t kActUnitBytes = detail::act_unit_bytes_q8_k(kTile);
  static constexpr int64_t kChunkUnits = 2;  // 512 elements; 4 or 8 measured slower
  static size_t row_bytes(int64_t k) { return static_cast<size_t>(k / 256) * 210; }
  static size_t extra_act_bytes(int64_t k, int n) {
    return static_cast<size_t>(n) * dtype_row_bytes(DType::Q8_K, k);
  }
  static void pack_act(const float* x, int64_t k, int n, int t0, int t1, void* act) {
    auto* a = static_cast<uint8_t*>(act);
    const size_t groups =
        align_up(static_cast<size_t>((n + kTile - 1) / kTile * (k / kUnit)) * kActUnitBytes);
    detail::pack_act_q8_k(x, k, n, t0, t1, a, kTile, detail::Q8KMeta::kQ6K, a + groups);
  }

  // One row's 256 six-bit values in element order (see BlockQ6_K).
  HEARTH_GEMM_TARGET static void decode(const quant::BlockQ6_K& q, uint8_t out[256]) {
    const __m512i nib = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl_a = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
    const __m512i shr_b = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(q.ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.qh + 32 * h)));
      const __m512i hi_a = _mm512_and_si512(_mm512_sllv_epi64(qh, shl_a), m30);
      const __m512i hi_b = _mm512_and_si512(_mm512_srlv_epi64(qh, shr_b), m30);
      _mm512_storeu_si512(out + 128 * h, _mm512_ternarylogic_epi64(ql, nib, hi_a, 0xEA));
      _mm512_storeu_si512(out + 128 * h + 64,
                          _mm512_ternarylogic_epi64(_mm512_srli_epi16(ql, 4), nib, hi_b, 0xEA));
    }
  }

  // From 16 rows' scales and d transposed to dwords (lane = row): the dword holding d, as floats;
  // and d * scale of sub-block g from the dword holding scales 4 (g / 4) .. 4 (g / 4) + 3. Shared
  // with the prepacked tile (Q6_KPk), so both compute the same floats.
  [[gnu::always_inline]] HEARTH_GEMM_TARGET static __m512 row_d(__m512i d_word) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d_word));
  }
  [[gnu::always_inline]] HEARTH_GEMM_TARGET static __m512 d_scale(__m512 d, __m512i scale_word,
                                                                  int g) {
    const __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(scale_word, 24 - 8 * (g % 4)), 24);
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
  }

  HEARTH_GEMM_TARGET static void pack(const uint8_t* w, size_t row_bytes, int nrows, int64_t u0,
                                      int64_t nu, uint8_t* panel) {
    for (int64_t b = 0; b < nu; ++b) {
      const uint8_t* blk = w + static_cast<size_t>(u0 + b) * 210;
      uint8_t* dst = panel + static_cast<size_t>(b) * kPanelUnitBytes;
      alignas(64) uint8_t rows[16][256];
      for (int i = 0; i < nrows; ++i)
        decode(*reinterpret_cast<const quant::BlockQ6_K*>(blk + row_bytes * i), rows[i]);
      for (int i = nrows; i < 16; ++i) std::memset(rows[i], 0, 256);
      for (int part = 0; part < 4; ++part) {
        __m512i r[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(rows[i] + 64 * part);
        transpose16x16(r);
        for (int j = 0; j < 16; ++j) _mm512_store_si512(dst + 64 * (16 * part + j), r[j]);
      }
      // scales[16] and d of the 16 rows, lane = row: four words of int8 scales, then d.
      __m512i hd[16];
      load_rows_masked(blk + offsetof(quant::BlockQ6_K, scales), row_bytes, nrows, 18, hd);
      transpose16x16(hd);
      const __m512 d = row_d(hd[4]);
      for (int g = 0; g < 16; ++g) _mm512_store_ps(dst + kScOff + 64 * g, d_scale(d, hd[g / 4], g));
    }
  }

  // Sub-block g (16 elements) of a unit for C tokens, its four weight dwords and d * scale given:
  // added to part[c]. Then, after the unit's 16 sub-blocks, part[c] scaled by the token's d into
  // acc[c]. Shared with the prepacked tile (Q6_KPk), so both sum in the same order.
  template <int C>
  [[gnu::always_inline]] HEARTH_GEMM_TARGET static void add_sub_block(const __m512i wq[4],
                                                                      __m512 dsc,
                                                                      const uint8_t* act, int g,
                                                                      __m512 part[C]) {
    const uint8_t* meta = act + 256 * kTile;
    for (int c = 0; c < C; ++c) {
      __m512i s = bcast_i32(meta + sizeof(detail::ActMetaQ8_K) * c + 4 + 4 * g);
      for (int q = 0; q < 4; ++q) s = dpbusd_b<(C > 1)>(s, wq[q], act + 256 * c + 16 * g + 4 * q);
      part[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), dsc, part[c]);
    }
  }
  template <int C>
  [[gnu::always_inline]] HEARTH_GEMM_TARGET static void add_unit(const __m512 part[C],
                                                                 const uint8_t* act,
                                                                 __m512 acc[C]) {
    const uint8_t* meta = act + 256 * kTile;
    for (int c = 0; c < C; ++c)
      acc[c] = _mm512_fmadd_ps(part[c], bcast_f32(meta + sizeof(detail::ActMetaQ8_K) * c), acc[c]);
  }

  template <int C>
  HEARTH_GEMM_TARGET static void tile(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
    const __mmask16 m = row_mask(nrows, 0);
    __m512 acc[C];
    acc_init<C>(acc, y, ldy, m, accumulate);
    for (int64_t u = 0; u < nu; ++u, panel += kPanelUnitBytes, act += kActUnitBytes) {
      __m512 part[C];
      for (int c = 0; c < C; ++c) part[c] = _mm512_setzero_ps();
      for (int g = 0; g < 16; ++g) {
        __m512i wq[4];
        for (int q = 0; q < 4; ++q) wq[q] = _mm512_load_si512(panel + 64 * (4 * g + q));
        add_sub_block<C>(wq, _mm512_load_ps(panel + kScOff + 64 * g), act, g, part);
      }
      add_unit<C>(part, act, acc);
    }
    acc_store<C>(acc, y, ldy, m);
  }
};
