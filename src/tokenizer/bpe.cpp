#include "tokenizer/bpe.h"

#include <cstring>
#include <queue>

#include "util/error.h"

namespace hearth {

namespace {

inline uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

uint64_t table_size_for(size_t n) {
  uint64_t size = 16;
  while (size < 2 * n) size <<= 1;
  return size;
}

constexpr int32_t kNoRank = INT32_MAX;

// Pieces up to this many bytes use the quadratic scan, which beats a heap on short words.
constexpr size_t kSmallPiece = 96;

}  // namespace

uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0x100000001b3ull);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x9fb21c651e98df25ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x9fb21c651e98df25ull;
  }
  return mix(h);
}

void BytesToId::build(const std::vector<std::string_view>& keys, const std::vector<int32_t>& ids) {
  arena_.clear();
  offset_.clear();
  length_.clear();
  entry_id_.clear();
  uint64_t size = table_size_for(keys.size());
  slots_.assign(size, -1);
  mask_ = size - 1;
  for (size_t e = 0; e < keys.size(); ++e) {
    std::string_view k = keys[e];
    uint64_t slot = hash_bytes(k.data(), k.size()) & mask_;
    bool duplicate = false;
    while (slots_[slot] >= 0) {
      int32_t other = slots_[slot];
      if (std::string_view(arena_).substr(offset_[other], length_[other]) == k) {
        duplicate = true;  // the first (lowest) id keeps the spelling
        break;
      }
      slot = (slot + 1) & mask_;
    }
    if (duplicate) continue;
    slots_[slot] = static_cast<int32_t>(offset_.size());
    offset_.push_back(static_cast<uint32_t>(arena_.size()));
    length_.push_back(static_cast<uint32_t>(k.size()));
    entry_id_.push_back(ids[e]);
    arena_.append(k);
  }
}

int32_t BytesToId::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  uint64_t slot = hash_bytes(key.data(), key.size()) & mask_;
  for (;;) {
    int32_t e = slots_[slot];
    if (e < 0) return -1;
    if (length_[e] == key.size() &&
        std::memcmp(arena_.data() + offset_[e], key.data(), key.size()) == 0)
      return entry_id_[e];
    slot = (slot + 1) & mask_;
  }
}

BpeModel::BpeModel(const std::vector<std::optional<std::string>>& tokens,
                   const std::vector<std::pair<int32_t, int32_t>>& merges, bool ignore_merges,
                   const std::string& source)
    : ignore_merges_(ignore_merges) {
  std::vector<std::string_view> keys;
  std::vector<int32_t> ids;
  keys.reserve(tokens.size());
  ids.reserve(tokens.size());
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (!tokens[id] || tokens[id]->empty()) continue;
    keys.push_back(*tokens[id]);
    ids.push_back(static_cast<int32_t>(id));
  }
  vocab_.build(keys, ids);
  for (int b = 0; b < 256; ++b) {
    char c = static_cast<char>(b);
    byte_id_[b] = vocab_.find(std::string_view(&c, 1));
    if (byte_id_[b] < 0)
      throw Error(source, "vocabulary has no token for byte 0x" + std::to_string(b) +
                              " (a byte-level BPE vocabulary needs all 256)");
  }
  uint64_t size = table_size_for(merges.size());
  merges_.assign(size, Merge{});
  merge_mask_ = size - 1;
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    auto [left, right] = merges[rank];
    joined = *tokens[left] + *tokens[right];
    int32_t result = vocab_.find(joined);
    if (result < 0)
      throw Error(source, "merge " + std::to_string(rank) + " (ids " + std::to_string(left) + " " +
                              std::to_string(right) +
                              ") makes a token that is not in the vocabulary");
    uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    uint64_t slot = mix(key) & merge_mask_;
    while (merges_[slot].key != ~0ull && merges_[slot].key != key) slot = (slot + 1) & merge_mask_;
    if (merges_[slot].key == key) continue;  // a repeated merge keeps its first (lowest) rank
    merges_[slot] = Merge{key, static_cast<int32_t>(rank), result};
  }
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  uint64_t slot = mix(key) & merge_mask_;
  for (;;) {
    const Merge& m = merges_[slot];
    if (m.key == key) return &m;
    if (m.key == ~0ull) return nullptr;
    slot = (slot + 1) & merge_mask_;
  }
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_id_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    int32_t whole = vocab_.find(piece);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  if (piece.size() <= kSmallPiece)
    encode_small(piece, out);
  else
    encode_piece_heap(piece, out);
}

void BpeModel::encode_small(std::string_view piece, std::vector<int32_t>& out) const {
  // sym[k]: current token ids; rank[k]: rank of merging sym[k] with sym[k + 1].
  int32_t sym[kSmallPiece], rank[kSmallPiece], result[kSmallPiece];
  size_t n = piece.size();
  for (size_t k = 0; k < n; ++k) sym[k] = byte_id_[static_cast<uint8_t>(piece[k])];
  auto set_rank = [&](size_t k) {
    const Merge* m = find_merge(sym[k], sym[k + 1]);
    rank[k] = m ? m->rank : kNoRank;
    result[k] = m ? m->result : -1;
  };
  for (size_t k = 0; k + 1 < n; ++k) set_rank(k);
  while (n > 1) {
    size_t best = 0;
    for (size_t k = 1; k + 1 < n; ++k)
      if (rank[k] < rank[best]) best = k;
    if (rank[best] == kNoRank) break;
    sym[best] = result[best];
    for (size_t k = best + 1; k + 1 < n; ++k) {
      sym[k] = sym[k + 1];
      rank[k] = rank[k + 1];
      result[k] = result[k + 1];
    }
    --n;
    if (best + 1 < n) set_rank(best);
    if (best > 0) set_rank(best - 1);
  }
  out.insert(out.end(), sym, sym + n);
}

void BpeModel::encode_piece_heap(std::string_view piece, std::vector<int32_t>& out) const {
  const size_t n = piece.size();
  std::vector<int32_t> sym(n), next(n), prev(n);
  for (size_t k = 0; k < n; ++k) {
    sym[k] = byte_id_[static_cast<uint8_t>(piece[k])];
    next[k] = k + 1 < n ? static_cast<int32_t>(k + 1) : -1;
    prev[k] = static_cast<int32_t>(k) - 1;
  }
  struct Cand {
    int32_t rank, left, left_id, right_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  auto push = [&](int32_t left) {
    int32_t right = next[left];
    if (right < 0) return;
    if (const Merge* m = find_merge(sym[left], sym[right]))
      queue.push({m->rank, left, sym[left], sym[right]});
  };
  for (size_t k = 0; k + 1 < n; ++k) push(static_cast<int32_t>(k));
  while (!queue.empty()) {
    Cand c = queue.top();
    queue.pop();
    int32_t right = next[c.left];
    // Stale when either side has changed since the candidate was made (symbols only grow).
    if (sym[c.left] != c.left_id || right < 0 || sym[right] != c.right_id) continue;
    sym[c.left] = find_merge(c.left_id, c.right_id)->result;
    sym[right] = -1;
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    push(c.left);
    if (prev[c.left] >= 0) push(prev[c.left]);
  }
  for (int32_t k = 0; k >= 0; k = next[k]) out.push_back(sym[k]);
}

}  // namespace hearth
