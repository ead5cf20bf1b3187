#pragma once
// Turns one row of logits into a token: greedy at temperature 0, otherwise temperature, top-k,
// top-p and min-p filtering, then a draw from a seeded generator (same seed, same tokens).
#include <cstdint>
#include <random>
#include <vector>

namespace hearth {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;       // 0: off
  float top_p = 0.95f;  // 1: off
  float min_p = 0.0f;   // 0: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int32_t sample(const float* logits, int64_t vocab);
  static int32_t argmax(const float* logits, int64_t vocab);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;
};

// Validates user-supplied values; throws hearth::Error naming the parameter.
void validate_sampling(const SamplingParams& p);

}  // namespace hearth
