#pragma once
// Plan -> execute -> update: the update. One sequence being generated: what was asked for, its
// sampler and its tokens so far. advance() turns the step's result for the sequence into the next
// token (logit bias, penalties and the constraint, then the sampler), appends it and decides
// whether the sequence is finished. The scheduler (the server) and `hearth run` both generate
// through it, so one request gives the same tokens either way.
#include <cstdint>
#include <span>
#include <vector>

#include "model/llama.h"
#include "runtime/batch_builder.h"
#include "runtime/request.h"
#include "runtime/sampler.h"

namespace hearth {

class Generation {
 public:
  // Throws hearth::Error naming the parameter for invalid sampling values or max_tokens < 0.
  // context: the sequence finishes (length) when prompt + generated tokens reach it.
  Generation(std::vector<int32_t> prompt, GenerationParams params, int context);

  // What a step must hand back for this sequence's last token: the argmax id when decoding is
  // greedy and nothing edits the logits (no bias, penalty, constraint or logprobs), the full
  // logits row otherwise.
  RowOutput wanted() const;

  // Consumes this sequence's part of a step's result (`ref`, as wanted() asked; a logits row is
  // edited in place). Returns the event to report: the token (with logprobs when asked), and
  // finish != None when the sequence is done (a stop token, max_tokens, the context full).
  // max_tokens == 0 finishes at once, with no token.
  TokenEvent advance(StepResult& result, const ResultRef& ref, int64_t vocab);

  // The prompt followed by the generated tokens: what the sequence's KV cache holds once fed.
  std::span<const int32_t> tokens() const { return tokens_; }
  std::span<const int32_t> prompt() const { return {tokens_.data(), prompt_len_}; }
  std::span<const int32_t> generated() const {
    return {tokens_.data() + prompt_len_, tokens_.size() - prompt_len_};
  }
  int total() const { return static_cast<int>(tokens_.size()); }
  int prompt_len() const { return static_cast<int>(prompt_len_); }
  int n_generated() const { return static_cast<int>(tokens_.size() - prompt_len_); }
  const GenerationParams& params() const { return params_; }
  // Prompt tokens the prefix cache supplied when the sequence started; reported in its events.
  void set_cached_tokens(int n) { cached_tokens_ = n; }
  int cached_tokens() const { return cached_tokens_; }
  // An event that only reports a finish (cancelled, failed), with this sequence's counts.
  TokenEvent finish_event(FinishReason r, const std::string& error = "") const;

 private:
  std::vector<int32_t> tokens_;
  size_t prompt_len_;
  GenerationParams params_;
  int context_;
  int cached_tokens_ = 0;
  Sampler sampler_;
  std::vector<float> raw_;  // the unedited logits, kept only when logprobs are asked for
};

}  // namespace hearth
