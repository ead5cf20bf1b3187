#pragma once
// GPT-2's byte-level alphabet: every byte is shown as one printable codepoint so that BPE
// vocabularies can be stored as text (space is 'Ġ' U+0120, newline 'Ċ' U+010A, ...).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::byte_level {

// The codepoint that stands for byte b.
uint32_t char_of_byte(uint8_t b);

// Raw bytes of a vocabulary entry written in the byte-level alphabet, or nullopt when it holds
// a codepoint outside the alphabet (or is not UTF-8).
std::optional<std::string> decode(std::string_view text);

// The byte-level spelling of raw bytes (the inverse of decode).
std::string encode(std::string_view bytes);

}  // namespace hearth::byte_level
