#pragma once
// What a caller asks for one sequence (the scheduler, `hearth run`), and what it hears back per
// token.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/sampler.h"

namespace hearth {

// Masks logits before sampling (JSON mode, tool-call grammars). Told every accepted token.
class LogitsConstraint {
 public:
  virtual ~LogitsConstraint() = default;
  virtual void apply(float* logits, int64_t vocab) = 0;  // set forbidden tokens to -inf
  virtual void accept(int32_t token) = 0;
  // The output so far is a whole document (the constraint would allow only ending): a sequence
  // that runs out of max_tokens here finished, rather than being cut off.
  virtual bool complete() const { return false; }
};

struct GenerationParams {
  SamplingParams sampling;
  float presence_penalty = 0.0f;    // OpenAI: subtracted once from every token already generated
  float frequency_penalty = 0.0f;   // OpenAI: subtracted per occurrence in the generated text
  float repetition_penalty = 1.0f;  // llama.cpp: divides positive / multiplies negative logits
  int repetition_window = 64;       // tokens (prompt + generated) the repetition penalty sees
  std::vector<std::pair<int32_t, float>> logit_bias;
  int max_tokens = 256;
  std::vector<int32_t> stop_tokens;
  int top_logprobs = -1;  // -1: no logprobs; 0..20: chosen token's and this many alternatives
  std::shared_ptr<LogitsConstraint> constraint;
};

enum class FinishReason { None, Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct TokenEvent {
  int32_t token = -1;  // -1 on an event that only reports the finish
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
  FinishReason finish = FinishReason::None;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  std::string error;
};

// Runs on the scheduler thread: keep it short. Return false to stop the sequence now (a stop
// string matched, the client went away); the scheduler then finishes it with reason Stop.
using TokenCallback = std::function<bool(const TokenEvent&)>;

}  // namespace hearth
