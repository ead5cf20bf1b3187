// Anthropic Messages API: request bodies -> the chat pipeline's ChatRequest (content blocks,
// tools, tool_choice, sampling), a 400 naming the field for each malformed request, and the
// message object, event sequence and error shape written back.
#include <gtest/gtest.h>

#include "server/anthropic_request.h"
#include "server/anthropic_response.h"

namespace hearth::server {
namespace {

ojson body(ojson extra = ojson::object()) {
  ojson b = {{"model", "m"},
             {"max_tokens", 16},
             {"messages", ojson::array({{{"role", "user"}, {"content", "hi"}}})}};
  for (auto& [k, v] : extra.items()) b[k] = v;
  return b;
}

ApiError error_of(const ojson& b) {
  try {
    parse_anthropic_request(b);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError for " << b.dump();
  return ApiError(0, "", "");
}

TEST(AnthropicRequest, DefaultsAndSampling) {
  ChatRequest r = parse_anthropic_request(body());
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.s.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.s.sampling.temperature, 1.0f);
  EXPECT_EQ(r.s.sampling.top_k, 0);
  EXPECT_FALSE(r.s.stream);
  EXPECT_EQ(r.tool_choice, ToolChoice::kNone);
  r = parse_anthropic_request(body({{"temperature", 0.25},
                                    {"top_p", 0.5},
                                    {"top_k", 7},
                                    {"stop_sequences", {"A", "B"}},
                                    {"stream", true}}));
  EXPECT_FLOAT_EQ(r.s.sampling.temperature, 0.25f);
  EXPECT_FLOAT_EQ(r.s.sampling.top_p, 0.5f);
  EXPECT_EQ(r.s.sampling.top_k, 7);
  EXPECT_EQ(r.s.stop, (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(r.s.stream);
}

TEST(AnthropicRequest, BlocksBecomeTemplateMessages) {
  ojson messages = ojson::array(
      {{{"role", "user"},
        {"content",
         ojson::array({{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}})}},
       {{"role", "assistant"},
        {"content",
         ojson::array(
             {{{"type", "thinking"}, {"thinking", "hmm"}, {"signature", "s"}},
              {{"type", "text"}, {"text", "calling"}},
              {{"type", "tool_use"}, {"id", "t1"}, {"name", "f"}, {"input", {{"x", 1}}}}})}},
       {{"role", "user"},
        {"content",
         ojson::array({{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "42"}},
                       {{"type", "tool_result"},
                        {"tool_use_id", "t2"},
                        {"is_error", true},
                        {"content", ojson::array({{{"type", "text"}, {"text", "boom"}}})}},
                       {{"type", "text"}, {"text", "thanks"}}})}}});
  ChatRequest r =
      parse_anthropic_request(body({{"system", ojson::array({{{"type", "text"}, {"text", "S1"}},
                                                             {{"type", "text"}, {"text", "S2"}}})},
                                    {"messages", messages}}));
  const ojson& m = r.messages;
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[0], (ojson{{"role", "system"}, {"content", "S1\nS2"}}));
  EXPECT_EQ(m[1], (ojson{{"role", "user"}, {"content", "a\nb"}}));
  EXPECT_EQ(m[2], (ojson{{"role", "assistant"}, {"content", "calling"}}));
  EXPECT_EQ(m[3]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(m[3]["tool_calls"][0]["function"]["arguments"], (ojson{{"x", 1}}));
  EXPECT_EQ(m[4]["role"], "tool");
  EXPECT_EQ(m[4]["content"], "42");
  EXPECT_EQ(m[5]["content"], "Error: boom");
  EXPECT_EQ(m[6], (ojson{{"role", "user"}, {"content", "thanks"}}));
}

TEST(AnthropicRequest, ToolsAndToolChoice) {
  ojson tools = ojson::array(
      {{{"name", "get_weather"}, {"description", "d"}, {"input_schema", {{"type", "object"}}}}});
  ChatRequest r = parse_anthropic_request(body({{"tools", tools}}));
  EXPECT_EQ(r.tool_choice, ToolChoice::kAuto);
  EXPECT_EQ(r.tools[0], (ojson{{"type", "function"},
                               {"function",
                                {{"name", "get_weather"},
                                 {"description", "d"},
                                 {"parameters", {{"type", "object"}}}}}}));
  EXPECT_EQ(parse_anthropic_request(body({{"tools", tools}, {"tool_choice", {{"type", "any"}}}}))
                .tool_choice,
            ToolChoice::kRequired);
  EXPECT_EQ(parse_anthropic_request(body({{"tools", tools}, {"tool_choice", {{"type", "none"}}}}))
                .tool_choice,
            ToolChoice::kNone);
  r = parse_anthropic_request(
      body({{"tools", tools}, {"tool_choice", {{"type", "tool"}, {"name", "get_weather"}}}}));
  EXPECT_EQ(r.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(r.tool_name, "get_weather");
}

TEST(AnthropicRequest, MalformedRequestsName400Fields) {
  struct Case {
    ojson b;
    std::string param;
  };
  ojson no_max = body();
  no_max.erase("max_tokens");
  ojson no_messages = body();
  no_messages.erase("messages");
  ojson tools = ojson::array({{{"name", "f"}, {"input_schema", {{"type", "object"}}}}});
  const std::vector<Case> cases = {
      {no_max, "max_tokens"},
      {no_messages, "messages"},
      {body({{"model", 3}}), "model"},
      {body({{"max_tokens", 0}}), "max_tokens"},
      {body({{"temperature", 1.5}}), "temperature"},
      {body({{"top_k", -1}}), "top_k"},
      {body({{"stop_sequences", "x"}}), "stop_sequences"},
      {body({{"system", 5}}), "system"},
      {body({{"messages", ojson::array()}}), "messages"},
      {body({{"messages", ojson::array({{{"role", "system"}, {"content", "x"}}})}}),
       "messages[0].role"},
      {body({{"messages", ojson::array({{{"role", "user"}}})}}), "messages[0].content"},
      {body({{"messages",
              ojson::array({{{"role", "user"},
                             {"content", ojson::array({{{"type", "image"},
                                                        {"source", ojson::object()}}})}}})}}),
       "messages[0].content[0].type"},
      {body({{"messages",
              ojson::array(
                  {{{"role", "user"},
                    {"content",
                     ojson::array({{{"type", "tool_use"}, {"id", "x"}, {"name", "f"}}})}}})}}),
       "messages[0].content[0].type"},
      {body({{"messages",
              ojson::array(
                  {{{"role", "user"}, {"content", ojson::array({{{"type", "tool_result"}}})}}})}}),
       "messages[0].content[0].tool_use_id"},
      {body({{"tools", ojson::array({{{"name", "f"}}})}}), "tools[0].input_schema"},
      {body({{"tools", ojson::array({{{"name", "bad name"}, {"input_schema", ojson::object()}}})}}),
       "tools[0].name"},
      {body({{"tools", ojson::array({{{"type", "bash_20250124"}, {"name", "bash"}}})}}),
       "tools[0].type"},
      {body({{"tools", tools}, {"tool_choice", {{"type", "tool"}, {"name", "g"}}}}),
       "tool_choice.name"},
      {body({{"tool_choice", {{"type", "any"}}}}), "tool_choice"},
      {body({{"tools", tools}, {"tool_choice", "auto"}}), "tool_choice"},
  };
  for (const Case& c : cases) {
    ApiError e = error_of(c.b);
    EXPECT_EQ(e.status(), 400) << c.b.dump();
    EXPECT_EQ(e.param(), c.param) << c.b.dump();
    EXPECT_FALSE(std::string(e.what()).empty());
  }
}

TEST(AnthropicResponse, ErrorShapeFollowsTheStatus) {
  ojson b = anthropic_error_body(invalid_request("bad", "x"));
  EXPECT_EQ(b, (ojson{{"type", "error"},
                      {"error", {{"type", "invalid_request_error"}, {"message", "bad"}}}}));
  EXPECT_EQ(anthropic_error_body(ApiError(401, "k", "t"))["error"]["type"], "authentication_error");
  EXPECT_EQ(anthropic_error_body(ApiError(404, "m", "t"))["error"]["type"], "not_found_error");
  EXPECT_EQ(anthropic_error_body(ApiError(413, "m", "t"))["error"]["type"], "request_too_large");
  EXPECT_EQ(anthropic_error_body(ApiError(429, "m", "t"))["error"]["type"], "rate_limit_error");
  EXPECT_EQ(anthropic_error_body(ApiError(503, "m", "t"))["error"]["type"], "overloaded_error");
  EXPECT_EQ(anthropic_error_body(ApiError(500, "m", "t"))["error"]["type"], "api_error");
}

ChoiceUpdate finished(std::string reason, std::string stop = "") {
  ChoiceUpdate u;
  u.finished = true;
  u.finish_reason = std::move(reason);
  u.stop_sequence = std::move(stop);
  return u;
}

TEST(AnthropicResponse, StopReasons) {
  EXPECT_EQ(anthropic_stop_reason(finished("stop")), "end_turn");
  EXPECT_EQ(anthropic_stop_reason(finished("stop", "END")), "stop_sequence");
  EXPECT_EQ(anthropic_stop_reason(finished("length")), "max_tokens");
  EXPECT_EQ(anthropic_stop_reason(finished("tool_calls")), "tool_use");
}

TEST(AnthropicResponse, MessageObjectWithTextAndToolUse) {
  auto fmt = make_anthropic_formatter({"msg_1", "m", 10});
  ChoiceUpdate a;
  a.text = "Hel";
  fmt->add(a);
  ChoiceUpdate b = finished("tool_calls");
  b.text = "lo";
  b.tool_calls.push_back({"f", {{"x", 1}}, false, ""});
  fmt->add(b);
  ojson m = fmt->response({10, 3});
  EXPECT_EQ(m["id"], "msg_1");
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["content"][0], (ojson{{"type", "text"}, {"text", "Hello"}}));
  EXPECT_EQ(m["content"][1]["type"], "tool_use");
  EXPECT_EQ(m["content"][1]["name"], "f");
  EXPECT_EQ(m["content"][1]["input"], (ojson{{"x", 1}}));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_TRUE(m["stop_sequence"].is_null());
  EXPECT_EQ(m["usage"], (ojson{{"input_tokens", 10}, {"output_tokens", 3}}));
}

// The "event:" names of an SSE text, in order, each checked against its data's "type".
std::vector<std::string> event_names(const std::string& sse) {
  std::vector<std::string> names;
  size_t at = 0;
  while ((at = sse.find("event: ", at)) != std::string::npos) {
    const size_t nl = sse.find('\n', at);
    const std::string name = sse.substr(at + 7, nl - at - 7);
    const size_t data_end = sse.find("\n\n", nl);
    ojson data = ojson::parse(sse.substr(nl + 7, data_end - nl - 7));
    EXPECT_EQ(data["type"], name);
    names.push_back(name);
    at = data_end;
  }
  return names;
}

TEST(AnthropicResponse, StreamedEventSequence) {
  auto fmt = make_anthropic_formatter({"msg_1", "m", 10});
  std::string sse = fmt->stream_open();
  ChoiceUpdate a;
  a.text = "Hi";
  sse += fmt->stream_update(a);
  ChoiceUpdate b = finished("stop", "END");
  b.text = "!";
  sse += fmt->stream_update(b);
  sse += fmt->stream_close({10, 2});
  EXPECT_EQ(event_names(sse),
            (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                      "content_block_delta", "content_block_delta",
                                      "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_NE(sse.find(R"("delta":{"stop_reason":"stop_sequence","stop_sequence":"END"})"),
            std::string::npos);
  EXPECT_NE(sse.find(R"("usage":{"output_tokens":2})"), std::string::npos);

  auto tools = make_anthropic_formatter({"msg_2", "m", 10});
  ChoiceUpdate c = finished("tool_calls");
  c.tool_calls.push_back({"f", {{"x", 1}}, false, ""});
  std::string t = tools->stream_open() + tools->stream_update(c) + tools->stream_close({10, 5});
  EXPECT_EQ(event_names(t),
            (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                      "content_block_delta", "content_block_stop", "message_delta",
                                      "message_stop"}));
  EXPECT_NE(t.find(R"("delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"})"),
            std::string::npos);
  EXPECT_EQ(event_names(tools->error_event(ApiError(503, "bye", "server_error"))),
            (std::vector<std::string>{"error"}));
}

}  // namespace
}  // namespace hearth::server
