// Automatic prefix caching: blocks found by their chained hash, shared by reference count, kept
// in LRU order and evicted under pressure; and through the scheduler and the session, results
// identical to running without the cache.
#include "kv/prefix_cache.h"

#include <gtest/gtest.h>

#include <future>
#include <random>
#include <vector>

#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"

namespace hearth {
namespace {

const std::string kData = HEARTH_TEST_DATA;

EngineOptions opts(int kv_blocks, bool prefix_cache = true) {
  EngineOptions o;
  o.threads = 2;
  o.context = 256;
  o.max_batch_tokens = 64;
  o.kv_blocks = kv_blocks;
  o.prefix_cache = prefix_cache;
  return o;
}

std::vector<int32_t> random_tokens(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % 512);
  return t;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Nothing holds a block once every sequence is done: all of them can be allocated again.
void expect_all_blocks_released(const KvCache& c) {
  for (int b = 0; b < c.n_blocks(); ++b) EXPECT_EQ(c.pool().refcount(b), 0) << "block " << b;
  EXPECT_EQ(c.pool().in_use(), 0);
  EXPECT_EQ(c.free_blocks(), c.n_blocks());
}

GenerationParams greedy(int n) {
  GenerationParams g;
  g.sampling.temperature = 0;
  g.max_tokens = n;
  return g;
}

GenerationParams seeded(int n, uint64_t seed) {
  GenerationParams g;
  g.sampling.temperature = 0.9f;
  g.sampling.top_p = 0.95f;
  g.sampling.seed = seed;
  g.max_tokens = n;
  return g;
}

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

int cached_of(const GenerationResult& r) {
  return r.events.empty() ? -1 : r.events.back().cached_tokens;
}

TEST(PrefixCache, AttachesTheLongestCachedPrefixAndLeavesTheLastToken) {
  Engine e(kData + "/devA", opts(16));
  KvCache& c = e.cache();
  ASSERT_EQ(c.block_size(), 16);
  const auto tokens = random_tokens(50, 1);

  SequenceKv first;
  EXPECT_EQ(kv_attach_prefix(c, first, tokens), 0);  // empty cache: 3 misses
  ASSERT_TRUE(kv_reserve(c, first, 50));
  first.length = 50;  // as if a step had computed them
  kv_publish_full_blocks(c, first, tokens);
  EXPECT_EQ(first.hashes.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.pool().published(first.blocks[static_cast<size_t>(i)]));
  EXPECT_FALSE(c.pool().published(first.blocks[3]));  // partly filled: private, still written

  const PrefixProbe probe = kv_probe_prefix(c, tokens);
  EXPECT_EQ(probe.blocks, 3);
  EXPECT_EQ(probe.idle, 0);
  SequenceKv second;
  EXPECT_EQ(kv_attach_prefix(c, second, tokens), 48);
  EXPECT_EQ(second.hashes, first.hashes);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.pool().refcount(first.blocks[static_cast<size_t>(i)]), 2);

  // Exactly three blocks of prompt: the last one is recomputed so its last token gives logits.
  SequenceKv third;
  EXPECT_EQ(kv_attach_prefix(c, third, std::span(tokens).first(48)), 32);

  // The hash is chained: the same second and third blocks after another first block miss.
  auto other = tokens;
  other[0] = (other[0] + 1) % 512;
  SequenceKv fourth;
  EXPECT_EQ(kv_attach_prefix(c, fourth, other), 0);

  EXPECT_EQ(c.pool().stats().hits, 3u + 2u);
  EXPECT_EQ(c.pool().stats().misses, 3u + 3u);

