#pragma once
// The Llama 3 pre-tokenizer: splits text into the pieces that BPE then encodes one by one.
// It is a hand-written matcher equivalent to the regex (leftmost alternative, greedy, with the
// backtracking that the regex engine would do)
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// with the classes of unicode_class.h; a unit test checks it against PCRE2 running the regex.
#include <string_view>
#include <vector>

namespace hearth {

class Llama3Splitter {
 public:
  // text must be well-formed UTF-8 (see utf8::sanitize).
  explicit Llama3Splitter(std::string_view text) : text_(text) {}

  // Stores the next piece and returns true, or returns false at the end of the text.
  bool next(std::string_view& piece);

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

std::vector<std::string_view> pretokenize_llama3(std::string_view text);

}  // namespace hearth
