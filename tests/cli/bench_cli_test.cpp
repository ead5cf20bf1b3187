// hearth bench as a script uses it: --json's shape, lists of lengths, and bad arguments.
#include <gtest/gtest.h>

#include <algorithm>
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

TEST(BenchCli, BadArgumentsGiveOneLineErrors) {
  for (const char* args : {" -p -1", " -n 4,-2", " -r 0"}) {
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
