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
  const float inv_t = 1.0f / p_.temperature;
  float mx = logits[0];
  for (int64_t i = 1; i < vocab; ++i) mx = std::max(mx, logits[i]);
  // No filter (the OpenAI defaults): draw straight from the softmax, no sorting at all.
  if (p_.top_k == 0 && p_.top_p >= 1.0f && p_.min_p <= 0.0f) {
    double total = 0;
    for (int64_t i = 0; i < vocab; ++i) total += std::exp((logits[i] - mx) * inv_t);
    std::uniform_real_distribution<double> u(0.0, total);
    double r = u(rng_), acc = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      acc += std::exp((logits[i] - mx) * inv_t);
      if (r < acc) return static_cast<int32_t>(i);
    }
    return argmax(logits, vocab);
  }
  cand_.clear();
  cand_.reserve(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i)
    cand_.emplace_back((logits[i] - mx) * inv_t, static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  // The softmax mass of every candidate, for deciding how much of the list must be sorted.
  double total_all = 0;
  for (auto& c : cand_) total_all += std::exp(c.first);
  size_t keep = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) keep = static_cast<size_t>(p_.top_k);
  // Sort only a prefix when it already holds the top_p mass (the common case: a few hundred
  // tokens carry almost all of it); fall back to the whole list otherwise.
  size_t sorted = keep;
  if (keep == cand_.size() && p_.top_p < 1.0f && p_.min_p <= 0.0f) {
    for (size_t prefix = std::min<size_t>(256, keep);; prefix = std::min(keep, prefix * 8)) {
      std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(prefix), cand_.end(),
                        by_logit);
      double mass = 0;
      for (size_t i = 0; i < prefix; ++i) mass += std::exp(cand_[i].first);
      if (mass >= p_.top_p * total_all || prefix == keep) {
        sorted = prefix;
        break;
      }
    }
  } else {
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(),
                      by_logit);
  }
  cand_.resize(sorted);
  double total = 0;
  for (auto& c : cand_) {
    c.first = std::exp(c.first);
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
  // top-p: the smallest prefix whose mass reaches top_p of the whole distribution (of the
  // top-k candidates when top-k is on, as llama.cpp does).
  if (p_.top_p < 1.0f) {
    const double target = p_.top_p * (keep == static_cast<size_t>(vocab) ? total_all : total);
    double acc = 0;
    size_t cut = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      acc += cand_[i].first;
      if (acc >= target) {
        cut = i + 1;
        break;
      }
    }
    cand_.resize(cut);
    total = 0;
    for (auto& c : cand_) total += c.first;
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
