// The cost-per-token arithmetic of `hearth bench --cost` and its reference price table.
#include "runtime/cost.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "util/error.h"

namespace hearth {
namespace {

TEST(Cost, DollarsPerMillionTokens) {
  // 100 tokens/s is 360,000 tokens an hour; at $3.60 an hour a million cost $10.
  EXPECT_DOUBLE_EQ(cost_per_million(100.0, 3.6), 10.0);
  EXPECT_DOUBLE_EQ(cost_per_million(1e6 / 3600.0, 2.5), 2.5);  // a million an hour
  EXPECT_TRUE(std::isnan(cost_per_million(0.0, 1.0)));
  CostInputs c;
  c.price_per_hour = 0.5;
  c.watts = 400;
  c.price_per_kwh = 0.25;  // 0.4 kWh an hour: $0.10
  EXPECT_DOUBLE_EQ(c.hourly(), 0.6);
}

TEST(Cost, ShippedReferencePricesAreDated) {
  auto refs = default_reference_prices();
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].name, "GPT-4o mini");
  EXPECT_DOUBLE_EQ(refs[0].input, 0.15);
  EXPECT_DOUBLE_EQ(refs[0].output, 0.60);
  for (auto& r : refs) EXPECT_EQ(r.date, "2024-07");
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Cost, UserReferencePricesAndTheirErrors) {
  auto refs = load_reference_prices(
      write_temp("cost_test_prices.json",
                 R"([{"name": "mine", "date": "2026-11", "input": 0.02, "output": 0.05}])"));
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].name, "mine");
  EXPECT_DOUBLE_EQ(refs[0].output, 0.05);
  for (const char* bad :
       {"{", R"({"name": "x"})", R"([{"input": 1, "output": 2}])",
        R"([{"name": "x", "input": -1, "output": 2}])", R"([{"name": "x", "input": 1}])"}) {
    try {
      load_reference_prices(write_temp("cost_test_bad.json", bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cost_test_bad.json"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hearth
