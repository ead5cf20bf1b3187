#pragma once
// Constrained decoding that keeps the output a valid JSON object (response_format json_object)
// and, with literal prefixes and a suffix, a Llama 3.1 tool call
// ({"name": "f", "parameters": {...}}). It always finishes inside its token budget: a token is
// allowed only when the shortest way to close the document still fits in the tokens left, so as
// the budget runs out the allowed set narrows to closing tokens.
//
// Per step the cost is O(vocab) for the mask plus a walk over the few tokens that can start in
// the current state: JsonVocab indexes the vocabulary by its first two bytes at load, and inside a
// string every token without '"', '\\' or a control byte is allowed in one copy.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/request.h"

namespace hearth {

class Tokenizer;

class JsonVocab {
 public:
  // bytes[id] is what token id emits; "" marks a token never allowed by the grammar (special
  // tokens, holes). end_ids end the sequence once the document is complete.
  JsonVocab(std::vector<std::string> bytes, std::vector<int32_t> end_ids);
  static std::shared_ptr<const JsonVocab> from_tokenizer(const Tokenizer& tok,
                                                         std::vector<int32_t> end_ids);

  int32_t size() const { return static_cast<int32_t>(bytes_.size()); }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& end_ids() const { return end_ids_; }
  bool is_end(int32_t id) const;
  // Tokens whose bytes start with b1 b2 (b2 in 0..255), or that are exactly b1 (b2 = kAlone).
  static constexpr int kAlone = 256;
  std::pair<const int32_t*, const int32_t*> starting_with(uint8_t b1, int b2) const;
  // Tokens without '"', '\\' or control bytes, by the UTF-8 state inside a string they start
  // in: those that end on a character boundary (a mask), and those that end inside a character
  // (with the UTF-8 state they leave).
  const std::vector<uint8_t>& complete_chars(int utf8_state) const {
    return complete_[static_cast<size_t>(utf8_state)];
  }
  const std::vector<std::pair<int32_t, uint8_t>>& partial_chars(int utf8_state) const {
    return partial_[static_cast<size_t>(utf8_state)];
  }
  const std::vector<int32_t>& non_plain() const { return non_plain_; }
  // Ids whose bytes are exactly `s` (normally zero or one).
  std::pair<const int32_t*, const int32_t*> exactly(const std::string& s) const;

 private:
  std::vector<std::string> bytes_;
  static size_t key(const std::string& s);
  std::vector<int32_t> end_ids_;
  std::vector<uint32_t> offsets_;  // CSR over key b1 * 257 + (b2 or kAlone)
  std::vector<int32_t> by_prefix_;
  std::vector<std::vector<uint8_t>> complete_;
  std::vector<std::vector<std::pair<int32_t, uint8_t>>> partial_;
  std::vector<int32_t> non_plain_;
  std::vector<int32_t> sorted_;  // ids with bytes, sorted by bytes
};

struct JsonConstraintOptions {
  int max_tokens = 256;  // the document (prefix, object, suffix) closes within this many tokens
  // The output starts with one of these literally (empty: no prefix). Used for tool calls, where
  // the alternatives are '{"name": "<tool>", "parameters": ' for each allowed tool.
  std::vector<std::string> prefixes;
  std::string suffix;  // written after the object, e.g. "}" to close a tool call
};

class JsonConstraint : public LogitsConstraint {
 public:
  JsonConstraint(std::shared_ptr<const JsonVocab> vocab, JsonConstraintOptions opts);

  void apply(float* logits, int64_t vocab) override;
  void accept(int32_t token) override;

  bool complete() const;  // prefix, object and suffix all written
  bool broken() const { return broken_; }
  // The shortest byte string that completes the document from here, and its length.
  std::string closing() const;
  int closing_cost() const;
  // The tokens allowed now (what apply() leaves finite), for tests.
  std::vector<int32_t> allowed_tokens();

  // The grammar position; public so the implementation's helpers can name it.
  enum class Mode : uint8_t {
    kTop,
    kObjFirst,
    kObjKey,
    kColon,
    kValue,
    kArrFirst,
    kAfterValue,
    kString,
    kEscape,
    kUnicode,
    kNumMinus,
    kNumZero,
    kNumInt,
    kNumDot,
    kNumFrac,
    kNumExp,
    kNumExpSign,
    kNumExpDigits,
    kLiteral,
    kSuffix,
    kDone
  };
  struct Cursor {
    Mode mode = Mode::kTop;
    bool key = false;  // in kString/kEscape/kUnicode: the string is an object key
    uint8_t sub = 0;   // kUnicode: hex digits left; kLiteral: letters matched; numbers: digits
    uint8_t lit = 0;   // kLiteral: 0 true, 1 false, 2 null
    uint8_t ws = 0;    // whitespace bytes in a row outside strings
    uint8_t utf8 = 0;  // kString: UTF-8 state (0: between characters)
    uint8_t n_pushed = 0;
    uint32_t suffix_pos = 0;
    int32_t base_len = 0;  // entries of the committed stack still open
    uint64_t pushed = 0;   // containers opened during a simulation: bit set = array
    const char* base = nullptr;
  };

 private:
  bool step(Cursor& c, uint8_t b) const;
  bool run(Cursor& c, const std::string& bytes) const;
  int cost(const Cursor& c) const;
  Cursor start() const;
  std::pair<int32_t, size_t> longest_token_at(const std::string& s, size_t pos) const;
  void compute_allowed();

  std::shared_ptr<const JsonVocab> vocab_;
  JsonConstraintOptions opts_;
  bool in_prefix_ = false;
  std::string matched_;  // prefix bytes written so far
  std::vector<std::vector<int>> prefix_cost_;
  Cursor cur_;
  std::string stack_;  // 'o' object, 'a' array, outermost first
  int generated_ = 0;
  bool broken_ = false;
  bool ended_ = false;
  std::vector<uint8_t> allow_;
};

}  // namespace hearth
