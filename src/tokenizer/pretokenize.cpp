#include "tokenizer/pretokenize.h"

#include <cstdint>

#include "tokenizer/unicode_class.h"
#include "tokenizer/utf8.h"

namespace hearth {

namespace {

using unicode::kLetter;
using unicode::kLineBreak;
using unicode::kNumber;
using unicode::kSpace;

struct Cp {
  uint32_t cp;
  uint8_t cls;
  uint8_t len;
};

inline Cp at(const uint8_t* p, size_t i) {
  if (p[i] < 0x80) return {p[i], unicode::detail::kAscii[p[i]], 1};
  size_t len = 0;
  uint32_t cp = utf8::decode_valid(p + i, len);
  return {cp, unicode::classify(cp), static_cast<uint8_t>(len)};
}

inline bool is_other(uint8_t cls) {
  return (cls & (kLetter | kNumber | kSpace)) == 0;
}

// End of the run of codepoints starting at i whose class satisfies pred.
template <class Pred>
inline size_t run_end(const uint8_t* p, size_t n, size_t i, Pred pred) {
  while (i < n) {
    if (p[i] < 0x80) {
      if (!pred(unicode::detail::kAscii[p[i]])) break;
      ++i;
    } else {
      Cp c = at(p, i);
      if (!pred(c.cls)) break;
      i += c.len;
    }
  }
  return i;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at i (p[i] == '\''); returns the end or 0. Case-insensitive
// matching folds U+017F LATIN SMALL LETTER LONG S to 's', as Unicode simple case folding does.
inline size_t contraction_end(const uint8_t* p, size_t n, size_t i) {
  size_t j = i + 1;
  if (j >= n) return 0;
  Cp c1 = at(p, j);
  uint32_t a = c1.cp | (c1.cp < 0x80 ? 0x20 : 0);  // ASCII lower case
  if (a == 's' || a == 't' || a == 'm' || a == 'd' || c1.cp == 0x17F) return j + c1.len;
  size_t k = j + c1.len;
  if (k >= n || p[k] >= 0x80) return 0;
  uint32_t b = p[k] | 0x20u;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return k + 1;
  return 0;
}

}  // namespace

bool Llama3Splitter::next(std::string_view& piece) {
  const auto* p = reinterpret_cast<const uint8_t*>(text_.data());
  const size_t n = text_.size();
  const size_t i = pos_;
  if (i >= n) return false;
  size_t end = 0;
  const Cp c0 = at(p, i);
  const size_t i1 = i + c0.len;

  if (p[i] == '\'') end = contraction_end(p, n, i);
  if (!end) {
    if (c0.cls & kLetter) {
      end = run_end(p, n, i1, [](uint8_t c) { return (c & kLetter) != 0; });
    } else if ((c0.cls & kNumber) == 0 && c0.cls != kLineBreak && i1 < n &&
               (at(p, i1).cls & kLetter)) {
      // [^\r\n\p{L}\p{N}]\p{L}+ : one leading space or symbol sticks to the word.
      end = run_end(p, n, i1, [](uint8_t c) { return (c & kLetter) != 0; });
    } else if (c0.cls & kNumber) {
      end = i1;
      for (int k = 1; k < 3 && end < n; ++k) {
        Cp c = at(p, end);
        if (!(c.cls & kNumber)) break;
        end += c.len;
      }
    } else if (is_other(c0.cls) || (p[i] == ' ' && i1 < n && is_other(at(p, i1).cls))) {
      // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      size_t k = p[i] == ' ' ? i1 : i;
      k = run_end(p, n, k, is_other);
      end = run_end(p, n, k, [](uint8_t c) { return c == kLineBreak; });
    } else {
      // c0 is white space. Find the run, its last line break and its last codepoint.
      size_t j = i, last_break = SIZE_MAX, last_start = i;
      while (j < n) {
        Cp c = at(p, j);
        if (!(c.cls & kSpace)) break;
        if (c.cls == kLineBreak) last_break = j;
        last_start = j;
        j += c.len;
      }
      if (last_break != SIZE_MAX)
        end = last_break + 1;  // \s*[\r\n]+ (backtracked to the last line break)
      else if (j == n || last_start == i)
        end = j;  // \s+(?!\S) at the end of text, or \s+ for a single space before a non-space
      else
        end = last_start;  // \s+(?!\S): leave the last space to the next piece
    }
  }
  piece = text_.substr(i, end - i);
  pos_ = end;
  return true;
}

std::vector<std::string_view> pretokenize_llama3(std::string_view text) {
  std::vector<std::string_view> out;
  Llama3Splitter s(text);
  std::string_view piece;
  while (s.next(piece)) out.push_back(piece);
  return out;
}

}  // namespace hearth
