// hearth run with text prompts, the chat template and the interactive chat.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "support/run_command.h"
#include "support/tiny_models.h"

namespace hearth {
namespace {

using ::testing::HasSubstr;
using namespace hearth::testing;

const std::string kData = HEARTH_TEST_DATA;
const std::string kDevB = kData + "/devB";

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST(RunCli, ChatPromptReproducesReferenceGreedy) {
  auto ref = nlohmann::json::parse(slurp(kDevB + "/reference.json"));
  const auto& chat = ref["chat"];
  ASSERT_EQ(chat[0]["role"], "system");
  std::string cmd = "run " + kDevB + " --chat --system " + shell_quote(chat[0]["content"]) +
                    " --prompt " + shell_quote(chat[1]["content"]) +
                    " -n 20 --temp 0 --ignore-eos --print-ids";
  auto r = run_command(hearth_cmd(cmd));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, join_ids(ref["chat_greedy_20"].get<std::vector<int>>(), " ") + "\n");
  // And as text: the reference decoded continuation.
  cmd = "run " + kDevB + " --chat --system " + shell_quote(chat[0]["content"]) + " --prompt " +
        shell_quote(chat[1]["content"]) + " -n 20 --temp 0 --ignore-eos";
  r = run_command(hearth_cmd(cmd));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ref["chat_greedy_20_text"].get<std::string>() + "\n");
}

TEST(RunCli, PlainPromptEqualsItsTokens) {
  auto tok =
      run_command(hearth_cmd("tokenize " + kDevB + " " + shell_quote("The quick brown fox")));
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  auto ids = nlohmann::json::parse(tok.out).get<std::vector<int>>();
  auto a = run_command(
      hearth_cmd("run " + kDevB + " --prompt 'The quick brown fox' -n 6 --temp 0 --print-ids"));
  auto b = run_command(
      hearth_cmd("run " + kDevB + " --tokens " + join_ids(ids) + " -n 6 --temp 0 --print-ids"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(RunCli, JsonReportsTheSameGenerationAsText) {
  auto ref = nlohmann::json::parse(slurp(kDevB + "/reference.json"));
  const auto& chat = ref["chat"];
  const std::string base = "run " + kDevB + " --chat --system " + shell_quote(chat[0]["content"]) +
                           " --prompt " + shell_quote(chat[1]["content"]) +
                           " -n 20 --temp 0 --ignore-eos";
  auto r = run_command(hearth_cmd(base + " --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);  // the whole stdout is one object
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), ref["chat_greedy_20"].get<std::vector<int>>());
  EXPECT_EQ(j["text"], ref["chat_greedy_20_text"]);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_GT(j["prompt_tokens"].get<int>(), 0);
  EXPECT_GT(j["prompt_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
}

TEST(RunCli, KvTypeF16RunsAndBadTypesAreRefused) {
  auto r = run_command(hearth_cmd("run " + kDevB +
                                  " --prompt 'The quick brown fox' -n 6 --temp 0 --kv-type f16 "
                                  "--print-ids"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  r = run_command(hearth_cmd("run " + kDevB + " --prompt hi -n 2 --kv-type q4"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--kv-type: unknown type 'q4'"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Splits the interactive transcript (non-tty: one reply line per turn).
std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\n') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

TEST(RunCli, InteractiveChatKeepsHistoryExactly) {
  TempDir d;
  write_text(d.file("in.txt"), "hi\nsecond \\\nline\n");
  // run_command points stdin at /dev/null, so pipe the input in front of the command.
  auto r = run_command("(cat " + d.file("in.txt") + " | " +
                       hearth_cmd("run " + kDevB + " -n 6 --temp 0") + ")");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto replies = lines(r.out);
  ASSERT_EQ(replies.size(), 2u) << r.out;
  // The second reply must equal a one-shot run over the full rendered conversation.
  nlohmann::json msgs = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}},
                                               {{"role", "assistant"}, {"content", replies[0]}},
                                               {{"role", "user"}, {"content", "second \nline"}}});
  write_text(d.file("msgs.json"), msgs.dump());
  auto t = run_command(hearth_cmd("template " + kDevB + " --messages " + d.file("msgs.json")));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  auto ids = nlohmann::json::parse(t.out)["tokens"].get<std::vector<int>>();
  auto one =
      run_command(hearth_cmd("run " + kDevB + " --tokens " + join_ids(ids) + " -n 6 --temp 0"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, replies[1] + "\n");
}

TEST(RunCli, InteractiveResetStartsOver) {
  auto r = run_command("(printf 'hi\\n/reset\\nagain\\n' | " +
                       hearth_cmd("run " + kDevB + " -n 5 --temp 0") + ")");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto replies = lines(r.out);
  ASSERT_EQ(replies.size(), 2u);
  auto fresh = run_command(hearth_cmd("run " + kDevB + " --chat --prompt again -n 5 --temp 0"));
  EXPECT_EQ(fresh.out, replies[1] + "\n");
}

TEST(RunCli, JsonObjectResponseFormatPrintsOneJsonObject) {
  auto r = run_command(hearth_cmd("run " + kDevB +
                                  " --prompt 'A llama, as JSON:' -n 48 --temp 0.8 --seed 3 "
                                  "--response-format json_object --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = nlohmann::json::parse(r.out)["text"];
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(text)) << text;
  EXPECT_TRUE(doc.is_object()) << text;
}

TEST(RunCli, GenerationFlagErrorsAreOneLine) {
  const std::string base = "run " + kDevB + " --prompt hi -n 2 ";
  const std::pair<std::string, std::string> cases[] = {
      {"--logit-bias 5", "--logit-bias: '5' is not ID=BIAS"},
      {"--logit-bias 5=1,x=2", "--logit-bias: 'x=2' is not ID=BIAS"},
      {"--logit-bias 5=200", "--logit-bias: bias 200 is not between -100 and 100"},
      {"--logit-bias 128256=1", "--logit-bias: token id 128256 is not in this model's vocabulary"},
  };
  for (const auto& [flags, message] : cases) {
    auto r = run_command(hearth_cmd(base + flags));
    EXPECT_EQ(r.exit_code, 1) << flags;
    EXPECT_THAT(r.err, HasSubstr(message)) << flags;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  for (const char* flags : {"--response-format xml", "--presence-penalty 3"}) {
    auto r = run_command(hearth_cmd(base + flags));
    EXPECT_EQ(r.exit_code, 2) << flags << r.err;
  }
  auto r = run_command(
      hearth_cmd("run " + kData + "/devA --tokens 1,2 -n 2 " + "--response-format json_object"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("json_object needs the model's tokenizer"));
}

TEST(RunCli, Errors) {
  auto r = run_command(hearth_cmd("run " + kData + "/devA --prompt hello"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("has no tokenizer"));
  r = run_command(hearth_cmd("run " + kDevB + " --prompt hi --tokens 1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not both"));
}

}  // namespace
}  // namespace hearth
