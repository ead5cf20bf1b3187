// Fuzz target: the JSON-schema compiler, then constrained decoding against what it compiled.
// Input: one byte for the token budget, a schema as JSON text, a NUL, then the sampler's
// choices (each picks one of the tokens the constraint allows, from a small vocabulary).
// Properties: compiling refuses what it cannot honour with a SchemaError (the server's 400) and
// nothing else; while the document is open some token is allowed; a document whose shortest
// form fits the budget closes within it; and what the constraint let through parses as strict
// JSON and validates against the schema.
#include <nlohmann/json.hpp>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"  // GCC bug 105329, as in json_constraint_fuzz.cpp
#endif

#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "json_tokens.h"
#include "runtime/json_schema.h"
#include "runtime/schema_constraint.h"

namespace {

using hearth::fuzz::end_id;
using hearth::fuzz::tokens;
using hearth::fuzz::vocab;

// The server refuses bodies nested deeper than --max-json-depth (128) before compiling them.
bool too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\')
        ++i;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      if (++depth > 128) return true;
    } else if (ch == '}' || ch == ']') {
      --depth;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int budget = 1 + data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = in.find('\0');
  const std::string_view text = in.substr(0, cut);
  const std::string_view choices = cut == std::string_view::npos ? "" : in.substr(cut + 1);
  if (too_deep(text)) return 0;
  const auto schema = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return 0;
  auto graph = std::make_shared<hearth::SchemaGraph>();
  hearth::SchemaDocument doc;
  try {
    doc.alternatives.push_back({"", graph->add(schema)});
  } catch (const hearth::SchemaError&) {
    return 0;
  }
  const int32_t node = doc.alternatives[0].node;
  hearth::SchemaConstraint c(vocab(), graph, doc, budget);
  const bool fits = c.closing_cost() <= budget;
  std::string out;
  int used = 0;
  bool ended = false;
  for (size_t i = 0; i < choices.size() && !ended; ++i) {
    const auto allowed = c.allowed_tokens();
    if (allowed.empty()) hearth::fuzz::violated("no token allowed before the end");
    const int32_t t = allowed[static_cast<uint8_t>(choices[i]) % allowed.size()];
    c.accept(t);
    if (c.broken()) hearth::fuzz::violated("an allowed token broke the constraint");
    ++used;
    if (t == end_id())
      ended = true;
    else
      out += tokens()[static_cast<size_t>(t)];
    if (fits && !ended && used >= budget && !c.complete())
      hearth::fuzz::violated("budget spent with the document still open");
  }
  if (!ended || !c.complete()) return 0;
  const auto j = nlohmann::ordered_json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) hearth::fuzz::violated("output is not strict JSON");
  if (!graph->validate(node, j)) hearth::fuzz::violated("output does not validate");
  return 0;
}
