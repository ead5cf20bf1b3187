// OpenAI Responses API: request bodies -> the chat pipeline's ChatRequest (string or item-list
// input, instructions, function tools, function_call / function_call_output items), a 400 naming
// the field for each malformed or stateful request, and the response object and events.
#include <gtest/gtest.h>

#include "server/responses_request.h"
#include "server/responses_response.h"

namespace hearth::server {
namespace {

ojson body(ojson extra = ojson::object()) {
  ojson b = {{"model", "m"}, {"input", "hi"}};
  for (auto& [k, v] : extra.items()) b[k] = v;
  return b;
}

ApiError error_of(const ojson& b) {
  try {
    parse_responses_request(b);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError for " << b.dump();
  return ApiError(0, "", "");
}

TEST(ResponsesRequest, StringInputAndInstructions) {
  ResponsesRequest r = parse_responses_request(body({{"instructions", "Be brief."},
                                                     {"max_output_tokens", 9},
                                                     {"temperature", 0.5},
                                                     {"store", false}}));
  EXPECT_EQ(r.chat.model, "m");
  EXPECT_EQ(r.chat.messages, (ojson::array({{{"role", "system"}, {"content", "Be brief."}},
                                            {{"role", "user"}, {"content", "hi"}}})));
  EXPECT_EQ(r.chat.s.max_tokens, 9);
  EXPECT_EQ(r.max_output_tokens, 9);
  EXPECT_FLOAT_EQ(r.chat.s.sampling.temperature, 0.5f);
  EXPECT_EQ(r.instructions, "Be brief.");
  EXPECT_EQ(r.chat.tool_choice, ToolChoice::kNone);
}

TEST(ResponsesRequest, ItemListWithFunctionCallsAndOutputs) {
  ojson input =
      ojson::array({{{"role", "developer"}, {"content", "sys"}},
                    {{"type", "message"},
                     {"role", "user"},
                     {"content", ojson::array({{{"type", "input_text"}, {"text", "a"}},
                                               {{"type", "input_text"}, {"text", "b"}}})}},
                    {{"type", "reasoning"}, {"id", "rs_1"}, {"summary", ojson::array()}},
                    {{"type", "function_call"},
                     {"call_id", "call_1"},
                     {"name", "f"},
                     {"arguments", "{\"x\":1}"}},
                    {{"type", "function_call_output"}, {"call_id", "call_1"}, {"output", "42"}}});
  ojson tools = ojson::array({{{"type", "function"},
                               {"name", "f"},
                               {"description", "d"},
                               {"parameters", {{"type", "object"}}}}});
  ResponsesRequest r =
      parse_responses_request(body({{"input", input},
                                    {"tools", tools},
                                    {"tool_choice", {{"type", "function"}, {"name", "f"}}}}));
  const ojson& m = r.chat.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0], (ojson{{"role", "system"}, {"content", "sys"}}));
  EXPECT_EQ(m[1], (ojson{{"role", "user"}, {"content", "a\nb"}}));
  EXPECT_EQ(m[2]["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"], (ojson{{"x", 1}}));
  EXPECT_EQ(m[3], (ojson{{"role", "tool"}, {"content", "42"}, {"tool_call_id", "call_1"}}));
  EXPECT_EQ(r.chat.tools[0]["function"]["name"], "f");
  EXPECT_EQ(r.chat.tools[0]["function"]["parameters"], (ojson{{"type", "object"}}));
  EXPECT_EQ(r.chat.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(r.chat.tool_name, "f");
  EXPECT_EQ(r.tools, tools);  // repeated back as sent
  EXPECT_EQ(parse_responses_request(body({{"tools", tools}, {"tool_choice", "required"}}))
                .chat.tool_choice,
            ToolChoice::kRequired);
}

TEST(ResponsesRequest, MalformedAndStatefulRequestsAre400s) {
  struct Case {
    ojson b;
    std::string param, code;
  };
  ojson no_input = body();
  no_input.erase("input");
  const std::vector<Case> cases = {
      {body({{"previous_response_id", "resp_x"}}), "previous_response_id",
       "previous_response_not_found"},
      {no_input, "input", "missing_required_parameter"},
      {body({{"input", 3}}), "input", "invalid_type"},
      {body({{"input", ojson::array()}}), "input", "invalid_value"},
      {body({{"input", ojson::array({{{"role", "tool"}, {"content", "x"}}})}}), "input[0].role",
       "invalid_value"},
      {body({{"input", ojson::array({{{"role", "user"}}})}}), "input[0].content",
       "missing_required_parameter"},
      {body({{"input", ojson::array({{{"role", "user"},
                                      {"content", ojson::array({{{"type", "input_image"},
                                                                 {"image_url", "x"}}})}}})}}),
       "input[0].content[0].type", "unsupported_value"},
      {body({{"input", ojson::array({{{"type", "function_call"},
                                      {"call_id", "c"},
                                      {"name", "f"},
                                      {"arguments", "[1]"}}})}}),
       "input[0].arguments", "invalid_value"},
      {body({{"input", ojson::array({{{"type", "function_call_output"}, {"output", "x"}}})}}),
       "input[0].call_id", "missing_required_parameter"},
      {body({{"input", ojson::array({{{"type", "item_reference"}, {"id", "x"}}})}}),
       "input[0].type", "unsupported_value"},
      {body({{"max_output_tokens", 0}}), "max_output_tokens", "invalid_value"},
      {body({{"temperature", 3}}), "temperature", "invalid_value"},
      {body({{"tools", ojson::array({{{"type", "web_search"}}})}}), "tools[0].type",
       "unsupported_value"},
      {body({{"tools", ojson::array({{{"type", "function"}, {"name", "a b"}}})}}), "tools[0].name",
       "invalid_value"},
      {body({{"tool_choice", "required"}}), "tool_choice", "invalid_value"},
      {body({{"text", {{"format", {{"type", "xml"}}}}}}), "text.format.type", "unsupported_value"},
      {body({{"background", true}}), "background", "unsupported_value"},
      {body({{"conversation", "conv_1"}}), "conversation", "unsupported_value"},
  };
  for (const Case& c : cases) {
    ApiError e = error_of(c.b);
    EXPECT_EQ(e.status(), 400) << c.b.dump();
    EXPECT_EQ(e.param(), c.param) << c.b.dump();
    EXPECT_EQ(e.code(), c.code) << c.b.dump();
    EXPECT_EQ(e.body()["error"]["type"], "invalid_request_error");
  }
}

std::vector<ojson> events(const std::string& sse) {
  std::vector<ojson> out;
  size_t at = 0;
  while ((at = sse.find("event: ", at)) != std::string::npos) {
    const size_t nl = sse.find('\n', at);
    const std::string name = sse.substr(at + 7, nl - at - 7);
    const size_t end = sse.find("\n\n", nl);
    out.push_back(ojson::parse(sse.substr(nl + 7, end - nl - 7)));
    EXPECT_EQ(out.back()["type"], name);
    at = end;
  }
  return out;
}

ChoiceUpdate finished(std::string reason) {
  ChoiceUpdate u;
  u.finished = true;
  u.finish_reason = std::move(reason);
  return u;
}

TEST(ResponsesResponse, StreamedTextAndFunctionCallEvents) {
  ResponsesRequest req = parse_responses_request(body());
  auto fmt = make_responses_formatter({"resp_1", 100, "m"}, req);
  std::string sse = fmt->stream_open();
  ChoiceUpdate a;
  a.text = "Hi";
  sse += fmt->stream_update(a);
  ChoiceUpdate b = finished("tool_calls");
  b.tool_calls.push_back({"f", {{"x", 1}}, false, ""});
  sse += fmt->stream_update(b);
  sse += fmt->stream_close({5, 4});
  std::vector<ojson> ev = events(sse);
  std::vector<std::string> types;
  for (size_t i = 0; i < ev.size(); ++i) {
    types.push_back(ev[i]["type"]);
    EXPECT_EQ(ev[i]["sequence_number"], i);
  }
  EXPECT_EQ(
      types,
      (std::vector<std::string>{
          "response.created", "response.in_progress", "response.output_item.added",
          "response.content_part.added", "response.output_text.delta", "response.output_text.done",
          "response.content_part.done", "response.output_item.done", "response.output_item.added",
          "response.function_call_arguments.delta", "response.function_call_arguments.done",
          "response.output_item.done", "response.completed"}));
  EXPECT_EQ(ev[5]["text"], "Hi");
  EXPECT_EQ(ev[9]["delta"], "{\"x\":1}");
  EXPECT_EQ(ev[9]["output_index"], 1);
  const ojson& done = ev.back()["response"];
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["output"][1]["type"], "function_call");
  EXPECT_EQ(done["output"][1]["arguments"], "{\"x\":1}");
  EXPECT_EQ(done["output"][1]["call_id"], ev[11]["item"]["call_id"]);
  EXPECT_EQ(done["usage"]["total_tokens"], 9);
  EXPECT_EQ(done["store"], false);
}

TEST(ResponsesResponse, LengthIsIncompleteAndFailuresAreEvents) {
  ResponsesRequest req = parse_responses_request(body({{"max_output_tokens", 2}}));
  auto fmt = make_responses_formatter({"resp_1", 100, "m"}, req);
  ChoiceUpdate a = finished("length");
  a.text = "ab";
  fmt->add(a);
  ojson r = fmt->response({5, 2});
  EXPECT_EQ(r["status"], "incomplete");
  EXPECT_EQ(r["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(r["max_output_tokens"], 2);
  EXPECT_EQ(r["output"][0]["content"][0]["text"], "ab");

  auto failing = make_responses_formatter({"resp_2", 100, "m"}, req);
  std::vector<ojson> ev =
      events(failing->stream_open() + failing->error_event(ApiError(503, "bye", "server_error")));
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2]["type"], "error");
  EXPECT_EQ(ev[3]["type"], "response.failed");
  EXPECT_EQ(ev[3]["response"]["status"], "failed");
}

}  // namespace
}  // namespace hearth::server
