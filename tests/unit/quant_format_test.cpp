// Dequantization against the GGUF format definitions, on blocks built by hand. Expected values
// come from the definitions written out here, never from the dequantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "format/dtype.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

namespace hearth::quant {
namespace {

std::vector<float> dequant(DType t, const void* src, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), -999.0f);
  dequantize_row(t, src, out.data(), n);
  return out;
}

TEST(QuantFormat, BlockSizesMatchDtypeTable) {
  EXPECT_EQ(sizeof(BlockQ8_0), dtype_info(DType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_0), dtype_info(DType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), dtype_info(DType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), dtype_info(DType::Q6_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_K), dtype_info(DType::Q8_K).block_bytes);
  EXPECT_EQ(kQK0, dtype_info(DType::Q4_0).block_size);
  EXPECT_EQ(kQKK, dtype_info(DType::Q6_K).block_size);
}

TEST(QuantFormat, F16AndBf16) {
  const uint16_t h[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555};
  auto f = dequant(DType::F16, h, 6);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.0f);
  EXPECT_EQ(f[2], 65504.0f);
  EXPECT_EQ(f[3], std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f[4], 0.0f);
  EXPECT_TRUE(std::signbit(f[4]));
  EXPECT_EQ(f[5], 0.333251953125f);
  const uint16_t b[] = {0x3F80, 0xC040, 0x4049, 0x0000};
  auto g = dequant(DType::BF16, b, 4);
  EXPECT_EQ(g[0], 1.0f);
  EXPECT_EQ(g[1], -3.0f);
  EXPECT_EQ(g[2], 3.140625f);
  EXPECT_EQ(g[3], 0.0f);
}

TEST(QuantFormat, Q8_0) {
  BlockQ8_0 blk[2];
  blk[0].d = 0x3800;  // 0.5
  for (int j = 0; j < 32; ++j) blk[0].qs[j] = static_cast<int8_t>(j - 16);
  blk[0].qs[0] = -128;
  blk[0].qs[31] = 127;
  blk[1].d = 0xC400;  // -4
  for (int j = 0; j < 32; ++j) blk[1].qs[j] = static_cast<int8_t>(j % 2 == 0 ? 3 : -1);
  auto f = dequant(DType::Q8_0, blk, 64);
  EXPECT_EQ(f[0], -64.0f);
  EXPECT_EQ(f[1], -7.5f);
  EXPECT_EQ(f[16], 0.0f);
  EXPECT_EQ(f[17], 0.5f);
  EXPECT_EQ(f[31], 63.5f);
  for (int j = 1; j < 31; ++j) EXPECT_EQ(f[j], 0.5f * static_cast<float>(j - 16)) << j;
  for (int j = 0; j < 32; ++j) EXPECT_EQ(f[32 + j], j % 2 == 0 ? -12.0f : 4.0f) << j;
}

TEST(QuantFormat, Q4_0NibbleOrder) {
  BlockQ4_0 blk[2];
  blk[0].d = 0x4000;  // 2
  // Low nibble of byte j is element j, high nibble is element j + 16.
  for (int j = 0; j < 16; ++j) blk[0].qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  blk[1].d = 0xBC00;                 // -1
  std::memset(blk[1].qs, 0x08, 16);  // low nibbles 8 (zero), high nibbles 0 (-8)
  auto f = dequant(DType::Q4_0, blk, 64);
  EXPECT_EQ(f[0], -16.0f);   // (0 - 8) * 2
  EXPECT_EQ(f[8], 0.0f);     // (8 - 8) * 2
  EXPECT_EQ(f[15], 14.0f);   // (15 - 8) * 2
  EXPECT_EQ(f[16], 14.0f);   // high nibble of byte 0 is 15
  EXPECT_EQ(f[31], -16.0f);  // high nibble of byte 15 is 0
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(f[j], 2.0f * static_cast<float>(j - 8));
    EXPECT_EQ(f[16 + j], 2.0f * static_cast<float>(7 - j));
    EXPECT_EQ(f[32 + j], 0.0f);
    EXPECT_EQ(f[48 + j], 8.0f);  // (0 - 8) * -1
  }
}

// Packs 6-bit scales and mins the way the format defines them (independent of the library).
void pack_q4k_scales(const int sc[8], const int m[8], uint8_t out[12]) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

