// The loop nest shared by every GEMM kernel, and the dword transpose the weight packers use.
// Included (deliberately without #pragma once) inside an anonymous namespace by each kernel file,
// after it has defined HEARTH_GEMM_TARGET: the code is compiled once per target.
//
// Expects <immintrin.h>, <algorithm>, <array>, <cstring>, <type_traits>, <utility> and gemm.h to be
// included.

#ifndef HEARTH_GEMM_TARGET
#error "define HEARTH_GEMM_TARGET before including gemm_driver_impl.h"
#endif

inline constexpr size_t kAlign = 64;
// Activations of one token chunk x k chunk: sized for L2 (1 MiB per core here, with room for the
// panel and the outputs). Larger token chunks measured no faster.
inline constexpr size_t kActChunkBytes = 384 << 10;
inline constexpr size_t align_up(size_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

// AVX-512 only (a kernel file for a narrower target defines HEARTH_GEMM_NO_AVX512).
#ifndef HEARTH_GEMM_NO_AVX512
// In place: r[j] lane i := r[i] lane j, for a 16 x 16 matrix of dwords.
HEARTH_GEMM_TARGET inline void transpose16x16(__m512i r[16]) {
  __m512i t[16];
  // Within each 128-bit lane, 4 x 4 transposes of the row groups {4q .. 4q + 3}.
  for (int q = 0; q < 4; ++q) {
    const __m512i a = r[4 * q], b = r[4 * q + 1], c = r[4 * q + 2], d = r[4 * q + 3];
    const __m512i ab_lo = _mm512_unpacklo_epi32(a, b), ab_hi = _mm512_unpackhi_epi32(a, b);
    const __m512i cd_lo = _mm512_unpacklo_epi32(c, d), cd_hi = _mm512_unpackhi_epi32(c, d);
    t[4 * q + 0] = _mm512_unpacklo_epi64(ab_lo, cd_lo);
    t[4 * q + 1] = _mm512_unpackhi_epi64(ab_lo, cd_lo);
    t[4 * q + 2] = _mm512_unpacklo_epi64(ab_hi, cd_hi);
    t[4 * q + 3] = _mm512_unpackhi_epi64(ab_hi, cd_hi);
  }
  // t[4q + j] lane L holds rows 4q..4q+3 at dword 4L + j; gather the 128-bit lanes.
  for (int j = 0; j < 4; ++j) {
    const __m512i v0 = _mm512_shuffle_i32x4(t[j], t[4 + j], 0x44);
    const __m512i v1 = _mm512_shuffle_i32x4(t[j], t[4 + j], 0xEE);
    const __m512i v2 = _mm512_shuffle_i32x4(t[8 + j], t[12 + j], 0x44);
    const __m512i v3 = _mm512_shuffle_i32x4(t[8 + j], t[12 + j], 0xEE);
    r[0 + j] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[4 + j] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    r[8 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

// Lanes of a 16-row group that hold real rows (the rest of a short last panel are padding).
inline __mmask16 row_mask(int nrows, int group) {
  const int v = std::clamp(nrows - 16 * group, 0, 16);
  return static_cast<__mmask16>((1u << v) - 1u);
}
#endif  // HEARTH_GEMM_NO_AVX512

// Prefetches bytes [begin, begin + len) of nrows rows into L2.
inline void prefetch_rows(const uint8_t* w, size_t row_bytes, int nrows, size_t begin, size_t len) {
  for (int i = 0; i < nrows; ++i) {
    const uint8_t* p = w + row_bytes * static_cast<size_t>(i) + begin;
    for (size_t o = 0; o < len; o += 64) __builtin_prefetch(p + o, 0, 2);
    __builtin_prefetch(p + len - 1, 0, 2);
  }
}

// Kernel traits (one struct per weight type and tile shape):
//   kRows, kTile          panel rows, tokens per activation group
//   kUnit                 k elements per unit (a quant block, or 1 for floats)
//   kPanelUnitBytes       packed weight bytes per unit for kRows rows
//   kActUnitBytes         activation bytes per unit for kTile tokens
//   kChunkUnits           units per k chunk (the panel's size in cache)
//   kMinTokens            the smallest batch worth packing weights for
//   row_bytes(k)          bytes of one weight row
//   extra_act_bytes(k, n) workspace pack_act needs besides the token groups
//   pack_act(...)         GemmKernel::pack_act
//   pack(w, row_bytes, nrows, u0, nu, panel)   units [u0, u0 + nu) of nrows rows into the panel
//   tile<C>(panel, act, nu, y, ldy, nrows, accumulate)   C = 1..kTile tokens; adds to y when
//                         accumulate (k chunks after the first), else overwrites
template <class Tr, int C>
HEARTH_GEMM_TARGET void tile_entry(const uint8_t* panel, const uint8_t* act, int64_t nu, float* y,
                                   int64_t ldy, int nrows, bool accumulate) {
  Tr::template tile<C>(panel, act, nu, y, ldy, nrows, accumulate);
}

template <class Tr>
using TileFn = void (*)(const uint8_t*, const uint8_t*, int64_t, float*, int64_t, int, bool);

template <class Tr, size_t... I>
constexpr std::array<TileFn<Tr>, sizeof...(I)> make_tiles(std::index_sequence<I...>) {
  return {&tile_entry<Tr, static_cast<int>(I) + 1>...};
}

template <class Tr>
size_t act_bytes_for(int64_t k, int n) {
  const int64_t groups = (n + Tr::kTile - 1) / Tr::kTile;
  return align_up(static_cast<size_t>(groups * (k / Tr::kUnit)) * Tr::kActUnitBytes) +
         Tr::extra_act_bytes(k, n);
}

template <class Tr>
size_t scratch_bytes_for(int64_t k, int /*n*/) {
  // One unit of slack: kernels that pack pairs of units round an odd count up.
  const int64_t units = std::min<int64_t>(k / Tr::kUnit, Tr::kChunkUnits) + 1;
  return align_up(static_cast<size_t>(units) * Tr::kPanelUnitBytes);
}

template <class Tr>
HEARTH_GEMM_TARGET void run_gemm(const void* w, int64_t rows, int64_t k, const void* act, int n,
                                 int64_t r0, int64_t r1, float* y, void* scratch) {
  static constexpr auto kTiles = make_tiles<Tr>(std::make_index_sequence<Tr::kTile>{});
  const int64_t units = k / Tr::kUnit;
  if (units == 0) {  // empty rows: the products are 0
    for (int t = 0; t < n; ++t)
      std::fill(y + static_cast<int64_t>(t) * rows + r0, y + static_cast<int64_t>(t) * rows + r1,
                0.0f);
    return;
  }
  const size_t row_bytes = Tr::row_bytes(k);
  const size_t unit_bytes = row_bytes / static_cast<size_t>(units);
  const int groups = (n + Tr::kTile - 1) / Tr::kTile;
  const int64_t chunk_units = std::min<int64_t>(units, Tr::kChunkUnits);
  const int chunk_groups = static_cast<int>(std::clamp<int64_t>(
      static_cast<int64_t>(kActChunkBytes / (static_cast<size_t>(chunk_units) * Tr::kActUnitBytes)),
      1, groups));
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  auto* panel = static_cast<uint8_t*>(scratch);
  // Per token chunk (usually the whole batch: its activations for one k chunk fit in L2), each
  // panel of rows runs through k in chunks: the weights are read row after row, and the panel's
  // outputs stay in cache from one k chunk to the next. The weights of the next k chunk (or next
  // panel) come from DRAM: they are prefetched a few rows before each tile, while tiles compute.
  for (int g0 = 0; g0 < groups; g0 += chunk_groups) {
    const int g1 = std::min(groups, g0 + chunk_groups);
    for (int64_t r = r0; r < r1; r += Tr::kRows) {
      const int nrows = static_cast<int>(std::min<int64_t>(Tr::kRows, r1 - r));
      for (int64_t u0 = 0; u0 < units; u0 += chunk_units) {
        const int64_t nu = std::min<int64_t>(chunk_units, units - u0);
        Tr::pack(wb + static_cast<size_t>(r) * row_bytes, row_bytes, nrows, u0, nu, panel);
        const uint8_t* next = wb + static_cast<size_t>(r) * row_bytes;
        int next_rows = nrows;
        int64_t next_u0 = u0 + nu;
        if (next_u0 >= units) {
          next += static_cast<size_t>(Tr::kRows) * row_bytes;
          next_rows = static_cast<int>(std::clamp<int64_t>(r1 - r - Tr::kRows, 0, Tr::kRows));
          next_u0 = 0;
        }
        const size_t next_begin = static_cast<size_t>(next_u0) * unit_bytes;
        const size_t next_len =
            static_cast<size_t>(std::min<int64_t>(chunk_units, units - next_u0)) * unit_bytes;
        for (int g = g0; g < g1; ++g) {
          const int p0 = next_rows * (g - g0) / (g1 - g0),
                    p1 = next_rows * (g + 1 - g0) / (g1 - g0);
          prefetch_rows(next + static_cast<size_t>(p0) * row_bytes, row_bytes, p1 - p0, next_begin,
                        next_len);
          const int t = g * Tr::kTile;
          const int c = std::min(Tr::kTile, n - t);
          const uint8_t* a =
              ab + static_cast<size_t>(static_cast<int64_t>(g) * units + u0) * Tr::kActUnitBytes;
          kTiles[static_cast<size_t>(c - 1)](panel, a, nu, y + static_cast<int64_t>(t) * rows + r,
                                             rows, nrows, u0 > 0);
        }
      }
    }
  }
}

template <class Tr>
constexpr GemmKernel make_kernel(const char* name) {
  return GemmKernel{name,
                    Tr::kRows,
                    Tr::kTile,
                    Tr::kMinTokens,
                    &act_bytes_for<Tr>,
                    &Tr::pack_act,
                    &scratch_bytes_for<Tr>,
                    &run_gemm<Tr>,
                    nullptr,
                    nullptr,
                    nullptr,
                    nullptr,
                    nullptr};
}

// ---- Prepacked weights -------------------------------------------------------------------------
// Pk traits describe a whole-matrix layout built at load: panel p (kRows rows from kRows * p) is
// units * kUnitBytes contiguous bytes, unit u holding k elements [u * kUnit, (u + 1) * kUnit) of
// the panel's rows as the kernel reads them. Pk::Act is the run-time traits whose activation layout
// (kTile, kActUnitBytes per Act::kUnit elements, pack_act) the tiles read.
//   kChunkUnits           units per k chunk when several token groups share a panel
//   kChunkedSums          true where a tile sums its k chunk from zero and adds that to y
//                         (AVX2): where k is split then changes the float result, so it must be
//                         split as in run(). False where the tile carries y on in its
//                         accumulators (AVX-512): every split gives the same bits, so one token
//                         group (decoding) need not split k
//   fits(rows, k)                      whether the layout exists for this shape
//   pack_panel(w, row_bytes, nrows, units, dst)
//   tile<C>(panel, act, nu, y, ldy, nrows, accumulate)   as Tr::tile, over prepacked units
template <class Pk>
bool prepack_fits_for(int64_t rows, int64_t k) {
  return rows > 0 && k > 0 && k % Pk::kUnit == 0 && Pk::fits(rows, k);
}

template <class Pk>
size_t prepacked_bytes_for(int64_t rows, int64_t k) {
  const int64_t panels = (rows + Pk::kRows - 1) / Pk::kRows;
  return static_cast<size_t>(panels * (k / Pk::kUnit)) * Pk::kUnitBytes;
}

template <class Pk>
HEARTH_GEMM_TARGET void prepack_rows(const void* w, int64_t rows, int64_t k, int64_t r0, int64_t r1,
                                     void* dst) {
  const int64_t units = k / Pk::kUnit;
  const size_t row_bytes = Pk::Act::row_bytes(k);
  const size_t panel_bytes = static_cast<size_t>(units) * Pk::kUnitBytes;
  for (int64_t r = r0; r < r1; r += Pk::kRows) {
    const int nrows = static_cast<int>(std::min<int64_t>(Pk::kRows, rows - r));
    Pk::pack_panel(static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * row_bytes, row_bytes,
                   nrows, units,
                   static_cast<uint8_t*>(dst) + static_cast<size_t>(r / Pk::kRows) * panel_bytes);
  }
}

// kStream: the tile reads its panel from memory (one token group, or the first group of a k
// chunk); the layouts that prefetch ahead in their tiles (kPrefetchUnits) then do.
template <class Pk, int C, bool kStream>
HEARTH_GEMM_TARGET void pk_tile_entry(const uint8_t* panel, const uint8_t* act, int64_t nu,
                                      float* y, int64_t ldy, int nrows, bool accumulate) {
  if constexpr (kStream && requires { Pk::kPrefetchUnits; })
    Pk::template tile<C, true>(panel, act, nu, y, ldy, nrows, accumulate);
  else
    Pk::template tile<C>(panel, act, nu, y, ldy, nrows, accumulate);
}

template <class Pk, bool kStream, size_t... I>
constexpr std::array<TileFn<Pk>, sizeof...(I)> make_pk_tiles(std::index_sequence<I...>) {
  return {&pk_tile_entry<Pk, static_cast<int>(I) + 1, kStream>...};
}

// How run_prepacked splits a product of `groups` token groups: k chunks of chunk_units units,
// token chunks of chunk_groups token groups.
struct PrepackedSplit {
  int groups;
  int64_t chunk_units;
  int chunk_groups;
};

template <class Pk>
PrepackedSplit prepacked_split(int64_t k, int n) {
  using Act = typename Pk::Act;
  const int64_t units = k / Pk::kUnit;
  const int groups = (n + Act::kTile - 1) / Act::kTile;
  // Several token groups each walk one L2-sized piece of a panel. Where the chunking is part of
  // the result it is run()'s; otherwise one token group (decoding) takes a panel's whole k in one
  // tile call, its outputs staying in registers.
  static_assert(!Pk::kChunkedSums || Pk::kChunkUnits * Pk::kUnit == Act::kChunkUnits * Act::kUnit);
  const int64_t chunk_units =
      groups == 1 && !Pk::kChunkedSums ? units : std::min<int64_t>(units, Pk::kChunkUnits);
  const size_t act_unit_bytes = static_cast<size_t>(Pk::kUnit / Act::kUnit) * Act::kActUnitBytes;
  const int chunk_groups = static_cast<int>(std::clamp<int64_t>(
      static_cast<int64_t>(
          kActChunkBytes /
          (static_cast<size_t>(std::max<int64_t>(chunk_units, 1)) * act_unit_bytes)),
      1, std::max(groups, 1)));
  return {groups, chunk_units, chunk_groups};
}

// Several token groups keep a panel's outputs in a per-thread staging area between k chunks,
// kRows floats a token back to back, and copy them to y once the panel's k is done. Written
// straight to y, a tile's tokens lie a whole output row apart: a multiple of 4 KiB for every
// Llama matrix, so each tile's loads and stores of y all fall in one L1 set and alias the
// stores of the tile before it (a stand-alone Q8_0 tile ran 0.95x with y 16 KiB a token apart).
// With the next chunk's prefetch below, BM_prefill (8 alternating runs, one thread): Q8_0 1.06x,
// Q6_K 1.05x, Q4_K 1.03x, Q4_0 level; either change alone measured level.
template <class Pk>
size_t prepacked_scratch_bytes_for(int64_t k, int n) {
  using Act = typename Pk::Act;
  if (n <= Act::kTile) return 0;
  return static_cast<size_t>(prepacked_split<Pk>(k, n).chunk_groups) * Act::kTile * Pk::kRows *
         sizeof(float);
}

template <class Pk>
HEARTH_GEMM_TARGET void run_prepacked(const void* packed, int64_t rows, int64_t k, const void* act,
                                      int n, int64_t r0, int64_t r1, float* y, void* scratch) {
  using Act = typename Pk::Act;
  static_assert(Pk::kUnit % Act::kUnit == 0);
  static constexpr int64_t kActPerUnit = Pk::kUnit / Act::kUnit;
  static constexpr auto kChunkTiles =
      make_pk_tiles<Pk, false>(std::make_index_sequence<Act::kTile>{});
  static constexpr auto kStreamTiles =
      make_pk_tiles<Pk, true>(std::make_index_sequence<Act::kTile>{});
  const int64_t units = k / Pk::kUnit;
  const size_t panel_bytes = static_cast<size_t>(units) * Pk::kUnitBytes;
  const auto [groups, chunk_units, chunk_groups] = prepacked_split<Pk>(k, n);
  const size_t act_unit_bytes = static_cast<size_t>(kActPerUnit) * Act::kActUnitBytes;
  const bool staged = groups > 1;
  auto* stage = static_cast<float*>(scratch);
  const auto* ab = static_cast<const uint8_t*>(act);
  const auto* pb = static_cast<const uint8_t*>(packed);
  const uint8_t* pend = pb + static_cast<size_t>((r1 + Pk::kRows - 1) / Pk::kRows) * panel_bytes;
  for (int g0 = 0; g0 < groups; g0 += chunk_groups) {
    const int g1 = std::min(groups, g0 + chunk_groups);
    for (int64_t r = r0; r < r1; r += Pk::kRows) {
      const int nrows = static_cast<int>(std::min<int64_t>(Pk::kRows, r1 - r));
      const uint8_t* panel = pb + static_cast<size_t>(r / Pk::kRows) * panel_bytes;
      for (int64_t u0 = 0; u0 < units; u0 += chunk_units) {
        const int64_t nu = std::min<int64_t>(chunk_units, units - u0);
        const uint8_t* cur = panel + static_cast<size_t>(u0) * Pk::kUnitBytes;
        // The first token group reads this chunk from memory; the next chunk (of this panel or
        // the next: panels lie back to back) is brought into L2 a slice per token group, while
        // the groups compute.
        const uint8_t* next = cur + static_cast<size_t>(nu) * Pk::kUnitBytes;
        const size_t next_len = std::min<size_t>(static_cast<size_t>(chunk_units) * Pk::kUnitBytes,
                                                 static_cast<size_t>(pend - next));
        for (int g = g0; g < g1; ++g) {
          if (staged) {
            const size_t b = next_len * static_cast<size_t>(g - g0) / static_cast<size_t>(g1 - g0),
                         e = next_len * static_cast<size_t>(g + 1 - g0) /
                             static_cast<size_t>(g1 - g0);
            prefetch_rows(next, 0, 1, b, e - b);
          }
          const int t = g * Act::kTile;
          const int c = std::min(Act::kTile, n - t);
          const uint8_t* a =
              ab + static_cast<size_t>(static_cast<int64_t>(g) * units + u0) * act_unit_bytes;
          float* yt = staged ? stage + static_cast<size_t>(g - g0) * Act::kTile * Pk::kRows
                             : y + static_cast<int64_t>(t) * rows + r;
          // The first token group reads the chunk from memory: it streams, the others find it
          // in cache.
          const auto& tiles = !staged || g == g0 ? kStreamTiles : kChunkTiles;
          tiles[static_cast<size_t>(c - 1)](cur, a, nu, yt, staged ? Pk::kRows : rows, nrows,
                                            u0 > 0);
          // After the panel's last k chunk, each group's outputs go to y at once, while the next
          // groups compute (all at the panel's end, their stores waited on y's cache misses).
          if (staged && u0 + nu == units)
            for (int i = 0; i < c; ++i)
              std::memcpy(y + static_cast<int64_t>(t + i) * rows + r, yt + i * Pk::kRows,
                          static_cast<size_t>(nrows) * sizeof(float));
        }
      }
    }
  }
}

template <class Tr, class Pk>
constexpr GemmKernel make_kernel_prepacked(const char* name) {
  static_assert(std::is_same_v<typename Pk::Act, Tr> && Pk::kRows == Tr::kRows);
  GemmKernel g = make_kernel<Tr>(name);
  g.prepack_fits = &prepack_fits_for<Pk>;
  g.prepacked_bytes = &prepacked_bytes_for<Pk>;
  g.prepack = &prepack_rows<Pk>;
  g.run_prepacked = &run_prepacked<Pk>;
  g.prepacked_scratch_bytes = &prepacked_scratch_bytes_for<Pk>;
  return g;
}
