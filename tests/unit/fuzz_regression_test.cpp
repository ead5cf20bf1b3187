// Inputs the fuzzers (fuzz/) found crashing a parser, kept as plain unit tests of the fix; the
// raw inputs are also in fuzz/corpus/<target>/regression-*, replayed by fuzz.replay.<target>.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat/tool_calls.h"
#include "tokenizer/load.h"
#include "util/error.h"

namespace hearth {
namespace {

// nlohmann's parser throws out_of_range, not parse_error, for a number that overflows a double;
// the loader caught only the latter and the exception escaped as a crash.
TEST(FuzzRegression, TokenizerJsonWithAnOverflowingNumberIsAnError) {
  for (const char* text : {"8888888000000000E600000000", R"({"model": {"vocab": 1E99999}})"}) {
    try {
      (void)tokenizer_from_hf_json_text(text, "tokenizer.json", "", "");
      FAIL() << "loaded " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    }
  }
}

// Ill-formed UTF-8 in code after <|python_tag|> went into the arguments as it was, and
// serializing the tool call (as the server does) threw. Such text is now content, unchanged, as
// a JSON call with ill-formed UTF-8 already was.
TEST(FuzzRegression, IllFormedUtf8AfterThePythonTagIsContent) {
  for (const std::string& text : {std::string("<|python_tag|>import math\x01<|\xEDytho\nprint(1)"),
                                  std::string("<|python_tag|>brave_search.call(query=\"\xFF\")")}) {
    const auto parsed = parse_llama31_output(text, true);
    EXPECT_TRUE(parsed.tool_calls.empty());
    EXPECT_EQ(parsed.content, text);
  }
  const auto ok = parse_llama31_output("<|python_tag|>print('\xC3\xA9')", false);
  ASSERT_EQ(ok.tool_calls.size(), 1u);
  EXPECT_NO_THROW((void)ok.tool_calls[0].arguments.dump());
}

}  // namespace
}  // namespace hearth
