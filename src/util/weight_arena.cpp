#include "util/weight_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "util/error.h"

namespace hearth {

namespace {

constexpr size_t kChunk = size_t{256} << 20;  // a few dozen mappings for a 70B model
constexpr size_t kHuge = size_t{2} << 20;

}  // namespace

WeightArena::~WeightArena() {
  for (const Chunk& c : chunks_) munmap(c.base, c.size);
}

void* WeightArena::alloc(size_t bytes) {
  const size_t need = (bytes + 63) / 64 * 64;
  if (chunks_.empty() || chunks_.back().size - chunks_.back().used < need) {
    // Untouched pages of a chunk cost no memory: only what the copies write becomes resident.
    const size_t size = (std::max(need, kChunk) + kHuge - 1) / kHuge * kHuge;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw Error("weights", "cannot allocate " + std::to_string(size >> 20) +
                                 " MiB of memory for the weights (" + std::strerror(errno) +
                                 "); --mmap reads them from the file instead");
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);  // a request: without THP the pages are simply 4 KB
#endif
    chunks_.push_back({p, size, 0});
  }
  Chunk& c = chunks_.back();
  void* out = static_cast<char*>(c.base) + c.used;
  c.used += need;
  used_ += need;
  return out;
}

}  // namespace hearth
