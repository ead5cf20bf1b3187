// OpenAI request bodies -> engine parameters: defaults, every field's mapping, and a 400 naming
// the field for each malformed or out-of-range value.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/openai_request.h"

namespace hearth::server {
namespace {

constexpr int64_t kVocab = 128256;

ojson chat(ojson extra = ojson::object()) {
  ojson b = {{"model", "m"}, {"messages", ojson::array({{{"role", "user"}, {"content", "hi"}}})}};
  for (auto& [k, v] : extra.items()) b[k] = v;
  return b;
}

// Runs parse and returns the ApiError it throws (fails the test when none).
template <typename F>
ApiError error_of(F f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError thrown";
  return ApiError(0, "", "");
}

TEST(ServerRequest, ChatDefaultsFollowOpenAi) {
  ChatRequest r = parse_chat_request(chat(), kVocab);
  EXPECT_EQ(r.model, "m");
  EXPECT_FLOAT_EQ(r.s.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.s.sampling.top_p, 1.0f);
  EXPECT_EQ(r.s.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.s.sampling.min_p, 0.0f);
  EXPECT_EQ(r.s.n, 1);
  EXPECT_FALSE(r.s.max_tokens.has_value());
  EXPECT_FALSE(r.s.seed.has_value());
  EXPECT_FALSE(r.s.stream);
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.tool_choice, ToolChoice::kNone);  // no tools
  EXPECT_FALSE(r.json_object);
}

TEST(ServerRequest, ChatFieldsMap) {
  ChatRequest r = parse_chat_request(chat({{"temperature", 0.5},
                                           {"top_p", 0.9},
                                           {"top_k", 7},
                                           {"min_p", 0.1},
                                           {"repeat_penalty", 1.2},
                                           {"presence_penalty", 0.5},
                                           {"frequency_penalty", -0.5},
                                           {"logit_bias", {{"15", -100}, {"7", 3.5}}},
                                           {"max_completion_tokens", 9},
                                           {"max_tokens", 100},  // max_completion_tokens wins
                                           {"stop", "END"},
                                           {"n", 3},
                                           {"seed", -1},
                                           {"stream", true},
                                           {"stream_options", {{"include_usage", true}}},
                                           {"logprobs", true},
                                           {"top_logprobs", 4},
                                           {"response_format", {{"type", "json_object"}}},
                                           {"user", "someone"},
                                           {"unknown_field", {1, 2, 3}}}),
                                     kVocab);
  EXPECT_FLOAT_EQ(r.s.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.s.sampling.top_p, 0.9f);
  EXPECT_EQ(r.s.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(r.s.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.s.repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(r.s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.s.frequency_penalty, -0.5f);
  ASSERT_EQ(r.s.logit_bias.size(), 2u);
  EXPECT_EQ(r.s.logit_bias[0], (std::pair<int32_t, float>{15, -100.0f}));
  EXPECT_EQ(r.s.logit_bias[1], (std::pair<int32_t, float>{7, 3.5f}));
  EXPECT_EQ(r.s.max_tokens, 9);
  EXPECT_EQ(r.s.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.s.n, 3);
  EXPECT_EQ(r.s.seed, static_cast<uint64_t>(-1));
  EXPECT_TRUE(r.s.stream);
  EXPECT_TRUE(r.s.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 4);
  EXPECT_TRUE(r.json_object);
}

TEST(ServerRequest, TopPZeroMeansGreedy) {
  ChatRequest r = parse_chat_request(chat({{"top_p", 0}}), kVocab);
  EXPECT_FLOAT_EQ(r.s.sampling.temperature, 0.0f);
}

TEST(ServerRequest, MessagesAreNormalizedForTheTemplate) {
  ojson body = chat();
  body["messages"] = ojson::parse(R"([
    {"role": "developer", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "42"}
  ])");
  ChatRequest r = parse_chat_request(body, kVocab);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
  EXPECT_EQ(r.messages[2]["tool_calls"][0]["function"]["arguments"], ojson({{"x", 1}}));
}

TEST(ServerRequest, ToolsAndToolChoice) {
  const ojson tools = ojson::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time"}}])");
  ChatRequest a = parse_chat_request(chat({{"tools", tools}}), kVocab);
  EXPECT_EQ(a.tool_choice, ToolChoice::kAuto);
  EXPECT_EQ(a.tool_names, (std::vector<std::string>{"get_weather", "get_time"}));
  EXPECT_EQ(a.tools, tools);  // kept as sent, key order included
  EXPECT_EQ(
      parse_chat_request(chat({{"tools", tools}, {"tool_choice", "required"}}), kVocab).tool_choice,
      ToolChoice::kRequired);
  EXPECT_EQ(
      parse_chat_request(chat({{"tools", tools}, {"tool_choice", "none"}}), kVocab).tool_choice,
      ToolChoice::kNone);
  ChatRequest n = parse_chat_request(
      chat({{"tools", tools},
            {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}}),
      kVocab);
  EXPECT_EQ(n.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(n.tool_name, "get_time");
}

TEST(ServerRequest, InvalidValuesName400Params) {
  const std::vector<std::pair<ojson, std::string>> cases = {
      {{{"temperature", "hot"}}, "temperature"},
      {{{"temperature", -0.1}}, "temperature"},
      {{{"temperature", 2.01}}, "temperature"},
      {{{"top_p", 1.01}}, "top_p"},
      {{{"n", 0}}, "n"},
      {{{"n", 129}}, "n"},
      {{{"n", 2.5}}, "n"},
      {{{"max_tokens", 0}}, "max_tokens"},
      {{{"max_completion_tokens", -3}}, "max_completion_tokens"},
      {{{"presence_penalty", 2.5}}, "presence_penalty"},
      {{{"frequency_penalty", "x"}}, "frequency_penalty"},
      {{{"logit_bias", {{"-1", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"128256", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"12x", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"12", 101}}}}, "logit_bias"},
      {{{"logit_bias", {1, 2}}}, "logit_bias"},
      {{{"stop", {1}}}, "stop"},
      {{{"stop", true}}, "stop"},
      {{{"seed", 1.5}}, "seed"},
      {{{"stream", 1}}, "stream"},
      {{{"stream_options", "x"}}, "stream_options"},
      {{{"logprobs", "yes"}}, "logprobs"},
      {{{"top_logprobs", 3}}, "top_logprobs"},  // without logprobs
      {{{"logprobs", true}, {"top_logprobs", 21}}, "top_logprobs"},
      {{{"response_format", {{"type", "yaml"}}}}, "response_format.type"},
      {{{"response_format", {{"type", "json_schema"}}}}, "response_format.json_schema"},
      {{{"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", {}}}}}}},
       "response_format.json_schema.name"},
      {{{"response_format",
         {{"type", "json_schema"},
          {"json_schema", {{"name", "x"}, {"schema", {{"type", "string"}, {"pattern", "a"}}}}}}}},
       "response_format.json_schema.schema"},
      {{{"response_format",
         {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"strict", "yes"}}}}}},
       "response_format.json_schema.strict"},
      {{{"tools",
         {{{"type", "function"},
           {"function",
            {{"name", "f"},
             {"strict", true},
             {"parameters", {{"type", "object"}, {"not", {}}}}}}}}}},
       "tools[0].function.parameters"},
      {{{"response_format", "json"}}, "response_format"},
      {{{"tools", {{{"type", "function"}, {"function", {{"name", "a b"}}}}}}},
       "tools[0].function.name"},
      {{{"tools", "x"}}, "tools"},
      {{{"tool_choice", "required"}}, "tool_choice"},  // no tools
      {{{"tool_choice", "sometimes"}}, "tool_choice"},
      {{{"top_k", -1}}, "top_k"},
      {{{"min_p", 1}}, "min_p"},
      {{{"repeat_penalty", 0}}, "repeat_penalty"},
      {{{"user", 5}}, "user"},
      {{{"model", 5}}, "model"},
      {{{"model", ""}}, "model"},
  };
  for (auto& [extra, param] : cases) {
    SCOPED_TRACE(extra.dump());
    ApiError e = error_of([&] { parse_chat_request(chat(extra), kVocab); });
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.type(), "invalid_request_error");
    EXPECT_EQ(e.param(), param);
    EXPECT_FALSE(std::string(e.what()).empty());
  }
}

