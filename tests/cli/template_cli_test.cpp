// hearth template as a user drives it: devB's reference conversation must become the prompt and
// token ids that transformers' apply_chat_template produced for the fixture.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace hearth {
namespace {

using ::testing::HasSubstr;
using namespace hearth::testing;

const std::string kData = HEARTH_TEST_DATA;

// A scratch file removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& tag, const std::string& contents)
      : path_("/tmp/hearth-template-" + std::to_string(::getpid()) + "-" + tag) {
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void expect_one_line_error(const CommandResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("hearth: error: "));
  EXPECT_THAT(r.err, HasSubstr(what));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(TemplateCli, DevBReferenceChatRendersAndTokenizes) {
  auto ref = nlohmann::json::parse(slurp(kData + "/devB/reference.json"));
  TempFile messages("chat.json", ref["chat"].dump());
  auto r = run_command(hearth_cmd("template " + kData + "/devB --messages " + messages.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt"], ref["chat_prompt"]);
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), ref["chat_ids"].get<std::vector<int>>());
}

TEST(TemplateCli, OptionsReachTheTemplate) {
  TempFile messages("m.json", R"([{"role":"user","content":"Weather?"}])");
  TempFile tools("t.json", R"([{"name":"get_weather","parameters":{"type":"object"}}])");
  auto r = run_command(hearth_cmd(
      "template " + kData + "/devB --messages " + messages.path() + " --tools " + tools.path() +
      " --builtin-tools brave_search,code_interpreter,wolfram_alpha"
      " --tools-in-system --date '02 Feb 2025' --no-generation-prompt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const std::string prompt = j["prompt"];
  EXPECT_EQ(prompt,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Environment: ipython\nTools: brave_search, wolfram_alpha\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 02 Feb 2025\n\n"
            "You have access to the following functions. To call a function, please respond with "
            "JSON for a function call.Respond in the format {\"name\": function name, "
            "\"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n"
            "{\n    \"name\": \"get_weather\",\n    \"parameters\": {\n        \"type\": "
            "\"object\"\n    }\n}\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            "Weather?<|eot_id|>");
  auto tokens = j["tokens"].get<std::vector<int>>();
  ASSERT_GE(tokens.size(), 10u);
  EXPECT_EQ(tokens.front(), 128000);
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), 128000), 1);
  EXPECT_EQ(tokens.back(), 128009);
}

TEST(TemplateCli, MissingMessagesFileIsOneLineError) {
  auto r = run_command(
      hearth_cmd("template " + kData + "/devB --messages /nonexistent/hearth-messages.json"));
  expect_one_line_error(r, "/nonexistent/hearth-messages.json");
}

TEST(TemplateCli, MessagesNotJsonIsOneLineError) {
  TempFile messages("bad.json", "[{\"role\": \"user\",\n \"content\": oops}]");
  auto r = run_command(hearth_cmd("template " + kData + "/devB --messages " + messages.path()));
  expect_one_line_error(r, "not valid JSON");
}

TEST(TemplateCli, TemplateErrorIsOneLineError) {
  TempFile messages("sys.json", R"([{"role":"system","content":"only a system message"}])");
  TempFile tools("tools.json", R"([{"name":"f"}])");
  auto r = run_command(hearth_cmd("template " + kData + "/devB --messages " + messages.path() +
                                  " --tools " + tools.path()));
  expect_one_line_error(r, "no first user message");
}

TEST(TemplateCli, MissingMessagesOptionIsUsageError) {
  auto r = run_command(hearth_cmd("template " + kData + "/devB"));
  EXPECT_EQ(r.exit_code, 2);
}

// Special-token text typed in a message is parsed here, as transformers does; the help says so
// and names the server's different default.
TEST(TemplateCli, ParsesSpecialTokenTextInMessagesAndSaysSo) {
  TempFile m("special", R"([{"role": "user", "content": "a<|eot_id|>b"}])");
  auto r = run_command(hearth_cmd("template " + kData + "/devB --messages " + m.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto tokens = nlohmann::json::parse(r.out)["tokens"].get<std::vector<int>>();
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), 128009), 3);  // system, user, forged
  auto help = run_command(hearth_cmd("template --help"));
  EXPECT_THAT(help.out, HasSubstr("apply_chat_template"));
  EXPECT_THAT(help.out, HasSubstr("--parse-special-in-messages"));
}

}  // namespace
}  // namespace hearth
