#pragma once
// Paged KV cache: K/V live in fixed-size blocks of block_size token slots; each sequence holds a
// block table, so no sequence reserves the whole context up front and freed blocks are reused.
// Blocks are reference-counted (kv/block_pool.h): sequences with the same prefix share its full
// blocks (kv/prefix_cache.h).
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "format/model_config.h"
#include "kv/block_pool.h"

namespace hearth {

class KvCache {
 public:
  // Throws hearth::Error when the backend cannot hold the cache in `dtype`.
  KvCache(Backend& backend, const ModelConfig& cfg, int n_blocks, int block_size = 16,
          DType dtype = DType::F32);

  int block_size() const { return block_size_; }
  int n_blocks() const { return n_blocks_; }
  // Blocks a sequence can get now: free ones and idle prefix-cache blocks (evicted on demand).
  int free_blocks() const { return pool_.available(); }
  int kv_dim() const { return kv_dim_; }
  DType dtype() const { return dtype_; }
  KvLayer layer(int i) const { return layers_[static_cast<size_t>(i)]; }
  size_t bytes() const;

  // Returns -1 when no block is free (the caller preempts or fails; never a crash).
  int32_t alloc_block() { return pool_.alloc(); }
  // Drops one holder of the block (it is free, or stays cached, when none is left).
  void release_block(int32_t b) { pool_.release(b); }
  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }

 private:
  int n_blocks_, block_size_, kv_dim_;
  DType dtype_;
  std::vector<DeviceBuffer> storage_;
  std::vector<KvLayer> layers_;
  BlockPool pool_;
};

// One sequence's view of the cache: its blocks in order and how many tokens they hold.
struct SequenceKv {
  std::vector<int32_t> blocks;
  int32_t length = 0;
  // The prefix hash of each of its full blocks so far (kv/prefix_cache.h), published or not.
  std::vector<uint64_t> hashes;

  int32_t slot(int32_t position, int block_size) const {
    return blocks[static_cast<size_t>(position / block_size)] * block_size + position % block_size;
  }
};

// Bytes of K and V one token takes over all layers, in a cache of `dtype` elements.
size_t kv_bytes_per_token(const ModelConfig& cfg, DType dtype);

// Makes room for `extra` more tokens; false (with nothing allocated) when blocks run out.
bool kv_reserve(KvCache& cache, SequenceKv& seq, int extra);
// Drops the sequence's hold on its blocks (shared and cached ones stay for their other users).
void kv_release(KvCache& cache, SequenceKv& seq);

}  // namespace hearth