  for (SequenceKv* s : {&first, &second, &third, &fourth}) kv_release(c, *s);
  EXPECT_EQ(c.pool().idle_cached(), 3);
  expect_all_blocks_released(c);
  // Idle cached blocks come back without counting against the free ones until taken.
  EXPECT_EQ(kv_probe_prefix(c, tokens).idle, 3);
  SequenceKv again;
  EXPECT_EQ(kv_attach_prefix(c, again, tokens), 48);
  EXPECT_EQ(c.free_blocks(), 13);
  kv_release(c, again);
}

TEST(PrefixCache, EvictionTakesAPrefixTailBeforeItsHead) {
  Engine e(kData + "/devA", opts(4));
  KvCache& c = e.cache();
  const auto tokens = random_tokens(64, 6);
  SequenceKv s;
  ASSERT_TRUE(kv_reserve(c, s, 64));
  s.length = 64;
  kv_publish_full_blocks(c, s, tokens);
  const std::vector<int32_t> blocks = s.blocks;
  kv_release(c, s);
  ASSERT_EQ(c.pool().idle_cached(), 4);
  EXPECT_EQ(c.alloc_block(), blocks[3]);  // nothing free: the last block goes first
  EXPECT_EQ(c.alloc_block(), blocks[2]);
  EXPECT_TRUE(c.pool().published(blocks[0]));
  EXPECT_TRUE(c.pool().published(blocks[1]));
  EXPECT_EQ(c.pool().stats().evictions, 2u);
  SequenceKv again;
  EXPECT_EQ(kv_attach_prefix(c, again, tokens), 32);
  c.release_block(blocks[3]);
  c.release_block(blocks[2]);
  kv_release(c, again);
  expect_all_blocks_released(c);
}

TEST(PrefixCache, SessionReuseGivesTheSameLogitsAsComputingEverything) {
  Engine on(kData + "/devA", opts(32));
  Engine off(kData + "/devA", opts(32, /*prefix_cache=*/false));
  const auto turn1 = random_tokens(40, 2);
  const auto turn2 = concat(turn1, random_tokens(30, 3));

  Session s(on.model(), on.cache(), on.context());
  EXPECT_EQ(s.reuse_prefix(turn1), 0);
  s.feed(turn1);
  const int reused = s.reuse_prefix(turn2);
  ASSERT_EQ(reused, 32);
  EXPECT_EQ(s.length(), 32);
  const std::vector<int32_t> rest(turn2.begin() + reused, turn2.end());
  const auto got = s.feed(rest);

  // Without the cache, computing the same positions in the same steps: bit for bit the same.
  Session split(off.model(), off.cache(), off.context());
  EXPECT_EQ(split.reuse_prefix(turn2), 0);  // caching off: nothing is ever reused
  split.feed(std::vector<int32_t>(turn2.begin(), turn2.begin() + reused));
  EXPECT_EQ(split.feed(rest), got);
  // In one pass the kernels group rows differently (as batching does): equal to rounding.
  Session whole(off.model(), off.cache(), off.context());
  const auto want = whole.feed(turn2);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;
}

TEST(PrefixCache, SchedulerGreedyAndSeededResultsEqualWithoutTheCache) {
  Engine on(kData + "/devA", opts(128));
  Engine off(kData + "/devA", opts(128, /*prefix_cache=*/false));
  const auto system = random_tokens(40, 4);  // 2 full blocks and 8 tokens
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(concat(system, random_tokens(static_cast<size_t>(1 + 5 * i), 10 + i)));
    params.push_back(i % 2 ? seeded(12, 100 + static_cast<uint64_t>(i)) : greedy(12));
  }
  Scheduler with(on.model(), on.cache(), on.context(), {8, 32, 64});
  Scheduler without(off.model(), off.cache(), off.context(), {8, 32, 64});

  // The first request fills the cache; the rest run together and share its blocks.
  auto first_on = generate_blocking(with, prompts[0], params[0]);
  auto first_off = generate_blocking(without, prompts[0], params[0]);
  EXPECT_EQ(first_on.tokens, first_off.tokens);
  EXPECT_EQ(cached_of(first_on), 0);
  auto rest_on = run_all(with, prompts, params);
  auto rest_off = run_all(without, prompts, params);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(rest_on[i].tokens, rest_off[i].tokens) << i;
    EXPECT_EQ(rest_on[i].tokens.size(), 12u);
    EXPECT_EQ(cached_of(rest_on[i]), 32) << i;  // the system prompt's two full blocks
    EXPECT_EQ(cached_of(rest_off[i]), 0) << i;
  }
  EXPECT_EQ(rest_on[0].tokens, first_on.tokens);

  // A follow-up turn: its prompt holds the previous prompt and reply, whose blocks were
  // published as they filled (generated tokens included).
  const auto follow = concat(concat(prompts[5], rest_on[5].tokens), random_tokens(9, 77));
  auto f_on = generate_blocking(with, follow, params[5]);
  auto f_off = generate_blocking(without, follow, params[5]);
  EXPECT_EQ(f_on.tokens, f_off.tokens);
  // 66 prompt tokens + 11 of the 12 reply tokens were computed (the last one is never fed):
  // 4 full blocks.
  EXPECT_EQ(cached_of(f_on), 64);

  EXPECT_EQ(with.stats().prefix_cache.hits, on.cache().pool().stats().hits);
  EXPECT_GT(on.cache().pool().stats().hits, 0u);
  EXPECT_EQ(off.cache().pool().stats().hits, 0u);
  // Fewer prompt tokens went through the model with the cache.
  EXPECT_LT(with.stats().prompt_tokens, without.stats().prompt_tokens);
  expect_all_blocks_released(on.cache());
  expect_all_blocks_released(off.cache());
}

