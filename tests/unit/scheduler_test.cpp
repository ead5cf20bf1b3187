// Continuous batching: results must not depend on what else runs in the batch.
#include "runtime/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>

#include "runtime/engine.h"
#include "runtime/session.h"

namespace hearth {
namespace {

const std::string kData = HEARTH_TEST_DATA;

EngineOptions opts(int kv_blocks = 0, int batch = 64) {
  EngineOptions o;
  o.threads = 2;
  o.context = 256;
  o.max_batch_tokens = batch;
  o.kv_blocks = kv_blocks;
  return o;
}

std::vector<int32_t> alone_greedy(Engine& e, const std::vector<int32_t>& prompt, int n) {
  Session s(e.model(), e.cache(), e.context());
  auto logits = s.feed(prompt);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Sampler::argmax(logits.data(), e.config().vocab_size));
    if (i + 1 < n) logits = s.feed({out.back()});
  }
  return out;
}

std::vector<std::vector<int32_t>> varied_prompts(int count) {
  std::mt19937 rng(99);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> p(static_cast<size_t>(1 + (i * 7) % 45));
    for (auto& t : p) t = static_cast<int32_t>(rng() % 512);
    prompts.push_back(p);
  }
  return prompts;
}

GenerationParams greedy(int n) {
  GenerationParams g;
  g.sampling.temperature = 0;
  g.max_tokens = n;
  return g;
}

// Submits all at once and waits for every result.
std::vector<GenerationResult> run_all(Scheduler& sched,
                                      const std::vector<std::vector<int32_t>>& prompts,
                                      const std::vector<GenerationParams>& params) {
  std::vector<std::future<GenerationResult>> futs;
  for (size_t i = 0; i < prompts.size(); ++i)
    futs.push_back(std::async(std::launch::async,
                              [&, i] { return generate_blocking(sched, prompts[i], params[i]); }));
  std::vector<GenerationResult> out;
  for (auto& f : futs) out.push_back(f.get());
  return out;
}

TEST(Scheduler, SixteenBatchedEqualAlone) {
  Engine e(kData + "/devA", opts(/*kv_blocks=*/256));
  auto prompts = varied_prompts(16);
  std::vector<std::vector<int32_t>> expected;
  for (size_t i = 0; i < prompts.size(); ++i)
    expected.push_back(alone_greedy(e, prompts[i], 8 + static_cast<int>(i % 5)));
  Scheduler sched(e.model(), e.cache(), e.context(), {16, 16, 64});
  std::vector<GenerationParams> params;
  for (size_t i = 0; i < prompts.size(); ++i) params.push_back(greedy(8 + static_cast<int>(i % 5)));
  auto results = run_all(sched, prompts, params);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(results[i].tokens, expected[i]) << "request " << i;
    EXPECT_EQ(results[i].finish, FinishReason::Length);
  }
  EXPECT_GT(sched.stats().steps, 0u);
  EXPECT_EQ(e.cache().free_blocks(), 256);
}

TEST(Scheduler, PreemptionKeepsResultsExact) {
  // 10 blocks of 16 slots for 6 sequences of ~60 tokens: they cannot all fit at once.
  Engine e(kData + "/devA", opts(/*kv_blocks=*/10));
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p(static_cast<size_t>(30 + i * 3));
    for (auto& t : p) t = static_cast<int32_t>(rng() % 512);
    prompts.push_back(p);
    params.push_back(greedy(24));
    expected.push_back(alone_greedy(e, p, 24));
  }
  Scheduler sched(e.model(), e.cache(), e.context(), {6, 32, 64});
  auto results = run_all(sched, prompts, params);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(results[i].tokens, expected[i]) << i;
  EXPECT_GT(sched.stats().preemptions, 0u);
  EXPECT_EQ(e.cache().free_blocks(), 10);
}

TEST(Scheduler, SeededSamplingIsReproducibleAndBatchIndependent) {
  Engine e(kData + "/devA", opts(128));
  Scheduler sched(e.model(), e.cache(), e.context());
  GenerationParams p;
  p.sampling.temperature = 1.0f;
  p.sampling.seed = 1234;
  p.max_tokens = 20;
  auto alone = generate_blocking(sched, {1, 2, 3}, p);
  auto prompts = varied_prompts(6);
  prompts[3] = {1, 2, 3};
  std::vector<GenerationParams> params(6, p);
  auto together = run_all(sched, prompts, params);
  EXPECT_EQ(together[3].tokens, alone.tokens);
  p.sampling.seed = 4321;
  EXPECT_NE(generate_blocking(sched, {1, 2, 3}, p).tokens, alone.tokens);
}

