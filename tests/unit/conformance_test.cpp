// The forward pass against transformers' float32 logits (tests/data/dev*/reference.json).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "support/reference_logits.h"
#include "util/error.h"

namespace hearth {
namespace {

const std::string kData = HEARTH_TEST_DATA;

using namespace hearth::testing;

EngineOptions small_opts(int threads = 2) {
  EngineOptions o;
  o.threads = threads;
  o.context = 256;
  o.max_batch_tokens = 64;
  return o;
}

TEST(Conformance, DevAEveryPositionOfEveryPrompt) {
  auto ref = load_json(kData + "/devA/reference.json");
  Engine engine(kData + "/devA", small_opts());
  const int64_t V = engine.config().vocab_size;
  ASSERT_EQ(V, 512);
  for (auto& [name, prompt] : ref["prompts"].items()) {
    const float worst = prompt_logit_diff(engine, ref, name);
    EXPECT_LT(worst, 1e-3f) << name;
    std::printf("devA %s: max |diff| = %.3g over %zu positions\n", name.c_str(), worst,
                prompt.size());
  }
}

std::vector<int32_t> greedy(Engine& engine, const std::vector<int32_t>& prompt, int n) {
  Session s(engine.model(), engine.cache(), engine.context());
  std::vector<float> logits = s.feed(prompt);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    int32_t t = Sampler::argmax(logits.data(), engine.config().vocab_size);
    out.push_back(t);
    if (i + 1 < n) logits = s.feed({t});
  }
  return out;
}

TEST(Conformance, DevAGreedyContinuation) {
  auto ref = load_json(kData + "/devA/reference.json");
  Engine engine(kData + "/devA", small_opts());
  auto prompt = ref["prompts"]["p12"].get<std::vector<int32_t>>();
  auto expected = ref["greedy_p12_32"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(engine, prompt, static_cast<int>(expected.size())), expected);
}

// --kv-type f16 trades precision for memory: logits stay close to the float32 reference (the
// bound is the f16 rounding of K and V, ~5e-4 relative, carried through the layers) and the greedy
// continuation is unchanged.
TEST(Conformance, DevAWithF16KvCache) {
  auto ref = load_json(kData + "/devA/reference.json");
  EngineOptions o = small_opts();
  o.kv_type = "f16";
  Engine engine(kData + "/devA", o);
  ASSERT_EQ(engine.cache().dtype(), DType::F16);
  for (auto& [name, prompt] : ref["prompts"].items()) {
    const float worst = prompt_logit_diff(engine, ref, name);
    EXPECT_LT(worst, 1e-2f) << name;
    std::printf("devA %s, f16 KV: max |diff| = %.3g\n", name.c_str(), worst);
  }
  auto prompt = ref["prompts"]["p12"].get<std::vector<int32_t>>();
  auto expected = ref["greedy_p12_32"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(engine, prompt, static_cast<int>(expected.size())), expected);
}

TEST(Conformance, KvTypeErrors) {
  EngineOptions o = small_opts();
  o.kv_type = "q8";
  try {
    Engine engine(kData + "/devA", o);
    FAIL() << "an unknown KV type was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-type: unknown type 'q8'"), std::string::npos)
        << e.what();
  }
  // A backend that cannot hold a type says so instead of writing the wrong element size.
  auto be = make_backend({"cpu", 1});
  Engine engine(kData + "/devA", small_opts());
  EXPECT_THROW(KvCache(*be, engine.config(), 4, 16, DType::Q8_0), Error);
}

class DevB : public ::testing::TestWithParam<std::string> {};

TEST_P(DevB, TextLastLogits) {
  auto ref = load_json(kData + "/devB/reference.json");
  Engine engine(kData + "/devB/" + GetParam(), small_opts());
  auto ids = ref["text_ids"].get<std::vector<int32_t>>();
  Session s(engine.model(), engine.cache(), engine.context());
  std::vector<float> logits = s.feed(ids);
  float d = max_abs_diff(logits.data(), ref["text_last_logits"].get<std::vector<float>>());
  EXPECT_LT(d, 1e-3f);
  std::printf("devB %s: text last-position max |diff| = %.3g\n", GetParam().c_str(), d);
}

