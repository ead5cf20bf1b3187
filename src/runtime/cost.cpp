#include "runtime/cost.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/read_file.h"

namespace hearth {

double cost_per_million(double tokens_per_s, double hourly) {
  if (!(tokens_per_s > 0)) return std::nan("");
  return hourly / (tokens_per_s * 3600.0) * 1e6;
}

std::vector<ReferencePrice> default_reference_prices() {
  return {{"GPT-4o mini", "2024-07", 0.15, 0.60}, {"Llama 3.1 8B, hosted", "2024-07", 0.05, 0.08}};
}

std::vector<ReferencePrice> load_reference_prices(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("not JSON: ") + e.what());
  }
  if (!j.is_array()) throw Error(path, "expected an array of {name, date, input, output}");
  std::vector<ReferencePrice> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    const std::string where = "entry " + std::to_string(i);
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
      throw Error(path, where + ": needs a string \"name\"");
    ReferencePrice p;
    p.name = e["name"].get<std::string>();
    p.date = e.contains("date") && e["date"].is_string() ? e["date"].get<std::string>() : "";
    for (const char* k : {"input", "output"}) {
      if (!e.contains(k) || !e[k].is_number() || e[k].get<double>() < 0)
        throw Error(path, where + " (" + p.name + "): \"" + k +
                              "\" must be a price in $ per million tokens, >= 0");
    }
    p.input = e["input"].get<double>();
    p.output = e["output"].get<double>();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace hearth
