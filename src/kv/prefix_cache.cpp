#include "kv/prefix_cache.h"

#include "util/error.h"

namespace hearth {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser: every input bit reaches every output bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// Walks the cached blocks `tokens` begins with (leaving the last token out), calling
// on_block(block, hash) for each; returns how many full blocks could have been looked up.
template <typename F>
size_t walk_cached_prefix(const KvCache& cache, std::span<const int32_t> tokens, F on_block) {
  const BlockPool& pool = cache.pool();
  if (!pool.caching() || tokens.empty()) return 0;
  const size_t bs = static_cast<size_t>(cache.block_size());
  const size_t reusable = (tokens.size() - 1) / bs;
  uint64_t parent = kPrefixRootHash;
  for (size_t i = 0; i < reusable; ++i) {
    const auto block = tokens.subspan(i * bs, bs);
    const uint64_t h = prefix_block_hash(parent, block);
    const int32_t b = pool.find(h, parent, block);
    if (b < 0) break;
    on_block(b, h);
    parent = h;
  }
  return reusable;
}

}  // namespace

uint64_t prefix_block_hash(uint64_t parent, std::span<const int32_t> block_tokens) {
  uint64_t h = mix(parent ^ 0x9e3779b97f4a7c15ull);
  for (int32_t t : block_tokens) h = mix(h ^ static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ull;
  return mix(h ^ block_tokens.size());
}

PrefixProbe kv_probe_prefix(const KvCache& cache, std::span<const int32_t> tokens) {
  PrefixProbe p;
  walk_cached_prefix(cache, tokens, [&](int32_t b, uint64_t) {
    ++p.blocks;
    if (cache.pool().refcount(b) == 0) ++p.idle;
  });
  return p;
}

int kv_attach_prefix(KvCache& cache, SequenceKv& seq, std::span<const int32_t> tokens) {
  if (!seq.blocks.empty() || seq.length != 0)
    throw Error("kv cache", "internal: a prefix can only be attached to an empty sequence");
  BlockPool& pool = cache.pool();
  const size_t reusable = walk_cached_prefix(cache, tokens, [&](int32_t b, uint64_t h) {
    pool.retain(b);
    seq.blocks.push_back(b);
    seq.hashes.push_back(h);
  });
  pool.stats().hits += seq.blocks.size();
  pool.stats().misses += reusable - seq.blocks.size();
  seq.length = static_cast<int32_t>(seq.blocks.size()) * cache.block_size();
  return seq.length;
}

void kv_publish_full_blocks(KvCache& cache, SequenceKv& seq, std::span<const int32_t> tokens) {
  const size_t bs = static_cast<size_t>(cache.block_size());
  const size_t full = static_cast<size_t>(seq.length) / bs;
  if (tokens.size() < full * bs)
    throw Error("kv cache", "internal: fewer tokens than the sequence holds");
  BlockPool& pool = cache.pool();
  while (seq.hashes.size() < full) {
    const size_t i = seq.hashes.size();
    const uint64_t parent = i == 0 ? kPrefixRootHash : seq.hashes.back();
    const auto block = tokens.subspan(i * bs, bs);
    const uint64_t h = prefix_block_hash(parent, block);
    pool.publish(seq.blocks[i], h, parent, block);
    seq.hashes.push_back(h);
  }
}

}  // namespace hearth
