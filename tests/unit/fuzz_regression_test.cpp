// Inputs the fuzzers (fuzz/) found crashing a parser, kept as plain unit tests of the fix; the
// raw inputs are also in fuzz/corpus/<target>/regression-*, replayed by fuzz.replay.<target>.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat/tool_calls.h"
#include "tokenizer/load.h"
#include "tokenizer/utf8.h"
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
// serializing the tool call (as the server does) threw.
TEST(FuzzRegression, ToolCallArgumentsFromIllFormedUtf8Serialize) {
  const auto parsed =
      parse_llama31_output("<|python_tag|>import math\x01<|\xEDytho\nprint(1)", false);
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  EXPECT_EQ(parsed.tool_calls[0].name, "code_interpreter");
  std::string dumped;
  ASSERT_NO_THROW(dumped = parsed.tool_calls[0].arguments.dump());
  EXPECT_TRUE(utf8::is_valid(dumped));
  EXPECT_NE(parsed.tool_calls[0].arguments["code"].get<std::string>().find(utf8::kReplacement),
            std::string::npos);
  const auto json_call =
      parse_llama31_output("{\"name\": \"f\", \"parameters\": {\"a\": \"\xFF\"}}", false);
  ASSERT_EQ(json_call.tool_calls.size(), 1u);
  EXPECT_NO_THROW((void)json_call.tool_calls[0].arguments.dump());
}

}  // namespace
}  // namespace hearth