TEST(Scheduler, StopTokensAndCallbackStop) {
  Engine e(kData + "/devA", opts(64));
  Scheduler sched(e.model(), e.cache(), e.context());
  auto free_run = generate_blocking(sched, {5, 6, 7}, greedy(10));
  ASSERT_EQ(free_run.tokens.size(), 10u);
  GenerationParams p = greedy(10);
  p.stop_tokens = {free_run.tokens[3]};
  auto stopped = generate_blocking(sched, {5, 6, 7}, p);
  // Stops at the first occurrence of that token (which may come earlier than index 3).
  auto first = std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[3]);
  EXPECT_EQ(stopped.tokens, std::vector<int32_t>(free_run.tokens.begin(), first + 1));
  EXPECT_EQ(stopped.finish, FinishReason::Stop);

  std::promise<FinishReason> fin;
  int seen = 0;
  sched.submit({5, 6, 7}, greedy(50), [&](const TokenEvent& ev) {
    if (ev.token >= 0) ++seen;
    if (ev.finish != FinishReason::None) fin.set_value(ev.finish);
    return seen < 2;
  });
  EXPECT_EQ(fin.get_future().get(), FinishReason::Stop);
  EXPECT_EQ(seen, 2);
}

TEST(Scheduler, CancelFreesBlocks) {
  Engine e(kData + "/devA", opts(64));
  Scheduler sched(e.model(), e.cache(), e.context());
  std::promise<FinishReason> fin;
  std::atomic<int> tokens{0};
  auto id = sched.submit({1, 2, 3}, greedy(200), [&](const TokenEvent& ev) {
    if (ev.token >= 0) ++tokens;
    if (ev.finish != FinishReason::None) fin.set_value(ev.finish);
    return true;
  });
  while (tokens.load() < 3) std::this_thread::yield();
  sched.cancel(id);
  EXPECT_EQ(fin.get_future().get(), FinishReason::Cancelled);
  // The scheduler thread frees blocks before delivering the finish.
  EXPECT_EQ(e.cache().free_blocks(), 64);
}

TEST(Scheduler, LengthAtContextEnd) {
  EngineOptions o = opts(64);
  o.context = 20;
  Engine e(kData + "/devA", o);
  Scheduler sched(e.model(), e.cache(), e.context());
  auto r = generate_blocking(sched, std::vector<int32_t>(15, 4), greedy(100));
  EXPECT_EQ(r.finish, FinishReason::Length);
  EXPECT_EQ(r.tokens.size(), 5u);
}

TEST(Scheduler, RejectsBadRequests) {
  EngineOptions o = opts(64);
  o.context = 20;
  Engine e(kData + "/devA", o);
  Scheduler sched(e.model(), e.cache(), e.context(), {4, 16, 2});
  auto cb = [](const TokenEvent&) { return true; };
  EXPECT_THROW(sched.submit({}, greedy(4), cb), Error);
  EXPECT_THROW(sched.submit(std::vector<int32_t>(20, 1), greedy(4), cb), Error);
  EXPECT_THROW(sched.submit({1, 512}, greedy(4), cb), Error);
  GenerationParams bad = greedy(4);
  bad.sampling.top_p = 0;
  EXPECT_THROW(sched.submit({1}, bad, cb), Error);
}

TEST(Scheduler, LogprobsMatchTheModelDistribution) {
  Engine e(kData + "/devA", opts(64));
  std::vector<float> logits;
  {
    Session s(e.model(), e.cache(), e.context());
    logits = s.feed({9, 8, 7});
  }
  double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (float l : logits) sum += std::exp(l - mx);
  const double lse = mx + std::log(sum);
  Scheduler sched(e.model(), e.cache(), e.context());
  GenerationParams p = greedy(1);
  p.top_logprobs = 5;
  auto r = generate_blocking(sched, {9, 8, 7}, p);
  ASSERT_EQ(r.events.size(), 1u);
  const TokenEvent& ev = r.events[0];
  EXPECT_NEAR(ev.logprob, logits[static_cast<size_t>(ev.token)] - lse, 1e-4);
  ASSERT_EQ(ev.top.size(), 5u);
  EXPECT_EQ(ev.top[0].token, ev.token);  // greedy picks the most likely
  for (size_t i = 1; i < ev.top.size(); ++i) EXPECT_LE(ev.top[i].logprob, ev.top[i - 1].logprob);
}

TEST(Scheduler, ShutdownCancelsQueuedWork) {
  Engine e(kData + "/devA", opts(64));
  auto sched = std::make_unique<Scheduler>(e.model(), e.cache(), e.context());
  std::promise<FinishReason> fin;
  sched->submit({1, 2}, greedy(230), [&](const TokenEvent& ev) {
    if (ev.finish != FinishReason::None) fin.set_value(ev.finish);
    return true;
  });
  sched->shutdown(false);
  auto f = fin.get_future().get();
  EXPECT_TRUE(f == FinishReason::Cancelled || f == FinishReason::Length);
  EXPECT_EQ(e.cache().free_blocks(), 64);
}

}  // namespace
}  // namespace hearth
