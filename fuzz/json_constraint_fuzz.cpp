// Fuzz target: the JSON constraint driven by a sampler the fuzzer controls. A small vocabulary
// covers every JSON token class (structure, strings and escapes, numbers, literals, whitespace,
// multi-byte UTF-8 split across tokens); each input byte picks one of the tokens the constraint
// allows. Properties: while the document is open some token is allowed; it closes within its
// token budget; and the bytes it let through are one JSON object (with the tool-call prefix and
// suffix when the options ask for them).
#include <nlohmann/json.hpp>

// GCC 12 reports an impossible overlapping memcpy inside std::string appends at -O3 (a known
// false positive, GCC bug 105329); clang and the other GCC builds of this file are clean.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <cctype>
#include <cstdio>
#include <cstring>

#include "fuzz_support.h"
#include "json_tokens.h"
#include "runtime/json_constraint.h"

using hearth::fuzz::end_id;
using hearth::fuzz::tokens;
using hearth::fuzz::vocab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  hearth::JsonConstraintOptions opts;
  const bool tool = data[1] & 1;
  // At least the shortest document: "{}" alone, or the longer tool prefix byte by byte, "{}"
  // and the suffix. Below that the constraint only promises to close as fast as it can.
  opts.max_tokens = (tool ? 34 : 2) + data[0] % 60;
  if (tool) {
    opts.prefixes = {"{\"name\": \"f\", \"parameters\": ", "{\"name\": \"g2\", \"parameters\": "};
    opts.suffix = "}";
  }
  hearth::JsonConstraint c(vocab(), opts);
  std::string out;
  int used = 0;
  bool ended = false;
  for (size_t i = 2; i < size && !ended; ++i) {
    const auto allowed = c.allowed_tokens();
    if (allowed.empty()) hearth::fuzz::violated("no token allowed before the end");
    const int32_t t = allowed[data[i] % allowed.size()];
    c.accept(t);
    if (c.broken()) hearth::fuzz::violated("an allowed token broke the constraint");
    ++used;
    if (t == end_id()) {
      ended = true;
    } else {
      out += tokens()[static_cast<size_t>(t)];
      if (used > opts.max_tokens) hearth::fuzz::violated("went past its token budget");
    }
    if (!ended && used == opts.max_tokens && !c.complete())
      hearth::fuzz::violated("budget spent with the document still open");
  }
  if (!ended) return 0;
  if (!c.complete()) hearth::fuzz::violated("ended before the document was complete");
  std::string_view doc = out;
  if (tool) {
    bool matched = false;
    for (const auto& p : opts.prefixes)
      if (doc.size() >= p.size() + opts.suffix.size() && doc.substr(0, p.size()) == p &&
          doc.substr(doc.size() - opts.suffix.size()) == opts.suffix) {
        doc = doc.substr(p.size(), doc.size() - p.size() - opts.suffix.size());
        matched = true;
        break;
      }
    if (!matched) hearth::fuzz::violated("tool call without its prefix or suffix");
  }
  const auto j = nlohmann::json::parse(doc, nullptr,
                                       /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(stderr, "output (%zu bytes):", doc.size());
    for (unsigned char ch : doc) std::fprintf(stderr, " %02x", ch);
    std::fprintf(stderr, "\n");
    hearth::fuzz::violated("output is not a JSON object");
  }
  return 0;
}
