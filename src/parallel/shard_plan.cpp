#include "parallel/shard_plan.h"

#include <algorithm>
#include <string>

#include "parallel/world.h"

namespace hearth {
namespace {

std::string n_ranks(int size) {
  return std::to_string(size) + " ranks";
}

// The column slice of every tensor named `suffix` (one per layer) must be whole blocks.
void check_column_blocks(const Checkpoint& ck, const std::string& suffix, int64_t cols, int size,
                         const std::string& what) {
  const int64_t per_rank = cols / size;
  for (int64_t l = 0; l < ck.config.n_layers; ++l) {
    const std::string name = "blk." + std::to_string(l) + "." + suffix;
    if (!ck.has(name)) continue;  // the model's own check names a missing tensor
    const DType t = ck.tensor(name).dtype;
    const int64_t block = dtype_info(t).block_size;
    if (block > 1 && per_rank % block != 0)
      throw parallel::CollectiveError(
          "tensor parallel", "cannot split " + what + " over " + n_ranks(size) + ": each rank's " +
                                 std::to_string(per_rank) + " columns of " + name + " (" +
                                 dtype_name(t) + ") must be whole blocks of " +
                                 std::to_string(block) + ", so the rank count must divide " +
                                 std::to_string(cols / block) + " (" + std::to_string(cols) +
                                 " = " + std::to_string(cols / block) + " x " +
                                 std::to_string(block) + ")");
  }
}

}  // namespace

void vocab_range(int64_t vocab, int r, int size, int64_t& first, int64_t& count) {
  const int64_t base = vocab / size, extra = vocab % size;
  first = r * base + std::min<int64_t>(r, extra);
  count = base + (r < extra ? 1 : 0);
}

ShardPlan plan_shards(const Checkpoint& ck, int rank, int size) {
  const ModelConfig& c = ck.config;
  ShardPlan p;
  p.rank = rank;
  p.size = size;
  if (c.n_kv_heads % size != 0)
    throw parallel::CollectiveError(
        "tensor parallel", "cannot split the model over " + n_ranks(size) + ": it has " +
                               std::to_string(c.n_kv_heads) +
                               " KV heads and each rank needs whole KV heads, so the rank count "
                               "must divide " +
                               std::to_string(c.n_kv_heads));
  if (c.intermediate % size != 0)
    throw parallel::CollectiveError("tensor parallel",
                                    "cannot split the FFN over " + n_ranks(size) +
                                        ": the rank count must divide the intermediate size " +
                                        std::to_string(c.intermediate));
  check_column_blocks(ck, "attn_output.weight", c.n_heads * c.head_dim, size,
                      "the attention heads");
  check_column_blocks(ck, "ffn_down.weight", c.intermediate, size, "the FFN");
  const int64_t group = c.n_heads / c.n_kv_heads;
  p.n_kv_heads = c.n_kv_heads / size;
  p.kv_head0 = rank * p.n_kv_heads;
  p.n_heads = p.n_kv_heads * group;
  p.head0 = p.kv_head0 * group;
  p.ff = c.intermediate / size;
  p.ff0 = rank * p.ff;
  vocab_range(c.vocab_size, rank, size, p.vocab0, p.vocab);
  return p;
}

}  // namespace hearth
