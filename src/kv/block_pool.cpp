#include "kv/block_pool.h"

#include <algorithm>
#include <string>

#include "util/error.h"

namespace hearth {

BlockPool::BlockPool(int n_blocks, int block_size)
    : block_size_(block_size),
      ref_(static_cast<size_t>(n_blocks), 0),
      meta_(static_cast<size_t>(n_blocks)),
      tokens_(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size)) {
  // Hand out low block numbers first: purely cosmetic, but it makes traces readable.
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t BlockPool::alloc() {
  int32_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!idle_.empty()) {
    b = idle_.front();
    idle_.pop_front();
    unpublish(b);
    stats_.evictions++;
  } else {
    return -1;
  }
  ref_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::retain(int32_t b) {
  auto& r = ref_.at(static_cast<size_t>(b));
  Meta& m = meta_[static_cast<size_t>(b)];
  if (r == 0) {
    if (!m.published) throw Error("kv cache", "internal: retaining a free block");
    idle_.erase(m.idle_pos);
  }
  ++r;
}

void BlockPool::release(int32_t b) {
  auto& r = ref_.at(static_cast<size_t>(b));
  if (r <= 0) throw Error("kv cache", "internal: block " + std::to_string(b) + " released twice");
  if (--r > 0) return;
  Meta& m = meta_[static_cast<size_t>(b)];
  if (m.published) {
    m.idle_pos = idle_.insert(idle_.end(), b);
  } else {
    free_.push_back(b);
  }
}

void BlockPool::set_caching(bool on) {
  caching_ = on;
  if (on) return;
  for (int32_t b : idle_) {
    unpublish(b);
    free_.push_back(b);
  }
  idle_.clear();
  for (size_t b = 0; b < meta_.size(); ++b)
    if (meta_[b].published) unpublish(static_cast<int32_t>(b));
}

int32_t BlockPool::find(uint64_t hash, uint64_t parent, std::span<const int32_t> tokens) const {
  if (!caching_ || tokens.size() != static_cast<size_t>(block_size_)) return -1;
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  const int32_t b = it->second;
  if (meta_[static_cast<size_t>(b)].parent != parent) return -1;
  auto held = tokens_.begin() + static_cast<long>(b) * block_size_;
  return std::equal(tokens.begin(), tokens.end(), held) ? b : -1;
}

bool BlockPool::publish(int32_t b, uint64_t hash, uint64_t parent,
                        std::span<const int32_t> tokens) {
  if (!caching_ || tokens.size() != static_cast<size_t>(block_size_)) return false;
  Meta& m = meta_.at(static_cast<size_t>(b));
  if (m.published || ref_[static_cast<size_t>(b)] <= 0) return false;
  if (!by_hash_.emplace(hash, b).second) return false;
  m.published = true;
  m.hash = hash;
  m.parent = parent;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<long>(b) * block_size_);
  return true;
}

void BlockPool::unpublish(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  if (!m.published) return;
  auto it = by_hash_.find(m.hash);
  if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
  m.published = false;
}

}  // namespace hearth
