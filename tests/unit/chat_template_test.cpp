// The expected prompts in tests/data/chat/expected.json were rendered once from the official
// template by Jinja2 (scripts/render_chat_template.py); the renderer must match them byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chat/llama31_template.h"
#include "chat/openai_messages.h"
#include "util/error.h"

namespace hearth {
namespace {

using ojson = nlohmann::ordered_json;

ojson load_json(const std::string& rel) {
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/" + rel, std::ios::binary);
  EXPECT_TRUE(in) << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ojson::parse(ss.str());
}

ChatTemplateOptions options_for(const ojson& conv) {
  ChatTemplateOptions opts;
  if (conv.contains("tools")) opts.tools = conv["tools"];
  if (conv.contains("builtin_tools"))
    opts.builtin_tools = conv["builtin_tools"].get<std::vector<std::string>>();
  if (conv.contains("tools_in_user_message"))
    opts.tools_in_user_message = conv["tools_in_user_message"].get<bool>();
  if (conv.contains("date_string")) opts.date_string = conv["date_string"].get<std::string>();
  if (conv.contains("add_generation_prompt"))
    opts.add_generation_prompt = conv["add_generation_prompt"].get<bool>();
  return opts;
}

// Shows where two long prompts first differ instead of dumping both.
std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  auto around = [&](const std::string& s) {
    size_t from = i < 40 ? 0 : i - 40;
    return ojson(s.substr(from, std::min<size_t>(80, s.size() - std::min(from, s.size())))).dump();
  };
  return "first difference at byte " + std::to_string(i) + "\n  got:      " + around(a) +
         "\n  expected: " + around(b);
}

TEST(ChatTemplate, MatchesJinjaRenderingOfEveryConversation) {
  ojson conversations = load_json("chat/conversations.json");
  ojson expected = load_json("chat/expected.json");
  ASSERT_GE(conversations.size(), 50u);
  ASSERT_EQ(conversations.size(), expected.size());
  int errors = 0;
  for (const ojson& conv : conversations) {
    const std::string name = conv["name"];
    SCOPED_TRACE(name);
    ASSERT_TRUE(expected.contains(name));
    const ojson& want = expected[name];
    ChatTemplateOptions opts = options_for(conv);
    if (want["error"].get<bool>()) {
      ++errors;
      EXPECT_THROW(render_llama31_chat(conv["messages"], opts), Error) << want["message"];
    } else {
      std::string got;
      ASSERT_NO_THROW(got = render_llama31_chat(conv["messages"], opts));
      const std::string prompt = want["prompt"];
      EXPECT_TRUE(got == prompt) << first_difference(got, prompt);
    }
  }
  EXPECT_GE(errors, 10);
}

TEST(ChatTemplate, MatchesDevBReferencePrompt) {
  // Independent of expected.json: the fixture was rendered by transformers' apply_chat_template.
  ojson ref = load_json("devB/reference.json");
  EXPECT_EQ(render_llama31_chat(ref["chat"]), ref["chat_prompt"].get<std::string>());
}

TEST(ChatTemplate, AcceptsPlainJsonWithSortedKeys) {
  // nlohmann::json converts implicitly; its keys come out sorted, which a caller should know.
  nlohmann::json messages = nlohmann::json::parse(R"([{"role":"user","content":"hi"}])");
  ChatTemplateOptions opts;
  opts.tools = nlohmann::json::parse(R"([{"name":"f","description":"d"}])");
  opts.tools_in_user_message = false;
  std::string prompt = render_llama31_chat(messages, opts);
  EXPECT_NE(prompt.find("{\n    \"description\": \"d\",\n    \"name\": \"f\"\n}\n\n"),
            std::string::npos)
      << prompt;
}

TEST(ChatTemplate, CustomBosToken) {
  ChatTemplateOptions opts;
  opts.bos_token = "";
  opts.add_generation_prompt = false;
  EXPECT_EQ(render_llama31_chat(ojson::parse(R"([{"role":"user","content":"a"}])"), opts),
            "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December "
            "2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\na<|eot_id|>");
}

// Where the template would carry on with garbage, the renderer refuses: these are caller bugs.
TEST(ChatTemplate, RejectsMalformedMessages) {
  const char* bad[] = {
      R"({"role":"user","content":"not an array"})",
      R"("text")",
      R"(null)",
      R"([])",
      R"(["just a string"])",
      R"([{"role":"user","content":"x"}, 5])",
      R"([{"content":"no role, first"}])",
      R"([{"role":null,"content":"x"}])",
      R"([{"role":["user"],"content":"x"}])",
      R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":{"function":{}}}])",
      R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":["f"]}])",
      R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"function":"f"}]}])",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_THROW(render_llama31_chat(ojson::parse(text)), Error);
  }
}

