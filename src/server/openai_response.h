#pragma once
// Generated choices written in OpenAI's response shapes: chat.completion and its
// chat.completion.chunk stream, text_completion (streamed or not), usage and logprobs.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/choice_stream.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server {

using ojson = nlohmann::ordered_json;

struct ResponseHeader {
  std::string id;  // chatcmpl-... / cmpl-...
  int64_t created = 0;
  std::string model;
  bool include_usage_field = false;  // streaming with include_usage: "usage": null per chunk
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens whose KV the prefix cache supplied
};
ojson usage_json(const Usage& u);

// Turns choice updates into response JSON, for one request. Streaming: stream_open() first,
// then stream_update() per update, stream_usage() at the end. Not streaming: add() every update,
// then response().
class ResponseFormatter {
 public:
  virtual ~ResponseFormatter() = default;
  virtual std::vector<ojson> stream_open() = 0;
  virtual std::vector<ojson> stream_update(int choice, const ChoiceUpdate& u) = 0;
  virtual ojson stream_usage(const Usage& u) = 0;
  virtual void add(int choice, const ChoiceUpdate& u) = 0;
  virtual ojson response(const Usage& u) = 0;
};

struct ChatFormat {
  int n_choices = 1;
  bool logprobs = false;
};
std::unique_ptr<ResponseFormatter> make_chat_formatter(const Tokenizer& tok, ResponseHeader h,
                                                       ChatFormat f);

struct CompletionFormat {
  int n_choices = 1;
  int logprobs = -1;                              // -1: none
  std::vector<std::string> echo_text;             // per choice; empty strings when not echoing
  std::vector<std::vector<int32_t>> echo_tokens;  // per choice (for logprobs with echo)
};
std::unique_ptr<ResponseFormatter> make_completion_formatter(const Tokenizer& tok, ResponseHeader h,
                                                             CompletionFormat f);

// Tool calls as OpenAI writes them: {"id": "call_...", "type": "function",
// "function": {"name": ..., "arguments": "<JSON string>"}}.
ojson tool_call_json(const ToolCall& call, const std::string& id);
// A chat logprobs entry: {"token", "logprob", "bytes", "top_logprobs": [...]}.
ojson chat_logprob_entry(const Tokenizer& tok, const TokenInfo& t);
// Code points in UTF-8 text (completions' text_offset counts characters).
size_t count_chars(const std::string& utf8, size_t end_byte);

}  // namespace hearth::server
