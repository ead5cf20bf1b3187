#include "model/llama.h"

#include <algorithm>
#include <cmath>

#include "model/rope.h"
#include "util/error.h"

namespace hearth {

namespace {

Weight load(Backend& be, const Checkpoint& ck, const std::string& name,
            const std::vector<int64_t>& shape) {
  const TensorView& t = ck.tensor(name);
  // Norm vectors: accept [n] (HF, GGUF) and nothing else.
  if (t.shape != shape) {
    const char* src = ck.format == CheckpointFormat::Gguf ? "the GGUF metadata" : "config.json";
    throw Error(t.file, "tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " +
                            shape_str(shape) + " from " + src);
  }
  return be.upload(t);
}

}  // namespace

LlamaModel::LlamaModel(const Checkpoint& ck, Backend& backend, int max_batch_tokens)
    : cfg_(ck.config), backend_(backend), max_tokens_(std::max(1, max_batch_tokens)) {
  const int64_t d = cfg_.hidden, hd = cfg_.head_dim, nh = cfg_.n_heads, nkv = cfg_.n_kv_heads;
  const int64_t ff = cfg_.intermediate, V = cfg_.vocab_size;
  tok_embd_ = load(backend, ck, "token_embd.weight", {V, d});
  output_norm_ = load(backend, ck, "output_norm.weight", {d});
  if (ck.has("output.weight")) {
    output_ = load(backend, ck, "output.weight", {V, d});
  } else if (cfg_.tie_embeddings) {
    output_ = tok_embd_;
  } else {
    throw Error(ck.path, "missing tensor 'output.weight' (lm_head) and embeddings are not tied");
  }
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights w;
    w.attn_norm = load(backend, ck, p + "attn_norm.weight", {d});
    w.wq = load(backend, ck, p + "attn_q.weight", {nh * hd, d});
    w.wk = load(backend, ck, p + "attn_k.weight", {nkv * hd, d});
    w.wv = load(backend, ck, p + "attn_v.weight", {nkv * hd, d});
    w.wo = load(backend, ck, p + "attn_output.weight", {d, nh * hd});
    w.ffn_norm = load(backend, ck, p + "ffn_norm.weight", {d});
    w.w_gate = load(backend, ck, p + "ffn_gate.weight", {ff, d});
    w.w_up = load(backend, ck, p + "ffn_up.weight", {ff, d});
    w.w_down = load(backend, ck, p + "ffn_down.weight", {d, ff});
    layers_.push_back(std::move(w));
  }
  backend.set_rope(rope_inv_freq(cfg_, ck.rope_freq_factors), ck.rope_layout);

  const size_t T = static_cast<size_t>(max_tokens_), f = sizeof(float);
  x_ = DeviceBuffer(&backend, T * d * f);
  xn_ = DeviceBuffer(&backend, T * d * f);
  q_ = DeviceBuffer(&backend, T * nh * hd * f);
  k_ = DeviceBuffer(&backend, T * nkv * hd * f);
  v_ = DeviceBuffer(&backend, T * nkv * hd * f);
  attn_ = DeviceBuffer(&backend, T * nh * hd * f);
  tmp_ = DeviceBuffer(&backend, T * std::max(d, ff) * f);
  gate_ = DeviceBuffer(&backend, T * ff * f);
  up_ = DeviceBuffer(&backend, T * ff * f);
  logits_dev_ = DeviceBuffer(&backend, T * V * f);
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
  Backend& be = backend_;
  const int n = batch.n_tokens();
  const int64_t d = cfg_.hidden, hd = cfg_.head_dim, nh = cfg_.n_heads, nkv = cfg_.n_kv_heads;
  const int64_t ff = cfg_.intermediate, V = cfg_.vocab_size;
  const float eps = static_cast<float>(cfg_.rms_eps);
  AttentionShape shape{static_cast<int>(nh), static_cast<int>(nkv), static_cast<int>(hd),
                       static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};

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
    be.matmul(w.wo, attn_.f32(), n, tmp_.f32());  // tensor-parallel: partial sums meet here
    be.add_rmsnorm(x, tmp_.f32(), w.ffn_norm, eps, n, xn_.f32());

    be.matmul_shared_input({{&w.w_gate, gate_.f32()}, {&w.w_up, up_.f32()}}, xn_.f32(), n);
    be.swiglu(gate_.f32(), up_.f32(), static_cast<size_t>(n) * ff, gate_.f32());
    be.matmul(w.w_down, gate_.f32(), n, tmp_.f32());  // tensor-parallel: and here
    // The residual add meets the next layer's input norm; after the last layer, the output norm
    // runs on the gathered rows only.
    if (l + 1 < layers_.size())
      be.add_rmsnorm(x, tmp_.f32(), layers_[l + 1].attn_norm, eps, n, xn_.f32());
    else
      be.add(x, tmp_.f32(), static_cast<size_t>(n) * d);
  }
  // Only the rows asked for go through the output head, and only what was asked comes back: the
  // argmax rows' ids (found by the backend where the logits are), the logits rows' floats.
  const int n_logits = static_cast<int>(batch.logits_rows.size());
  const int n_argmax = static_cast<int>(batch.argmax_rows.size());
  out.logits.resize(static_cast<size_t>(n_logits) * V);
  out.argmax.resize(static_cast<size_t>(n_argmax));
  const int m = n_logits + n_argmax;
  if (m == 0) return;
  be.gather_rows(x, static_cast<int>(d), tmp_.f32());
  be.rmsnorm(tmp_.f32(), output_norm_, eps, m, xn_.f32());
  be.matmul(output_, xn_.f32(), m, logits_dev_.f32());
  if (n_argmax > 0)
    be.argmax_rows(logits_dev_.f32() + static_cast<size_t>(n_logits) * V, n_argmax, V,
                   out.argmax.data());
  if (n_logits > 0)
    be.to_host(out.logits.data(), logits_dev_.f32(), out.logits.size() * sizeof(float));
}

}  // namespace hearth
