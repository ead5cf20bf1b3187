// The sampler's filters against distributions computed by hand, by drawing many times.
#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "util/error.h"

namespace hearth {
namespace {

// logits for probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 (then tiny ones).
std::vector<float> dist(size_t extra = 0) {
  std::vector<float> l = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.0625f),
                          std::log(0.0625f)};
  for (size_t i = 0; i < extra; ++i) l.push_back(-30.0f);
  return l;
}

std::map<int, double> freqs(SamplingParams p, const std::vector<float>& l, int n = 40000) {
  Sampler s(p);
  std::map<int, double> f;
  for (int i = 0; i < n; ++i) f[s.sample(l.data(), static_cast<int64_t>(l.size()))] += 1.0 / n;
  return f;
}

SamplingParams plain(float temp = 1.0f) {
  SamplingParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 11;
  return p;
}

TEST(Sampler, GreedyAndTies) {
  std::vector<float> l = {1, 3, 3, 2};
  EXPECT_EQ(Sampler::argmax(l.data(), 4), 1);
  Sampler s(plain(0.0f));
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, UnfilteredFollowsTheSoftmax) {
  auto f = freqs(plain(), dist(1000));
  EXPECT_NEAR(f[0], 0.5, 0.01);
  EXPECT_NEAR(f[1], 0.25, 0.01);
  EXPECT_NEAR(f[3] + f[4], 0.125, 0.01);
}

TEST(Sampler, TemperatureSharpens) {
  auto f = freqs(plain(0.5f), dist());  // p^2 normalised: .25/.3359...
  EXPECT_NEAR(f[0], 0.25 / (0.25 + 0.0625 + 0.015625 + 2 * 0.00390625), 0.01);
}

TEST(Sampler, TopKTopPMinP) {
  SamplingParams k = plain();
  k.top_k = 2;
  auto fk = freqs(k, dist());
  EXPECT_NEAR(fk[0], 2.0 / 3, 0.01);
  EXPECT_EQ(fk.count(2), 0u);
  SamplingParams p = plain();
  p.top_p = 0.8f;  // 0.5 + 0.25 = 0.75 < 0.8: the third token is needed, the fourth not
  auto fp = freqs(p, dist(2000));
  EXPECT_NEAR(fp[2], 0.125 / 0.875, 0.01);
  EXPECT_EQ(fp.count(3), 0u);
  SamplingParams m = plain();
  m.min_p = 0.3f;  // keeps p >= 0.15: tokens 0 and 1
  auto fm = freqs(m, dist());
  EXPECT_NEAR(fm[1], 1.0 / 3, 0.01);
  EXPECT_EQ(fm.count(2), 0u);
}

TEST(Sampler, TopPOverALongTailSortsMoreThanThePrefix) {
  // 3000 equal logits: the 256-token prefix holds < top_p of the mass, so the sampler must widen.
  std::vector<float> flat(3000, 0.0f);
  SamplingParams p = plain();
  p.top_p = 0.5f;
  auto f = freqs(p, flat, 20000);
  for (auto& [tok, fr] : f) ASSERT_LT(tok, 1500);  // ties broken by id: the first half only
  EXPECT_GT(f.size(), 1300u);
}

TEST(Sampler, SameSeedSameDraws) {
  auto a = freqs(plain(), dist(), 500), b = freqs(plain(), dist(), 500);
  EXPECT_EQ(a, b);
}

TEST(Sampler, ValidationNamesTheParameter) {
  SamplingParams p = plain();
  p.top_p = 1.5f;
  EXPECT_THROW(validate_sampling(p), Error);
  p = plain();
  p.temperature = -1;
  EXPECT_THROW(validate_sampling(p), Error);
  p = plain();
  p.min_p = 1.0f;
  EXPECT_THROW(validate_sampling(p), Error);
}

}  // namespace
}  // namespace hearth
