#include "runtime/session.h"

#include <algorithm>

#include "util/error.h"

namespace hearth {

int blocks_for_context(int ctx, int block_size) {
  return (ctx + block_size - 1) / block_size;
}

Session::Session(LlamaModel& model, KvCache& cache, int max_context)
    : model_(model), cache_(cache), max_context_(max_context) {}

Session::~Session() {
  kv_release(cache_, seq_);
}

void Session::reset() {
  kv_release(cache_, seq_);
}

std::vector<float> Session::feed(const std::vector<int32_t>& tokens, bool all_logits) {
  if (tokens.empty()) throw Error("feed", "no tokens given");
  const int64_t V = model_.config().vocab_size;
  for (int32_t t : tokens)
    if (t < 0 || t >= V)
      throw Error("token id " + std::to_string(t) + " is out of range (vocabulary size " +
                  std::to_string(V) + ")");
  if (static_cast<int64_t>(seq_.length) + static_cast<int64_t>(tokens.size()) > max_context_)
    throw Error("context", std::to_string(seq_.length + tokens.size()) +
                               " tokens exceed the context size of " +
                               std::to_string(max_context_));
  if (!kv_reserve(cache_, seq_, static_cast<int>(tokens.size())))
    throw Error("kv cache",
                "out of KV blocks for " + std::to_string(tokens.size()) + " more tokens");

  const int bs = cache_.block_size();
  const int chunk = model_.max_batch_tokens();
  std::vector<float> out, step_logits;
  BatchInputs b;
  b.block_size = bs;
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(chunk)) {
    const size_t end = std::min(tokens.size(), start + static_cast<size_t>(chunk));
    b.tokens.assign(tokens.begin() + static_cast<long>(start),
                    tokens.begin() + static_cast<long>(end));
    const int n = static_cast<int>(end - start);
    b.pos.resize(n);
    b.seq.assign(n, 0);
    b.slot.resize(n);
    for (int i = 0; i < n; ++i) {
      b.pos[i] = seq_.length + i;
      b.slot[i] = seq_.slot(b.pos[i], bs);
    }
    b.block_tables = seq_.blocks;
    b.table_offset = {0, static_cast<int32_t>(seq_.blocks.size())};
    std::vector<int32_t> rows;
    if (all_logits) {
      for (int i = 0; i < n; ++i) rows.push_back(i);
    } else if (end == tokens.size()) {
      rows.push_back(n - 1);
    }
    model_.forward(b, cache_, rows, step_logits);
    seq_.length += n;
    out.insert(out.end(), step_logits.begin(), step_logits.end());
  }
  return out;
}

}  // namespace hearth

namespace hearth {

void Session::truncate(int32_t n) {
  if (n <= 0) {
    reset();
    return;
  }
  if (n >= seq_.length) return;
  seq_.length = n;
  const size_t keep = static_cast<size_t>(blocks_for_context(n, cache_.block_size()));
  while (seq_.blocks.size() > keep) {
    cache_.free_block(seq_.blocks.back());
    seq_.blocks.pop_back();
  }
}

}  // namespace hearth
