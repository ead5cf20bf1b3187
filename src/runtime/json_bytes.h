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

}  // namespace hearth::json_bytes
