#include "tokenizer/utf8.h"

#include <cstring>

namespace hearth::utf8 {

namespace {

inline bool in(uint8_t b, uint8_t lo, uint8_t hi) {
  return b >= lo && b <= hi;
}

}  // namespace

StepResult next(const uint8_t* p, size_t n) {
  uint8_t b0 = p[0];
  if (b0 < 0x80) return {Step::kOk, 1};
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Unicode Table 3-7)
  if (in(b0, 0xC2, 0xDF)) {
    need = 2;
  } else if (in(b0, 0xE0, 0xEF)) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (in(b0, 0xF0, 0xF4)) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Step::kInvalid, 1};
  }
  for (size_t k = 1; k < need; ++k) {
    if (k >= n) return {Step::kTruncated, n};
    uint8_t b = p[k];
    bool ok = k == 1 ? in(b, lo, hi) : in(b, 0x80, 0xBF);
    if (!ok) return {Step::kInvalid, k};
  }
  return {Step::kOk, need};
}

size_t valid_prefix(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    // Skip ASCII eight bytes at a time: most text is mostly ASCII.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    StepResult r = next(p + i, n - i);
    if (r.step != Step::kOk) return i;
    i += r.len;
  }
  return n;
}

std::string sanitize(std::string_view s) {
  size_t good = valid_prefix(s);
  if (good == s.size()) return std::string(s);
  std::string out(s.substr(0, good));
  out.reserve(s.size() + 16);
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t i = good;
  while (i < s.size()) {
    StepResult r = next(p + i, s.size() - i);
    if (r.step == Step::kOk)
      out.append(s.data() + i, r.len);
    else
      out.append(kReplacement);
    i += r.len;
  }
  return out;
}

size_t sanitize_stream(std::string_view s, std::string& out) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    StepResult r = next(p + i, s.size() - i);
    if (r.step == Step::kTruncated) break;
    if (r.step == Step::kOk)
      out.append(s.data() + i, r.len);
    else
      out.append(kReplacement);
    i += r.len;
  }
  return i;
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace hearth::utf8
