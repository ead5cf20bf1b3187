#pragma once
// The small vocabulary the JSON and JSON-schema constraint harnesses sample from: every single
// byte (ids 0..255, as in a byte-level BPE vocabulary), then multi-byte tokens that cover every
// JSON token class and cross grammar boundaries (structure, strings and escapes, numbers,
// literals, whitespace, UTF-8 split across tokens), then an end-of-turn token with no bytes.
#include <memory>
#include <string>
#include <vector>

#include "runtime/json_vocab.h"

namespace hearth::fuzz {

inline const std::vector<std::string> kMulti = {
    "{", "}", "[", "]", ":", ",", "\"", " ", "\n", "\t", "a", "b", "key", "\":", "\",", "{\"",
    "\"}", "0", "1", "9", "-", ".", "e", "E", "+", "12", "0.5", "true", "false", "null", "tr", "ue",
    "nu", "\\", "\\n", "\\u", "00", "4", "A", "\\\"", "\xC3", "\xA9", "\xC3\xA9", "\xE2\x82",
    "\xAC", "\xF0\x9F", "\x98\x80", "\x01", "\xFF", "}}", "]]", "[{", "\"\"", " \"", "\":\"",
    "\", \"", "1e5", "-0", "x",
    // Surrogate escapes, whole and in parts (a pair is two escapes).
    "D", "d8", "DC", "\\uD83D", "\\uDE00"};

// Ids 0..255 are the single bytes, then kMulti, then the end-of-turn token (no bytes).
inline const std::vector<std::string>& tokens() {
  static const auto t = [] {
    std::vector<std::string> out;
    for (int b = 0; b < 256; ++b) out.emplace_back(1, static_cast<char>(b));
    out.insert(out.end(), kMulti.begin(), kMulti.end());
    return out;
  }();
  return t;
}

inline int32_t end_id() {
  return static_cast<int32_t>(tokens().size());
}

inline std::shared_ptr<const JsonVocab> vocab() {
  static const auto v = [] {
    std::vector<std::string> bytes = tokens();
    bytes.push_back("");
    return std::make_shared<const JsonVocab>(std::move(bytes), std::vector<int32_t>{end_id()});
  }();
  return v;
}

}  // namespace hearth::fuzz