TEST(QuantFormat, Q4_KScalePackingBytes) {
  const int sc[8] = {1, 2, 3, 4, 33, 47, 63, 16};
  const int m[8] = {0, 5, 10, 63, 17, 32, 48, 1};
  uint8_t s[12];
  pack_q4k_scales(sc, m, s);
  // Worked out by hand from the bit layout.
  const uint8_t expect[12] = {129, 130, 195, 68, 64, 133, 202, 63, 17, 15, 15, 16};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(s[i], expect[i]) << i;
  for (int j = 0; j < 8; ++j) {
    uint8_t a, b;
    q4k_scale_min(j, s, &a, &b);
    EXPECT_EQ(a, sc[j]);
    EXPECT_EQ(b, m[j]);
  }
  const Q4KScales all = q4k_unpack_scales(s);
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ((all.sc >> (8 * j)) & 0xFF, static_cast<uint64_t>(sc[j]));
    EXPECT_EQ((all.m >> (8 * j)) & 0xFF, static_cast<uint64_t>(m[j]));
  }
}

TEST(QuantFormat, Q4_K) {
  const int sc[8] = {1, 2, 3, 4, 33, 47, 63, 16};
  const int m[8] = {0, 5, 10, 63, 17, 32, 48, 1};
  BlockQ4_K blk;
  blk.d = 0x3C00;     // 1
  blk.dmin = 0x3800;  // 0.5
  pack_q4k_scales(sc, m, blk.scales);
  std::memset(blk.qs, 0, sizeof(blk.qs));
  auto q_of = [](int e) { return (e * 7) % 16; };
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, pos = e % 64;
    // Within a 64-element chunk: low nibbles hold the first 32, high nibbles the next 32.
    if (pos < 32)
      blk.qs[32 * chunk + pos] |= static_cast<uint8_t>(q_of(e));
    else
      blk.qs[32 * chunk + pos - 32] |= static_cast<uint8_t>(q_of(e) << 4);
  }
  auto f = dequant(DType::Q4_K, &blk, 256);
  EXPECT_EQ(f[0], 0.0f);      // q 0, sc 1, m 0
  EXPECT_EQ(f[1], 7.0f);      // q 7
  EXPECT_EQ(f[40], 13.5f);    // sub-block 1: q = 280 % 16 = 8 -> 2*8 - 0.5*5
  EXPECT_EQ(f[255], 143.5f);  // sub-block 7: q = 1785 % 16 = 9 -> 16*9 - 0.5*1
  EXPECT_EQ(f[200], 480.0f);  // sub-block 6: q = 1400 % 16 = 8 -> 63*8 - 0.5*48
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    const float expect = 1.0f * static_cast<float>(sc[j]) * static_cast<float>(q_of(e)) -
                         0.5f * static_cast<float>(m[j]);
    EXPECT_EQ(f[e], expect) << e;
  }
}

TEST(QuantFormat, Q6_K) {
  BlockQ6_K blk;
  std::memset(&blk, 0, sizeof(blk));
  blk.d = 0x3400;  // 0.25
  const int8_t sc[16] = {1, -1, 2, -2, 127, -128, 0, 5, 3, 4, -7, 9, 10, -11, 12, 64};
  std::memcpy(blk.scales, sc, 16);
  auto q_of = [](int e) { return e < 2 ? 63 * e : (e * 5) % 64; };  // 0 and 63 first
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
    const int q = q_of(e);
    uint8_t& lo = blk.ql[64 * h + 32 * (k % 2) + l];
    lo |= static_cast<uint8_t>(k < 2 ? (q & 15) : ((q & 15) << 4));
    blk.qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
  }
  auto f = dequant(DType::Q6_K, &blk, 256);
  EXPECT_EQ(f[0], -8.0f);      // 0.25 * 1 * (0 - 32)
  EXPECT_EQ(f[1], 7.75f);      // 0.25 * 1 * (63 - 32)
  EXPECT_EQ(f[64], -1016.0f);  // group 4, sc 127: q = 320 % 64 = 0 -> 0.25*127*(0-32)
  EXPECT_EQ(f[80], 512.0f);    // group 5, sc -128: q = 400 % 64 = 16 -> 0.25*-128*(16-32)
  for (int e = 0; e < 256; ++e) {
    const float expect = 0.25f * static_cast<float>(sc[e / 16]) * static_cast<float>(q_of(e) - 32);
    EXPECT_EQ(f[e], expect) << e;
  }
}

TEST(QuantFormat, Q8_K) {
  BlockQ8_K blk;
  std::memset(&blk, 0, sizeof(blk));
  blk.d = -0.125f;
  for (int j = 0; j < 256; ++j) blk.qs[j] = static_cast<int8_t>((j * 3) % 255 - 127);
  auto f = dequant(DType::Q8_K, &blk, 256);
  EXPECT_EQ(f[0], 15.875f);  // -127 * -0.125
  for (int j = 0; j < 256; ++j)
    EXPECT_EQ(f[j], -0.125f * static_cast<float>((j * 3) % 255 - 127)) << j;
}

}  // namespace
}  // namespace hearth::quant
