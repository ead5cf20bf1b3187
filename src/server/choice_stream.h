#pragma once
// What one generated sequence (one "choice") turns into on the wire. Tokens come in from the
// scheduler one event at a time; out comes text that is safe to send:
//   tokens -> StreamDecoder (whole UTF-8 characters, special tokens dropped)
//          -> stop strings (text that might start one is held back)
//          -> content, or a buffer parsed into tool calls at the end.
// End-of-turn tokens never reach the text. Logprob entries travel with the text they produced.
#include <string>
#include <vector>

#include "chat/tool_calls.h"
#include "runtime/request.h"
#include "server/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server {

struct ChoiceSetup {
  std::vector<std::string> stop;
  std::vector<int32_t> end_ids;  // end the sequence; never printed
  // Chat with tools offered: output that starts like a tool call ('{', '[' or <|python_tag|>)
  // is held and parsed at the end; force_tool_call: all of it is (tool_choice required/named).
  bool parse_tool_calls = false;
  bool force_tool_call = false;
  int32_t python_tag = -1;
  int32_t eom = -1;
  bool logprobs = false;
  // Usage counts a prompt once: only the first of its n choices reports its cached tokens.
  bool reports_cached_tokens = true;
};

struct TokenInfo {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
  size_t text_begin = 0;  // the token's text in this choice's decoded output (bytes)
  size_t text_end = 0;
};

struct ChoiceUpdate {
  std::string text;               // new content
  std::vector<TokenInfo> tokens;  // logprob entries that go with it
  bool finished = false;
  // Set when finished: "stop", "length", "tool_calls"; or an error (cancelled or failed).
  std::string finish_reason;
  std::vector<ToolCall> tool_calls;
  std::string stop_sequence;  // the stop string that ended the choice, if one did
  FinishReason raw_finish = FinishReason::None;
  std::string error;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens reused from the prefix cache
};

class ChoiceStream {
 public:
  ChoiceStream(const Tokenizer& tok, ChoiceSetup setup);

  // Fills `out` with what this event adds. Returns false when a stop string matched: the
  // scheduler should end the sequence now (its finish event still comes through here).
  bool on_event(const TokenEvent& ev, ChoiceUpdate& out);

  const std::string& content() const { return content_; }  // all content emitted so far

 private:
  void route(const std::string& text, ChoiceUpdate& out);
  void emit(const std::string& text, ChoiceUpdate& out);
  void release_tokens(ChoiceUpdate& out);
  void finish(const TokenEvent& ev, ChoiceUpdate& out);

  enum class Route { kUndecided, kContent, kToolCall };

  ChoiceSetup setup_;
  StreamDecoder decoder_;
  StopStringMatcher stops_;
  Route route_ = Route::kUndecided;
  std::string undecided_;  // leading whitespace while we cannot tell content from a call
  std::string tool_text_;
  std::string content_;
  std::vector<TokenInfo> pending_tokens_;
  size_t decoded_bytes_ = 0;  // bytes pushed into the stop matcher
  bool ended_with_eom_ = false;
  bool finished_ = false;
};

}  // namespace hearth::server
