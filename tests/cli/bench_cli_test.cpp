// hearth bench as a script uses it: --json's shape, lists of lengths, and bad arguments.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace hearth {
namespace {

using namespace hearth::testing;

const std::string kDevB = std::string(HEARTH_TEST_DATA) + "/devB";

TEST(BenchCli, JsonListsEveryRequestedTestInOrder) {
  auto r = run_command(hearth_cmd("bench " + kDevB + " -p 8,16 -n 4,2 -b 2 -r 2 -t 1 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], kDevB);
  EXPECT_EQ(j["type"], "bf16");
  EXPECT_EQ(j["threads"], 1);
  std::vector<std::string> tests;
  for (auto& t : j["results"]) {
    tests.push_back(t["test"]);
    EXPECT_GT(t["tokens_per_s"].get<double>(), 0.0) << t["test"];
    EXPECT_GE(t["sd"].get<double>(), 0.0);
    EXPECT_EQ(t["samples"].size(), 2u);
  }
  EXPECT_EQ(tests, (std::vector<std::string>{"pp8", "pp16", "tg4", "tg4_b2", "tg2"}));
  EXPECT_GT(j["read_bandwidth_gbs"].get<double>(), 0.0);
  EXPECT_GT(j["tg_bandwidth_fraction"].get<double>(), 0.0);
  EXPECT_EQ(j["kv_type"], "f32");
  // An f16 cache halves the KV bytes a decode step reads.
  auto h = run_command(hearth_cmd("bench " + kDevB + " -p 0 -n 4 -r 1 -t 1 --kv-type f16 --json"));
  ASSERT_EQ(h.exit_code, 0) << h.err;
  auto jh = nlohmann::json::parse(h.out);
  EXPECT_EQ(jh["kv_type"], "f16");
  EXPECT_EQ(jh["results"][0]["test"], "tg4");
  EXPECT_LT(jh["bytes_per_token"].get<double>(), j["bytes_per_token"].get<double>());
}

// -d runs every test again after that many tokens are in the context, as llama-bench's -d, and
// the names say the depth. (Speeds are not compared: on devB the context is a sliver of the bytes
// a step reads, so the difference is within the machine's noise.)
TEST(BenchCli, DepthRunsEachTestAfterThatManyContextTokens) {
  auto r = run_command(
      hearth_cmd("bench " + kDevB + " -p 8 -n 8 -d 0,900 -r 1 -t 1 --kv-type f16 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> tests;
  std::map<std::string, double> speed;
  for (auto& t : j["results"]) {
    tests.push_back(t["test"]);
    speed[t["test"]] = t["tokens_per_s"].get<double>();
  }
  EXPECT_EQ(tests, (std::vector<std::string>{"pp8", "tg8", "pp8@d900", "tg8@d900"}));
  EXPECT_GT(speed["tg8@d900"], 0.0);
  EXPECT_GT(speed["pp8@d900"], 0.0);
  // The engine's context was sized for the depth: a step past it would have failed the run.
  EXPECT_EQ(j["results"].size(), 4u);
  // tg at the depth is also timed against a sequence at position 0, in windows of 4 tokens: one
  // ratio per window, and their median.
  for (auto& t : j["results"]) {
    if (t["test"] != "tg8@d900") {
      EXPECT_FALSE(t.contains("ratio_to_depth_0")) << t["test"];
      continue;
    }
    ASSERT_EQ(t["ratio_to_depth_0_samples"].size(), 2u);
    std::vector<double> w = t["ratio_to_depth_0_samples"];
    EXPECT_GT(w[0], 0.0);
    EXPECT_GT(w[1], 0.0);
    EXPECT_DOUBLE_EQ(t["ratio_to_depth_0"].get<double>(), (w[0] + w[1]) / 2);
  }
}

// The context before a test goes through in prompt-sized pieces even when no prompt is benched:
// filled one token at a time, an 8B model's 4000-token depth took minutes instead of seconds.
TEST(BenchCli, DepthIsFilledInPiecesWithoutAPromptTest) {
  auto r = run_command(hearth_cmd("bench " + kDevB + " -p 0 -n 4 -d 300 -r 1 -t 1 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ubatch"], 300);
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["test"], "tg4@d300");
}

// --cost turns each measured speed into $ per million tokens at the machine's hourly price.
TEST(BenchCli, CostPerMillionTokensFollowsTheMeasuredSpeeds) {
  auto r = run_command(hearth_cmd("bench " + kDevB +
                                  " -p 8 -n 4 -r 1 -t 1 --json --cost --price-per-hour 0.9"
                                  " --watts 300 --price-per-kwh 0.2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& c = j["cost"];
  EXPECT_DOUBLE_EQ(c["hourly"].get<double>(), 0.96);  // $0.90 + 0.3 kWh at $0.20
  for (auto& t : j["results"]) {
    const double want = 0.96 / (t["tokens_per_s"].get<double>() * 3600.0) * 1e6;
    EXPECT_NEAR(c["per_million_tokens"][t["test"].get<std::string>()].get<double>(), want,
                want * 1e-12)
        << t["test"];
  }
  EXPECT_EQ(c["reference_prices"].size(), 2u);
  // The table can be the user's own.
  const std::string prices = ::testing::TempDir() + "bench_cli_prices.json";
  std::ofstream(prices) << R"([{"name": "x", "input": 1, "output": 2}])";
  auto u = run_command(hearth_cmd("bench " + kDevB +
                                  " -p 0 -n 2 -r 1 -t 1 --cost --price-per-hour 1"
                                  " --reference-prices " +
                                  prices));
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_NE(u.out.find("x $1.00/$2.00"), std::string::npos) << u.out;
  // A cost with no price is a usage mistake, said in one line.
  auto e = run_command(hearth_cmd("bench " + kDevB + " -p 0 -n 2 --cost"));
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find("--price-per-hour"), std::string::npos) << e.err;
  EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << e.err;
}

TEST(BenchCli, BadArgumentsGiveOneLineErrors) {
  for (const char* args : {" -p -1", " -n 4,-2", " -r 0", " -d 0,-5"}) {
    auto r = run_command(hearth_cmd("bench " + kDevB + args));
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  }
  auto r = run_command(hearth_cmd("bench /nonexistent.gguf -p 8 -n 0"));
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace hearth
