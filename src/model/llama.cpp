#include "model/llama.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <exception>

#include "model/rope.h"
#include "parallel/model_identity.h"
#include "parallel/step_channel.h"
#include "parallel/tensor_slice.h"
#include "parallel/world.h"
#include "util/error.h"

namespace hearth {

namespace {

const TensorView& checked(const Checkpoint& ck, const std::string& name,
                          const std::vector<int64_t>& shape) {
  const TensorView& t = ck.tensor(name);
  // Norm vectors: accept [n] (HF, GGUF) and nothing else.
  if (t.shape != shape) {
    const char* src = ck.format == CheckpointFormat::Gguf ? "the GGUF metadata" : "config.json";
    throw Error(t.file, "tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " +
                            shape_str(shape) + " from " + src);
  }
  return t;
}

Weight load(Backend& be, const Checkpoint& ck, const std::string& name,
            const std::vector<int64_t>& shape) {
  return be.upload(checked(ck, name, shape));
}

ShardPlan whole_model(const ModelConfig& c) {
  ShardPlan p;
  p.n_heads = c.n_heads;
  p.n_kv_heads = c.n_kv_heads;
  p.ff = c.intermediate;
  p.vocab = c.vocab_size;
  return p;
}

// A rank that copied its slices no longer needs the file's pages mapped: dropping them keeps its
// resident memory to its own share (the page cache keeps them for other readers).
void drop_mapped_pages(const Checkpoint& ck) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (const auto& [name, t] : ck.tensors) {
    const auto b = (reinterpret_cast<uintptr_t>(t.data) + page - 1) & ~(page - 1);
    const auto e = (reinterpret_cast<uintptr_t>(t.data) + t.nbytes) & ~(page - 1);
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
  }
}

}  // namespace

Weight LlamaModel::load_sharded(Backend& be, const Checkpoint& ck, const std::string& name,
                                const std::vector<int64_t>& shape, int axis, int64_t first,
                                int64_t count) {
  const TensorView& t = checked(ck, name, shape);
  if (!comm_) return be.upload(t);
  if (axis == 0) return be.upload(row_slice(t, first, count));
  std::vector<uint8_t> storage;
  Weight w = be.upload(column_slice(t, first, count, storage));
  if (w.data == storage.data()) kept_slices_.push_back(std::move(storage));  // a view (--mmap)
  return w;
}

