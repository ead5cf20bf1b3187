// The step pipeline: the batch builder's inputs, what a step hands back (and what it copies to the
// host), and the per-sequence update. Numbers are checked against the float32 reference fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "format/checkpoint.h"
#include "kv/kv_cache.h"
#include "model/llama.h"
#include "runtime/batch_builder.h"
#include "runtime/engine.h"
#include "runtime/generation.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "support/counting_backend.h"
#include "support/reference_logits.h"
#include "util/error.h"

namespace hearth {
namespace {

using hearth::testing::CountingBackend;
using hearth::testing::load_json;

const std::string kData = HEARTH_TEST_DATA;

TEST(BatchBuilder, InputsComeFromTheBlockTables) {
  BatchBuilder b(8);
  SequenceKv a{{5, 2, 7}, 14, {}}, c{{3}, 0, {}};
  const std::vector<int32_t> ta = {10, 11, 12}, tc = {20};
  const ResultRef ra = b.add(a, ta, RowOutput::Logits);
  const ResultRef rc = b.add(c, tc, RowOutput::Argmax);
  const BatchInputs& in = b.batch();
  EXPECT_EQ(in.tokens, (std::vector<int32_t>{10, 11, 12, 20}));
  EXPECT_EQ(in.pos, (std::vector<int32_t>{14, 15, 16, 0}));
  EXPECT_EQ(in.seq, (std::vector<int32_t>{0, 0, 0, 1}));
  // Position 14 is offset 6 of the second block (2), 16 the start of the third (7).
  EXPECT_EQ(in.slot, (std::vector<int32_t>{2 * 8 + 6, 2 * 8 + 7, 7 * 8, 3 * 8}));
  EXPECT_EQ(in.block_tables, (std::vector<int32_t>{5, 2, 7, 3}));
  EXPECT_EQ(in.table_offset, (std::vector<int32_t>{0, 3, 4}));
  EXPECT_EQ(in.logits_rows, std::vector<int32_t>{2});
  EXPECT_EQ(in.argmax_rows, std::vector<int32_t>{3});
  EXPECT_EQ(ra.kind, RowOutput::Logits);
  EXPECT_EQ(ra.index, 0);
  EXPECT_EQ(rc.kind, RowOutput::Argmax);
  EXPECT_EQ(rc.index, 0);

  b.reset();
  EXPECT_EQ(b.n_tokens(), 0);
  EXPECT_EQ(b.n_seqs(), 0);
  const ResultRef none = b.add(c, tc, RowOutput::None);
  EXPECT_EQ(none.kind, RowOutput::None);
  EXPECT_EQ(b.batch().n_out(), 0);
  const ResultRef all = b.add(a, ta, RowOutput::None, /*all_logits=*/true);
  EXPECT_EQ(all.kind, RowOutput::Logits);
  EXPECT_EQ(b.batch().logits_rows, (std::vector<int32_t>{1, 2, 3}));
}

// devB: the real vocabulary (128256), so a row of logits is 513,024 bytes.
struct CountedModel {
  Checkpoint ck = open_checkpoint(kData + "/devB");
  CountingBackend be{make_backend({"cpu", 2})};
  LlamaModel model{ck, be, 64};
  KvCache cache{be, ck.config, 16, 16};
};

TEST(StepPipeline, GreedyDecodeStepCopiesBackFourBytesPerSequence) {
  CountedModel m;
  const int64_t V = m.ck.config.vocab_size;
  std::vector<SequenceKv> seqs(3);
  const std::vector<std::vector<int32_t>> prompts = {{128000, 791, 4062}, {9906, 1917}, {40}};
  BatchBuilder b(m.cache.block_size());
  StepResult r;
  for (size_t s = 0; s < seqs.size(); ++s) {
    ASSERT_TRUE(kv_reserve(m.cache, seqs[s], static_cast<int>(prompts[s].size()) + 1));
    b.add(seqs[s], prompts[s], RowOutput::None);
  }
  m.be.reset_counts();
  m.model.forward(b.batch(), m.cache, r);
  EXPECT_EQ(m.be.bytes_to_host(), 0u) << "a prefill chunk that asks for nothing";
  for (size_t s = 0; s < seqs.size(); ++s)
    seqs[s].length += static_cast<int32_t>(prompts[s].size());

  // One decode step of three sequences; run three times over the same positions (K/V rewritten
  // with the same values), asking for different outputs.
  const std::vector<int32_t> next = {1202, 315, 11};
  auto decode = [&](RowOutput a, RowOutput b1, RowOutput c) {
    b.reset();
    const RowOutput want[] = {a, b1, c};
    std::vector<ResultRef> refs;
    for (size_t s = 0; s < seqs.size(); ++s) refs.push_back(b.add(seqs[s], {&next[s], 1}, want[s]));
    m.be.reset_counts();
    m.model.forward(b.batch(), m.cache, r);
    return refs;
  };

  auto refs = decode(RowOutput::Argmax, RowOutput::Argmax, RowOutput::Argmax);
  EXPECT_EQ(m.be.bytes_to_host(), 3 * sizeof(int32_t));
  EXPECT_EQ(m.be.to_host_calls(), 0);
  ASSERT_EQ(r.argmax.size(), 3u);
  EXPECT_TRUE(r.logits.empty());
  const std::vector<int32_t> greedy = r.argmax;

  refs = decode(RowOutput::Logits, RowOutput::Logits, RowOutput::Logits);
  EXPECT_EQ(m.be.bytes_to_host(), 3 * static_cast<size_t>(V) * sizeof(float));
  ASSERT_EQ(r.logits.size(), 3 * static_cast<size_t>(V));
  for (size_t s = 0; s < seqs.size(); ++s)
    EXPECT_EQ(Sampler::argmax(logits_row(r, refs[s], V), V), greedy[s]) << "sequence " << s;

  refs = decode(RowOutput::Logits, RowOutput::Argmax, RowOutput::None);
  EXPECT_EQ(m.be.bytes_to_host(), static_cast<size_t>(V) * sizeof(float) + sizeof(int32_t));
  EXPECT_EQ(r.argmax.at(static_cast<size_t>(refs[1].index)), greedy[1]);
  EXPECT_EQ(Sampler::argmax(logits_row(r, refs[0], V), V), greedy[0]);
  for (auto& s : seqs) kv_release(m.cache, s);
}

// Greedy decoding as `hearth run --temp 0` does it (only argmax ids come back) reproduces the
// reference's greedy continuations.
std::vector<int32_t> greedy_by_argmax(Engine& e, const std::vector<int32_t>& prompt, int n) {
  Session s(e.model(), e.cache(), e.context());
  std::vector<int32_t> out;
  ResultRef ref = s.step(prompt, RowOutput::Argmax);
  for (int i = 0; i < n; ++i) {
    out.push_back(s.result().argmax.at(static_cast<size_t>(ref.index)));
    if (i + 1 < n) ref = s.step({&out.back(), 1}, RowOutput::Argmax);
  }
  return out;
}

EngineOptions small_engine() {
  EngineOptions o;
  o.threads = 2;
  o.context = 256;
  o.max_batch_tokens = 16;  // the 60-token prompt goes in chunks
  return o;
}

TEST(StepPipeline, ArgmaxDecodingReproducesReferenceGreedy) {
  auto a = load_json(kData + "/devA/reference.json");
  Engine devA(kData + "/devA", small_engine());
  auto expected = a["greedy_p12_32"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy_by_argmax(devA, a["prompts"]["p12"].get<std::vector<int32_t>>(),
                             static_cast<int>(expected.size())),
            expected);
  auto b = load_json(kData + "/devB/reference.json");
  for (const char* file : {"", "/devB-bf16.gguf"}) {
    Engine devB(kData + "/devB" + file, small_engine());
    EXPECT_EQ(greedy_by_argmax(devB, b["chat_ids"].get<std::vector<int32_t>>(), 20),
              b["chat_greedy_20"].get<std::vector<int32_t>>())
        << "devB" << file;
  }
}

// ---- the per-sequence update ----

GenerationParams greedy_params() {
  GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = 8;
  return p;
}

class NoConstraint : public LogitsConstraint {
 public:
  void apply(float*, int64_t) override {}
  void accept(int32_t) override {}
};

TEST(Generation, AsksForTheArgmaxOnlyWhenNothingEditsTheLogits) {
  EXPECT_EQ(Generation({1}, greedy_params(), 64).wanted(), RowOutput::Argmax);
  std::vector<GenerationParams> edited(6, greedy_params());
  edited[0].sampling.temperature = 0.7f;
  edited[1].logit_bias = {{3, 1.0f}};
  edited[2].presence_penalty = 0.5f;
  edited[3].frequency_penalty = -0.5f;
  edited[4].repetition_penalty = 1.1f;
  edited[5].top_logprobs = 0;
  for (size_t i = 0; i < edited.size(); ++i)
    EXPECT_EQ(Generation({1}, edited[i], 64).wanted(), RowOutput::Logits) << i;
  GenerationParams c = greedy_params();
  c.constraint = std::make_shared<NoConstraint>();
  EXPECT_EQ(Generation({1}, c, 64).wanted(), RowOutput::Logits);
}

// A step result holding one logits row and one argmax id.
StepResult one_row(std::vector<float> logits, int32_t argmax) {
  StepResult r;
  r.logits = std::move(logits);
  r.argmax = {argmax};
  return r;
}

TEST(Generation, FinishesOnStopTokensMaxTokensAndTheContext) {
  const ResultRef arg{RowOutput::Argmax, 0};
  GenerationParams p = greedy_params();
  p.stop_tokens = {2};
  Generation g({5, 6}, p, 64);
  StepResult r = one_row({}, 4);
  TokenEvent ev = g.advance(r, arg, 8);
  EXPECT_EQ(ev.token, 4);
  EXPECT_EQ(ev.finish, FinishReason::None);
  EXPECT_EQ(ev.prompt_tokens, 2);
  EXPECT_EQ(ev.completion_tokens, 1);
  r.argmax = {2};
  ev = g.advance(r, arg, 8);
  EXPECT_EQ(ev.token, 2);
  EXPECT_EQ(ev.finish, FinishReason::Stop);
  EXPECT_EQ(std::vector<int32_t>(g.tokens().begin(), g.tokens().end()),
            (std::vector<int32_t>{5, 6, 4, 2}));

  p.max_tokens = 2;
  Generation two({5}, p, 64);
  r.argmax = {3};
  EXPECT_EQ(two.advance(r, arg, 8).finish, FinishReason::None);
  EXPECT_EQ(two.advance(r, arg, 8).finish, FinishReason::Length);

  p.max_tokens = 8;
  Generation ctx({5, 6, 7}, p, 4);  // one token fills the context
  EXPECT_EQ(ctx.advance(r, arg, 8).finish, FinishReason::Length);

  p.max_tokens = 0;
  Generation none({5}, p, 64);
  ev = none.advance(r, arg, 8);
  EXPECT_EQ(ev.token, -1);
  EXPECT_EQ(ev.finish, FinishReason::Length);
  EXPECT_EQ(none.n_generated(), 0);
}

TEST(Generation, BiasAndPenaltiesEditTheRowBeforeTheSampler) {
  const ResultRef row{RowOutput::Logits, 0};
  GenerationParams p = greedy_params();
  p.logit_bias = {{3, 2.5f}};
  Generation biased({0}, p, 64);
  StepResult r = one_row({0.f, 2.f, 1.f, 0.f}, -1);
  EXPECT_EQ(biased.advance(r, row, 4).token, 3);  // 0 + 2.5 beats 2

  // Presence penalty: token 1, once generated, loses 1.5 and token 2 wins the next step.
  p = greedy_params();
  p.presence_penalty = 1.5f;
  Generation pen({0}, p, 64);
  r = one_row({0.f, 2.f, 1.f, 0.f}, -1);
  EXPECT_EQ(pen.advance(r, row, 4).token, 1);
  r = one_row({0.f, 2.f, 1.f, 0.f}, -1);
  EXPECT_EQ(pen.advance(r, row, 4).token, 2);

  // Logprobs come from the raw row, not the edited one.
  p = greedy_params();
  p.logit_bias = {{0, 10.f}};
  p.top_logprobs = 1;
  Generation lp({0}, p, 64);
  r = one_row({0.f, 0.f}, -1);
  const TokenEvent ev = lp.advance(r, row, 2);
  EXPECT_EQ(ev.token, 0);
  EXPECT_NEAR(ev.logprob, std::log(0.5f), 1e-6f);
}

TEST(Generation, RejectsBadParameters) {
  GenerationParams p = greedy_params();
  p.max_tokens = -1;
  EXPECT_THROW(Generation({1}, p, 64), Error);
  p = greedy_params();
  p.sampling.top_p = 0;
  EXPECT_THROW(Generation({1}, p, 64), Error);
}

}  // namespace
}  // namespace hearth
