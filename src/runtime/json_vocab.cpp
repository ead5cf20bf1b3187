#include "runtime/json_vocab.h"

#include <algorithm>

#include "runtime/json_bytes.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace hearth {

using namespace json_bytes;

JsonVocab::JsonVocab(std::vector<std::string> bytes, std::vector<int32_t> end_ids)
    : bytes_(std::move(bytes)), end_ids_(std::move(end_ids)) {
  std::sort(end_ids_.begin(), end_ids_.end());
  end_ids_.erase(std::unique(end_ids_.begin(), end_ids_.end()), end_ids_.end());
  for (int32_t id : end_ids_) {
    if (id < 0 || id >= size()) throw Error("json constraint", "end token id out of range");
    bytes_[static_cast<size_t>(id)].clear();  // never part of the document itself
  }
  const size_t n = bytes_.size();
  complete_.assign(kUtf8States, std::vector<uint8_t>(n, 0));
  partial_.resize(kUtf8States);
  offsets_.assign(256 * 257 + 1, 0);
  for (size_t id = 0; id < n; ++id) {
    const std::string& s = bytes_[id];
    if (s.empty()) continue;
    sorted_.push_back(static_cast<int32_t>(id));
    bool plain = true;
    for (unsigned char ch : s) plain = plain && is_plain_string_byte(ch);
    if (!plain) {
      non_plain_.push_back(static_cast<int32_t>(id));
    } else {
      for (int u0 = 0; u0 < kUtf8States; ++u0) {
        int u = u0;
        for (size_t k = 0; k < s.size() && u >= 0; ++k)
          u = utf8_next(static_cast<uint8_t>(u), static_cast<uint8_t>(s[k]));
        if (u == 0)
          complete_[u0][id] = 1;
        else if (u > 0)
          partial_[u0].push_back({static_cast<int32_t>(id), static_cast<uint8_t>(u)});
      }
    }
    ++offsets_[key(s) + 1];
  }
  for (size_t k = 1; k < offsets_.size(); ++k) offsets_[k] += offsets_[k - 1];
  by_prefix_.resize(offsets_.back());
  std::vector<uint32_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (size_t id = 0; id < n; ++id) {
    const std::string& s = bytes_[id];
    if (!s.empty()) by_prefix_[fill[key(s)]++] = static_cast<int32_t>(id);
  }
  std::sort(sorted_.begin(), sorted_.end(),
            [&](int32_t a, int32_t b) { return bytes_[a] < bytes_[b]; });

  plain_code_.assign(n, kNotPlain);
  std::vector<std::pair<const std::string*, int32_t>> all, non_plain;
  for (int32_t id : sorted_) {
    const std::string& s = bytes_[static_cast<size_t>(id)];
    all.push_back({&s, id});
    int u = 0, chars = 0;
    for (size_t k = 0; k < s.size() && u >= 0; ++k) {
      const auto b = static_cast<uint8_t>(s[k]);
      if (!is_plain_string_byte(b)) {
        u = -1;
        break;
      }
      if (u == 0) ++chars;
      u = utf8_next(static_cast<uint8_t>(u), b);
    }
    if (u >= 0)
      plain_code_[static_cast<size_t>(id)] = static_cast<uint16_t>(std::min(chars, 255) * 8 + u);
    else
      non_plain.push_back({&s, id});
  }
  all_trie_ = TokenTrie::build(all, n);
  non_plain_trie_ = TokenTrie::build(non_plain, n);
}

TokenTrie TokenTrie::build(const std::vector<std::pair<const std::string*, int32_t>>& sorted,
                           size_t vocab_size) {
  TokenTrie t;
  t.same.assign(vocab_size, -1);
  t.byte.push_back(0);
  t.token.push_back(-1);
  t.end.push_back(0);
  std::vector<uint32_t> path = {0};  // nodes from the root down to the previous string's end
  const std::string* prev = nullptr;
  for (auto& [s, id] : sorted) {
    size_t common = 0;
    if (prev)
      while (common < prev->size() && common < s->size() && (*prev)[common] == (*s)[common])
        ++common;
    while (path.size() > common + 1) {
      t.end[path.back()] = static_cast<uint32_t>(t.byte.size());
      path.pop_back();
    }
    for (size_t k = common; k < s->size(); ++k) {
      path.push_back(static_cast<uint32_t>(t.byte.size()));
      t.byte.push_back(static_cast<uint8_t>((*s)[k]));
      t.token.push_back(-1);
      t.end.push_back(0);
    }
    t.same[static_cast<size_t>(id)] = t.token[path.back()];
    t.token[path.back()] = id;
    prev = s;
  }
  while (!path.empty()) {
    t.end[path.back()] = static_cast<uint32_t>(t.byte.size());
    path.pop_back();
  }
  return t;
}

std::shared_ptr<const JsonVocab> JsonVocab::from_tokenizer(const Tokenizer& tok,
                                                           std::vector<int32_t> end_ids) {
  std::vector<std::string> bytes(static_cast<size_t>(tok.vocab_size()));
  for (int32_t id = 0; id < tok.vocab_size(); ++id)
    if (!tok.is_special(id)) bytes[static_cast<size_t>(id)] = tok.token_bytes(id);
  std::vector<int32_t> ends;
  for (int32_t id : end_ids)
    if (id >= 0 && id < tok.vocab_size()) ends.push_back(id);
  return std::make_shared<const JsonVocab>(std::move(bytes), std::move(ends));
}

bool JsonVocab::is_end(int32_t id) const {
  return std::binary_search(end_ids_.begin(), end_ids_.end(), id);
}

size_t JsonVocab::key(const std::string& s) {
  return static_cast<uint8_t>(s[0]) * 257u + (s.size() == 1 ? 256u : static_cast<uint8_t>(s[1]));
}

std::pair<const int32_t*, const int32_t*> JsonVocab::starting_with(uint8_t b1, int b2) const {
  const size_t k = b1 * 257u + static_cast<size_t>(b2);
  return {by_prefix_.data() + offsets_[k], by_prefix_.data() + offsets_[k + 1]};
}

std::pair<const int32_t*, const int32_t*> JsonVocab::exactly(const std::string& s) const {
  auto range =
      std::equal_range(sorted_.begin(), sorted_.end(), s, [&](const auto& a, const auto& b) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, std::string>)
          return a < bytes_[static_cast<size_t>(b)];
        else
          return bytes_[static_cast<size_t>(a)] < b;
      });
  return {sorted_.data() + (range.first - sorted_.begin()),
          sorted_.data() + (range.second - sorted_.begin())};
}

}  // namespace hearth
