// Dot-product kernels: the scalar kernel against a double-precision sum over the dequantized rows
// (the dequantizer is checked against hand-built blocks in quant_format_test), and every SIMD level
// this CPU has against the scalar kernel, on quantized rows and on random raw blocks that hit the
// integer extremes. Also: the SIMD activation quantizers write the reference bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/vec_dot/vec_dot.h"
#include "format/dtype.h"
#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/quantize.h"

namespace hearth::cpu {
using namespace hearth::quant;
namespace {

using cpu::SimdLevel;

std::vector<SimdLevel> levels_here() {
  std::vector<SimdLevel> out;
  for (int l = 0; l <= static_cast<int>(cpu::best_simd_level()); ++l)
    out.push_back(static_cast<SimdLevel>(l));
  return out;
}

class LevelGuard {
 public:
  explicit LevelGuard(SimdLevel l) : prev_(cpu::set_simd_level(l)) {}
  ~LevelGuard() { cpu::set_simd_level(prev_); }

 private:
  SimdLevel prev_;
};

// A row of type t in bytes, aligned for any block type.
struct Row {
  std::vector<float> storage;  // float storage keeps 4-byte alignment
  void* data() { return storage.data(); }
  const void* data() const { return storage.data(); }
};

Row make_row(DType t, int64_t n) {
  Row r;
  r.storage.resize((dtype_row_bytes(t, n) + 3) / 4 + 1, 0.0f);
  return r;
}

std::vector<float> gaussian(int64_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

Row quantized(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  Row r = make_row(t, n);
  quantize_row(t, x.data(), r.data(), n);
  return r;
}

// Exact-as-possible reference: dequantize both rows and sum in double.
double reference_dot(DType wt, const Row& w, DType xt, const Row& x, int64_t n, double* abs_sum) {
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  dequantize_row(wt, w.data(), a.data(), n);
  dequantize_row(xt, x.data(), b.data(), n);
  double s = 0, sa = 0;
  for (int64_t i = 0; i < n; ++i) {
    s += static_cast<double>(a[i]) * b[i];
    sa += std::fabs(static_cast<double>(a[i]) * b[i]);
  }
  *abs_sum = sa;
  return s;
}

void check_all_levels(DType wt, const Row& w, const Row& x, int64_t n, const std::string& what) {
  const DType xt = vec_dot_type(wt);
  double abs_sum = 0;
  const double ref = reference_dot(wt, w, xt, x, n, &abs_sum);
  // Float accumulation of n terms: a few ulps of the absolute sum, with margin.
  const double tol = 1e-5 * abs_sum + 1e-30;
  const float scalar = vec_dot_fn(wt, SimdLevel::kScalar)(w.data(), x.data(), n);
  EXPECT_NEAR(scalar, ref, tol) << what << " scalar vs double reference";
  for (SimdLevel l : levels_here()) {
    const float got = vec_dot_fn(wt, l)(w.data(), x.data(), n);
    EXPECT_NEAR(got, scalar, tol) << what << " level " << cpu::simd_level_name(l);
    LevelGuard guard(l);
    EXPECT_EQ(vec_dot(wt, w.data(), x.data(), n), got)
        << what << " dispatch at " << cpu::simd_level_name(l);
  }
}

TEST(QuantVecDot, QuantizedRowsAllTypes) {
  std::mt19937 rng(42);
  struct Case {
    DType t;
    std::vector<int64_t> lengths;
  };
  const std::vector<Case> cases = {
      {DType::Q4_0, {32, 64, 96, 128, 160, 4096, 4096 + 96}},
      {DType::Q8_0, {32, 64, 96, 128, 160, 4096, 4096 + 96}},
      {DType::Q4_K, {256, 512, 768, 4096 + 256}},
      {DType::Q6_K, {256, 512, 768, 4096 + 256}},
      {DType::F32, {1, 3, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 1000, 4099}},
      {DType::F16, {1, 3, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 1000, 4099}},
      {DType::BF16, {1, 3, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 1000, 4099}},
  };
  for (const auto& c : cases) {
    for (int64_t n : c.lengths) {
      const Row w = quantized(c.t, gaussian(n, rng, 0.05f));
      const Row x = quantized(vec_dot_type(c.t), gaussian(n, rng, 2.0f));
      check_all_levels(c.t, w, x, n, std::string(dtype_name(c.t)) + " n=" + std::to_string(n));
    }
  }
}

// Raw blocks with uniformly random bytes: every quant value, negative and extreme scales, -128 in
// Q8_0 weights. Scale fields are set to finite values. Activations stay in -127..127, as the
// Q8_0/Q8_K quantizers guarantee, with consistent bsums.
uint16_t random_half(std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-0.02f, 0.02f);
  return f32_to_f16(d(rng));
}

void fill_bytes(void* p, size_t n, std::mt19937& rng) {
  auto* b = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(rng());
}

Row random_weights(DType t, int64_t n, std::mt19937& rng) {
  Row r = make_row(t, n);
  fill_bytes(r.data(), dtype_row_bytes(t, n), rng);
  const int64_t nb = n / dtype_info(t).block_size;
  for (int64_t b = 0; b < nb; ++b) {
    switch (t) {
      case DType::Q4_0:
        static_cast<BlockQ4_0*>(r.data())[b].d = random_half(rng);
        break;
      case DType::Q8_0:
        static_cast<BlockQ8_0*>(r.data())[b].d = random_half(rng);
        break;
      case DType::Q4_K:
        static_cast<BlockQ4_K*>(r.data())[b].d = random_half(rng);
        static_cast<BlockQ4_K*>(r.data())[b].dmin = random_half(rng);
        break;
      case DType::Q6_K:
        static_cast<BlockQ6_K*>(r.data())[b].d = random_half(rng);
        break;
      default:
        break;
    }
  }
  return r;
}

Row random_activation(DType t, int64_t n, std::mt19937& rng) {
  Row r = make_row(t, n);
  std::uniform_int_distribution<int> q(-127, 127);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  if (t == DType::Q8_0) {
    auto* y = static_cast<BlockQ8_0*>(r.data());
    for (int64_t b = 0; b < n / kQK0; ++b) {
      y[b].d = f32_to_f16(d(rng));
      for (auto& v : y[b].qs) v = static_cast<int8_t>(q(rng));
      if (b % 3 == 0) y[b].qs[b % 32] = (b % 2) ? 127 : -127;
    }
  } else {
    auto* y = static_cast<BlockQ8_K*>(r.data());
    for (int64_t b = 0; b < n / kQKK; ++b) {
      y[b].d = d(rng);
      for (auto& v : y[b].qs) v = static_cast<int8_t>(b % 2 ? q(rng) : (q(rng) > 0 ? 127 : -127));
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += y[b].qs[16 * g + j];
        y[b].bsums[g] = static_cast<int16_t>(s);
      }
    }
  }
  return r;
}

TEST(QuantVecDot, RandomRawBlocks) {
  std::mt19937 rng(7);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t bs = dtype_info(t).block_size;
    for (int64_t blocks : {1, 2, 3, 4, 5, 7, 16, 33}) {
      const int64_t n = blocks * bs;
      const Row w = random_weights(t, n, rng);
      const Row x = random_activation(vec_dot_type(t), n, rng);
      check_all_levels(t, w, x, n, std::string("raw ") + dtype_name(t) + " n=" + std::to_string(n));
    }
  }
}

