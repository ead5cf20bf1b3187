#pragma once
// UTF-8 validation with the Unicode "maximal subpart" replacement policy: each maximal prefix of
// a well-formed sequence that cannot be completed becomes one U+FFFD, and every other stray byte
// becomes one U+FFFD. This is what Python's errors="replace", Rust's from_utf8_lossy and the
// WHATWG decoder do, so text cleaned here matches what a Python/HF pipeline would have seen.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

enum class Step : uint8_t { kOk, kInvalid, kTruncated };

struct StepResult {
  Step step;
  size_t len;  // kOk: sequence length; kInvalid: maximal subpart; kTruncated: bytes available
};

// Classifies the sequence starting at p[0] (n >= 1 bytes available).
StepResult next(const uint8_t* p, size_t n);

// Length of the longest prefix of s that is well-formed UTF-8.
size_t valid_prefix(std::string_view s);

inline bool is_valid(std::string_view s) {
  return valid_prefix(s) == s.size();
}

// s with every ill-formed subsequence replaced by U+FFFD (a truncated tail counts as one).
std::string sanitize(std::string_view s);

// Appends the decoded form of s to out, but stops before a truncated tail that later bytes could
// still complete; returns how many bytes of s were consumed. Invalid bytes become U+FFFD.
size_t sanitize_stream(std::string_view s, std::string& out);

// Codepoint at p (must be well-formed; used after sanitize). Sets len to its byte length.
inline uint32_t decode_valid(const uint8_t* p, size_t& len) {
  uint8_t b = p[0];
  if (b < 0x80) {
    len = 1;
    return b;
  }
  if (b < 0xE0) {
    len = 2;
    return (uint32_t(b & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (b < 0xF0) {
    len = 3;
    return (uint32_t(b & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  len = 4;
  return (uint32_t(b & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) | (uint32_t(p[2] & 0x3F) << 6) |
         (p[3] & 0x3F);
}

// Appends the UTF-8 encoding of cp (cp must be a scalar value).
void append(std::string& out, uint32_t cp);

}  // namespace hearth::utf8
