#include "server/json_fields.h"

#include <cctype>
#include <cmath>

namespace hearth::server::fields {

const char* type_name(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null:
      return "null";
    case ojson::value_t::boolean:
      return "a boolean";
    case ojson::value_t::string:
      return "a string";
    case ojson::value_t::array:
      return "an array";
    case ojson::value_t::object:
      return "an object";
    case ojson::value_t::number_float:
      return "a decimal";
    default:
      return "an integer";
  }
}

ApiError wrong_type(const std::string& name, const char* expected, const ojson& got) {
  return invalid_request("Invalid type for '" + name + "': expected " + expected + ", but got " +
                             type_name(got) + " instead.",
                         name, "invalid_type");
}

namespace {

std::string fmt(double v) {
  std::string s = ojson(v).dump();
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace

const ojson* field(const ojson& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const ojson& body, const char* name, double lo, double hi) {
  const ojson* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(name, "a number", *v);
  double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw invalid_request("Invalid '" + std::string(name) + "': expected a value between " +
                              fmt(lo) + " and " + fmt(hi) + ", but got " + fmt(d) + " instead.",
                          name, "invalid_value");
  return d;
}

std::optional<int64_t> integer(const ojson& body, const char* name, int64_t lo, int64_t hi) {
  const ojson* v = field(body, name);
  if (!v) return std::nullopt;
  int64_t x = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      x = INT64_MAX;
    else
      x = v->get<int64_t>();
  } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9e18) {
    x = static_cast<int64_t>(v->get<double>());  // 5.0 from a client that only has doubles
  } else {
    throw wrong_type(name, "an integer", *v);
  }
  if (x < lo || x > hi)
    throw invalid_request("Invalid '" + std::string(name) + "': expected a value between " +
                              std::to_string(lo) + " and " + std::to_string(hi) + ", but got " +
                              std::to_string(x) + " instead.",
                          name, "invalid_value");
  return x;
}

std::optional<bool> boolean(const ojson& body, const char* name) {
  const ojson* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> string(const ojson& body, const char* name) {
  const ojson* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(name, "a string", *v);
  return v->get<std::string>();
}

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '-') return false;
  return true;
}

std::string model_field(const ojson& body) {
  auto m = string(body, "model");
  if (!m || m->empty())
    throw invalid_request("you must provide a model parameter", "model",
                          "missing_required_parameter");
  return *m;
}

}  // namespace hearth::server::fields
