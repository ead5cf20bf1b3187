#pragma once
// JSON's byte classes and the UTF-8 state machine that strings use, shared by the JSON and the
// JSON-schema constraints and by the vocabulary index.
#include <cstdint>

namespace hearth::json_bytes {

inline bool is_ws(uint8_t b) {
  return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}
inline bool is_digit(uint8_t b) {
  return b >= '0' && b <= '9';
}
inline bool is_hex(uint8_t b) {
  return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}
inline bool is_plain_string_byte(uint8_t b) {
  return b != '"' && b != '\\' && b >= 0x20;
}

// UTF-8 inside strings, so the raw bytes are well-formed (no overlongs, surrogates or values past
// U+10FFFF). States: 0 between characters; 1..3 continuation bytes left; 4..7 a restricted
// second byte after E0, ED, F0, F4.
inline constexpr int kUtf8States = 8;
inline constexpr uint8_t kUtf8Pending[kUtf8States] = {0, 1, 2, 3, 2, 2, 3, 3};
inline constexpr const char* kUtf8Closing[kUtf8States] = {
    "", "\x80", "\x80\x80", "\x80\x80\x80", "\xA0\x80", "\x80\x80", "\x90\x80\x80", "\x80\x80\x80"};

// The state after byte b, or -1. In state 0 an ASCII byte is accepted here; the caller has
// already handled the bytes JSON treats specially.
inline int utf8_next(uint8_t u, uint8_t b) {
  auto in = [&](int lo, int hi) { return b >= lo && b <= hi; };
  switch (u) {
    case 0:
      if (b < 0x80) return 0;
      if (in(0xC2, 0xDF)) return 1;
      if (b == 0xE0) return 4;
      if (b == 0xED) return 5;
      if (in(0xE1, 0xEF)) return 2;
      if (b == 0xF0) return 6;
      if (b == 0xF4) return 7;
      if (in(0xF1, 0xF3)) return 3;
      return -1;
    case 1:
    case 2:
    case 3:
      return in(0x80, 0xBF) ? u - 1 : -1;
    case 4:
      return in(0xA0, 0xBF) ? 1 : -1;
    case 5:
      return in(0x80, 0x9F) ? 1 : -1;
    case 6:
      return in(0x90, 0xBF) ? 2 : -1;
    case 7:
      return in(0x80, 0x8F) ? 2 : -1;
  }
  return -1;
}

// \u escapes of UTF-16 surrogates must come in pairs, high (D800-DBFF) then low (DC00-DFFF):
// RFC 8259's grammar lets one stand alone, but it names no character and strict parsers (and
// nlohmann's) refuse it. The state lives beside a string's cursor:
namespace surrogate {
inline constexpr uint8_t kFirstD = 1;   // this escape's first digit was D
inline constexpr uint8_t kHigh = 2;     // this escape is a high surrogate
inline constexpr uint8_t kNeedLow = 4;  // this escape must be a low surrogate
inline constexpr uint8_t kLowNext = 8;  // between escapes: "\u" + a low surrogate must follow

inline int hex_value(uint8_t b) {
  return b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
// Digit `i` (0..3) of a \u escape; false when it cannot come next.
inline bool digit(uint8_t& s, int i, uint8_t b) {
  const int d = hex_value(b);
  if (i == 0) {
    if (s & kNeedLow) return d == 0xD;
    if (d == 0xD) s |= kFirstD;
  } else if (i == 1) {
    if (s & kNeedLow) return d >= 0xC;
    if (s & kFirstD) {
      if (d >= 0xC) return false;  // a low surrogate with no high one before it
      if (d >= 0x8) s |= kHigh;
    }
  }
  return true;
}
// The state once the escape's fourth digit is in.
inline uint8_t after_escape(uint8_t s) {
  return (s & kHigh) ? kLowNext : 0;
}
// Bytes the shortest completion of an escape still owes for the pair beyond its own digits: the
// whole low escape after a high one.
inline int owed(uint8_t s) {
  return (s & kHigh) ? 6 : 0;
}
// The rest of an escape with `left` digits to go, plus the low escape a high one needs.
inline const char* closing(uint8_t s, int left) {
  static constexpr const char* kLow = "DC00";
  static constexpr const char* kZeros = "0000";
  if (s & kNeedLow) return kLow + (4 - left);
  if (s & kHigh) return left == 2 ? "00\\uDC00" : left == 1 ? "0\\uDC00" : "\\uDC00";
  return kZeros + (4 - left);
}
}  // namespace surrogate

}  // namespace hearth::json_bytes
