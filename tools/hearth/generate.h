#pragma once
// The single-sequence generation loop shared by `hearth run` and the interactive chat: a Session
// feeds the tokens, a Generation (the same per-sequence update the server's scheduler runs) picks
// each next token, and the text streams to stdout.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/engine.h"
#include "runtime/json_constraint.h"
#include "runtime/request.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {

// What the user asked for, named as the OpenAI API's fields where that reads naturally.
struct GenerateOptions {
  int n_predict = 128;
  bool ignore_eos = false;
  bool echo = true;  // stream to stdout (off for --json, which prints once at the end)
  SamplingParams sampling;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repeat_penalty = 1.0f;
  std::string logit_bias_text;                        // --logit-bias as given
  std::vector<std::pair<int32_t, float>> logit_bias;  // parsed by check_options()
  std::string response_format = "text";               // or "json_object"
  std::shared_ptr<const JsonVocab> json_vocab;        // set by prepare() for json_object
};

// Declares -n, --temp, --top-k, --top-p, --min-p, --seed, --presence-penalty,
// --frequency-penalty, --repeat-penalty, --logit-bias, --response-format and --ignore-eos.
void add_generate_options(CLI::App& app, GenerateOptions& o);

// Checks what can be checked before a model is loaded (-n, sampling values) and parses the logit
// bias list. Throws hearth::Error naming the flag.
void check_options(GenerateOptions& o);

// Checks what needs the model (logit bias ids against its vocabulary, a tokenizer for
// json_object) and builds the JSON grammar's vocabulary once. Throws hearth::Error naming the
// flag.
void prepare(GenerateOptions& o, const Engine& engine, const Tokenizer* tok,
             const std::vector<int32_t>& end_ids);

struct Generated {
  std::vector<int32_t> tokens;  // without the stop token
  std::vector<int32_t> fed;     // the generated tokens now in the session's cache, in order
  bool stopped = false;         // a stop token ended it (not the length limit)
  double prompt_seconds = 0;    // feeding the prompt, up to the first token
  double decode_seconds = 0;    // everything after
};

// Generates after `prompt` (the whole sequence; the session already holds its first `cached`
// tokens) and streams the output to stdout: text through a UTF-8-safe decoder when `tok` is
// given, token ids otherwise. end_ids stop it unless o.ignore_eos.
Generated generate_to_stdout(Engine& engine, Session& session, const std::vector<int32_t>& prompt,
                             size_t cached, const GenerateOptions& o, const Tokenizer* tok,
                             const std::vector<int32_t>& end_ids);

}  // namespace hearth::cli
