#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace hearth {

struct Tokenizer::Impl {
  std::string source;
  std::string arena;              // bytes of every token, in id order
  std::vector<uint32_t> offsets;  // token id -> [offsets[id], offsets[id + 1]) in arena
  std::vector<TokenKind> kinds;
  BpeModel bpe;
  int32_t bos = -1;
  std::vector<int32_t> eos;
  bool add_bos = true;

  // Added tokens are found by their first byte, then by each length they come in, longest first.
  BytesToId added;
  std::array<std::vector<uint32_t>, 256> added_lengths;
  std::array<bool, 256> starts_any{};          // first bytes of any added token
  std::array<bool, 256> starts_non_special{};  // first bytes of kAdded tokens
  bool has_non_special = false;

  std::string_view bytes(int32_t id) const {
    return std::string_view(arena).substr(offsets[id], offsets[id + 1] - offsets[id]);
  }
  int32_t size() const { return static_cast<int32_t>(kinds.size()); }
  void check_id(int32_t id) const {
    if (id < 0 || id >= size())
      throw Error("tokenizer", "token id " + std::to_string(id) +
                                   " is out of range (vocabulary has " + std::to_string(size()) +
                                   " tokens)");
  }

  // Longest added token at text[i], or -1.
  int32_t match_added(std::string_view text, size_t i, bool parse_special, size_t& len) const {
    for (uint32_t l : added_lengths[static_cast<uint8_t>(text[i])]) {
      if (i + l > text.size()) continue;
      int32_t id = added.find(text.substr(i, l));
      if (id < 0) continue;
      if (!parse_special && kinds[id] == TokenKind::kSpecial) continue;
      len = l;
      return id;
    }
    return -1;
  }

  void encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    Llama3Splitter splitter(text);
    std::string_view piece;
    while (splitter.next(piece)) bpe.encode_piece(piece, out);
  }
};

Tokenizer::Tokenizer(TokenizerSpec spec) {
  auto impl = std::make_shared<Impl>();
  const std::string& src = spec.source;
  if (spec.tokens.empty()) throw Error(src, "the vocabulary is empty");
  if (spec.tokens.size() != spec.kinds.size())
    throw Error(src, "token list and token kinds differ in length");
  if (spec.tokens.size() > static_cast<size_t>(INT32_MAX))
    throw Error(src, "the vocabulary is too large");
  const auto n = static_cast<int32_t>(spec.tokens.size());
  impl->source = src;
  impl->kinds = spec.kinds;
  impl->offsets.reserve(spec.tokens.size() + 1);
  for (const std::string& t : spec.tokens) {
    impl->offsets.push_back(static_cast<uint32_t>(impl->arena.size()));
    impl->arena.append(t);
  }
  impl->offsets.push_back(static_cast<uint32_t>(impl->arena.size()));

  std::vector<std::optional<std::string>> normal(spec.tokens.size());
  std::vector<std::string_view> added_keys;
  std::vector<int32_t> added_ids;
  for (int32_t id = 0; id < n; ++id) {
    TokenKind kind = spec.kinds[id];
    if (kind == TokenKind::kNormal) {
      normal[id] = spec.tokens[id];
    } else if (kind == TokenKind::kSpecial || kind == TokenKind::kAdded) {
      const std::string& text = spec.tokens[id];
      if (text.empty()) throw Error(src, "added token " + std::to_string(id) + " is empty");
      if (!utf8::is_valid(text))
        throw Error(src, "added token " + std::to_string(id) + " is not valid UTF-8");
      added_keys.push_back(text);
      added_ids.push_back(id);
      auto first = static_cast<uint8_t>(text[0]);
      impl->starts_any[first] = true;
      if (kind == TokenKind::kAdded) {
        impl->starts_non_special[first] = true;
        impl->has_non_special = true;
      }
      auto& lengths = impl->added_lengths[first];
      if (std::find(lengths.begin(), lengths.end(), text.size()) == lengths.end())
        lengths.push_back(static_cast<uint32_t>(text.size()));
    }
  }
  for (auto& lengths : impl->added_lengths) std::sort(lengths.rbegin(), lengths.rend());
  impl->added.build(added_keys, added_ids);

  for (size_t r = 0; r < spec.merges.size(); ++r) {
    auto [a, b] = spec.merges[r];
    for (int32_t id : {a, b})
      if (id < 0 || id >= n || spec.kinds[id] != TokenKind::kNormal)
        throw Error(src, "merge " + std::to_string(r) + " names token id " + std::to_string(id) +
                             ", which is not a vocabulary token");
  }
  impl->bpe = BpeModel(normal, spec.merges, spec.ignore_merges, src);

  if (spec.bos_id < -1 || spec.bos_id >= n)
    throw Error(src, "BOS token id " + std::to_string(spec.bos_id) + " is out of range");
  impl->bos = spec.bos_id;
  for (int32_t id : spec.eos_ids)
    if (id < 0 || id >= n)
      throw Error(src, "EOS token id " + std::to_string(id) + " is out of range");
  impl->eos = spec.eos_ids;
  std::sort(impl->eos.begin(), impl->eos.end());
  impl->eos.erase(std::unique(impl->eos.begin(), impl->eos.end()), impl->eos.end());
  impl->add_bos = spec.add_bos;
  impl_ = std::move(impl);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  const Impl& im = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && im.bos >= 0) out.push_back(im.bos);
  std::string cleaned;
  if (!utf8::is_valid(text)) {
    cleaned = utf8::sanitize(text);
    text = cleaned;
  }
  const auto& starts = parse_special ? im.starts_any : im.starts_non_special;
  if (!parse_special && !im.has_non_special) {
    im.encode_plain(text, out);
    return out;
  }
  size_t plain_start = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len = 0;
    int32_t id = -1;
    if (starts[static_cast<uint8_t>(text[i])]) id = im.match_added(text, i, parse_special, len);
    if (id < 0) {
      ++i;
      continue;
    }
    if (i > plain_start) im.encode_plain(text.substr(plain_start, i - plain_start), out);
    out.push_back(id);
    i += len;
    plain_start = i;
  }
  if (plain_start < text.size()) im.encode_plain(text.substr(plain_start), out);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const Impl& im = *impl_;
  std::string out;
  out.reserve(ids.size() * 6);
  for (int32_t id : ids) {
    im.check_id(id);
    if (skip_special && im.kinds[id] == TokenKind::kSpecial) continue;
    out.append(im.bytes(id));
  }
  if (!utf8::is_valid(out)) out = utf8::sanitize(out);
  return out;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  impl_->check_id(id);
  return std::string(impl_->bytes(id));
}

int32_t Tokenizer::vocab_size() const {
  return impl_->size();
}
int32_t Tokenizer::bos_id() const {
  return impl_->bos;
}
const std::vector<int32_t>& Tokenizer::eos_ids() const {
  return impl_->eos;
}
bool Tokenizer::add_bos_default() const {
  return impl_->add_bos;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->size() && impl_->kinds[id] == TokenKind::kSpecial;
}

std::optional<int32_t> Tokenizer::special_id(std::string_view text) const {
  int32_t id = impl_->added.find(text);
  if (id < 0) return std::nullopt;
  return id;
}

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special)
    : impl_(tok.impl_), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  impl_->check_id(id);
  std::string out;
  if (skip_special_ && impl_->kinds[id] == TokenKind::kSpecial) return out;
  std::string_view bytes = impl_->bytes(id);
  if (pending_.empty() && utf8::is_valid(bytes)) return std::string(bytes);
  pending_.append(bytes);
  size_t used = utf8::sanitize_stream(pending_, out);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace hearth
