// Expected results follow the Llama 3.1 tool-calling format (custom tools as a JSON object with
// "name" and "parameters"; builtin tools as <|python_tag|>name.call(...) ending with <|eom_id|>).
#include <gtest/gtest.h>

#include <random>

#include "chat/llama31_template.h"
#include "chat/special_tokens.h"
#include "chat/tool_calls.h"

namespace hearth {
namespace {

using ojson = nlohmann::ordered_json;

TEST(SpecialTokens, IdsAreTheLlama31Ones) {
  static_assert(llama31::kEotId == 128009);
  static_assert(llama31::kEomId == 128008);
  static_assert(llama31::kEndOfTextId == 128001);
  static_assert(llama31::kPythonTagId == 128010);
  EXPECT_EQ(llama31::kPythonTag, "<|python_tag|>");
}

TEST(ToolCallParse, PlainTextIsContent) {
  for (const char* text : {"Hello there!", "", "  spaced  ", "Use {braces} in text",
                           "brave_search.call(query=\"x\")", "print('hi')"}) {
    ParsedAssistant p = parse_llama31_output(text, false);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.tool_calls.empty()) << text;
  }
}

TEST(ToolCallParse, TrailingStopTokenTextIsDropped) {
  EXPECT_EQ(parse_llama31_output("Hi.<|eot_id|>", false).content, "Hi.");
  EXPECT_EQ(parse_llama31_output("Hi.<|end_of_text|>", false).content, "Hi.");
  EXPECT_EQ(parse_llama31_output("a<|eot_id|>b", false).content, "a<|eot_id|>b");
}

TEST(ToolCallParse, JsonCallWithParameters) {
  ParsedAssistant p = parse_llama31_output(
      "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 3}}", false);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "get_weather");
  EXPECT_EQ(p.tool_calls[0].arguments, ojson::parse(R"({"city":"Paris","days":3})"));
  EXPECT_FALSE(p.tool_calls[0].builtin);
  EXPECT_EQ(p.tool_calls[0].raw,
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 3}}");
}

TEST(ToolCallParse, JsonCallArgumentsKeyAndStringArguments) {
  ParsedAssistant p = parse_llama31_output(
      "\n  {\"name\": \"f\", \"arguments\": \"{\\\"z\\\": 1, \\\"a\\\": [true]}\"}  \n<|eot_id|>",
      false);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "f");
  EXPECT_EQ(p.tool_calls[0].arguments.dump(), R"({"z":1,"a":[true]})");
}

TEST(ToolCallParse, ArgumentKeyOrderIsKept) {
  ParsedAssistant p = parse_llama31_output(
      R"({"name": "f", "parameters": {"zeta": {"y": 1, "b": 2}, "alpha": 0.5}})", false);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].arguments.dump(), R"({"zeta":{"y":1,"b":2},"alpha":0.5})");
}

TEST(ToolCallParse, SeveralJsonCalls) {
  const char* texts[] = {
      R"({"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {}})",
      "{\"name\": \"a\", \"parameters\": {\"x\": 1}}\n{\"name\": \"b\", \"parameters\": {}}",
      R"([{"name": "a", "parameters": {"x": 1}}, {"name": "b", "parameters": {}}])",
      R"({"name": "a", "parameters": {"x": 1}},{"name": "b", "parameters": {}};)",
  };
  for (const char* text : texts) {
    ParsedAssistant p = parse_llama31_output(text, false);
    ASSERT_EQ(p.tool_calls.size(), 2u) << text;
    EXPECT_EQ(p.tool_calls[0].name, "a");
    EXPECT_EQ(p.tool_calls[0].arguments, ojson::parse(R"({"x":1})"));
    EXPECT_EQ(p.tool_calls[1].name, "b");
    EXPECT_EQ(p.tool_calls[1].arguments, ojson::object());
    EXPECT_EQ(p.content, "");
  }
}

TEST(ToolCallParse, BuiltinCallAfterPythonTag) {
  ParsedAssistant p = parse_llama31_output(
      "<|python_tag|>brave_search.call(query=\"current weather in Menlo Park, California\")"
      "<|eom_id|>",
      false);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "brave_search");
  EXPECT_TRUE(p.tool_calls[0].builtin);
  EXPECT_EQ(p.tool_calls[0].arguments,
            ojson::parse(R"({"query":"current weather in Menlo Park, California"})"));
  EXPECT_EQ(p.tool_calls[0].raw,
            "brave_search.call(query=\"current weather in Menlo Park, California\")");
}

