// CPU attention against a direct double-precision evaluation of softmax(q k^T * scale) v over
// a paged cache with shuffled blocks, several sequences per batch, and every SIMD level.
// GCC 12's AVX-512 intrinsics trip -Wuninitialized when inlined (GCC PR 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <gtest/gtest.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/simd/exp_avx2.h"
#include "backend/cpu/simd/exp_avx512.h"
#include "quant/half.h"

namespace hearth {
namespace {

struct Case {
  int n_heads, n_kv_heads, head_dim, block_size;
};

struct Seq {
  int first_pos, n_new;  // the batch holds positions first_pos .. first_pos + n_new - 1
};

class AttentionFixture {
 public:
  AttentionFixture(const Case& c, const std::vector<Seq>& seqs, bool f16) : c_(c), f16_(f16) {
    std::mt19937 rng(1234);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    int total_blocks = 0;
    std::vector<int> n_blocks;
    for (const Seq& s : seqs) {
      n_blocks.push_back((s.first_pos + s.n_new + c.block_size - 1) / c.block_size);
      total_blocks += n_blocks.back();
    }
    std::vector<int32_t> perm(static_cast<size_t>(total_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    kv_dim_ = c.n_kv_heads * c.head_dim;
    const size_t slots = static_cast<size_t>(total_blocks) * c.block_size;
    k_.resize(slots * kv_dim_);
    v_.resize(slots * kv_dim_);
    for (float& x : k_) x = nd(rng);
    for (float& x : v_) x = nd(rng);
    if (f16) {  // the reference then uses exactly the values the f16 cache holds
      for (float& x : k_) k16_.push_back(f32_to_f16(x)), x = f16_to_f32(k16_.back());
      for (float& x : v_) v16_.push_back(f32_to_f16(x)), x = f16_to_f32(v16_.back());
    }
    size_t used = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
      batch_.table_offset.push_back(static_cast<int32_t>(batch_.block_tables.size()));
      for (int b = 0; b < n_blocks[s]; ++b) batch_.block_tables.push_back(perm[used++]);
      for (int i = 0; i < seqs[s].n_new; ++i) {
        const int p = seqs[s].first_pos + i;
        batch_.tokens.push_back(0);
        batch_.pos.push_back(p);
        batch_.seq.push_back(static_cast<int32_t>(s));
        batch_.slot.push_back(batch_.block_tables[batch_.table_offset[s] + p / c.block_size] *
                                  c.block_size +
                              p % c.block_size);
      }
    }
    batch_.table_offset.push_back(static_cast<int32_t>(batch_.block_tables.size()));
    batch_.block_size = c.block_size;
    q_.resize(static_cast<size_t>(batch_.n_tokens()) * c.n_heads * c.head_dim);
    for (float& x : q_) x = nd(rng) * 2.0f;  // larger scores: a peaked softmax tests the max
  }

  std::vector<float> run(int threads) {
    CpuBackend be(threads);
    be.set_rope(std::vector<float>(static_cast<size_t>(c_.head_dim / 2), 1.0f), RopeLayout::Halves);
    be.set_batch(batch_);
    std::vector<float> out(q_.size(), -1.0f);
    AttentionShape shape{c_.n_heads, c_.n_kv_heads, c_.head_dim,
                         1.0f / std::sqrt(static_cast<float>(c_.head_dim))};
    const KvLayer kv = f16_ ? KvLayer{k16_.data(), v16_.data(), DType::F16}
                            : KvLayer{k_.data(), v_.data(), DType::F32};
    be.attention(q_.data(), kv, shape, batch_.n_tokens(), out.data());
    return out;
  }

  std::vector<float> reference() const {
    const int hd = c_.head_dim, group = c_.n_heads / c_.n_kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    std::vector<float> out(q_.size());
    for (int t = 0; t < batch_.n_tokens(); ++t) {
      const int s = batch_.seq[t], len = batch_.pos[t] + 1;
      for (int h = 0; h < c_.n_heads; ++h) {
        const float* q = q_.data() + (static_cast<size_t>(t) * c_.n_heads + h) * hd;
        std::vector<double> w(static_cast<size_t>(len));
        for (int j = 0; j < len; ++j) {
          const int block = batch_.block_tables[batch_.table_offset[s] + j / c_.block_size];
          const size_t slot = static_cast<size_t>(block) * c_.block_size + j % c_.block_size;
          const float* k = k_.data() + slot * kv_dim_ + static_cast<size_t>(h / group) * hd;
          double d = 0;
          for (int e = 0; e < hd; ++e) d += static_cast<double>(q[e]) * k[e];
          w[j] = d * scale;
        }
        const double mx = *std::max_element(w.begin(), w.end());
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - mx));
        for (int e = 0; e < hd; ++e) {
          double acc = 0;
          for (int j = 0; j < len; ++j) {
            const int block = batch_.block_tables[batch_.table_offset[s] + j / c_.block_size];
            const size_t slot = static_cast<size_t>(block) * c_.block_size + j % c_.block_size;
            acc += w[j] * v_[slot * kv_dim_ + static_cast<size_t>(h / group) * hd + e];
          }
          out[(static_cast<size_t>(t) * c_.n_heads + h) * hd + e] = static_cast<float>(acc / sum);
        }
      }
    }
    return out;
  }

