#include "runtime/generation.h"

#include <algorithm>

#include "runtime/logits_processing.h"
#include "util/error.h"

namespace hearth {

Generation::Generation(std::vector<int32_t> prompt, GenerationParams params, int context)
    : tokens_(std::move(prompt)),
      prompt_len_(tokens_.size()),
      params_(std::move(params)),
      context_(context),
      sampler_(params_.sampling) {
  validate_sampling(params_.sampling);
  if (params_.max_tokens < 0) throw Error("max_tokens", "must be >= 0");
  const int room = std::max(0, context - static_cast<int>(prompt_len_));
  tokens_.reserve(prompt_len_ + static_cast<size_t>(std::min(params_.max_tokens, room)));
}

RowOutput Generation::wanted() const {
  const GenerationParams& p = params_;
  const bool edits = !p.logit_bias.empty() || p.presence_penalty != 0.0f ||
                     p.frequency_penalty != 0.0f ||
                     (p.repetition_penalty != 1.0f && p.repetition_window > 0) || p.constraint;
  const bool greedy = p.sampling.temperature <= 0.0f;
  return greedy && !edits && p.top_logprobs < 0 ? RowOutput::Argmax : RowOutput::Logits;
}

TokenEvent Generation::finish_event(FinishReason r, const std::string& error) const {
  TokenEvent ev;
  ev.finish = r;
  ev.error = error;
  ev.prompt_tokens = prompt_len();
  ev.completion_tokens = n_generated();
  ev.cached_tokens = cached_tokens_;
  return ev;
}

TokenEvent Generation::advance(StepResult& result, const ResultRef& ref, int64_t vocab) {
  if (params_.max_tokens == 0) return finish_event(FinishReason::Length);
  TokenEvent ev;
  int32_t tok = -1;
  if (ref.kind == RowOutput::Argmax) {
    tok = result.argmax.at(static_cast<size_t>(ref.index));
  } else if (ref.kind == RowOutput::Logits) {
    float* row = logits_row(result, ref, vocab);
    if (params_.top_logprobs >= 0) raw_.assign(row, row + vocab);
    process_logits(row, vocab, params_, prompt(), generated());
    tok = sampler_.sample(row, vocab);
    if (params_.top_logprobs >= 0)
      compute_logprobs(raw_.data(), vocab, tok, params_.top_logprobs, ev);
  } else {
    throw Error("generation", "internal: the step returned no result for this sequence");
  }
  if (params_.constraint) params_.constraint->accept(tok);
  tokens_.push_back(tok);
  ev.token = tok;
  ev.prompt_tokens = prompt_len();
  ev.completion_tokens = n_generated();
  ev.cached_tokens = cached_tokens_;
  const auto& stops = params_.stop_tokens;
  if (std::find(stops.begin(), stops.end(), tok) != stops.end())
    ev.finish = FinishReason::Stop;
  else if (n_generated() >= params_.max_tokens || total() >= context_)
    ev.finish = params_.constraint && params_.constraint->complete() ? FinishReason::Stop
                                                                     : FinishReason::Length;
  return ev;
}

}  // namespace hearth