TEST_P(DevB, ChatGreedy20) {
  auto ref = load_json(kData + "/devB/reference.json");
  Engine engine(kData + "/devB/" + GetParam(), small_opts());
  auto ids = ref["chat_ids"].get<std::vector<int32_t>>();
  auto expected = ref["chat_greedy_20"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(engine, ids, 20), expected);
}

INSTANTIATE_TEST_SUITE_P(Formats, DevB,
                         ::testing::Values(std::string(""), std::string("devB-bf16.gguf")),
                         [](const auto& info) {
                           return info.param.empty() ? "safetensors" : "gguf";
                         });

TEST(Conformance, DevBGgufEqualsSafetensors) {
  auto ref = load_json(kData + "/devB/reference.json");
  auto ids = ref["chat_ids"].get<std::vector<int32_t>>();
  Engine hf(kData + "/devB", small_opts());
  Engine gg(kData + "/devB/devB-bf16.gguf", small_opts());
  Session a(hf.model(), hf.cache(), hf.context());
  Session b(gg.model(), gg.cache(), gg.context());
  std::vector<float> la = a.feed(ids, true), lb = b.feed(ids, true);
  ASSERT_EQ(la.size(), lb.size());
  float d = max_abs_diff(la.data(), lb);
  EXPECT_LT(d, 1e-4f);
  std::printf("devB gguf vs safetensors, every position: max |diff| = %.3g\n", d);
}

TEST(Conformance, IncrementalDecodingEqualsFullForward) {
  auto ref = load_json(kData + "/devA/reference.json");
  auto ids = ref["prompts"]["p60"].get<std::vector<int32_t>>();
  Engine engine(kData + "/devA", small_opts());
  const int64_t V = engine.config().vocab_size;
  std::vector<float> full;
  {
    Session s(engine.model(), engine.cache(), engine.context());
    full = s.feed(ids, true);
  }
  Session inc(engine.model(), engine.cache(), engine.context());
  const size_t prefix = 7;
  std::vector<int32_t> head(ids.begin(), ids.begin() + prefix);
  std::vector<float> got = inc.feed(head, true);
  for (size_t p = prefix; p < ids.size(); ++p) {
    std::vector<float> step = inc.feed({ids[p]});
    got.insert(got.end(), step.begin(), step.end());
  }
  ASSERT_EQ(got.size(), full.size());
  EXPECT_LT(max_abs_diff(got.data(), full), 1e-4f);
  (void)V;
}

TEST(Conformance, ChunkedPrefillEqualsOneChunk) {
  auto ref = load_json(kData + "/devA/reference.json");
  auto ids = ref["prompts"]["p60"].get<std::vector<int32_t>>();
  EngineOptions o = small_opts();
  o.max_batch_tokens = 7;  // p60 crosses several chunks and several 16-slot KV blocks
  Engine chunked(kData + "/devA", o);
  Engine whole(kData + "/devA", small_opts());
  Session a(chunked.model(), chunked.cache(), chunked.context());
  Session b(whole.model(), whole.cache(), whole.context());
  std::vector<float> la = a.feed(ids, true), lb = b.feed(ids, true);
  EXPECT_LT(max_abs_diff(la.data(), lb), 1e-4f);
}

TEST(Conformance, ThreadCountDoesNotChangeLogits) {
  auto ref = load_json(kData + "/devA/reference.json");
  auto ids = ref["prompts"]["p12"].get<std::vector<int32_t>>();
  Engine one(kData + "/devA", small_opts(1));
  Engine two(kData + "/devA", small_opts(2));
  Session a(one.model(), one.cache(), one.context());
  Session b(two.model(), two.cache(), two.context());
  EXPECT_EQ(a.feed(ids, true), b.feed(ids, true));
}

}  // namespace
}  // namespace hearth
