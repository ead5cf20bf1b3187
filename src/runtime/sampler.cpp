#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace hearth {

void validate_sampling(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature))
    throw Error("temperature", "must be a finite number >= 0");
  if (p.top_k < 0) throw Error("top_k", "must be >= 0");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) throw Error("top_p", "must be in (0, 1]");
  if (!(p.min_p >= 0.0f && p.min_p < 1.0f)) throw Error("min_p", "must be in [0, 1)");
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}

int32_t Sampler::argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;  // ties: lowest id, as torch.argmax does
  return static_cast<int32_t>(best);
}

int32_t Sampler::sample(const float* logits, int64_t vocab) {
  if (p_.temperature <= 0.0f) return argmax(logits, vocab);
  cand_.clear();
  cand_.reserve(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i)
    cand_.emplace_back(logits[i] / p_.temperature, static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
    keep = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(),
                      by_logit);
    cand_.resize(keep);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  const float mx = cand_[0].first;
  double total = 0;
  for (auto& c : cand_) {
    c.first = std::exp(c.first - mx);
    total += c.first;
  }
  // min-p: drop tokens below min_p times the top probability.
  if (p_.min_p > 0.0f) {
    const float floor = cand_[0].first * p_.min_p;
    while (cand_.size() > 1 && cand_.back().first < floor) {
      total -= cand_.back().first;
      cand_.pop_back();
    }
  }
  // top-p: the smallest prefix whose mass reaches top_p.
  if (p_.top_p < 1.0f) {
    double acc = 0;
    size_t cut = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      acc += cand_[i].first;
      if (acc >= p_.top_p * total) {
        cut = i + 1;
        break;
      }
    }
    cand_.resize(cut);
    total = acc;
  }
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_), acc = 0;
  for (auto& c : cand_) {
    acc += c.first;
    if (r < acc) return c.second;
  }
  return cand_.back().second;
}

}  // namespace hearth