LlamaModel::LlamaModel(const Checkpoint& ck, Backend& backend, int max_batch_tokens,
                       Communicator* comm)
    : cfg_(ck.config),
      local_(ck.config),
      backend_(backend),
      max_tokens_(std::max(1, max_batch_tokens)),
      comm_(comm && comm->size() > 1 ? comm : nullptr),
      shard_(whole_model(ck.config)) {
  if (comm_) {
    check_same_model(*comm_, ck);
    backend.join_ranks(*comm_);
    shard_ = plan_shards(ck, comm_->rank(), comm_->size());
    local_.n_heads = shard_.n_heads;
    local_.n_kv_heads = shard_.n_kv_heads;
    local_.intermediate = shard_.ff;
  }
  const int64_t d = cfg_.hidden, hd = cfg_.head_dim, nh = cfg_.n_heads, nkv = cfg_.n_kv_heads;
  const int64_t ff = cfg_.intermediate, V = cfg_.vocab_size;
  const ShardPlan& s = shard_;
  tok_embd_ = load(backend, ck, "token_embd.weight", {V, d});
  output_norm_ = load(backend, ck, "output_norm.weight", {d});
  if (ck.has("output.weight")) {
    output_ = load_sharded(backend, ck, "output.weight", {V, d}, 0, s.vocab0, s.vocab);
  } else if (cfg_.tie_embeddings) {
    output_ = comm_ ? load_sharded(backend, ck, "token_embd.weight", {V, d}, 0, s.vocab0, s.vocab)
                    : tok_embd_;
  } else {
    throw Error(ck.path, "missing tensor 'output.weight' (lm_head) and embeddings are not tied");
  }
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights w;
    w.attn_norm = load(backend, ck, p + "attn_norm.weight", {d});
    w.wq = load_sharded(backend, ck, p + "attn_q.weight", {nh * hd, d}, 0, s.head0 * hd,
                        s.n_heads * hd);
    w.wk = load_sharded(backend, ck, p + "attn_k.weight", {nkv * hd, d}, 0, s.kv_head0 * hd,
                        s.n_kv_heads * hd);
    w.wv = load_sharded(backend, ck, p + "attn_v.weight", {nkv * hd, d}, 0, s.kv_head0 * hd,
                        s.n_kv_heads * hd);
    w.wo = load_sharded(backend, ck, p + "attn_output.weight", {d, nh * hd}, 1, s.head0 * hd,
                        s.n_heads * hd);
    w.ffn_norm = load(backend, ck, p + "ffn_norm.weight", {d});
    w.w_gate = load_sharded(backend, ck, p + "ffn_gate.weight", {ff, d}, 0, s.ff0, s.ff);
    w.w_up = load_sharded(backend, ck, p + "ffn_up.weight", {ff, d}, 0, s.ff0, s.ff);
    w.w_down = load_sharded(backend, ck, p + "ffn_down.weight", {d, ff}, 1, s.ff0, s.ff);
    layers_.push_back(std::move(w));
  }
  if (comm_ && kept_slices_.empty() && tok_embd_.data != ck.tensor("token_embd.weight").data)
    drop_mapped_pages(ck);
  backend.set_rope(rope_inv_freq(cfg_, ck.rope_freq_factors), ck.rope_layout);

  // Scratch for this rank's shapes (all of them in a single process).
  const int64_t lnh = s.n_heads, lnkv = s.n_kv_heads, lff = s.ff;
  const size_t T = static_cast<size_t>(max_tokens_), f = sizeof(float);
  x_ = DeviceBuffer(&backend, T * d * f);
  xn_ = DeviceBuffer(&backend, T * d * f);
  q_ = DeviceBuffer(&backend, T * lnh * hd * f);
  k_ = DeviceBuffer(&backend, T * lnkv * hd * f);
  v_ = DeviceBuffer(&backend, T * lnkv * hd * f);
  attn_ = DeviceBuffer(&backend, T * lnh * hd * f);
  tmp_ = DeviceBuffer(&backend, T * std::max(d, lff) * f);
  gate_ = DeviceBuffer(&backend, T * lff * f);
  up_ = DeviceBuffer(&backend, T * lff * f);
  logits_dev_ = DeviceBuffer(&backend, T * s.vocab * f);
}

LlamaModel::~LlamaModel() {
  // Rank 0's model going away ends the run for every rank; an exception on its way out makes
  // their exit code non-zero too.
  if (comm_ && comm_->rank() == 0 && !stopped_) {
    try {
      send_stop(*comm_, std::uncaught_exceptions() > 0 ? 1 : 0);
    } catch (...) {  // the others are gone already: nothing left to tell
    }
  }
}

void LlamaModel::check_tokens(std::span<const int32_t> tokens, const std::string& where) const {
  for (int32_t t : tokens)
    if (t < 0 || t >= cfg_.vocab_size)
      throw Error(where, "token id " + std::to_string(t) + " is out of range (vocabulary size " +
                             std::to_string(cfg_.vocab_size) + ")");
}

// The batch's structure only: its token ids were checked where they entered (check_tokens).
void LlamaModel::check_batch(const BatchInputs& b, const KvCache& kv) const {
  const int n = b.n_tokens();
  if (n == 0 || n > max_tokens_)
    throw Error("forward", "batch of " + std::to_string(n) + " tokens (max " +
                               std::to_string(max_tokens_) + ")");
  const int64_t slots = static_cast<int64_t>(kv.n_blocks()) * kv.block_size();
  for (int i = 0; i < n; ++i)
    if (b.pos[i] < 0 || b.slot[i] < 0 || b.slot[i] >= slots)
      throw Error("forward", "internal: bad position or KV slot");
  for (const auto* rows : {&b.logits_rows, &b.argmax_rows})
    for (int32_t r : *rows)
      if (r < 0 || r >= n) throw Error("forward", "internal: output row out of range");
  if (b.n_out() > max_tokens_) throw Error("forward", "internal: more output rows than tokens");
}

