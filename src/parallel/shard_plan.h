#pragma once
// Which part of each weight one rank holds. Llama's shapes make one split natural: whole KV heads
// with their query heads (rows of wq/wk/wv, the matching input columns of wo), an equal slice of
// the FFN's intermediate dimension (rows of gate/up, columns of down), and the output head by
// vocabulary rows. Norms and the embedding table are replicated.
#include <cstdint>

#include "format/checkpoint.h"

namespace hearth {

struct ShardPlan {
  int rank = 0, size = 1;
  int64_t head0 = 0, n_heads = 0;        // query heads [head0, head0 + n_heads)
  int64_t kv_head0 = 0, n_kv_heads = 0;  // their KV heads
  int64_t ff0 = 0, ff = 0;               // intermediate columns [ff0, ff0 + ff)
  int64_t vocab0 = 0, vocab = 0;         // output rows [vocab0, vocab0 + vocab)
  bool split() const { return size > 1; }
};

// The vocabulary rows rank `r` of `size` holds (the first ranks take one more when it does not
// divide).
void vocab_range(int64_t vocab, int r, int size, int64_t& first, int64_t& count);

// The plan for `rank` of `size`. Throws parallel::CollectiveError, naming the constraint, when the
// model cannot be split that way: the rank count must divide the KV heads, and each rank's column
// slices of wo and ffn_down must be whole blocks of those tensors' types.
ShardPlan plan_shards(const Checkpoint& ck, int rank, int size);

}  // namespace hearth
