#pragma once
// Paged KV cache: K/V live in fixed-size blocks of block_size token slots; each sequence owns a
// block table, so no sequence reserves the whole context up front and freed blocks are reused.
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "format/model_config.h"

namespace hearth {

class KvCache {
 public:
  // Throws hearth::Error when the backend cannot hold the cache in `dtype`.
  KvCache(Backend& backend, const ModelConfig& cfg, int n_blocks, int block_size = 16,
          DType dtype = DType::F32);

  int block_size() const { return block_size_; }
  int n_blocks() const { return n_blocks_; }
  int free_blocks() const { return static_cast<int>(free_.size()); }
  int kv_dim() const { return kv_dim_; }
  DType dtype() const { return dtype_; }
  KvLayer layer(int i) const { return layers_[static_cast<size_t>(i)]; }
  size_t bytes() const;

  // Returns -1 when no block is free (the caller preempts or fails; never a crash).
  int32_t alloc_block();
  void free_block(int32_t b);

 private:
  int n_blocks_, block_size_, kv_dim_;
  DType dtype_;
  std::vector<DeviceBuffer> storage_;
  std::vector<KvLayer> layers_;
  std::vector<int32_t> free_;
};

// One sequence's view of the cache: its blocks in order and how many tokens they hold.
struct SequenceKv {
  std::vector<int32_t> blocks;
  int32_t length = 0;

  int32_t slot(int32_t position, int block_size) const {
    return blocks[static_cast<size_t>(position / block_size)] * block_size + position % block_size;
  }
};

// Bytes of K and V one token takes over all layers, in a cache of `dtype` elements.
size_t kv_bytes_per_token(const ModelConfig& cfg, DType dtype);

// Makes room for `extra` more tokens; false (with nothing allocated) when blocks run out.
bool kv_reserve(KvCache& cache, SequenceKv& seq, int extra);
void kv_release(KvCache& cache, SequenceKv& seq);

}  // namespace hearth
