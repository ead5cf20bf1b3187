#pragma once
// The chat template is specified by what Python's Jinja prints, so rendering it natively needs
// Python's own spellings of values: json.dumps (the template's tojson filter), str()/repr() (what
// `| trim` and `{{ value }}` print for non-strings) and str.strip(). Key order is kept as given.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace hearth::pyfmt {

// json.dumps(value, ensure_ascii=False, indent=indent); indent < 0 means indent=None.
std::string dumps(const nlohmann::ordered_json& value, int indent = -1);

// repr(float): shortest round-trip digits, exponent form outside 1e-4 <= |v| < 1e16.
std::string float_repr(double value);

// repr(value) for the value json.loads would give: None, True, 'text', [..], {..}.
std::string repr(const nlohmann::ordered_json& value);

// str(value): a string is itself, anything else its repr.
std::string str(const nlohmann::ordered_json& value);

// str.strip() with no argument: strips the code points Python's str.isspace() accepts.
std::string_view strip(std::string_view text);

}  // namespace hearth::pyfmt
