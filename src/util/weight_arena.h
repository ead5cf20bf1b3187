#pragma once
// Anonymous memory for model weights, in large chunks with transparent huge pages requested: the
// kernels stream every weight byte once per token, and a file mapping's 4 KB pages cost a TLB
// miss every few kilobytes; pages of a file mapping that sat idle can also read slower than
// memory the process owns. Tensors are placed 64-byte aligned, one after another.
#include <cstddef>
#include <vector>

namespace hearth {

class WeightArena {
 public:
  WeightArena() = default;
  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // `bytes` of memory, 64-byte aligned, valid as long as the arena; throws hearth::Error when the
  // system has none to give.
  void* alloc(size_t bytes);
  size_t bytes_used() const { return used_; }

 private:
  struct Chunk {
    void* base;
    size_t size, used;
  };
  std::vector<Chunk> chunks_;
  size_t used_ = 0;
};

}  // namespace hearth
