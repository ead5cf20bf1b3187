#pragma once
// The CPU implementation of the backend contract. Weights are copied into memory the process owns
// (huge pages requested), or, with mmap_weights, read where the file is mapped; activations and
// the KV cache are ordinary aligned host memory; kernels split rows across a thread pool.
#include <deque>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "util/thread_pool.h"
#include "util/weight_arena.h"

namespace hearth {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int threads, bool mmap_weights = false);
  std::string name() const override { return "cpu"; }
  bool supports(DType t) const override;
  bool supports_kv(DType t) const override { return t == DType::F32 || t == DType::F16; }
  Weight upload(const TensorView& t) override;
  void* alloc(size_t bytes) override;
  void free(void* p) override;
  void to_host(void* dst, const void* src, size_t bytes) override;

  void set_rope(const std::vector<float>& inv_freq, RopeLayout layout) override;
  void set_batch(const BatchInputs& batch) override;

  void embed(const Weight& table, float* out) override;
  void rmsnorm(const float* x, const Weight& w, float eps, int n, float* out) override;
  void matmul(const Weight& w, const float* x, int n, float* y) override;
  void matmul_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) override;
  void rope(float* x, int n, int n_heads, int head_dim) override;
  void kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) override;
  void attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                 float* out) override;
  void swiglu(const float* gate, const float* up, size_t count, float* out) override;
  void add(float* x, const float* y, size_t count) override;
  void gather_rows(const float* x, int dim, float* out) override;
  void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) override;

  ThreadPool& pool() { return pool_; }

  // Weight::layout of a matrix held as the prepacked panels (gemm.h) of the GEMM kernel of SIMD
  // level L: kLayoutGemmPanels + L. Products keep using that kernel if the level changes later.
  static constexpr int kLayoutGemmPanels = 0x100;

 private:
  // The prefill path: false when this weight type or token count has no GEMM kernel. Products of
  // one input share `packed_for` (the kernel whose packing the workspace holds) to pack it once.
  bool try_gemm(const Weight& w, const float* x, int n, float* y, const void** packed_for);

  ThreadPool pool_;
  std::vector<float> inv_freq_;
  RopeLayout rope_layout_ = RopeLayout::Halves;
  const BatchInputs* batch_ = nullptr;  // the caller's, alive until the step's results are read
  std::vector<float> cos_, sin_;        // [n_tokens, head_dim / 2] for the current batch
  bool mmap_weights_;
  WeightArena arena_;               // the weights' copies (unless mmap_weights)
  std::deque<DeviceBuffer> owned_;  // with mmap_weights: weights the file left misaligned; norms
  // Quantized activations, GEMM workspace and panels; grows only.
  std::vector<uint8_t> act_scratch_;
};

}  // namespace hearth
