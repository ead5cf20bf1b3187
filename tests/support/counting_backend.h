#pragma once
// A backend that forwards every call to another and counts the bytes that come back to the host
// (to_host, argmax_rows' ids): what a step costs in device-to-host traffic, whatever the device.
#include <cstddef>
#include <memory>

#include "backend/backend.h"

namespace hearth::testing {

class CountingBackend : public Backend {
 public:
  explicit CountingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

  size_t bytes_to_host() const { return bytes_to_host_; }
  int to_host_calls() const { return to_host_calls_; }
  void reset_counts() {
    bytes_to_host_ = 0;
    to_host_calls_ = 0;
  }

  std::string name() const override { return inner_->name(); }
  bool supports(DType t) const override { return inner_->supports(t); }
  bool supports_kv(DType t) const override { return inner_->supports_kv(t); }
  Weight upload(const TensorView& t) override { return inner_->upload(t); }
  void* alloc(size_t bytes) override { return inner_->alloc(bytes); }
  void free(void* p) override { inner_->free(p); }
  void to_host(void* dst, const void* src, size_t bytes) override {
    bytes_to_host_ += bytes;
    ++to_host_calls_;
    inner_->to_host(dst, src, bytes);
  }
  void from_host(void* dst, const void* src, size_t bytes) override {
    inner_->from_host(dst, src, bytes);
  }
  void set_rope(const std::vector<float>& inv_freq, RopeLayout layout) override {
    inner_->set_rope(inv_freq, layout);
  }
  void set_batch(const BatchInputs& batch) override { inner_->set_batch(batch); }
  void embed(const Weight& table, float* out) override { inner_->embed(table, out); }
  void rmsnorm(const float* x, const Weight& w, float eps, int n, float* out) override {
    inner_->rmsnorm(x, w, eps, n, out);
  }
  void matmul(const Weight& w, const float* x, int n, float* y) override {
    inner_->matmul(w, x, n, y);
  }
  void matmul_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) override {
    inner_->matmul_shared_input(outs, x, n);
  }
  void rope(float* x, int n, int n_heads, int head_dim) override {
    inner_->rope(x, n, n_heads, head_dim);
  }
  void kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) override {
    inner_->kv_store(kv, k, v, n, kv_dim);
  }
  void attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                 float* out) override {
    inner_->attention(q, kv, shape, n, out);
  }
  void swiglu(const float* gate, const float* up, size_t count, float* out) override {
    inner_->swiglu(gate, up, count, out);
  }
  void add(float* x, const float* y, size_t count) override { inner_->add(x, y, count); }
  void gather_rows(const float* x, int dim, float* out) override {
    inner_->gather_rows(x, dim, out);
  }
  std::optional<double> device_bandwidth_gbs() override { return inner_->device_bandwidth_gbs(); }
  void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) override {
    bytes_to_host_ += static_cast<size_t>(rows) * sizeof(int32_t);
    inner_->argmax_rows(x, rows, cols, out_host);
  }

 private:
  std::unique_ptr<Backend> inner_;
  size_t bytes_to_host_ = 0;
  int to_host_calls_ = 0;
};

}  // namespace hearth::testing
