#pragma once
// The transformers float32 fixtures (tests/data/dev*/reference.json) and how far an engine's
// logits stand from them; shared by the CPU conformance suite and the CUDA suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/session.h"

namespace hearth::testing {

inline nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline float max_abs_diff(const float* a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Feeds ref["prompts"][name] through a fresh session and returns the largest |logit difference|
// against ref["logits"][name] over every position (a shape mismatch fails the test).
inline float prompt_logit_diff(Engine& engine, const nlohmann::json& ref, const std::string& name) {
  const std::vector<int32_t> ids = ref["prompts"][name].get<std::vector<int32_t>>();
  const int64_t V = engine.config().vocab_size;
  Session s(engine.model(), engine.cache(), engine.context());
  const std::vector<float> logits = s.feed(ids, /*all_logits=*/true);
  const auto& expected = ref["logits"][name];
  EXPECT_EQ(expected.size(), ids.size()) << name;
  float worst = 0;
  for (size_t p = 0; p < std::min(ids.size(), expected.size()); ++p) {
    const auto row = expected[p].get<std::vector<float>>();
    EXPECT_EQ(static_cast<int64_t>(row.size()), V) << name;
    if (static_cast<int64_t>(row.size()) != V) break;
    worst = std::max(worst, max_abs_diff(logits.data() + p * V, row));
  }
  return worst;
}

}  // namespace hearth::testing
