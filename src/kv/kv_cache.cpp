#include "kv/kv_cache.h"

#include <algorithm>

#include "util/error.h"

namespace hearth {

KvCache::KvCache(Backend& backend, const ModelConfig& cfg, int n_blocks, int block_size,
                 DType dtype)
    : n_blocks_(n_blocks),
      block_size_(block_size),
      kv_dim_(static_cast<int>(cfg.n_kv_heads * cfg.head_dim)),
      dtype_(dtype),
      pool_(std::max(n_blocks, 1), std::max(block_size, 1)) {
  if (n_blocks <= 0 || block_size <= 0) throw Error("kv cache", "needs at least one block");
  if (!backend.supports_kv(dtype))
    throw Error("--kv-type", std::string("the ") + backend.name() + " backend cannot keep the KV " +
                                 "cache in " + dtype_name(dtype));
  const size_t per =
      static_cast<size_t>(n_blocks) * block_size * kv_dim_ * dtype_row_bytes(dtype, 1);
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    storage_.emplace_back(&backend, per);
    storage_.emplace_back(&backend, per);
    layers_.push_back({storage_[storage_.size() - 2].get(), storage_.back().get(), dtype});
  }
}

size_t kv_bytes_per_token(const ModelConfig& cfg, DType dtype) {
  return 2 * static_cast<size_t>(cfg.n_layers) * static_cast<size_t>(cfg.n_kv_heads) *
         static_cast<size_t>(cfg.head_dim) * dtype_row_bytes(dtype, 1);
}

size_t KvCache::bytes() const {
  size_t n = 0;
  for (auto& s : storage_) n += s.bytes();
  return n;
}

bool kv_reserve(KvCache& cache, SequenceKv& seq, int extra) {
  const int bs = cache.block_size();
  const size_t need = static_cast<size_t>((seq.length + extra + bs - 1) / bs);
  if (need <= seq.blocks.size()) return true;
  if (need - seq.blocks.size() > static_cast<size_t>(cache.free_blocks())) return false;
  while (seq.blocks.size() < need) seq.blocks.push_back(cache.alloc_block());
  return true;
}

void kv_release(KvCache& cache, SequenceKv& seq) {
  // Last block first: idle cached blocks are evicted oldest first, so a prefix's tail goes before
  // its head, and no cached block outlives the parent it can only be reached through.
  for (auto b = seq.blocks.rbegin(); b != seq.blocks.rend(); ++b) cache.release_block(*b);
  seq.blocks.clear();
  seq.hashes.clear();
  seq.length = 0;
}

}  // namespace hearth
