#include "runtime/session.h"

#include <algorithm>

#include "kv/prefix_cache.h"
#include "util/error.h"

namespace hearth {

int blocks_for_context(int ctx, int block_size) {
  return (ctx + block_size - 1) / block_size;
}

Session::Session(LlamaModel& model, KvCache& cache, int max_context)
    : model_(model), cache_(cache), max_context_(max_context), builder_(cache.block_size()) {}

Session::~Session() {
  kv_release(cache_, seq_);
}

void Session::reset() {
  kv_release(cache_, seq_);
  tokens_.clear();
}

int Session::reuse_prefix(std::span<const int32_t> tokens) {
  reset();
  const int n = kv_attach_prefix(cache_, seq_, tokens);
  tokens_.assign(tokens.begin(), tokens.begin() + n);
  return n;
}

ResultRef Session::step(std::span<const int32_t> tokens, RowOutput last) {
  return run(tokens, last, nullptr);
}

std::vector<float> Session::feed(const std::vector<int32_t>& tokens, bool all_logits) {
  std::vector<float> out;
  const ResultRef ref = run(tokens, RowOutput::Logits, all_logits ? &out : nullptr);
  if (!all_logits) {
    const float* row = logits_row(result_, ref, model_.config().vocab_size);
    out.assign(row, row + model_.config().vocab_size);
  }
  return out;
}

ResultRef Session::run(std::span<const int32_t> tokens, RowOutput last, std::vector<float>* all) {
  if (tokens.empty()) throw Error("feed", "no tokens given");
  model_.check_tokens(tokens, "");
  if (static_cast<int64_t>(seq_.length) + static_cast<int64_t>(tokens.size()) > max_context_)
    throw Error("context", std::to_string(seq_.length + tokens.size()) +
                               " tokens exceed the context size of " +
                               std::to_string(max_context_));
  if (!kv_reserve(cache_, seq_, static_cast<int>(tokens.size())))
    throw Error("kv cache",
                "out of KV blocks for " + std::to_string(tokens.size()) + " more tokens");

  const size_t chunk = static_cast<size_t>(model_.max_batch_tokens());
  ResultRef ref;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    const auto part = tokens.subspan(start, std::min(chunk, tokens.size() - start));
    const bool final_chunk = start + part.size() == tokens.size();
    builder_.reset();
    ref = builder_.add(seq_, part, final_chunk ? last : RowOutput::None, all != nullptr);
    model_.forward(builder_.batch(), cache_, result_);
    seq_.length += static_cast<int32_t>(part.size());
    tokens_.insert(tokens_.end(), part.begin(), part.end());
    kv_publish_full_blocks(cache_, seq_, tokens_);
    if (all) all->insert(all->end(), result_.logits.begin(), result_.logits.end());
  }
  return ref;
}

}  // namespace hearth
