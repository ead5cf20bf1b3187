#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace hearth::byte_level {

namespace {

struct Maps {
  std::array<uint32_t, 256> to_char{};
  std::array<int16_t, 512> to_byte{};  // indexed by codepoint; -1 when not in the alphabet
};

// Printable Latin-1 bytes stand for themselves; the others take 256, 257, ... in byte order.
Maps build() {
  Maps m;
  m.to_byte.fill(-1);
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    m.to_char[b] = printable ? static_cast<uint32_t>(b) : next++;
    m.to_byte[m.to_char[b]] = static_cast<int16_t>(b);
  }
  return m;
}

const Maps& maps() {
  static const Maps m = build();
  return m;
}

}  // namespace

uint32_t char_of_byte(uint8_t b) {
  return maps().to_char[b];
}

std::optional<std::string> decode(std::string_view text) {
  const Maps& m = maps();
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    utf8::StepResult r = utf8::next(p + i, text.size() - i);
    if (r.step != utf8::Step::kOk) return std::nullopt;
    size_t len = 0;
    uint32_t cp = utf8::decode_valid(p + i, len);
    if (cp >= m.to_byte.size() || m.to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(m.to_byte[cp]));
    i += len;
  }
  return out;
}

std::string encode(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) utf8::append(out, char_of_byte(b));
  return out;
}

}  // namespace hearth::byte_level
