#include "tokenizer/unicode_class.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>
#include <string>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace hearth::unicode {

namespace detail {

const uint8_t kAscii[128] = {
    // 0x00-0x0F: \t \n \v \f \r are White_Space; \n and \r are line breaks.
    0, 0, 0, 0, 0, 0, 0, 0, 0, kSpace, kLineBreak, kSpace, kSpace, kLineBreak, 0, 0,
    // 0x10-0x1F
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    // 0x20-0x2F: space, punctuation
    kSpace, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    // 0x30-0x3F: digits, punctuation
    kNumber, kNumber, kNumber, kNumber, kNumber, kNumber, kNumber, kNumber, kNumber, kNumber, 0, 0,
    0, 0, 0, 0,
    // 0x40-0x5F: @ A-Z [ \ ] ^ _
    0, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter,
    kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter,
    kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, 0, 0, 0, 0, 0,
    // 0x60-0x7F: ` a-z { | } ~ DEL
    0, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter,
    kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, kLetter,
    kLetter, kLetter, kLetter, kLetter, kLetter, kLetter, 0, 0, 0, 0, 0};

namespace {

constexpr uint32_t kNumCodepoints = 0x110000;

// Marks every codepoint >= 0x80 that PCRE2 matches with `pattern` (a one-class repetition).
void mark_with_pcre2(const std::string& all, const char* pattern, uint8_t flag,
                     std::vector<uint8_t>& cls) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (!code) throw Error("tokenizer", std::string("cannot compile Unicode class ") + pattern);
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if unavailable
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(all.data());
  PCRE2_SIZE offset = 0;
  while (offset < all.size()) {
    int rc = pcre2_match(code, subject, all.size(), offset, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    for (size_t i = ov[0]; i < ov[1];) {
      size_t len = 0;
      uint32_t cp = utf8::decode_valid(reinterpret_cast<const uint8_t*>(all.data()) + i, len);
      cls[cp] |= flag;
      i += len;
    }
    offset = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(code);
}

Tables build_tables() {
  std::vector<uint8_t> cls(kNumCodepoints, kOther);
  for (uint32_t cp = 0; cp < 128; ++cp) cls[cp] = kAscii[cp];
  std::string all;
  all.reserve(4 * kNumCodepoints);
  for (uint32_t cp = 0x80; cp < kNumCodepoints; ++cp)
    if (cp < 0xD800 || cp > 0xDFFF) utf8::append(all, cp);
  mark_with_pcre2(all, "\\p{L}+", kLetter, cls);
  mark_with_pcre2(all, "\\p{N}+", kNumber, cls);
  for (uint32_t cp = 0x80; cp < kNumCodepoints; ++cp)
    if (is_white_space(cp)) cls[cp] |= kSpace;

  Tables t;
  t.stage1.resize(kNumCodepoints >> 8);
  std::map<std::string, uint16_t> seen;
  for (uint32_t block = 0; block < (kNumCodepoints >> 8); ++block) {
    std::string key(reinterpret_cast<const char*>(&cls[block << 8]), 256);
    auto [it, inserted] = seen.emplace(key, static_cast<uint16_t>(seen.size()));
    if (inserted) t.stage2.insert(t.stage2.end(), key.begin(), key.end());
    t.stage1[block] = it->second;
  }
  return t;
}

}  // namespace

const Tables& tables() {
  static const Tables t = build_tables();
  return t;
}

}  // namespace detail

bool is_white_space(uint32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace hearth::unicode
