#pragma once
// The vocabulary as the JSON constraints see it, indexed once per tokenizer: each token's bytes,
// tokens by their first two bytes, the tokens that are plain string content, and byte tries.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hearth {

class Tokenizer;

// A byte trie in preorder: node 0 is the root; node i's children are i + 1, end[i + 1], ...
// up to end[i] (the index after i's subtree); byte[i] is the edge into i, token[i] the token
// whose bytes end there (-1: none).
struct TokenTrie {
  std::vector<uint8_t> byte;
  std::vector<int32_t> token;
  std::vector<uint32_t> end;
  std::vector<int32_t> same;  // by token id: the next token with the same bytes (-1: none)
  // Builds from (bytes, id) pairs sorted by bytes, without empty strings.
  static TokenTrie build(const std::vector<std::pair<const std::string*, int32_t>>& sorted,
                         size_t vocab_size);
};

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

  // Every token (all_tokens) or only the tokens that are not plain string content
  // (non_plain_tokens), as byte tries in preorder, so that a constraint steps its state once per
  // shared prefix and skips a whole subtree at the first byte it refuses.
  const TokenTrie& all_tokens() const { return all_trie_; }
  const TokenTrie& non_plain_tokens() const { return non_plain_trie_; }
  // For a token that is plain string content from a character boundary: characters it begins
  // (capped at 255) * 8 + the UTF-8 state it leaves; kNotPlain for every other token.
  static constexpr uint16_t kNotPlain = 2048;
  const std::vector<uint16_t>& plain_code() const { return plain_code_; }

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
  TokenTrie all_trie_, non_plain_trie_;
  std::vector<uint16_t> plain_code_;
};

}  // namespace hearth
