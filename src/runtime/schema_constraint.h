#pragma once
// Constrained decoding against a compiled JSON Schema (response_format json_schema, strict tool
// calls). The state is a stack of frames, one per open value; anyOf alternatives that the bytes
// so far cannot tell apart are followed as separate threads. As in JsonConstraint, a token is
// allowed only when the shortest completion after it (in bytes, each a token) fits the tokens
// left, so a document always closes within max_tokens when its shortest form fits at all.
//
// Per step: inside a string, one pass over a per-token table (characters, UTF-8 state) decides
// every plain token and a trie of the other tokens is walked; elsewhere the trie of all tokens is
// walked depth first, pruned at the first refused byte.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/json_schema.h"
#include "runtime/json_vocab.h"
#include "runtime/request.h"

namespace hearth {

// What the whole output is: one of `alternatives` (a literal prefix, then a value of the node),
// then `suffix`. A response format is one alternative with no prefix; a tool call has one per
// tool ('{"name": "f", "parameters": ' and the tool's parameters) and the suffix "}".
struct SchemaDocument {
  struct Alternative {
    std::string prefix;
    int32_t node = -1;
  };
  std::vector<Alternative> alternatives;
  std::string suffix;
  // The document is optional (a strict tool under tool_choice "auto"): a first token that cannot
  // begin it turns the constraint off and the reply is free text.
  bool optional = false;
};

class SchemaConstraint : public LogitsConstraint {
 public:
  SchemaConstraint(std::shared_ptr<const JsonVocab> vocab, std::shared_ptr<const SchemaGraph> graph,
                   SchemaDocument doc, int max_tokens);

  void apply(float* logits, int64_t vocab) override;
  void accept(int32_t token) override;
  bool complete() const override;

  bool broken() const { return broken_; }
  bool ended() const { return ended_; }
  int64_t closing_cost() const;           // bytes of the shortest completion from here
  std::vector<int32_t> allowed_tokens();  // for tests

  struct Frame {
    int32_t node = -1;  // schema node; -1 for the document root
    int32_t set = 0;    // kLit: literal set (< 0: the document's own sets, ~set)
    uint32_t a = 0;     // object: next property; array: items begun; string: chars; lit: lo
    uint32_t b = 0;     // object: property being written; lit: hi; root: alternative
    uint16_t m = 0;     // lit: bytes matched; number: digits; \u: hex digits left
    uint8_t mode = 0;
    uint8_t utf8 = 0;
    uint8_t surr = 0;  // string: json_bytes::surrogate state
    bool operator==(const Frame&) const = default;
  };
  // A stack: committed frames shared by pointer, then a few frames pushed or changed while one
  // token is simulated, so trying a token copies a few hundred bytes at most.
  static constexpr int kLocal = 12;
  struct Thread {
    const Frame* base = nullptr;
    int32_t base_len = 0;
    int32_t n_local = 0;
    uint8_t ws = 0;  // whitespace bytes in a row
    Frame local[kLocal];
  };

 private:
  template <class Emit>
  void step(Thread t, int b, Emit&& emit) const;
  template <class Emit>
  void start_value(Thread& t, int32_t node, int b, Emit&& emit) const;
  int64_t cost(const Thread& t) const;
  int64_t frame_cost(const Frame& f) const;
  const LiteralSet& set(int32_t id) const;
  void walk(const TokenTrie& trie, uint32_t node, const Thread& t, int64_t limit);
  void string_fast_path(const Thread& t, int64_t limit);
  void compute_allowed(int64_t limit);
  bool can_end(const Thread& t) const;
  Thread thread(size_t i) const;

  std::shared_ptr<const JsonVocab> vocab_;
  std::shared_ptr<const SchemaGraph> graph_;
  SchemaDocument doc_;
  std::vector<LiteralSet> own_sets_;  // prefixes, suffix
  int max_tokens_;
  int generated_ = 0;
  bool broken_ = false;
  bool ended_ = false;
  bool free_ = false;                       // an optional document was not begun
  std::vector<std::vector<Frame>> stacks_;  // the committed threads
  std::vector<uint8_t> ws_;                 // and their whitespace runs
  std::vector<uint8_t> allow_;
  int64_t best_ = kSchemaInf;  // the cheapest cost after any valid token (the over-budget case)
};

}  // namespace hearth
