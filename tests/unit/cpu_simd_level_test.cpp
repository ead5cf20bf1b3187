// SIMD level names, parsing and the override used by tests and benchmarks.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_features.h"
#include "util/error.h"

namespace hearth::cpu {
namespace {

TEST(QuantSimdLevel, NamesRoundTrip) {
  for (int l = 0; l < kNumSimdLevels; ++l) {
    const auto level = static_cast<SimdLevel>(l);
    EXPECT_EQ(parse_simd_level(simd_level_name(level)), level);
  }
  EXPECT_EQ(parse_simd_level("avx512vnni"), SimdLevel::kAvx512Vnni);
  EXPECT_FALSE(parse_simd_level("sse2").has_value());
  EXPECT_FALSE(parse_simd_level("").has_value());
  EXPECT_FALSE(parse_simd_level("AVX2").has_value());
}

TEST(QuantSimdLevel, BestLevelIsConsistentWithFeatures) {
  const CpuFeatures& f = cpu_features();
  const SimdLevel best = best_simd_level();
  if (best >= SimdLevel::kAvx2) {
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c);
  }
  if (best >= SimdLevel::kAvx512) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq);
  }
  if (best == SimdLevel::kAvx512Vnni) {
    EXPECT_TRUE(f.avx512vnni);
  }
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma && f.f16c) {
    EXPECT_GE(best, SimdLevel::kAvx512);
  }
}

TEST(QuantSimdLevel, SetAndRestore) {
  const SimdLevel before = simd_level();
  for (int l = 0; l <= static_cast<int>(best_simd_level()); ++l) {
    const auto level = static_cast<SimdLevel>(l);
    set_simd_level(level);
    EXPECT_EQ(simd_level(), level);
  }
  set_simd_level(before);
  EXPECT_EQ(simd_level(), before);
  if (best_simd_level() != SimdLevel::kAvx512Vnni) {
    EXPECT_THROW(set_simd_level(SimdLevel::kAvx512Vnni), Error);
    EXPECT_EQ(simd_level(), before);
  }
}

}  // namespace
}  // namespace hearth::cpu
