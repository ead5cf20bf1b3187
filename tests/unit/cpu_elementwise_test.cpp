// The CPU backend's elementwise ops at every SIMD level and thread count, against the formulas
// evaluated in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"

namespace hearth {
namespace {

TEST(CpuElementwise, SwigluMatchesFormulaAtEverySimdLevelAndLength) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  const cpu::SimdLevel saved = cpu::simd_level();
  for (size_t count : {size_t{1}, size_t{15}, size_t{37}, size_t{2 * 4096 + 5}}) {
    std::vector<float> gate(count), up(count);
    for (size_t i = 0; i < count; ++i) gate[i] = nd(rng), up[i] = nd(rng);
    gate[0] = -90.0f;  // exp(-g) overflows float: silu must still come out as -0
    for (int l = 0; l <= static_cast<int>(cpu::best_simd_level()); ++l) {
      cpu::set_simd_level(static_cast<cpu::SimdLevel>(l));
      for (int threads : {1, 2}) {
        CpuBackend be(threads);
        std::vector<float> out(count + 1, 123.0f);  // one guard element past the end
        be.swiglu(gate.data(), up.data(), count, out.data());
        for (size_t i = 0; i < count; ++i) {
          const double g = gate[i];
          const double want = g / (1.0 + std::exp(-g)) * up[i];
          ASSERT_NEAR(out[i], want, 1e-6 * (1.0 + std::fabs(want)))
              << "level " << l << " threads " << threads << " i " << i;
        }
        EXPECT_EQ(out[count], 123.0f) << "wrote past the end";
      }
    }
  }
  cpu::set_simd_level(saved);
}

TEST(CpuElementwise, RmsnormRowsSplitAcrossThreadsMatchFormula) {
  const int dim = 96, n = 7;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(dim) * n), w(dim);
  for (float& v : x) v = nd(rng);
  for (float& v : w) v = nd(rng);
  Weight weight;
  weight.dtype = DType::F32;
  weight.rows = 1;
  weight.cols = dim;
  weight.data = w.data();
  for (int threads : {1, 2}) {
    CpuBackend be(threads);
    std::vector<float> out(x.size());
    be.rmsnorm(x.data(), weight, 1e-5f, n, out.data());
    for (int t = 0; t < n; ++t) {
      double ss = 0;
      for (int i = 0; i < dim; ++i) ss += double{x[t * dim + i]} * x[t * dim + i];
      const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int i = 0; i < dim; ++i)
        ASSERT_NEAR(out[t * dim + i], w[i] * x[t * dim + i] * inv, 1e-5) << "threads " << threads;
    }
  }
}

}  // namespace
}  // namespace hearth