TEST(ChatTemplate, RejectsToolsThatAreNotAnArray) {
  ChatTemplateOptions opts;
  opts.tools = ojson::parse(R"({"name":"f"})");
  EXPECT_THROW(render_llama31_chat(ojson::parse(R"([{"role":"user","content":"x"}])"), opts),
               Error);
}

TEST(ChatTemplate, ErrorMessageNamesTheMessage) {
  try {
    render_llama31_chat(ojson::parse(
        R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{},{}]}])"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "messages[1].tool_calls: This model only supports single tool-calls at once!");
  }
}

TEST(NormalizeOpenAiMessages, JoinsTextPartsAndParsesArguments) {
  ojson in = ojson::parse(R"([
    {"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
    {"role":"user","content":"q"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function",
      "function":{"name":"f","arguments":"{\"z\": 1, \"a\": [2.5, \"x\"]}"}}]},
    {"role":"assistant","content":null,"tool_calls":[{"function":{"name":"g","arguments":" "}}]},
    {"role":"assistant","content":null,"tool_calls":[{"function":{"name":"h","arguments":"nope"}}]},
    {"role":"assistant","content":null,"tool_calls":null},
    {"role":"assistant","content":"x","tool_calls":[]},
    {"role":"tool","content":[{"type":"text","text":"r"}]}
  ])");
  ojson out = normalize_openai_messages(in);
  EXPECT_EQ(out[0]["content"], "a\nb");
  EXPECT_EQ(out[1], in[1]);
  EXPECT_EQ(out[2]["tool_calls"][0]["function"]["arguments"].dump(),
            R"({"z":1,"a":[2.5,"x"]})");  // key order kept
  EXPECT_TRUE(out[2]["content"].is_null());
  EXPECT_EQ(out[3]["tool_calls"][0]["function"]["arguments"], ojson::object());
  EXPECT_EQ(out[4]["tool_calls"][0]["function"]["arguments"], "nope");
  EXPECT_FALSE(out[5].contains("tool_calls"));
  EXPECT_EQ(out[5]["content"], "");
  EXPECT_FALSE(out[6].contains("tool_calls"));
  EXPECT_EQ(out[7]["content"], "r");
  EXPECT_EQ(in[0]["content"].size(), 2u);  // the input is untouched
}

TEST(NormalizeOpenAiMessages, NormalizedConversationRendersAsText) {
  ojson in = ojson::parse(R"([
    {"role":"user","content":[{"type":"text","text":" Hello"},{"type":"text","text":"world "}]},
    {"role":"assistant","content":null,"tool_calls":[{"function":{"name":"f",
      "arguments":"{\"b\": 1, \"a\": \"caf\u00e9\"}"}}]}])");
  ChatTemplateOptions opts;
  opts.add_generation_prompt = false;
  std::string prompt = render_llama31_chat(normalize_openai_messages(in), opts);
  EXPECT_NE(prompt.find("user<|end_header_id|>\n\nHello\nworld<|eot_id|>"), std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("{\"name\": \"f\", \"parameters\": {\"b\": 1, \"a\": \"caf\u00e9\"}}"
                        "<|eot_id|>"),
            std::string::npos)
      << prompt;
}

TEST(NormalizeOpenAiMessages, RejectsNonTextPartsAndNonArrays) {
  EXPECT_THROW(
      normalize_openai_messages(ojson::parse(
          R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}])")),
      Error);
  EXPECT_THROW(normalize_openai_messages(ojson::parse(R"([{"role":"user","content":[5]}])")),
               Error);
  EXPECT_THROW(normalize_openai_messages(ojson::parse(R"({"role":"user"})")), Error);
  EXPECT_THROW(normalize_openai_messages(ojson::parse(R"([1])")), Error);
}

}  // namespace
}  // namespace hearth
