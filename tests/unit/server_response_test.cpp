// The wire formats: SSE framing, OpenAI error objects, chat and completion responses and their
// stream chunks, tool calls, logprobs, usage, and the Prometheus text of /metrics.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/metrics.h"
#include "server/openai_response.h"
#include "server/sse.h"
#include "tokenizer/load.h"

namespace hearth::server {
namespace {

const Tokenizer& tok() {
  static Tokenizer t = load_tokenizer(std::string(HEARTH_TEST_DATA) + "/devB");
  return t;
}

// Splits an SSE byte stream into its data payloads, checking the framing on the way.
std::vector<std::string> sse_payloads(const std::string& stream) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < stream.size()) {
    size_t end = stream.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event";
    if (end == std::string::npos) break;
    std::string event = stream.substr(at, end - at);
    EXPECT_EQ(event.find('\n'), std::string::npos) << "one data line per event";
    EXPECT_EQ(event.rfind("data: ", 0), 0u);
    out.push_back(event.substr(6));
    at = end + 2;
  }
  return out;
}

TEST(ServerSse, FramingEscapesNewlinesAndEndsWithDone) {
  ojson j;
  j["text"] = "line one\nline two\r\n\n";
  std::string stream = sse_event(j) + sse_event(ojson::object()) + std::string(kSseDone);
  auto p = sse_payloads(stream);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(ojson::parse(p[0])["text"], "line one\nline two\r\n\n");
  EXPECT_EQ(p[1], "{}");
  EXPECT_EQ(p[2], "[DONE]");
  EXPECT_EQ(kSseKeepAlive.front(), ':');  // a comment: clients ignore it
}

TEST(ServerSse, IllFormedUtf8IsReplacedNotThrown) {
  ojson j;
  j["t"] = std::string("a\xE2\x82", 3);
  std::string wire = to_wire(j);
  EXPECT_EQ(ojson::parse(wire)["t"], "a\xEF\xBF\xBD");
}

TEST(ServerApiError, OpenAiShape) {
  ApiError e(400, "bad top_p", "invalid_request_error", "top_p", "invalid_value");
  EXPECT_EQ(to_wire(e.body()),
            R"({"error":{"message":"bad top_p","type":"invalid_request_error","param":"top_p",)"
            R"("code":"invalid_value"}})");
  ApiError n = invalid_request("x");
  EXPECT_EQ(n.status(), 400);
  EXPECT_TRUE(n.body()["error"]["param"].is_null());
  EXPECT_TRUE(n.body()["error"]["code"].is_null());
}

ChoiceUpdate text_update(const std::string& text) {
  ChoiceUpdate u;
  u.text = text;
  return u;
}

ChoiceUpdate finish_update(const std::string& reason, int completion) {
  ChoiceUpdate u;
  u.finished = true;
  u.finish_reason = reason;
  u.completion_tokens = completion;
  return u;
}