void LlamaModel::forward(const BatchInputs& batch, KvCache& kv, StepResult& out) {
  check_batch(batch, kv);
  if (comm_) {
    if (stopped_) throw Error("forward", "internal: the other ranks have been stopped");
    send_step(*comm_, batch);
  }
  run_step(batch, kv, out);
}

int LlamaModel::run_worker(KvCache& kv) {
  if (!comm_ || comm_->rank() == 0) throw Error("run_worker", "internal: not a worker rank");
  BatchInputs batch;
  StepResult unused;
  int code = 0;
  while (receive_step(*comm_, batch, code)) {
    check_batch(batch, kv);
    run_step(batch, kv, unused);
  }
  stopped_ = true;
  return code;
}

void LlamaModel::all_reduce(float* x, size_t count) {
  if (comm_) backend_.all_reduce_sum(*comm_, x, count);
}

void LlamaModel::run_step(const BatchInputs& batch, KvCache& kv, StepResult& out) {
  Backend& be = backend_;
  const int n = batch.n_tokens();
  // This rank's heads and FFN slice (all of them in a single process).
  const int64_t d = cfg_.hidden, hd = cfg_.head_dim, nh = shard_.n_heads, nkv = shard_.n_kv_heads;
  const int64_t ff = shard_.ff;
  const float eps = static_cast<float>(cfg_.rms_eps);
  AttentionShape shape{static_cast<int>(nh), static_cast<int>(nkv), static_cast<int>(hd),
                       static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};
  const size_t residual = static_cast<size_t>(n) * d;

  be.set_batch(batch);
  float* x = x_.f32();
  be.embed(tok_embd_, x);
  be.rmsnorm(x, layers_.front().attn_norm, eps, n, xn_.f32());
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    const KvLayer& kvl = kv.layer(static_cast<int>(l));
    be.matmul_shared_input({{&w.wq, q_.f32()}, {&w.wk, k_.f32()}, {&w.wv, v_.f32()}}, xn_.f32(), n);
    be.rope_kv_store(q_.f32(), k_.f32(), v_.f32(), kvl, n, static_cast<int>(nh),
                     static_cast<int>(nkv), static_cast<int>(hd));
    be.attention(q_.f32(), kvl, shape, n, attn_.f32());
    be.matmul(w.wo, attn_.f32(), n, tmp_.f32());
    all_reduce(tmp_.f32(), residual);  // tensor parallel: the heads' partial sums meet
    be.add_rmsnorm(x, tmp_.f32(), w.ffn_norm, eps, n, xn_.f32());

    be.matmul_shared_input({{&w.w_gate, gate_.f32()}, {&w.w_up, up_.f32()}}, xn_.f32(), n);
    be.swiglu(gate_.f32(), up_.f32(), static_cast<size_t>(n) * ff, gate_.f32());
    be.matmul(w.w_down, gate_.f32(), n, tmp_.f32());
    all_reduce(tmp_.f32(), residual);  // and the FFN slices'
    // The residual add meets the next layer's input norm; after the last layer, the output norm
    // runs on the gathered rows only.
    if (l + 1 < layers_.size())
      be.add_rmsnorm(x, tmp_.f32(), layers_[l + 1].attn_norm, eps, n, xn_.f32());
    else
      be.add(x, tmp_.f32(), residual);
  }
  output_head(batch, out);
}

