#include "runtime/logits_processing.h"

#include <algorithm>
#include <cmath>

namespace hearth {

void process_logits(float* logits, int64_t vocab, const GenerationParams& p,
                    std::span<const int32_t> prompt, std::span<const int32_t> generated) {
  for (auto [tok, bias] : p.logit_bias)
    if (tok >= 0 && tok < vocab) logits[tok] += bias;
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : generated) ++counts[t];
    for (auto [tok, n] : counts)
      logits[tok] -= p.presence_penalty + p.frequency_penalty * static_cast<float>(n);
  }
  if (p.repetition_penalty != 1.0f && p.repetition_window > 0) {
    std::vector<int32_t> window;
    const size_t w = static_cast<size_t>(p.repetition_window);
    size_t from_gen = std::min(w, generated.size());
    size_t from_prompt = std::min(w - from_gen, prompt.size());
    window.insert(window.end(), prompt.end() - static_cast<long>(from_prompt), prompt.end());
    window.insert(window.end(), generated.end() - static_cast<long>(from_gen), generated.end());
    std::sort(window.begin(), window.end());
    window.erase(std::unique(window.begin(), window.end()), window.end());
    for (int32_t t : window) {
      float& l = logits[t];
      l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
    }
  }
  if (p.constraint) p.constraint->apply(logits, vocab);
}

void compute_logprobs(const float* raw, int64_t vocab, int32_t chosen, int n, TokenEvent& ev) {
  float mx = raw[0];
  for (int64_t i = 1; i < vocab; ++i) mx = std::max(mx, raw[i]);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(raw[i] - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  ev.logprob = raw[chosen] - lse;
  ev.top.clear();
  if (n <= 0) return;
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) idx[i] = static_cast<int32_t>(i);
  const size_t k = std::min<size_t>(static_cast<size_t>(n), idx.size());
  std::partial_sort(
      idx.begin(), idx.begin() + static_cast<long>(k), idx.end(),
      [&](int32_t a, int32_t b) { return raw[a] > raw[b] || (raw[a] == raw[b] && a < b); });
  for (size_t i = 0; i < k; ++i) ev.top.push_back({idx[i], raw[idx[i]] - lse});
}

}  // namespace hearth
