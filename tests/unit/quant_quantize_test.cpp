// Reference quantizers: exact bytes on hand-worked examples (rounding of halves, all-zero blocks,
// negative extremes), error bounds on random data, and exact round trips of representable inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "format/dtype.h"
#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/quantize.h"

namespace hearth::quant {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(dtype_row_bytes(t, n));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), n);
  return y;
}

double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s / static_cast<double>(v.size()));
}

double rms_error(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return std::sqrt(s / static_cast<double>(a.size()));
}

// ---- Q8_0: d = amax / 127, q = roundf(x / d) (halves away from zero) ----

TEST(QuantQuantize, Q8_0HandWorkedBytes) {
  float x[32] = {127.0f, -127.0f, 2.5f, -2.5f, 1.5f, -0.5f, 0.49f, 0.5f, 126.5f, -3.5f};
  BlockQ8_0 b;
  quantize_row(DType::Q8_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x3C00);  // amax 127 -> d = 1.0
  const int8_t expect[10] = {127, -127, 3, -3, 2, -1, 0, 1, 127, -4};
  for (int j = 0; j < 10; ++j) EXPECT_EQ(b.qs[j], expect[j]) << j;
  for (int j = 10; j < 32; ++j) EXPECT_EQ(b.qs[j], 0) << j;
}

TEST(QuantQuantize, Q8_0NegativeMaxAndZeroBlock) {
  float x[64] = {};
  x[0] = 3.0f;     // 1.5 -> 2
  x[1] = -254.0f;  // amax 254 -> d = 2
  x[2] = 5.0f;     // 2.5 -> 3
  x[3] = -1.0f;    // -0.5 -> -1
  x[4] = 1.0f;     // 0.5 -> 1
  BlockQ8_0 b[2];
  std::memset(b, 0x5A, sizeof(b));
  quantize_row(DType::Q8_0, x, b, 64);
  EXPECT_EQ(b[0].d, 0x4000);
  EXPECT_EQ(b[0].qs[0], 2);
  EXPECT_EQ(b[0].qs[1], -127);
  EXPECT_EQ(b[0].qs[2], 3);
  EXPECT_EQ(b[0].qs[3], -1);
  EXPECT_EQ(b[0].qs[4], 1);
  EXPECT_EQ(b[1].d, 0x0000);  // all-zero block: d = +0, every quant 0
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b[1].qs[j], 0);
}

TEST(QuantQuantize, Q8_0ErrorBound) {
  auto x = gaussian(32 * 64, 1, 3.0f);
  auto y = round_trip(DType::Q8_0, x);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float d = amax / 127.0f;
    const float d16 = f16_to_f32(f32_to_f16(d));
    // Half a step, plus what storing d in f16 moves the largest quant by.
    const float bound = 0.5f * d + 127.0f * std::fabs(d - d16) + 1e-6f * amax;
    for (int j = 0; j < 32; ++j)
      ASSERT_LE(std::fabs(x[32 * b + j] - y[32 * b + j]), bound) << b << " " << j;
  }
}

// ---- Q4_0: d = max / -8 (max = signed value of largest magnitude), q = min(15, trunc(x/d + 8.5))
// ----

TEST(QuantQuantize, Q4_0HandWorkedBytes) {
  float x[32] = {};
  x[0] = -16.0f;  // max -> d = 2, q = trunc(-8 + 8.5) = 0
  x[1] = 14.0f;   // 7 + 8.5 = 15.5 -> 15
  x[2] = 15.0f;   // 7.5 + 8.5 = 16 -> clamped 15
  x[3] = 1.0f;    // 0.5 + 8.5 = 9 -> 9 (half rounds up)
  x[4] = -1.0f;   // -0.5 + 8.5 = 8 -> 8 (half rounds up, towards +inf)
  x[5] = 3.0f;    // 1.5 + 8.5 = 10
  x[16] = -3.0f;  // -1.5 + 8.5 = 7
  x[17] = 16.0f;  // same magnitude as x[0] but later: x[0] stays the max; 8 + 8.5 -> 15
  x[31] = -2.9f;  // -1.45 + 8.5 = 7.05 -> 7
  BlockQ4_0 b;
  quantize_row(DType::Q4_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x4000);    // 2.0
  EXPECT_EQ(b.qs[0], 0x70);  // elements 0 (0) and 16 (7)
  EXPECT_EQ(b.qs[1], 0xFF);  // elements 1 (15) and 17 (15)
  EXPECT_EQ(b.qs[2], 0x8F);  // 15 and element 18 = 0 -> 8
  EXPECT_EQ(b.qs[3], 0x89);
  EXPECT_EQ(b.qs[4], 0x88);
  EXPECT_EQ(b.qs[5], 0x8A);
  EXPECT_EQ(b.qs[15], 0x78);  // element 15 = 0 -> 8, element 31 -> 7
}