// Only the rows asked for go through the output head, and only what was asked comes back: the
// argmax rows' ids (found by the backend where the logits are), the logits rows' floats. Split
// over ranks, each holds a slice of the vocabulary: the argmax is each slice's best, merged on
// rank 0, and full rows are gathered to rank 0 only when a row asks for them.
void LlamaModel::output_head(const BatchInputs& batch, StepResult& out) {
  Backend& be = backend_;
  const int64_t d = cfg_.hidden, V = cfg_.vocab_size, Vl = shard_.vocab;
  const float eps = static_cast<float>(cfg_.rms_eps);
  const int n_logits = static_cast<int>(batch.logits_rows.size());
  const int n_argmax = static_cast<int>(batch.argmax_rows.size());
  out.logits.resize(static_cast<size_t>(n_logits) * V);
  out.argmax.resize(static_cast<size_t>(n_argmax));
  const int m = n_logits + n_argmax;
  if (m == 0) return;
  be.gather_rows(x_.f32(), static_cast<int>(d), tmp_.f32());
  be.rmsnorm(tmp_.f32(), output_norm_, eps, m, xn_.f32());
  be.matmul(output_, xn_.f32(), m, logits_dev_.f32());
  const float* argmax_logits = logits_dev_.f32() + static_cast<size_t>(n_logits) * Vl;
  if (!comm_) {
    if (n_argmax > 0) be.argmax_rows(argmax_logits, n_argmax, V, out.argmax.data());
    if (n_logits > 0)
      be.to_host(out.logits.data(), logits_dev_.f32(), out.logits.size() * sizeof(float));
    return;
  }
  const int ranks = comm_->size();
  const bool root = comm_->rank() == 0;
  if (n_argmax > 0) {
    struct Best {
      float value;
      int32_t id;
    };
    std::vector<int32_t> ids(static_cast<size_t>(n_argmax));
    be.argmax_rows(argmax_logits, n_argmax, Vl, ids.data());
    std::vector<Best> mine(static_cast<size_t>(n_argmax));
    for (int r = 0; r < n_argmax; ++r) {
      be.to_host(&mine[r].value, argmax_logits + static_cast<size_t>(r) * Vl + ids[r],
                 sizeof(float));
      mine[r].id = ids[r] + static_cast<int32_t>(shard_.vocab0);
    }
    std::vector<Best> all(root ? mine.size() * ranks : 0);
    comm_->gather(mine.data(), std::vector<size_t>(ranks, mine.size() * sizeof(Best)), all.data());
    if (root)
      for (int r = 0; r < n_argmax; ++r) {
        // Slices are in vocabulary order, so keeping the first of equal maxima picks the lowest
        // id, as a single process's argmax does.
        Best best = all[static_cast<size_t>(r)];
        for (int k = 1; k < ranks; ++k) {
          const Best& b = all[static_cast<size_t>(k) * n_argmax + r];
          if (b.value > best.value) best = b;
        }
        out.argmax[static_cast<size_t>(r)] = best.id;
      }
  }
  if (n_logits > 0) {
    head_host_.resize(static_cast<size_t>(n_logits) * Vl);
    be.to_host(head_host_.data(), logits_dev_.f32(), head_host_.size() * sizeof(float));
    std::vector<size_t> bytes(static_cast<size_t>(ranks));
    for (int k = 0; k < ranks; ++k) {
      int64_t first = 0, count = 0;
      vocab_range(V, k, ranks, first, count);
      bytes[static_cast<size_t>(k)] = static_cast<size_t>(n_logits * count) * sizeof(float);
    }
    std::vector<float> all(root ? static_cast<size_t>(n_logits) * V : 0);
    comm_->gather(head_host_.data(), bytes, all.data());
    if (root) {
      // Rank k's block holds its columns of every row; interleave them into whole rows.
      const float* src = all.data();
      for (int k = 0; k < ranks; ++k) {
        int64_t first = 0, count = 0;
        vocab_range(V, k, ranks, first, count);
        for (int r = 0; r < n_logits; ++r, src += count)
          std::copy(src, src + count, out.logits.data() + static_cast<size_t>(r) * V + first);
      }
    }
  }
}

}  // namespace hearth
