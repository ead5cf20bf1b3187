#pragma once
// Typed, range-checked reads of request-body fields, shared by the request parsers of every API
// the server speaks. Each failure is a 400 ApiError naming the field, in OpenAI's wording
// ("Invalid type for 'top_p': expected a number, but got a string instead."). A null field
// counts as absent.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "server/api_error.h"

namespace hearth::server::fields {

using ojson = nlohmann::ordered_json;

const char* type_name(const ojson& v);  // "a string", "an array", ...
ApiError wrong_type(const std::string& name, const char* expected, const ojson& got);
const ojson* field(const ojson& body, const char* name);  // present and non-null, or nullptr
std::optional<double> number(const ojson& body, const char* name, double lo, double hi);
std::optional<int64_t> integer(const ojson& body, const char* name, int64_t lo, int64_t hi);
std::optional<bool> boolean(const ojson& body, const char* name);
std::optional<std::string> string(const ojson& body, const char* name);
// OpenAI's rule for function names, ^[a-zA-Z0-9_-]{1,64}$; it also keeps names safe inside the
// JSON call prefix the tool-call constraint forces.
bool valid_function_name(const std::string& name);
// The required, non-empty "model".
std::string model_field(const ojson& body);

}  // namespace hearth::server::fields
