#include <gtest/gtest.h>

#include <cmath>

#include "quant/half.h"

namespace hearth {
namespace {

TEST(Half, EveryF16ValueRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(Half, F16KnownValuesAndRounding) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);            // rounds up to infinity
  EXPECT_EQ(f32_to_f16(5.9604645e-8f), 0x0001);       // smallest subnormal
  EXPECT_EQ(f32_to_f16(2.9802322e-8f), 0x0000);       // half of it: ties to even (zero)
  EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);  // tie between 1 and next: even
  EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);  // tie: rounds to even (up)
  EXPECT_FLOAT_EQ(f16_to_f32(0x3555), 0.33325195f);
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  float tie_down, tie_up;
  uint32_t a = 0x3f808000u, b = 0x3f818000u;  // exactly halfway cases
  std::memcpy(&tie_down, &a, 4);
  std::memcpy(&tie_up, &b, 4);
  EXPECT_EQ(f32_to_bf16(tie_down), 0x3f80);
  EXPECT_EQ(f32_to_bf16(tie_up), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (uint32_t h = 0; h < 65536; h += 7) {
    float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), h);
    }
  }
}

}  // namespace
}  // namespace hearth