TEST(ToolCallParse, BuiltinCallLiterals) {
  ParsedAssistant p = parse_llama31_output(
      "<|python_tag|> wolfram_alpha.call( query = 'say \"hi\"\\n\\t\\\\ \\'q\\'', "
      "u=\"\\u00e9\\x41\\101\\U0001F999\\q\", n=-12, f=2.5e-3, g=+7, big=123456789012345678901, "
      "t=True, fa=false, no=None, lst=[1, \"two\"], obj={\"k\": null},) ",
      true);
  ASSERT_EQ(p.tool_calls.size(), 1u) << p.content;
  const ojson& a = p.tool_calls[0].arguments;
  EXPECT_EQ(a["query"], "say \"hi\"\n\t\\ 'q'");
  EXPECT_EQ(a["u"],
            "\xc3\xa9"
            "AA\xf0\x9f\xa6\x99\\q");
  EXPECT_EQ(a["n"], -12);
  EXPECT_TRUE(a["n"].is_number_integer());
  EXPECT_DOUBLE_EQ(a["f"].get<double>(), 2.5e-3);
  EXPECT_EQ(a["g"], 7);
  EXPECT_TRUE(a["big"].is_number_float());
  EXPECT_EQ(a["t"], true);
  EXPECT_EQ(a["fa"], false);
  EXPECT_TRUE(a["no"].is_null());
  EXPECT_EQ(a["lst"], ojson::parse(R"([1,"two"])"));
  EXPECT_EQ(a["obj"], ojson::parse(R"({"k":null})"));
  std::vector<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"query", "u", "n", "f", "g", "big", "t", "fa", "no",
                                            "lst", "obj"}));
}

TEST(ToolCallParse, BuiltinCallWithoutArguments) {
  ParsedAssistant p = parse_llama31_output("<|python_tag|>brave_search.call()", true);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].arguments, ojson::object());
}

TEST(ToolCallParse, JsonAfterPythonTag) {
  ParsedAssistant p = parse_llama31_output(
      "<|python_tag|>{\"name\": \"spotify\", \"parameters\": {\"song\": \"x\"}}<|eom_id|>", false);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "spotify");
  EXPECT_FALSE(p.tool_calls[0].builtin);
  EXPECT_EQ(p.tool_calls[0].arguments, ojson::parse(R"({"song":"x"})"));
}

TEST(ToolCallParse, CodeAfterPythonTagIsCodeInterpreter) {
  const char* code = "import math\nprint(math.sqrt(2))";
  ParsedAssistant p =
      parse_llama31_output(std::string("<|python_tag|>") + code + "\n<|eom_id|>", false);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "code_interpreter");
  EXPECT_TRUE(p.tool_calls[0].builtin);
  EXPECT_EQ(p.tool_calls[0].arguments, ojson({{"code", code}}));
}

TEST(ToolCallParse, TextBeforePythonTagIsContent) {
  ParsedAssistant p =
      parse_llama31_output("Let me search.\n<|python_tag|>brave_search.call(query=\"x\")", true);
  EXPECT_EQ(p.content, "Let me search.");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "brave_search");
}

TEST(ToolCallParse, EomWithoutTagAcceptsBuiltinForm) {
  ParsedAssistant p = parse_llama31_output("brave_search.call(query=\"x\")", true);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_TRUE(p.tool_calls[0].builtin);
  // The eom token printed as text counts as well.
  EXPECT_EQ(
      parse_llama31_output("brave_search.call(query=\"x\")<|eom_id|>", false).tool_calls.size(),
      1u);
  // Without the tag, other text is not taken for code.
  ParsedAssistant q = parse_llama31_output("print(1)", true);
  EXPECT_TRUE(q.tool_calls.empty());
  EXPECT_EQ(q.content, "print(1)");
}

