#pragma once
// The single-sequence generation loop shared by `hearth run` and the interactive chat.
#include <optional>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {

struct GenerateOptions {
  int n_predict = 128;
  bool ignore_eos = false;
  bool echo = true;  // stream to stdout (off for --json, which prints once at the end)
  SamplingParams sampling;
};

// End-of-sequence ids: the model's config and the tokenizer's end tokens together.
std::vector<int32_t> stop_ids(const ModelConfig& cfg, const Tokenizer* tok);

struct Generated {
  std::vector<int32_t> tokens;  // without the stop token
  std::vector<int32_t> fed;     // the generated tokens now in the session's cache, in order
  bool stopped = false;         // a stop token ended it (not the length limit)
  double prompt_seconds = 0;    // feeding the prompt, up to the first logits
  double decode_seconds = 0;    // everything after
};

// Feeds `prompt` (appending to what the session holds) and streams what follows to stdout:
// text through a UTF-8-safe decoder when `tok` is given, token ids otherwise.
Generated generate_to_stdout(Engine& engine, Session& session, const std::vector<int32_t>& prompt,
                             const GenerateOptions& o, const Tokenizer* tok,
                             const std::vector<int32_t>& stops);

}  // namespace hearth::cli
