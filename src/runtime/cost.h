#pragma once
// What a measured speed costs: dollars per million tokens on a machine rented (or owned and
// powered) at a given hourly price, beside reference API prices a user can compare with.
#include <optional>
#include <string>
#include <vector>

namespace hearth {

struct CostInputs {
  double price_per_hour = 0;  // the machine's price, $ per hour
  double watts = 0;           // its draw under load, optional
  double price_per_kwh = 0;   // the electricity's price, optional
  // The machine's total hourly cost: its price plus the energy it draws in an hour.
  double hourly() const { return price_per_hour + watts / 1000.0 * price_per_kwh; }
};

// $ per million tokens at `tokens_per_s` for a machine costing `hourly` $ an hour.
double cost_per_million(double tokens_per_s, double hourly);

// A hosted API's list prices, $ per million input and output tokens, and when they were read.
struct ReferencePrice {
  std::string name, date;
  double input = 0, output = 0;
};

// The shipped table (list prices of July 2024).
std::vector<ReferencePrice> default_reference_prices();
// A user's table: a JSON array of {"name", "date", "input", "output"}; throws hearth::Error with
// the file and the field on anything else.
std::vector<ReferencePrice> load_reference_prices(const std::string& path);

}  // namespace hearth