TEST(ServerRequest, NamedToolMustExist) {
  const ojson tools = ojson::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  ApiError e = error_of([&] {
    parse_chat_request(
        chat({{"tools", tools},
              {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}}),
        kVocab);
  });
  EXPECT_EQ(e.param(), "tool_choice");
}

TEST(ServerRequest, BadMessages) {
  const std::vector<ojson> bad = {
      ojson::parse(R"({"model": "m"})"),
      ojson::parse(R"({"model": "m", "messages": []})"),
      ojson::parse(R"({"model": "m", "messages": {}})"),
      ojson::parse(R"({"model": "m", "messages": ["hi"]})"),
      ojson::parse(R"({"model": "m", "messages": [{"content": "hi"}]})"),
      ojson::parse(R"({"model": "m", "messages": [{"role": "robot", "content": "hi"}]})"),
      ojson::parse(R"({"model": "m", "messages": [{"role": "user"}]})"),
      ojson::parse(R"({"model": "m", "messages": [{"role": "user", "content": 5}]})"),
      ojson::parse(
          R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"),
      ojson::parse(
          R"({"model": "m", "messages": [{"role": "user", "content": "x", "tool_calls": []}]})"),
      ojson::parse(
          R"({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]})"),
  };
  for (auto& b : bad) {
    SCOPED_TRACE(b.dump());
    EXPECT_EQ(error_of([&] { parse_chat_request(b, kVocab); }).status(), 400);
  }
}

TEST(ServerRequest, JsonBody) {
  EXPECT_EQ(error_of([] { parse_json_body("{\"a\": "); }).code(), "invalid_json");
  EXPECT_EQ(error_of([] { parse_json_body("[]"); }).status(), 400);
  EXPECT_EQ(error_of([] { parse_json_body("\xff"); }).status(), 400);
  EXPECT_EQ(parse_json_body(R"({"b": 1, "a": 2})").begin().key(), "b");  // order kept
}

TEST(ServerRequest, CompletionPromptShapes) {
  auto parse = [](const char* prompt) {
    return parse_completion_request(
        ojson::parse(std::string(R"({"model": "m", "prompt": )") + prompt + "}"), kVocab);
  };
  auto a = parse(R"("hello")");
  ASSERT_EQ(a.prompts.size(), 1u);
  EXPECT_FALSE(a.prompts[0].is_tokens);
  EXPECT_EQ(a.prompts[0].text, "hello");
  EXPECT_EQ(a.logprobs, -1);
  EXPECT_FALSE(a.echo);
  auto b = parse("[128000, 5, 6]");
  ASSERT_EQ(b.prompts.size(), 1u);
  EXPECT_EQ(b.prompts[0].tokens, (std::vector<int32_t>{128000, 5, 6}));
  auto c = parse(R"(["x", [1, 2], "y"])");
  ASSERT_EQ(c.prompts.size(), 3u);
  EXPECT_TRUE(c.prompts[1].is_tokens);
  for (const char* bad : {"5", "[]", "[-1]", "[128256]", "[1.5]", R"([["a"]])", "[null]", "{}"})
    EXPECT_EQ(error_of([&] { parse(bad); }).param(), "prompt") << bad;
  auto d = parse_completion_request(
      ojson::parse(
          R"({"model": "m", "prompt": "p", "echo": true, "logprobs": 3, "max_tokens": 0})"),
      kVocab);
  EXPECT_TRUE(d.echo);
  EXPECT_EQ(d.logprobs, 3);
  EXPECT_EQ(d.s.max_tokens, 0);  // scoring only is allowed here
  EXPECT_EQ(error_of([] {
              parse_completion_request(
                  ojson::parse(R"({"model": "m", "prompt": "p", "logprobs": 6})"), kVocab);
            }).param(),
            "logprobs");
}

}  // namespace
}  // namespace hearth::server
