// The interactive chat reuses earlier turns through the prefix cache: `hearth run MODEL --json`
// (no prompt) prints one JSON line per turn with its prompt and cached token counts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/run_command.h"

namespace hearth {
namespace {

using namespace hearth::testing;

const std::string kDevB = std::string(HEARTH_TEST_DATA) + "/devB";

std::vector<nlohmann::json> turns(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

std::vector<nlohmann::json> chat(const std::string& extra) {
  const std::string system(
      "You answer questions about llamas. Keep every answer short and kind, please. ");
  auto r = run_command("(printf 'first question\\nsecond one\\nthird\\n' | " +
                       hearth_cmd("run " + kDevB + " -n 6 --temp 0 --json --system '" + system +
                                  system + "'" + extra) +
                       ")");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return turns(r.out);
}

TEST(ChatPrefixCache, LaterTurnsReuseEarlierOnesAndReplyTheSame) {
  const auto on = chat("");
  const auto off = chat(" --no-prefix-cache");
  ASSERT_EQ(on.size(), 3u);
  ASSERT_EQ(off.size(), 3u);
  EXPECT_EQ(on[0]["cached_tokens"], 0);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(on[i]["tokens"], off[i]["tokens"]) << i;
    EXPECT_EQ(on[i]["prompt_tokens"], off[i]["prompt_tokens"]) << i;
    EXPECT_EQ(off[i]["cached_tokens"], 0) << i;
    const int cached = on[i]["cached_tokens"], prompt = on[i]["prompt_tokens"];
    EXPECT_EQ(cached % 16, 0) << i;
    EXPECT_LT(cached, prompt) << i;
    // Each turn's prompt begins with the whole previous prompt: at least its full blocks.
    if (i > 0) {
      const int before = on[i - 1]["prompt_tokens"];
      EXPECT_GE(cached, before / 16 * 16) << i;
    }
  }
}

}  // namespace
}  // namespace hearth
