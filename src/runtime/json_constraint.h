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

#include "runtime/json_vocab.h"
#include "runtime/request.h"

namespace hearth {

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

  bool complete() const override;  // prefix, object and suffix all written
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
    uint8_t surr = 0;  // kString/kEscape/kUnicode: json_bytes::surrogate state
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