TEST(ToolCallParse, MalformedCallsStayContent) {
  const char* texts[] = {
      R"({"name": "f", "parameters": {"a": 1})",
      R"({"name": "f"})",
      R"({"name": 5, "parameters": {}})",
      R"({"name": "", "parameters": {}})",
      R"({"parameters": {"a": 1}})",
      R"({"name": "f", "parameters": [1]})",
      R"({"name": "f", "parameters": "not json"})",
      R"({"name": "f", "parameters": "[1, 2]"})",
      R"({"name": "f", "parameters": null})",
      R"({"name": "f", "parameters": {}} and some text)",
      R"(Sure: {"name": "f", "parameters": {}})",
      R"({"name": "f", "parameters": {}}; {"oops": 1})",
      R"({"name": "f", "parameters": {"a": 1,}})",
      R"({"answer": 42})",
      "[]",
      "[1, 2]",
      "{}",
      "{\"name\": \"f\", \"parameters\": {\"s\": \"\xff\"}}",
      "<|python_tag|>",
      "<|python_tag|>   ",
      "<|python_tag|>{\"broken",
      "<|python_tag|>{\"name\": \"f\"}",
      "<|python_tag|>brave_search.call(query=\"unterminated)",
      "<|python_tag|>brave_search.call(query=unquoted)",
      "<|python_tag|>brave_search.call(\"positional\")",
      "<|python_tag|>brave_search.call(query=\"x\") extra",
      "<|python_tag|>brave_search.call(query=\"x\"",
      "<|python_tag|>brave_search.call(query=\"\\x4\")",
      "<|python_tag|>brave_search.call(a=1, a2=)",
      "<|python_tag|>brave_search.call(n=1.2.3)",
      "<|python_tag|>brave_search.call(n=-)",
  };
  for (const char* text : texts) {
    for (bool eom : {false, true}) {
      ParsedAssistant p = parse_llama31_output(text, eom);
      EXPECT_TRUE(p.tool_calls.empty()) << text << " eom=" << eom;
      EXPECT_EQ(p.content, text);
    }
  }
}

TEST(ToolCallParse, ReadsBackWhatTheTemplateWrites) {
  ojson messages = ojson::parse(R"([
    {"role": "user", "content": "q"},
    {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather",
      "arguments": {"city": "S\u00e3o Paulo", "unit": "celsius", "days": 3, "x": 0.1,
                    "nested": {"b": [1, null], "a": "\"quoted\"\n"}}}}]}])");
  ChatTemplateOptions opts;
  opts.add_generation_prompt = false;
  std::string prompt = render_llama31_chat(messages, opts);
  const std::string header = "<|start_header_id|>assistant<|end_header_id|>\n\n";
  std::string generated = prompt.substr(prompt.rfind(header) + header.size());
  ParsedAssistant p = parse_llama31_output(generated, false);
  ASSERT_EQ(p.tool_calls.size(), 1u) << generated;
  EXPECT_EQ(p.tool_calls[0].name, "get_weather");
  EXPECT_EQ(p.tool_calls[0].arguments.dump(),
            messages[1]["tool_calls"][0]["function"]["arguments"].dump());

  ojson builtin = ojson::parse(R"([
    {"role": "user", "content": "q"},
    {"role": "assistant", "tool_calls": [{"function": {"name": "brave_search",
      "arguments": {"query": "llamas in Peru", "count": "3"}}}]}])");
  opts.builtin_tools = {"brave_search"};
  prompt = render_llama31_chat(builtin, opts);
  generated = prompt.substr(prompt.rfind(header) + header.size());
  p = parse_llama31_output(generated, false);
  ASSERT_EQ(p.tool_calls.size(), 1u) << generated;
  EXPECT_TRUE(p.tool_calls[0].builtin);
  EXPECT_EQ(p.tool_calls[0].arguments.dump(), R"({"query":"llamas in Peru","count":"3"})");
}

TEST(ToolCallParse, NeverThrowsOnTruncatedOrRandomText) {
  const std::string samples[] = {
      "<|python_tag|>wolfram_alpha.call(query='a\\'b', n=1e5, l=[1, {\"a\": \"]\"}])<|eom_id|>",
      R"([{"name": "a", "parameters": {"s": "x\"}]"}}; {"name": "b", "arguments": "{\"k\": 1}"}])",
  };
  size_t calls = 0;
  for (const std::string& s : samples) {
    for (size_t n = 0; n <= s.size(); ++n) {
      for (bool eom : {false, true}) {
        ParsedAssistant p;
        EXPECT_NO_THROW(p = parse_llama31_output(std::string_view(s).substr(0, n), eom));
        calls += p.tool_calls.size();
      }
    }
  }
  EXPECT_GT(calls, 0u);
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\"'\\,;:=().a_1e-+ \n\xc3\xa9\xff";
  for (int i = 0; i < 2000; ++i) {
    std::string s = i % 2 ? "<|python_tag|>" : "";
    size_t len = rng() % 40;
    for (size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    EXPECT_NO_THROW(parse_llama31_output(s, i % 3 == 0)) << s;
  }
}

}  // namespace
}  // namespace hearth