TEST(QuantVecDot, Q8_0ExtremesAreExact) {
  // Products at their extremes: -128 * -127 and 127 * 127 in every pair, the largest pair sum a
  // 16-bit intermediate can meet (32385). Unit scales keep the sum exact in float, so every level
  // must agree exactly.
  BlockQ8_0 w[4], x[4];
  for (int b = 0; b < 4; ++b) {
    w[b].d = 0x3C00;
    x[b].d = 0x3C00;
    for (int j = 0; j < 32; ++j) {
      w[b].qs[j] = static_cast<int8_t>(j % 2 ? -128 : 127);
      x[b].qs[j] = static_cast<int8_t>(j % 2 ? -127 : 127);
    }
  }
  const float expect = 4 * 16 * (128 * 127 + 127 * 127);
  for (SimdLevel l : levels_here())
    EXPECT_EQ(vec_dot_fn(DType::Q8_0, l)(w, x, 128), expect) << cpu::simd_level_name(l);
}

TEST(QuantVecDot, VecDotTypes) {
  EXPECT_EQ(vec_dot_type(DType::Q4_0), DType::Q8_0);
  EXPECT_EQ(vec_dot_type(DType::Q8_0), DType::Q8_0);
  EXPECT_EQ(vec_dot_type(DType::Q4_K), DType::Q8_K);
  EXPECT_EQ(vec_dot_type(DType::Q6_K), DType::Q8_K);
  EXPECT_EQ(vec_dot_type(DType::F32), DType::F32);
  EXPECT_EQ(vec_dot_type(DType::F16), DType::F32);
  EXPECT_EQ(vec_dot_type(DType::BF16), DType::F32);
}

// Inputs that stress the rounding rules: halves under an exact unit scale, equal magnitudes of
// opposite sign (which one sets the Q8_K scale's sign), zero blocks, and plain Gaussian data.
std::vector<float> tricky_activation(int64_t n, std::mt19937& rng) {
  std::vector<float> x = gaussian(n, rng, 3.0f);
  for (int64_t b = 0; b * 256 < n; ++b) {
    float* blk = x.data() + 256 * b;
    switch (b % 4) {
      case 0:  // halves with amax 127: Q8_0 id = 1 and Q8_K iscale = +-1
        for (int j = 0; j < 256; ++j) blk[j] = 0.5f * static_cast<float>((j * 37) % 255 - 127);
        blk[0] = 127.0f;
        blk[1] = -127.0f;
        for (int k = 1; k < 8; ++k) blk[32 * k] = (k % 2) ? -127.0f : 127.0f;
        break;
      case 1:  // zero block
        std::memset(blk, 0, 256 * sizeof(float));
        break;
      case 2:  // opposite-sign maximum first
        blk[5] = -50.0f;
        blk[9] = 50.0f;
        break;
      default:
        break;
    }
  }
  return x;
}

TEST(QuantVecDot, ActivationQuantizersMatchReferenceBytes) {
  std::mt19937 rng(11);
  for (int64_t n : {256, 512, 1024, 4096}) {
    const auto x = tricky_activation(n, rng);
    for (DType t : {DType::Q8_0, DType::Q8_K}) {
      const size_t bytes = dtype_row_bytes(t, n);
      Row ref = make_row(t, n);
      quantize_row(t, x.data(), ref.data(), n);
      for (SimdLevel l : levels_here()) {
        LevelGuard guard(l);
        Row got = make_row(t, n);
        quantize_activation(t, x.data(), got.data(), n);
        EXPECT_EQ(std::memcmp(got.data(), ref.data(), bytes), 0)
            << dtype_name(t) << " n=" << n << " level " << cpu::simd_level_name(l);
      }
    }
  }
  std::vector<float> x = {1.0f, -2.0f, 3.5f};
  std::vector<float> y(3);
  quantize_activation(DType::F32, x.data(), y.data(), 3);
  EXPECT_EQ(x, y);
}

}  // namespace
}  // namespace hearth::cpu
