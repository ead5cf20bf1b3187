#pragma once
// OpenAI request bodies (chat completions, completions) read into what the engine needs, with
// every field checked: a wrong type or out-of-range value is a 400 naming the field. Unknown
// fields are ignored, as OpenAI-compatible servers do; llama.cpp's top_k, min_p and
// repeat_penalty are accepted as extras.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "server/json_limits.h"
#include "server/structured_output.h"

namespace hearth::server {

using ojson = nlohmann::ordered_json;

// Fields shared by both endpoints.
struct SamplingFields {
  SamplingParams sampling;  // OpenAI defaults: temperature 1, top_p 1; top_k, min_p off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::optional<int> max_tokens;
  std::vector<std::string> stop;
  int n = 1;
  std::optional<uint64_t> seed;
  bool stream = false;
  bool include_usage = false;
};

enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

struct ChatRequest {
  std::string model;
  ojson messages;         // normalized for the Llama 3.1 template (text parts joined, args parsed)
  ojson tools = nullptr;  // as the client sent them (key order kept), null when none
  std::vector<std::string> tool_names;
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_name;  // kNamed
  bool json_object = false;
  StructuredOutput structured;  // response_format json_schema, strict tools
  bool logprobs = false;
  int top_logprobs = 0;
  SamplingFields s;
};

struct CompletionPrompt {
  std::string text;             // when !is_tokens
  std::vector<int32_t> tokens;  // when is_tokens
  bool is_tokens = false;
};

struct CompletionRequest {
  std::string model;
  std::vector<CompletionPrompt> prompts;  // a batch: each gets n choices
  bool echo = false;
  int logprobs = -1;  // -1: none; else alternatives per token (0..5)
  SamplingFields s;
};

// 400 for a body that is not a JSON object, or nests arrays and objects deeper than max_depth.
ojson parse_json_body(const std::string& body, int max_depth = kDefaultMaxJsonDepth);
ChatRequest parse_chat_request(const ojson& body, int64_t vocab_size);
CompletionRequest parse_completion_request(const ojson& body, int64_t vocab_size);

}  // namespace hearth::server
