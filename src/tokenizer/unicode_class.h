#pragma once
// The character classes the Llama 3 pre-tokenizer regex needs: \p{L}, \p{N}, \s and [\r\n].
//
// \p{L} and \p{N} come from PCRE2's Unicode tables (read out once per process by matching every
// codepoint), so they follow the Unicode version of the installed PCRE2 (14.0 for 10.42).
// \s is the Unicode White_Space property, as in Oniguruma (HF tokenizers) and Rust's regex
// (tiktoken): it includes U+0085 (PCRE2's \s does not) and excludes U+FEFF (JavaScript's does).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth::unicode {

enum Class : uint8_t {
  kOther = 0,
  kLetter = 1,
  kNumber = 2,
  kSpace = 4,               // White_Space
  kLineBreak = 8 | kSpace,  // '\r' or '\n'
};

namespace detail {
struct Tables {
  std::vector<uint16_t> stage1;  // block index per 256 codepoints
  std::vector<uint8_t> stage2;   // unique 256-entry blocks
};
const Tables& tables();
extern const uint8_t kAscii[128];
}  // namespace detail

inline uint8_t classify(uint32_t cp) {
  if (cp < 128) return detail::kAscii[cp];
  const detail::Tables& t = detail::tables();
  return t.stage2[(size_t(t.stage1[cp >> 8]) << 8) | (cp & 0xFF)];
}

// True when cp is White_Space (exposed for tests that rebuild the regex with PCRE2).
bool is_white_space(uint32_t cp);

}  // namespace hearth::unicode
