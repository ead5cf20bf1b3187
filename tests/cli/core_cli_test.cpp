// hearth info / logits / run as a user drives them: output, exit codes, one-line errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "support/run_command.h"
#include "support/tiny_models.h"

namespace hearth {
namespace {

using ::testing::HasSubstr;
using namespace hearth::testing;

const std::string kData = HEARTH_TEST_DATA;

void expect_one_line_error(const CommandResult& r, const std::string& what, int code = 1) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_THAT(r.err, HasSubstr(what));
  EXPECT_THAT(r.err, HasSubstr("hearth: error: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CoreCli, LogitsMatchTransformersOnDevA) {
  auto ref = nlohmann::json::parse(slurp(kData + "/devA/reference.json"));
  auto ids = ref["prompts"]["p12"].get<std::vector<int>>();
  std::string list = join_ids(ids);
  auto r = run_command(hearth_cmd("logits " + kData + "/devA --all --tokens " + list));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), ids);
  ASSERT_EQ(j["logits"].size(), ids.size());
  double worst = 0;
  for (size_t p = 0; p < ids.size(); ++p)
    for (size_t v = 0; v < 512; ++v)
      worst = std::max(worst, std::fabs(j["logits"][p][v].get<double>() -
                                        ref["logits"]["p12"][p][v].get<double>()));
  EXPECT_LT(worst, 1e-3);
}

TEST(CoreCli, LogitsLastPositionOnlyByDefault) {
  auto r = run_command(hearth_cmd("logits " + kData + "/devB/devB-bf16.gguf --tokens 128000,791"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["logits"].size(), 1u);
  EXPECT_EQ(j["logits"][0].size(), 128256u);
}

// --mmap reads the weights from the file mapping instead of copying them: the same output.
TEST(CoreCli, MmapFlagGivesTheSameLogits) {
  const std::string cmd = "logits " + kData + "/devB/devB-bf16.gguf --tokens 128000,791,3938";
  auto copied = run_command(hearth_cmd(cmd)), mapped = run_command(hearth_cmd(cmd + " --mmap"));
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  EXPECT_EQ(copied.out, mapped.out);
}

TEST(CoreCli, RunGreedyMatchesReference) {
  auto ref = nlohmann::json::parse(slurp(kData + "/devA/reference.json"));
  auto ids = ref["prompts"]["p12"].get<std::vector<int>>();
  std::string list = join_ids(ids);
  auto r = run_command(
      hearth_cmd("run " + kData + "/devA --tokens " + list + " -n 32 --temp 0 --ignore-eos"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected = join_ids(ref["greedy_p12_32"].get<std::vector<int>>(), " ");
  EXPECT_EQ(r.out, expected + "\n");
}

TEST(CoreCli, RunWithSeedIsReproducible) {
  std::string cmd =
      hearth_cmd("run " + kData + "/devA --tokens 1,2,3 -n 12 --temp 1.0 --seed 42 --ignore-eos");
  auto a = run_command(cmd), b = run_command(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(CoreCli, InfoDescribesBothFormats) {
  auto r = run_command(hearth_cmd("info --json " + kData + "/devB/devB-bf16.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["vocab_size"], 128256);
  EXPECT_EQ(j["kv_heads"], 2);
  EXPECT_EQ(j["rope_scaling"], "llama3");
  EXPECT_EQ(j["tied_embeddings"], true);
  EXPECT_EQ(j["tokenizer"], true);
  auto h = run_command(hearth_cmd("info " + kData + "/devA"));
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_THAT(h.out, HasSubstr("safetensors"));
  EXPECT_THAT(h.out, HasSubstr("llama3"));
}

TEST(CoreCli, BadInputsGiveOneLineErrors) {
  TempDir d;
  write_text(d.file("garbage.gguf"), "not a model");
  write_text(d.file("empty.gguf"), "");
  expect_one_line_error(run_command(hearth_cmd("info " + d.file("missing.gguf"))),
                        "missing.gguf: no such file");
  expect_one_line_error(run_command(hearth_cmd("info " + d.file("empty.gguf"))),
                        "empty.gguf: file is empty");
  expect_one_line_error(run_command(hearth_cmd("logits " + d.file("garbage.gguf") + " --tokens 1")),
                        "bad magic");
  expect_one_line_error(run_command(hearth_cmd("logits " + kData + "/devA --tokens 1,512")),
                        "token id 512 is out of range (vocabulary size 512)");
  expect_one_line_error(run_command(hearth_cmd("logits " + kData + "/devA --tokens 1,x")),
                        "--tokens");
  expect_one_line_error(run_command(hearth_cmd("run " + kData + "/devA --tokens 1 -n -3")),
                        "-n: must be >= 0");
  expect_one_line_error(run_command(hearth_cmd("run " + kData + "/devA --tokens 1 --top-p 0")),
                        "top_p");
  expect_one_line_error(run_command(hearth_cmd("run " + kData + "/devA --tokens 1,2,3,4 --ctx 3")),
                        "exceed the context size of 3");
}

TEST(CoreCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_command(hearth_cmd("")).exit_code, 2);
  EXPECT_EQ(run_command(hearth_cmd("frobnicate")).exit_code, 2);
  EXPECT_EQ(run_command(hearth_cmd("logits")).exit_code, 2);
  auto help = run_command(hearth_cmd("--help"));
  EXPECT_EQ(help.exit_code, 0);
  for (auto sub : {"info", "logits", "run"}) EXPECT_THAT(help.out, HasSubstr(sub));
}

}  // namespace
}  // namespace hearth
