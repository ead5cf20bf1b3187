// One choice's token events -> the text and tool calls a client receives, with the real Llama 3
// tokenizer: UTF-8-safe streaming, end tokens never printed, stop strings never leaked, logprob
// entries kept with their text, tool calls parsed from the Llama 3.1 formats.
#include <gtest/gtest.h>

#include "chat/special_tokens.h"
#include "server/choice_stream.h"
#include "tokenizer/load.h"

namespace hearth::server {
namespace {

const Tokenizer& tok() {
  static Tokenizer t = load_tokenizer(std::string(HEARTH_TEST_DATA) + "/devB");
  return t;
}

int32_t byte_token(unsigned char b) {
  for (int32_t id = 0; id < 128000; ++id)
    if (tok().token_bytes(id) == std::string(1, static_cast<char>(b))) return id;
  ADD_FAILURE() << "no token for byte " << int(b);
  return 0;
}

ChoiceSetup setup() {
  ChoiceSetup s;
  s.end_ids = tok().eos_ids();
  s.python_tag = llama31::kPythonTagId;
  s.eom = llama31::kEomId;
  return s;
}

struct Result {
  std::vector<ChoiceUpdate> updates;
  std::string text;
  std::vector<TokenInfo> tokens;
  ChoiceUpdate last;
  int stopped_at = -1;  // index of the event on_event returned false for
};

// Feeds ids as events; the last one carries `finish` (or a separate finish event follows a stop).
Result run(ChoiceStream& cs, const std::vector<int32_t>& ids, FinishReason finish) {
  Result r;
  for (size_t i = 0; i < ids.size(); ++i) {
    TokenEvent ev;
    ev.token = ids[i];
    ev.logprob = -static_cast<float>(i) - 0.5f;
    ev.completion_tokens = static_cast<int>(i + 1);
    if (i + 1 == ids.size()) ev.finish = finish;
    ChoiceUpdate u;
    bool more = cs.on_event(ev, u);
    r.text += u.text;
    r.tokens.insert(r.tokens.end(), u.tokens.begin(), u.tokens.end());
    r.updates.push_back(u);
    if (u.finished) r.last = u;
    if (!more && !u.finished) {
      r.stopped_at = static_cast<int>(i);
      TokenEvent fin;
      fin.finish = FinishReason::Stop;
      fin.completion_tokens = static_cast<int>(i + 1);
      ChoiceUpdate f;
      cs.on_event(fin, f);
      r.text += f.text;
      r.tokens.insert(r.tokens.end(), f.tokens.begin(), f.tokens.end());
      r.updates.push_back(f);
      r.last = f;
      break;
    }
  }
  return r;
}

std::vector<int32_t> enc(const std::string& s) {
  return tok().encode(s, /*add_bos=*/false, /*parse_special=*/false);
}

TEST(ServerChoiceStream, PlainTextStreamsAndEndsWithLength) {
  const std::string text = "Hello, world! \xC2\xBFQu\xC3\xA9 tal? \xE6\x97\xA5\xE6\x9C\xAC";
  ChoiceStream cs(tok(), setup());
  Result r = run(cs, enc(text), FinishReason::Length);
  EXPECT_EQ(r.text, text);
  EXPECT_EQ(r.last.finish_reason, "length");
  EXPECT_TRUE(r.last.finished);
  EXPECT_EQ(cs.content(), text);
  EXPECT_FALSE(r.updates.front().text.empty());  // streamed as it came, not at the end
}

TEST(ServerChoiceStream, BrokenUtf8IsNeverSent) {
  // U+65E5 as three single-byte tokens: nothing until the character is complete.
  ChoiceStream cs(tok(), setup());
  Result r = run(cs, {byte_token(0xE6), byte_token(0x97), byte_token(0xA5), byte_token(0xE6)},
                 FinishReason::Length);
  EXPECT_EQ(r.updates[0].text, "");
  EXPECT_EQ(r.updates[1].text, "");
  EXPECT_EQ(r.updates[2].text, "\xE6\x97\xA5");
  EXPECT_EQ(r.text, "\xE6\x97\xA5\xEF\xBF\xBD");  // a cut-off tail becomes U+FFFD at the end
}

TEST(ServerChoiceStream, EndTokensAreNeverPrinted) {
  ChoiceStream cs(tok(), setup());
  auto ids = enc("done");
  ids.push_back(llama31::kEotId);
  Result r = run(cs, ids, FinishReason::Stop);
  EXPECT_EQ(r.text, "done");
  EXPECT_EQ(r.last.finish_reason, "stop");
}

TEST(ServerChoiceStream, StopStringAcrossTokensWithLogprobs) {
  ChoiceSetup s = setup();
  s.stop = {"STOP here"};
  s.logprobs = true;
  ChoiceStream cs(tok(), s);
  const std::string before = "abc def ";
  auto ids = enc(before + "STOP here and more text");
  Result r = run(cs, ids, FinishReason::Length);
  EXPECT_EQ(r.text, before);
  EXPECT_EQ(r.last.finish_reason, "stop");
  ASSERT_GE(r.stopped_at, 0);
  EXPECT_LT(r.stopped_at, static_cast<int>(ids.size()) - 1);  // stopped before the end
  // Only tokens wholly before the stop string get logprob entries, in order, with their text.
  std::string joined;
  for (auto& t : r.tokens) {
    EXPECT_EQ(t.text_begin, joined.size());
    joined += tok().token_bytes(t.token);
  }
  EXPECT_EQ(joined, before.substr(0, joined.size()));
  // ...all of them: every token that ends by the stop string's first byte.
  size_t whole = 0, end = 0;
  for (int32_t id : ids) {
    end += tok().token_bytes(id).size();
    if (end > before.size()) break;
    ++whole;
  }
  EXPECT_EQ(r.tokens.size(), whole);
  EXPECT_GT(whole, 0u);
}

TEST(ServerChoiceStream, StopStringHeldBackUntilDecided) {
  ChoiceSetup s = setup();
  s.stop = {"xyz!"};
  ChoiceStream cs(tok(), s);
  Result r = run(cs, enc("ab xyz? ok"), FinishReason::Length);
  EXPECT_EQ(r.text, "ab xyz? ok");  // "xyz" was held, then released
  EXPECT_EQ(r.last.finish_reason, "length");
  for (auto& u : r.updates) EXPECT_EQ(u.text.find("xyz!"), std::string::npos);
}

TEST(ServerChoiceStream, CustomToolCallIsParsed) {
  ChoiceSetup s = setup();
  s.parse_tool_calls = true;
  ChoiceStream cs(tok(), s);
  auto ids = enc(R"({"name": "get_weather", "parameters": {"city": "Paris"}})");
  ids.push_back(llama31::kEotId);
  Result r = run(cs, ids, FinishReason::Stop);
  EXPECT_EQ(r.text, "");  // held, never streamed as content
  EXPECT_EQ(r.last.finish_reason, "tool_calls");
  ASSERT_EQ(r.last.tool_calls.size(), 1u);
  EXPECT_EQ(r.last.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.last.tool_calls[0].arguments, nlohmann::ordered_json({{"city", "Paris"}}));
}

TEST(ServerChoiceStream, PlainContentWithToolsOfferedStreamsAtOnce) {
  ChoiceSetup s = setup();
  s.parse_tool_calls = true;
  ChoiceStream cs(tok(), s);
  Result r = run(cs, enc("  Sure, here it is."), FinishReason::Length);
  EXPECT_EQ(r.text, "  Sure, here it is.");
  EXPECT_EQ(r.last.finish_reason, "length");
  EXPECT_TRUE(r.last.tool_calls.empty());
  size_t streamed_before_end = 0;
  for (size_t i = 0; i + 1 < r.updates.size(); ++i) streamed_before_end += r.updates[i].text.size();
  EXPECT_GT(streamed_before_end, 0u);
}

TEST(ServerChoiceStream, SomethingThatLooksLikeACallButIsNotIsContent) {
  ChoiceSetup s = setup();
  s.parse_tool_calls = true;
  ChoiceStream cs(tok(), s);
  Result r = run(cs, enc("{not json at all"), FinishReason::Length);
  EXPECT_EQ(r.text, "{not json at all");
  EXPECT_EQ(r.last.finish_reason, "length");
}

TEST(ServerChoiceStream, BuiltinToolCallAfterPythonTag) {
  ChoiceSetup s = setup();
  s.parse_tool_calls = true;
  ChoiceStream cs(tok(), s);
  auto ids = enc("Let me look.");
  ids.push_back(llama31::kPythonTagId);
  auto call = enc(R"(brave_search.call(query="weather in Paris"))");
  ids.insert(ids.end(), call.begin(), call.end());
  ids.push_back(llama31::kEomId);
  Result r = run(cs, ids, FinishReason::Stop);
  EXPECT_EQ(r.text, "Let me look.");
  EXPECT_EQ(r.last.finish_reason, "tool_calls");
  ASSERT_EQ(r.last.tool_calls.size(), 1u);
  EXPECT_EQ(r.last.tool_calls[0].name, "brave_search");
  EXPECT_EQ(r.last.tool_calls[0].arguments["query"], "weather in Paris");
}

TEST(ServerChoiceStream, ForcedToolCallIsAlwaysBuffered) {
  ChoiceSetup s = setup();
  s.parse_tool_calls = true;
  s.force_tool_call = true;
  ChoiceStream cs(tok(), s);
  // Truncated by the length limit: not a call, so it comes out as content at the end.
  Result r = run(cs, enc(R"({"name": "f", "parameters": {"a)"), FinishReason::Length);
  for (size_t i = 0; i + 1 < r.updates.size(); ++i) EXPECT_EQ(r.updates[i].text, "");
  EXPECT_EQ(r.text, R"({"name": "f", "parameters": {"a)");
  EXPECT_EQ(r.last.finish_reason, "length");
}

TEST(ServerChoiceStream, CancelledAndFailedFinishes) {
  ChoiceStream cs(tok(), setup());
  TokenEvent ev;
  ev.finish = FinishReason::Cancelled;
  ChoiceUpdate u;
  cs.on_event(ev, u);
  EXPECT_TRUE(u.finished);
  EXPECT_EQ(u.raw_finish, FinishReason::Cancelled);
  EXPECT_FALSE(u.error.empty());
  ChoiceStream cs2(tok(), setup());
  ev.finish = FinishReason::Error;
  ev.error = "boom";
  ChoiceUpdate u2;
  cs2.on_event(ev, u2);
  EXPECT_EQ(u2.error, "boom");
}

}  // namespace
}  // namespace hearth::server
