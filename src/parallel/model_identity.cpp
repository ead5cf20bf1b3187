#include "parallel/model_identity.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "parallel/world.h"

namespace hearth {
namespace {

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  }
  void i64(int64_t v) { bytes(&v, sizeof v); }
  void str(const std::string& s) {
    i64(static_cast<int64_t>(s.size()));
    bytes(s.data(), s.size());
  }
};

}  // namespace

uint64_t model_identity(const Checkpoint& ck) {
  Fnv f;
  const ModelConfig& c = ck.config;
  for (int64_t v : {c.hidden, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.intermediate,
                    c.vocab_size, c.max_position})
    f.i64(v);
  f.bytes(&c.rms_eps, sizeof c.rms_eps);
  f.bytes(&c.rope_theta, sizeof c.rope_theta);
  // Offsets are taken from each file's first tensor, so the same file mapped at another address
  // hashes the same.
  std::map<std::string, const uint8_t*> first;
  for (const auto& [name, t] : ck.tensors) {
    auto [it, added] = first.emplace(t.file, t.data);
    if (!added) it->second = std::min(it->second, t.data);
  }
  for (const auto& [file, base] : first) {
    struct stat st {};
    f.i64(::stat(file.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1);
    (void)base;
  }
  for (const auto& [name, t] : ck.tensors) {
    f.str(name);
    f.i64(static_cast<int64_t>(t.dtype));
    for (int64_t d : t.shape) f.i64(d);
    f.i64(static_cast<int64_t>(t.nbytes));
    f.i64(t.data - first[t.file]);
    f.bytes(t.data, std::min<size_t>(t.nbytes, 64));
  }
  return f.h;
}

void check_same_model(Communicator& comm, const Checkpoint& ck) {
  const uint64_t mine = model_identity(ck);
  std::vector<uint64_t> all(static_cast<size_t>(comm.size()));
  comm.all_gather(&mine, sizeof mine, all.data());
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) {
      char hashes[64];
      std::snprintf(hashes, sizeof hashes, "%016llx vs %016llx",
                    static_cast<unsigned long long>(all[r]),
                    static_cast<unsigned long long>(all[0]));
      throw parallel::CollectiveError(
          ck.path,
          "rank " + std::to_string(r) +
              " opened a different model than rank 0 (size, tensor index and header hash " +
              hashes + "): every rank must load the same file");
    }
}

}  // namespace hearth