TEST(QuantQuantize, Q4_0PositiveMaxAndZeroBlock) {
  float x[64] = {};
  x[0] = 16.0f;   // first of equal magnitudes: max = +16 -> d = -2
  x[1] = -16.0f;  // -16 / -2 = 8 -> 16.5 -> 15
  x[2] = -14.0f;  // 7 + 8.5 -> 15
  x[3] = 2.0f;    // -1 + 8.5 -> 7
  BlockQ4_0 b[2];
  quantize_row(DType::Q4_0, x, b, 64);
  EXPECT_EQ(b[0].d, 0xC000);  // -2.0
  EXPECT_EQ(b[0].qs[0], 0x80);
  EXPECT_EQ(b[0].qs[1], 0x8F);
  EXPECT_EQ(b[0].qs[2], 0x8F);
  EXPECT_EQ(b[0].qs[3], 0x87);
  // All zero: d = 0 / -8 = -0.0 (f16 0x8000), every quant 8.
  EXPECT_EQ(b[1].d, 0x8000);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b[1].qs[j], 0x88);
}

TEST(QuantQuantize, Q4_0ErrorBound) {
  auto x = gaussian(32 * 64, 2, 0.5f);
  auto y = round_trip(DType::Q4_0, x);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[32 * b + j]) > amax) {
        amax = std::fabs(x[32 * b + j]);
        max = x[32 * b + j];
      }
    const float d = max / -8.0f;
    const float d16 = f16_to_f32(f32_to_f16(d));
    for (int j = 0; j < 32; ++j) {
      const float xi = x[32 * b + j];
      // The grid is d * (-8..7): beyond 7 steps on the far side the error grows to the clamp.
      const float ideal = std::clamp(xi / d, -8.0f, 7.0f) * d;
      const float bound =
          std::fabs(xi - ideal) + 0.5f * std::fabs(d) + 8.0f * std::fabs(d - d16) + 1e-6f * amax;
      ASSERT_LE(std::fabs(xi - y[32 * b + j]), bound) << b << " " << j;
    }
  }
}

// ---- Q8_K: iscale = -127 / max, q = round-half-even(iscale * x), d = 1 / iscale ----

TEST(QuantQuantize, Q8_KHandWorked) {
  std::vector<float> x(512, 0.0f);
  x[0] = 2.5f;  // iscale = -127 / -127 = 1: RNE(2.5) = 2
  x[1] = -127.0f;
  x[2] = 127.0f;  // same magnitude, later: the max stays -127
  x[3] = 3.5f;    // RNE -> 4
  x[4] = -0.5f;   // RNE -> -0
  x[17] = 100.0f;
  std::vector<BlockQ8_K> b(2);
  std::memset(b.data(), 0x5A, 2 * sizeof(BlockQ8_K));
  quantize_row(DType::Q8_K, x.data(), b.data(), 512);
  EXPECT_EQ(b[0].d, 1.0f);
  EXPECT_EQ(b[0].qs[0], 2);
  EXPECT_EQ(b[0].qs[1], -127);
  EXPECT_EQ(b[0].qs[2], 127);
  EXPECT_EQ(b[0].qs[3], 4);
  EXPECT_EQ(b[0].qs[4], 0);
  EXPECT_EQ(b[0].bsums[0], 2 - 127 + 127 + 4);
  EXPECT_EQ(b[0].bsums[1], 100);
  for (int g = 2; g < 16; ++g) EXPECT_EQ(b[0].bsums[g], 0);
  EXPECT_EQ(b[1].d, 0.0f);  // all-zero block
  for (int j = 0; j < 256; ++j) EXPECT_EQ(b[1].qs[j], 0);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(b[1].bsums[g], 0);
}

TEST(QuantQuantize, Q8_KErrorBoundAndBsums) {
  auto x = gaussian(256 * 8, 3, 2.0f);
  std::vector<BlockQ8_K> b(8);
  quantize_row(DType::Q8_K, x.data(), b.data(), 256 * 8);
  for (int k = 0; k < 8; ++k) {
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += b[k].qs[16 * g + j];
      EXPECT_EQ(b[k].bsums[g], s);
    }
    for (int j = 0; j < 256; ++j) {
      const float err = std::fabs(x[256 * k + j] - b[k].d * static_cast<float>(b[k].qs[j]));
      ASSERT_LE(err, 0.5f * std::fabs(b[k].d) * 1.0001f) << k << " " << j;
    }
  }
}

// ---- Q4_K / Q6_K: search heuristics, so statistical bounds and exact representable inputs ----

TEST(QuantQuantize, Q4_KRmsError) {
  auto x = gaussian(256 * 32, 4);
  auto y = round_trip(DType::Q4_K, x);
  // 4 bits with a per-32 min and scale: about range/15/sqrt(12) ~ 0.075 sigma for Gaussian data.
  const double rel = rms_error(x, y) / rms(x);
  EXPECT_LT(rel, 0.10);
  EXPECT_GT(rel, 0.01);  // it is a 4-bit format: a near-zero error would mean a broken test
}

