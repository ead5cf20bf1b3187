#pragma once
// Automatic prefix caching over the paged KV cache. A full block is named by a hash chained over
// the tokens of every block before it and its own, so equal hashes mean equal prefixes (the pool
// also compares the tokens and the parent hash, so a collision is a miss). A sequence starting
// out takes the longest run of cached blocks its tokens begin with and computes only the rest;
// as its blocks fill, they are published for later sequences. The KV of a position depends only
// on the tokens up to it, so a reused block holds what recomputing it would give.
#include <cstdint>
#include <span>

#include "kv/kv_cache.h"

namespace hearth {

// The hash of the first block's parent.
inline constexpr uint64_t kPrefixRootHash = 0x6a09e667f3bcc908ull;
uint64_t prefix_block_hash(uint64_t parent, std::span<const int32_t> block_tokens);

// How much of `tokens` kv_attach_prefix would attach now, without taking anything: `blocks` in
// all, `idle` of them idle-cached (taking those lowers the cache's free_blocks()).
struct PrefixProbe {
  int blocks = 0, idle = 0;
};
PrefixProbe kv_probe_prefix(const KvCache& cache, std::span<const int32_t> tokens);

// For a sequence that holds no blocks yet: attaches the cached blocks `tokens` begins with,
// always leaving at least the last token to compute (its logits are needed). Sets seq.length to
// the tokens attached and returns it; counts hits and misses in the pool's stats.
int kv_attach_prefix(KvCache& cache, SequenceKv& seq, std::span<const int32_t> tokens);

// Publishes the sequence's blocks that are full now (seq.length tokens computed); `tokens`
// holds at least the sequence's first seq.length tokens.
void kv_publish_full_blocks(KvCache& cache, SequenceKv& seq, std::span<const int32_t> tokens);

}  // namespace hearth
