#pragma once
// Byte-pair encoding of one pre-token over raw bytes: the merge with the lowest rank is applied
// first, the leftmost among equals (as HF tokenizers does), until no adjacent pair has a merge.
// With ignore_merges a piece that is itself in the vocabulary is taken whole first.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {

// Open-addressing map from byte strings (stored in one arena) to token ids.
class BytesToId {
 public:
  void build(const std::vector<std::string_view>& keys, const std::vector<int32_t>& ids);
  int32_t find(std::string_view key) const;  // -1 when absent

 private:
  std::string arena_;
  std::vector<uint32_t> offset_, length_;  // per entry
  std::vector<int32_t> entry_id_;
  std::vector<int32_t> slots_;  // entry index or -1
  uint64_t mask_ = 0;
};

uint64_t hash_bytes(const char* p, size_t n);

class BpeModel {
 public:
  BpeModel() = default;
  // tokens[id]: raw bytes of each id taking part in BPE (nullopt for ids that do not, e.g.
  // special tokens). merges: (left id, right id) in rank order; the merged id is looked up by
  // the concatenated bytes. Throws hearth::Error(source, ...) when a merge has no result token
  // or a byte has no single-byte token.
  BpeModel(const std::vector<std::optional<std::string>>& tokens,
           const std::vector<std::pair<int32_t, int32_t>>& merges, bool ignore_merges,
           const std::string& source);

  // Appends the ids of one pre-token (raw bytes, non-empty).
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

  // Exposed for tests: forces the heap-based algorithm used for long pieces.
  void encode_piece_heap(std::string_view piece, std::vector<int32_t>& out) const;

  int32_t find(std::string_view bytes) const { return vocab_.find(bytes); }

 private:
  struct Merge {
    uint64_t key = ~0ull;  // (left << 32) | right; ~0 marks an empty slot
    int32_t rank = 0;
    int32_t result = 0;
  };
  const Merge* find_merge(int32_t left, int32_t right) const;
  void encode_small(std::string_view piece, std::vector<int32_t>& out) const;

  BytesToId vocab_;
  int32_t byte_id_[256] = {};
  std::vector<Merge> merges_;
  uint64_t merge_mask_ = 0;
  bool ignore_merges_ = true;
};

}  // namespace hearth