TEST(QuantQuantize, Q6_KRmsError) {
  auto x = gaussian(256 * 32, 5);
  auto y = round_trip(DType::Q6_K, x);
  // 6 bits symmetric per 16: about 2*amax/63/sqrt(12) ~ 0.02 sigma.
  const double rel = rms_error(x, y) / rms(x);
  EXPECT_LT(rel, 0.03);
  EXPECT_GT(rel, 0.002);
}

TEST(QuantQuantize, KQuantsZeroBlocks) {
  std::vector<float> x(256, 0.0f);
  BlockQ4_K k4;
  quantize_row(DType::Q4_K, x.data(), &k4, 256);
  EXPECT_EQ(k4.d, 0);
  EXPECT_EQ(k4.dmin, 0);
  for (uint8_t s : k4.scales) EXPECT_EQ(s, 0);
  for (uint8_t q : k4.qs) EXPECT_EQ(q, 0);
  BlockQ6_K k6;
  std::memset(&k6, 0x5A, sizeof(k6));
  quantize_row(DType::Q6_K, x.data(), &k6, 256);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&k6);
  for (size_t i = 0; i < sizeof(k6); ++i) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(QuantQuantize, Q4_KExactlyRepresentable) {
  // d = 1/64 (exact in f16) with one sub-block at scale 63 so that max_scale / 63 = d exactly;
  // mins 0; each sub-block uses quants 0 and 15 so its grid is pinned.
  const int sc[8] = {63, 32, 17, 63, 5, 40, 63, 1};
  std::vector<float> x(256);
  for (int e = 0; e < 256; ++e) {
    const int q = (e % 32 == 0) ? 0 : (e % 32 == 1) ? 15 : (e * 11) % 16;
    x[e] = std::ldexp(static_cast<float>(sc[e / 32] * q), -6);
  }
  auto y = round_trip(DType::Q4_K, x);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], x[e]) << e;
}

TEST(QuantQuantize, Q4_KExactlyRepresentableWithMins) {
  // All values in a sub-block negative and equal: the fit is the min alone.
  std::vector<float> x(256);
  for (int e = 0; e < 256; ++e) x[e] = -static_cast<float>(1 + e / 32);  // -1 .. -8
  auto y = round_trip(DType::Q4_K, x);
  // max_min = 8 -> dmin = 8/63 in f16; each min m = round(63 * k / 8): exact only where
  // 63k/8 is an integer times f16 rounding, so check the error bound of a 6-bit min instead.
  for (int e = 0; e < 256; ++e) EXPECT_NEAR(y[e], x[e], 8.0 / 63.0 / 2 + 1e-2) << e;
}

TEST(QuantQuantize, Q6_KExactlyRepresentable) {
  // x = d * sc[g] * (q - 32) with d = -2^-10 and the largest sub-block scale at -128, each group
  // containing q = 0 (the -32 extreme sets its grid).
  const int sc[16] = {-128, -64, -100, -3,   -128, -77, -1, -127,
                      -50,  -2,  -90,  -128, -31,  -16, -8, -99};
  std::vector<float> x(256);
  for (int e = 0; e < 256; ++e) {
    const int q = (e % 16 == 0) ? 0 : (e * 13) % 64;
    x[e] = std::ldexp(-1.0f, -10) * static_cast<float>(sc[e / 16]) * static_cast<float>(q - 32);
  }
  auto y = round_trip(DType::Q6_K, x);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], x[e]) << e;
}

TEST(QuantQuantize, Q8_0AndQ4_0ExactlyRepresentable) {
  std::vector<float> x8(64), x4(64);
  for (int e = 0; e < 64; ++e) {
    const int q8 = (e % 32 == 0) ? 127 : (e * 37) % 255 - 127;
    x8[e] = 0.25f * static_cast<float>(q8);  // d = 127 * 0.25 / 127 = 0.25
    const int q4 = (e % 32 == 0) ? -8 : (e * 5) % 16 - 8;
    x4[e] = -0.5f * static_cast<float>(q4);  // max = 4 at q = -8 -> d = -0.5
  }
  EXPECT_EQ(round_trip(DType::Q8_0, x8), x8);
  EXPECT_EQ(round_trip(DType::Q4_0, x4), x4);
}

TEST(QuantQuantize, FloatFormats) {
  const std::vector<float> x = {1.0f, -2.5f, 65504.0f, 1e-8f, 3.14159265f, 0.1f};
  std::vector<uint16_t> h(x.size());
  quantize_row(DType::F16, x.data(), h.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(h[0], 0x3C00);
  EXPECT_EQ(h[1], 0xC100);
  EXPECT_EQ(h[2], 0x7BFF);
  EXPECT_EQ(h[3], 0x0000);  // below half the smallest subnormal (2^-25)
  EXPECT_EQ(h[4], 0x4248);
  EXPECT_EQ(h[5], 0x2E66);
  quantize_row(DType::BF16, x.data(), h.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(h[0], 0x3F80);
  EXPECT_EQ(h[1], 0xC020);
  EXPECT_EQ(h[4], 0x4049);
  EXPECT_EQ(h[5], 0x3DCD);
}

}  // namespace
}  // namespace hearth::quant