TEST(PrefixCache, PreemptionWithSharedBlocksKeepsResultsExact) {
  // 12 blocks of 16 slots for 6 sequences of ~70 tokens that share a 32-token prefix.
  Engine on(kData + "/devA", opts(12));
  Engine off(kData + "/devA", opts(12, /*prefix_cache=*/false));
  const auto shared = random_tokens(32, 5);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(concat(shared, random_tokens(static_cast<size_t>(3 + 4 * i), 20 + i)));
    params.push_back(i % 2 ? seeded(24, 7 + static_cast<uint64_t>(i)) : greedy(24));
  }
  Scheduler with(on.model(), on.cache(), on.context(), {6, 32, 64});
  Scheduler without(off.model(), off.cache(), off.context(), {6, 32, 64});
  generate_blocking(with, shared, greedy(1));  // publishes the shared blocks
  auto r_on = run_all(with, prompts, params);
  auto r_off = run_all(without, prompts, params);
  int reused = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(r_on[i].tokens, r_off[i].tokens) << i;
    EXPECT_EQ(r_on[i].finish, FinishReason::Length) << i;
    // The two shared blocks, unless a preemption let them be evicted before its admission.
    const int cached = cached_of(r_on[i]);
    EXPECT_TRUE(cached == 32 || cached == 0) << i << ": " << cached;
    reused += cached;
  }
  EXPECT_GE(reused, 32);
  EXPECT_GT(with.stats().preemptions, 0u);
  expect_all_blocks_released(on.cache());
  expect_all_blocks_released(off.cache());
}

TEST(PrefixCache, EvictionUnderMemoryPressureKeepsResultsExact) {
  // 8 blocks: each request leaves 3-4 published blocks, so later ones evict earlier ones.
  Engine on(kData + "/devA", opts(8));
  Engine off(kData + "/devA", opts(8, /*prefix_cache=*/false));
  Scheduler with(on.model(), on.cache(), on.context(), {4, 32, 64});
  Scheduler without(off.model(), off.cache(), off.context(), {4, 32, 64});
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 5; ++i) prompts.push_back(random_tokens(40, 30 + i));
  prompts.push_back(prompts[4]);  // still cached: reused
  prompts.push_back(prompts[0]);  // evicted long ago: recomputed
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto a = generate_blocking(with, prompts[i], greedy(20));
    auto b = generate_blocking(without, prompts[i], greedy(20));
    EXPECT_EQ(a.tokens, b.tokens) << i;
    EXPECT_EQ(cached_of(a), i == 5 ? 32 : 0) << i;
  }
  EXPECT_GT(on.cache().pool().stats().evictions, 0u);
  EXPECT_GT(on.cache().pool().idle_cached(), 0);
  expect_all_blocks_released(on.cache());

  // And concurrently, with a pool this small: sharing, preemption and eviction together.
  std::vector<GenerationParams> params(prompts.size(), greedy(16));
  params[1] = seeded(16, 9);
  auto r_on = run_all(with, prompts, params);
  auto r_off = run_all(without, prompts, params);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(r_on[i].tokens, r_off[i].tokens) << i;
  expect_all_blocks_released(on.cache());
  expect_all_blocks_released(off.cache());
}

}  // namespace
}  // namespace hearth
