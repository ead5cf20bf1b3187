#pragma once
// Who holds each KV block, and which full blocks the prefix cache can hand out again.
//
// A block is in one of three states: in use (reference count > 0: one or more sequences hold it
// in their block tables), idle-cached (count 0 but published under its prefix hash, so a later
// sequence with the same prefix can take it back without recomputing it) or free. Allocation
// takes a free block first and otherwise evicts the least recently released idle-cached one, so
// cached blocks cost nothing until their memory is needed. Only full blocks are published and a
// published block is never written again (its sequence appends into blocks after it), which is
// why sharing needs no copy-on-write. Pure bookkeeping, no device memory: KvCache owns one.
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace hearth {

// Counted in blocks. hits + misses: the full prompt blocks a lookup could have reused.
struct PrefixCacheStats {
  uint64_t hits = 0, misses = 0, evictions = 0;
};

class BlockPool {
 public:
  BlockPool(int n_blocks, int block_size);

  int n_blocks() const { return static_cast<int>(ref_.size()); }
  int block_size() const { return block_size_; }
  // Blocks an alloc() can return now: the free ones and the idle cached ones.
  int available() const { return static_cast<int>(free_.size() + idle_.size()); }
  int idle_cached() const { return static_cast<int>(idle_.size()); }
  int in_use() const { return n_blocks() - available(); }
  int refcount(int32_t b) const { return ref_.at(static_cast<size_t>(b)); }

  // A block with reference count 1; -1 when none is free and none can be evicted.
  int32_t alloc();
  // One more holder of a block that is in use or idle-cached (a prefix-cache hit).
  void retain(int32_t b);
  // One holder less; at zero a published block stays cached (most recently used), any other is
  // free. Throws hearth::Error on a block nobody holds (a bookkeeping bug, not bad input).
  void release(int32_t b);

  // Turning caching off forgets every published block (idle ones become free) and makes
  // find() miss and publish() refuse; on by default.
  void set_caching(bool on);
  bool caching() const { return caching_; }
  // The block published under `hash` whose recorded parent hash and tokens are these (the
  // comparison makes a 64-bit hash collision a miss, never wrong KV); -1 when none.
  int32_t find(uint64_t hash, uint64_t parent, std::span<const int32_t> tokens) const;
  // Publishes full block `b` (held by the caller) under `hash`. False, leaving it private, when
  // caching is off or another block already holds that prefix (two sequences computed it at the
  // same time).
  bool publish(int32_t b, uint64_t hash, uint64_t parent, std::span<const int32_t> tokens);
  bool published(int32_t b) const { return meta_.at(static_cast<size_t>(b)).published; }

  PrefixCacheStats& stats() { return stats_; }
  const PrefixCacheStats& stats() const { return stats_; }

 private:
  struct Meta {
    bool published = false;
    uint64_t hash = 0, parent = 0;
    std::list<int32_t>::iterator idle_pos;  // valid while idle-cached
  };
  void unpublish(int32_t b);

  int block_size_;
  std::vector<int32_t> ref_;
  std::vector<Meta> meta_;
  std::vector<int32_t> tokens_;  // block_size per block: what a published block holds
  std::vector<int32_t> free_;
  std::list<int32_t> idle_;  // idle cached blocks, least recently released first
  std::unordered_map<uint64_t, int32_t> by_hash_;
  bool caching_ = true;
  PrefixCacheStats stats_;
};

}  // namespace hearth