 private:
  Case c_;
  bool f16_;
  size_t kv_dim_ = 0;
  std::vector<uint16_t> k16_, v16_;
  BatchInputs batch_;
  std::vector<float> q_, k_, v_;
};

std::vector<cpu::SimdLevel> levels_to_test() {
  std::vector<cpu::SimdLevel> out;
  for (int l = 0; l <= static_cast<int>(cpu::best_simd_level()); ++l)
    out.push_back(static_cast<cpu::SimdLevel>(l));
  return out;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double{got[i]} - want[i]));
  EXPECT_LT(worst, 2e-5) << what;
}

__attribute__((target("avx512f"))) void exp16_into(const float* x, float* out) {
  _mm512_storeu_ps(out, cpu::simd::exp16(_mm512_loadu_ps(x)));
}

__attribute__((target("avx2,fma"))) void exp8_into(const float* x, float* out) {
  _mm256_storeu_ps(out, cpu::simd::exp8(_mm256_loadu_ps(x)));
}

class CpuAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CpuAttention, MatchesDirectSoftmaxAtEverySimdLevel) {
  // A prompt continuing a cached prefix, a lone decode token deep in its context, a fresh
  // 3-token sequence, a prompt long enough for several chunks per KV head, and decode tokens
  // (one, then two of one sequence) deep enough for their context to be split into key ranges
  // whose partial softmax states are merged.
  for (bool f16 : {false, true}) {
    AttentionFixture f(GetParam(), {{5, 37}, {70, 1}, {0, 3}, {0, 50}, {600, 1}, {1000, 2}}, f16);
    const std::vector<float> want = f.reference();
    const cpu::SimdLevel saved = cpu::simd_level();
    for (cpu::SimdLevel level : levels_to_test()) {
      cpu::set_simd_level(level);
      const std::vector<float> one = f.run(1), two = f.run(2);
      const std::string what = std::string(cpu::simd_level_name(level)) + (f16 ? " f16" : " f32");
      expect_close(one, want, what.c_str());
      EXPECT_EQ(one, two) << "thread count changed the result at " << what;
    }
    cpu::set_simd_level(saved);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuAttention,
                         ::testing::Values(Case{8, 2, 64, 16},   // Llama-3.2-1B-like GQA
                                           Case{4, 1, 128, 16},  // 8B head size
                                           Case{3, 3, 32, 16},   // no grouping
                                           Case{4, 2, 48,
                                                16},  // head_dim = 3 x 16: a partial 64-float pass
                                           Case{2, 2, 40, 16},    // AVX-512: scalar; AVX2: 8 x 5
                                           Case{2, 1, 36, 16},    // not a multiple of 8: scalar
                                           Case{4, 2, 64, 8},     // blocks smaller than 16 keys
                                           Case{2, 1, 16, 32}));  // blocks larger than 16 keys

TEST(CpuVectorExp, MatchesStdExpAcrossSoftmaxRange) {
  if (cpu::best_simd_level() < cpu::SimdLevel::kAvx512)
    GTEST_SKIP() << "this CPU has no AVX-512: the vector exp is not used here";
  std::vector<float> xs;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-8f, -1e-8f, 0.34657f, -0.34657f}) xs.push_back(x);
  while (xs.size() % 16) xs.push_back(0.5f);
  double worst = 0;
  for (size_t i = 0; i < xs.size(); i += 16) {
    float got[16];
    exp16_into(xs.data() + i, got);
    for (int j = 0; j < 16; ++j) {
      const double want = std::exp(static_cast<double>(xs[i + j]));
      worst = std::max(worst, std::fabs(got[j] - want) / want);
    }
  }
  EXPECT_LT(worst, 4e-7);  // a few float ulp
}

}  // namespace
}  // namespace hearth

namespace hearth {
namespace {

TEST(CpuVectorExp, Avx2MatchesStdExpAcrossSoftmaxRange) {
  if (cpu::best_simd_level() < cpu::SimdLevel::kAvx2)
    GTEST_SKIP() << "this CPU has no AVX2: the vector exp is not used here";
  std::vector<float> xs;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-8f, -1e-8f, 0.34657f, -0.34657f}) xs.push_back(x);
  while (xs.size() % 8) xs.push_back(0.5f);
  double worst = 0;
  for (size_t i = 0; i < xs.size(); i += 8) {
    float got[8];
    exp8_into(xs.data() + i, got);
    for (int j = 0; j < 8; ++j) {
      const double want = std::exp(static_cast<double>(xs[i + j]));
      worst = std::max(worst, std::fabs(got[j] - want) / want);
    }
  }
  EXPECT_LT(worst, 4e-7);  // a few float ulp
  // Far below the clamp the result is tiny, never infinite or NaN (softmax of masked scores).
  float low[8] = {-1000.0f, -200.0f, -100.0f, -88.5f, -87.5f, 100.0f, 1000.0f, 0.0f}, out[8];
  exp8_into(low, out);
  for (float v : out) EXPECT_TRUE(std::isfinite(v));
  EXPECT_LT(out[0], 1e-37f);
}

}  // namespace
}  // namespace hearth
