#pragma once
// The Llama 3.x tokenizer: tiktoken-style byte-level BPE (the Llama 3 pre-tokenizer regex, GPT-2's
// byte alphabet, merge ranks, ignore_merges) plus added/special tokens such as <|eot_id|>.
//
// Text handling, in one place:
// - encode() takes bytes. Ill-formed UTF-8 is first replaced, each maximal ill-formed
//   subsequence by one U+FFFD, exactly as Python's bytes.decode("utf-8", errors="replace").
// - decode() returns well-formed UTF-8: token bytes that do not form complete characters (an id
//   sequence cut inside a character) are replaced the same way. token_bytes() gives raw bytes.
// - StreamDecoder emits only complete characters; its outputs concatenated with flush() equal
//   decode() of the same ids (an incomplete tail at flush() becomes one U+FFFD).
// A Tokenizer is immutable after loading and cheap to copy (shared state); use it from any
// number of threads.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

enum class TokenKind : uint8_t {
  kNormal,   // a BPE vocabulary entry (raw bytes)
  kSpecial,  // control token, e.g. <|eot_id|>: parsed only on request, skippable in decode
  kAdded,    // user-defined added token: always parsed as a whole, kept in decode
  kUnused,   // a hole in the id space: never produced, decodes to nothing
};

// Everything a loader extracts from a file; the Tokenizer constructor validates it.
struct TokenizerSpec {
  std::string source;               // file named in errors
  std::vector<std::string> tokens;  // by id: raw bytes (kNormal) or text (kSpecial, kAdded)
  std::vector<TokenKind> kinds;     // by id, same length as tokens
  std::vector<std::pair<int32_t, int32_t>> merges;  // in rank order
  bool ignore_merges = true;
  int32_t bos_id = -1;
  std::vector<int32_t> eos_ids;
  bool add_bos = true;
  std::string chat_template;  // the Jinja template the files ship, if any (written to GGUF)
};

class Tokenizer {
 public:
  explicit Tokenizer(TokenizerSpec spec);  // throws hearth::Error naming spec.source

  // parse_special=false: "<|eot_id|>" typed by a user is encoded as plain text. Added tokens that
  // are not special are parsed either way. The BOS id is prepended when add_bos is true.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
  // Throws hearth::Error on an id out of range. skip_special drops kSpecial tokens.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  std::string token_bytes(int32_t id) const;  // raw bytes of one token (special: its text)

  int32_t vocab_size() const;
  int32_t bos_id() const;                       // -1 when the vocabulary has none
  const std::vector<int32_t>& eos_ids() const;  // sorted, e.g. 128001, 128008, 128009
  bool add_bos_default() const;
  bool is_special(int32_t id) const;
  std::optional<int32_t> special_id(std::string_view text) const;  // any added token's id

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
  friend class StreamDecoder;
};

// Token-by-token decoding that never emits a broken UTF-8 sequence and never loses bytes.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false);
  std::string push(int32_t id);  // the bytes now complete (possibly empty); throws on a bad id
  // Whatever is held: an incomplete UTF-8 tail becomes one U+FFFD. The decoder is then empty.
  std::string flush();

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_;
  std::string pending_;  // at most 3 bytes of an incomplete character
};

}  // namespace hearth
