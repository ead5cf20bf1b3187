#include "server/anthropic_response.h"

#include "server/ids.h"
#include "server/sse.h"

namespace hearth::server {
namespace {

ojson tool_use_block(const ToolCall& call) {
  ojson b;
  b["type"] = "tool_use";
  b["id"] = random_id("toolu_");
  b["name"] = call.name;
  b["input"] = call.arguments;
  return b;
}

ojson text_block(const std::string& text) {
  return {{"type", "text"}, {"text", text}};
}

ojson null_or(const std::string& s) {
  return s.empty() ? ojson(nullptr) : ojson(s);
}

class AnthropicFormatter : public EventFormatter {
 public:
  explicit AnthropicFormatter(AnthropicHeader h) : h_(std::move(h)) {}

  std::string stream_open() override {
    ojson m = message_skeleton();
    m["usage"] = usage_json(h_.input_tokens, 0);
    std::string out = sse_named("message_start", {{"type", "message_start"}, {"message", m}});
    out += sse_named("ping", {{"type", "ping"}});
    return out;
  }

  std::string stream_update(const ChoiceUpdate& u) override {
    std::string out;
    if (!u.text.empty()) {
      if (!text_open_) {
        text_open_ = true;
        out += sse_named("content_block_start", {{"type", "content_block_start"},
                                                 {"index", index_},
                                                 {"content_block", text_block("")}});
      }
      out +=
          sse_named("content_block_delta", {{"type", "content_block_delta"},
                                            {"index", index_},
                                            {"delta", {{"type", "text_delta"}, {"text", u.text}}}});
    }
    if (!u.finished) return out;
    if (text_open_) out += block_stop();
    for (const ToolCall& call : u.tool_calls) {
      ojson b = tool_use_block(call);
      const std::string args = to_wire(b["input"]);
      b["input"] = ojson::object();
      out += sse_named("content_block_start",
                       {{"type", "content_block_start"}, {"index", index_}, {"content_block", b}});
      out += sse_named("content_block_delta",
                       {{"type", "content_block_delta"},
                        {"index", index_},
                        {"delta", {{"type", "input_json_delta"}, {"partial_json", args}}}});
      out += block_stop();
    }
    stop_reason_ = anthropic_stop_reason(u);
    stop_sequence_ = u.stop_sequence;
    return out;
  }

  std::string stream_close(const Usage& u) override {
    ojson delta;
    delta["type"] = "message_delta";
    delta["delta"] = {{"stop_reason", stop_reason_}, {"stop_sequence", null_or(stop_sequence_)}};
    delta["usage"] = {{"output_tokens", u.completion_tokens}};
    return sse_named("message_delta", delta) +
           sse_named("message_stop", {{"type", "message_stop"}});
  }

  std::string error_event(const ApiError& e) override {
    return sse_named("error", anthropic_error_body(e));
  }

  void add(const ChoiceUpdate& u) override {
    text_ += u.text;
    if (!u.finished) return;
    if (!text_.empty()) content_.push_back(text_block(text_));
    for (const ToolCall& call : u.tool_calls) content_.push_back(tool_use_block(call));
    stop_reason_ = anthropic_stop_reason(u);
    stop_sequence_ = u.stop_sequence;
  }

  ojson response(const Usage& u) override {
    ojson m = message_skeleton();
    m["content"] = content_;
    m["stop_reason"] = stop_reason_;
    m["stop_sequence"] = null_or(stop_sequence_);
    m["usage"] = usage_json(u.prompt_tokens, u.completion_tokens);
    return m;
  }

  ojson error_body(const ApiError& e) override { return anthropic_error_body(e); }

 private:
  ojson message_skeleton() const {
    ojson m;
    m["id"] = h_.id;
    m["type"] = "message";
    m["role"] = "assistant";
    m["model"] = h_.model;
    m["content"] = ojson::array();
    m["stop_reason"] = nullptr;
    m["stop_sequence"] = nullptr;
    return m;
  }

  static ojson usage_json(int input, int output) {
    return {{"input_tokens", input}, {"output_tokens", output}};
  }

  std::string block_stop() {
    std::string out =
        sse_named("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
    ++index_;
    text_open_ = false;
    return out;
  }

  AnthropicHeader h_;
  int index_ = 0;
  bool text_open_ = false;
  std::string text_;
  ojson content_ = ojson::array();
  std::string stop_reason_ = "end_turn";
  std::string stop_sequence_;
};

}  // namespace

std::string anthropic_stop_reason(const ChoiceUpdate& u) {
  if (u.finish_reason == "tool_calls") return "tool_use";
  if (u.finish_reason == "length") return "max_tokens";
  if (!u.stop_sequence.empty()) return "stop_sequence";
  return "end_turn";
}

ojson anthropic_error_body(const ApiError& e) {
  const int s = e.status();
  const char* type = s == 401   ? "authentication_error"
                     : s == 403 ? "permission_error"
                     : s == 404 ? "not_found_error"
                     : s == 413 ? "request_too_large"
                     : s == 429 ? "rate_limit_error"
                     : s == 503 ? "overloaded_error"
                     : s >= 500 ? "api_error"
                                : "invalid_request_error";
  return {{"type", "error"}, {"error", {{"type", type}, {"message", e.what()}}}};
}

std::unique_ptr<EventFormatter> make_anthropic_formatter(AnthropicHeader h) {
  return std::make_unique<AnthropicFormatter>(std::move(h));
}

}  // namespace hearth::server