TEST(ServerResponse, ChatResponseAndChunks) {
  ResponseHeader h{"chatcmpl-1", 1700000000, "devB", false};
  auto f = make_chat_formatter(tok(), h, {2, false});
  f->add(0, text_update("Hel"));
  f->add(1, text_update("Yo"));
  f->add(0, text_update("lo"));
  f->add(0, finish_update("stop", 3));
  f->add(1, finish_update("length", 2));
  ojson r = f->response({10, 5});
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["id"], "chatcmpl-1");
  EXPECT_EQ(r["created"], 1700000000);
  EXPECT_EQ(r["model"], "devB");
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["choices"][1]["message"]["content"], "Yo");
  EXPECT_EQ(r["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(r["usage"], ojson::parse(R"({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
                             "prompt_tokens_details":{"cached_tokens":0}})"));

  ResponseHeader hs{"chatcmpl-2", 1, "devB", true};
  auto s = make_chat_formatter(tok(), hs, {1, false});
  auto open = s->stream_open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(open[0]["choices"][0]["delta"], ojson::parse(R"({"role":"assistant","content":""})"));
  EXPECT_TRUE(open[0]["usage"].is_null());
  EXPECT_TRUE(open[0].contains("usage"));
  auto mid = s->stream_update(0, text_update("Hi"));
  ASSERT_EQ(mid.size(), 1u);
  EXPECT_EQ(mid[0]["choices"][0]["delta"], ojson::parse(R"({"content":"Hi"})"));
  EXPECT_TRUE(mid[0]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(s->stream_update(0, text_update("")).empty());
  auto end = s->stream_update(0, finish_update("stop", 1));
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]["choices"][0]["delta"], ojson::object());
  EXPECT_EQ(end[0]["choices"][0]["finish_reason"], "stop");
  ojson usage = s->stream_usage({4, 1});
  EXPECT_EQ(usage["choices"], ojson::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 5);
  EXPECT_EQ(s->stream_usage({4, 1, 3})["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
}

TEST(ServerResponse, ToolCalls) {
  ToolCall call;
  call.name = "get_weather";
  call.arguments = ojson::parse(R"({"city": "Paris", "days": 2})");
  ojson j = tool_call_json(call, "call_abc");
  EXPECT_EQ(j["id"], "call_abc");
  EXPECT_EQ(j["type"], "function");
  EXPECT_EQ(j["function"]["name"], "get_weather");
  EXPECT_EQ(j["function"]["arguments"], R"({"city":"Paris","days":2})");  // a JSON string

  auto f = make_chat_formatter(tok(), {"c", 0, "m", false}, {1, false});
  ChoiceUpdate u = finish_update("tool_calls", 9);
  u.tool_calls = {call};
  f->add(0, u);
  ojson r = f->response({1, 9});
  const ojson& msg = r["choices"][0]["message"];
  EXPECT_TRUE(msg["content"].is_null());
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  EXPECT_EQ(msg["tool_calls"][0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "tool_calls");

  auto s = make_chat_formatter(tok(), {"c", 0, "m", false}, {1, false});
  auto chunks = s->stream_update(0, u);
  ASSERT_EQ(chunks.size(), 2u);
  const ojson& delta = chunks[0]["choices"][0]["delta"];
  EXPECT_EQ(delta["tool_calls"][0]["index"], 0);
  EXPECT_EQ(delta["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "tool_calls");
}

TEST(ServerResponse, ChatLogprobs) {
  const int32_t hello = tok().encode("Hello", false, false).at(0);
  TokenInfo t;
  t.token = hello;
  t.logprob = -0.25f;
  t.top = {{hello, -0.25f}, {128009, -3.0f}};
  ojson e = chat_logprob_entry(tok(), t);
  EXPECT_EQ(e["token"], "Hello");
  EXPECT_FLOAT_EQ(e["logprob"].get<float>(), -0.25f);
  EXPECT_EQ(e["bytes"], ojson::parse("[72,101,108,108,111]"));
  ASSERT_EQ(e["top_logprobs"].size(), 2u);
  EXPECT_EQ(e["top_logprobs"][1]["token"], "<|eot_id|>");

  auto f = make_chat_formatter(tok(), {"c", 0, "m", false}, {1, true});
  ChoiceUpdate u = text_update("Hello");
  u.tokens = {t};
  f->add(0, u);
  f->add(0, finish_update("length", 1));
  ojson r = f->response({1, 1});
  ASSERT_EQ(r["choices"][0]["logprobs"]["content"].size(), 1u);
  EXPECT_EQ(r["choices"][0]["logprobs"]["content"][0]["token"], "Hello");
}

TEST(ServerResponse, CompletionWithEchoAndLogprobs) {
  const std::vector<int32_t> prompt = tok().encode("Hi there", false, false);
  CompletionFormat cf;
  cf.n_choices = 1;
  cf.logprobs = 1;
  cf.echo_text = {"Hi there"};
  cf.echo_tokens = {prompt};
  auto f = make_completion_formatter(tok(), {"cmpl-1", 5, "m", false}, cf);
  const std::vector<int32_t> gen = tok().encode(" caf\xC3\xA9 ok", false, false);
  ChoiceUpdate u = text_update(" caf\xC3\xA9 ok");
  size_t at = 0;
  for (int32_t id : gen) {
    TokenInfo t;
    t.token = id;
    t.logprob = -1.0f;
    t.top = {{id, -1.0f}};
    t.text_begin = at;
    at += tok().token_bytes(id).size();
    t.text_end = at;
    u.tokens.push_back(t);
  }
  f->add(0, u);
  f->add(0, finish_update("length", static_cast<int>(gen.size())));
  ojson r = f->response({static_cast<int>(prompt.size()), static_cast<int>(gen.size())});
  EXPECT_EQ(r["object"], "text_completion");
  const ojson& c = r["choices"][0];
  EXPECT_EQ(c["text"], "Hi there caf\xC3\xA9 ok");
  const ojson& lp = c["logprobs"];
  const size_t n = prompt.size() + gen.size();
  ASSERT_EQ(lp["tokens"].size(), n);
  ASSERT_EQ(lp["token_logprobs"].size(), n);
  ASSERT_EQ(lp["top_logprobs"].size(), n);
  ASSERT_EQ(lp["text_offset"].size(), n);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());  // echoed prompt: not scored
  EXPECT_EQ(lp["token_logprobs"][prompt.size()], -1.0);
  // text_offset counts characters: the concatenated tokens before each entry.
  std::string so_far;
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = i < prompt.size() ? prompt[i] : gen[i - prompt.size()];
    EXPECT_EQ(lp["text_offset"][i], count_chars(so_far, so_far.size())) << i;
    so_far += tok().token_bytes(id);
  }
  EXPECT_EQ(count_chars("caf\xC3\xA9!", 6), 5u);
}

TEST(ServerMetrics, PrometheusText) {
  Metrics m;
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 400);
  m.add_tokens(10, 4);
  m.observe_ttft(0.03);
  m.observe_ttft(7);
  m.observe_inter_token(0.004);
  SchedulerStats s;
  s.waiting = 2;
  s.running = 3;
  s.kv_blocks_used = 5;
  s.kv_blocks_free = 7;
  s.kv_blocks_cached = 4;
  s.prefix_cache = {11, 6, 2};
  std::string t = m.render(s);
  auto has = [&](const std::string& line) {
    return t.find("\n" + line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has("hearth_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2"));
  EXPECT_TRUE(has("hearth_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1"));
  EXPECT_TRUE(has("hearth_prompt_tokens_total 10"));
  EXPECT_TRUE(has("hearth_completion_tokens_total 4"));
  EXPECT_TRUE(has("hearth_queue_depth 2"));
  EXPECT_TRUE(has("hearth_running_sequences 3"));
  EXPECT_TRUE(has("hearth_kv_blocks_used 5"));
  EXPECT_TRUE(has("hearth_kv_blocks_free 7"));
  EXPECT_TRUE(has("hearth_kv_blocks_cached 4"));
  EXPECT_TRUE(has("hearth_prefix_cache_hits_total 11"));
  EXPECT_TRUE(has("hearth_prefix_cache_misses_total 6"));
  EXPECT_TRUE(has("hearth_prefix_cache_evictions_total 2"));
  // Cumulative buckets: 0.03 falls in le=0.05 and above; 7 only in le=10 and above.
  EXPECT_TRUE(has("hearth_time_to_first_token_seconds_bucket{le=\"0.025\"} 0"));
  EXPECT_TRUE(has("hearth_time_to_first_token_seconds_bucket{le=\"0.05\"} 1"));
  EXPECT_TRUE(has("hearth_time_to_first_token_seconds_bucket{le=\"5\"} 1"));
  EXPECT_TRUE(has("hearth_time_to_first_token_seconds_bucket{le=\"10\"} 2"));
  EXPECT_TRUE(has("hearth_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(has("hearth_time_to_first_token_seconds_count 2"));
  EXPECT_TRUE(has("hearth_inter_token_latency_seconds_bucket{le=\"0.005\"} 1"));
  EXPECT_TRUE(has("# TYPE hearth_time_to_first_token_seconds histogram"));
}

}  // namespace
}  // namespace hearth::server
