#pragma once
// The CUDA implementation of the backend contract, for one NVIDIA GPU. Weights are copied to the
// device once at upload, in their file layout (GGUF blocks stay blocks); activations and the KV
// cache are float32 device memory. Everything runs in order on one stream; to_host synchronizes.
// This header names no CUDA type, so host-only code (make_backend, tests) can include it.
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"

struct CUstream_st;
struct cublasContext;

namespace hearth {
namespace cuda {
class StepGraphs;
}

// Devices the CUDA runtime sees; 0 when there is no driver or no GPU (never throws).
int cuda_device_count();

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int device = 0);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  bool supports(DType t) const override;
  Weight upload(const TensorView& t) override;
  void* alloc(size_t bytes) override;
  void free(void* p) override;
  void to_host(void* dst, const void* src, size_t bytes) override;
  void from_host(void* dst, const void* src, size_t bytes) override;

  void set_rope(const std::vector<float>& inv_freq, RopeLayout layout) override;
  void set_batch(const BatchInputs& batch) override;

  void embed(const Weight& table, float* out) override;
  void rmsnorm(const float* x, const Weight& w, float eps, int n, float* out) override;
  void matmul(const Weight& w, const float* x, int n, float* y) override;
  void rope(float* x, int n, int n_heads, int head_dim) override;
  void kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) override;
  void attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                 float* out) override;
  void swiglu(const float* gate, const float* up, size_t count, float* out) override;
  void add(float* x, const float* y, size_t count) override;
  void gather_rows(const float* x, int dim, float* out) override;

  std::optional<double> device_bandwidth_gbs() override;
  void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) override;

  // The GPU's name, e.g. "NVIDIA H100 80GB HBM3".
  std::string device_name() const;

 private:
  void release() noexcept;  // frees everything; safe on a partly constructed backend
  // Grows a scratch allocation to at least `bytes` (contents not kept).
  void* scratch(void*& p, size_t& cap, size_t bytes);
  void gemm(const Weight& w, const float* x, int n, float* y);

  int device_ = 0;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  std::vector<void*> weights_;  // uploaded tensors, freed with the backend
  size_t uploaded_ = 0;         // their bytes
  bool progress_shown_ = false;
  float* inv_freq_ = nullptr;
  size_t rope_pairs_ = 0;
  bool interleaved_ = false;
  // The current batch: host copy of the sizes, device copy of the arrays (one allocation).
  int n_tokens_ = 0;
  int block_size_ = 16;
  int max_len_ = 0;  // longest context in the batch: max position + 1
  std::vector<int32_t> batch_host_;
  size_t off_pos_ = 0, off_seq_ = 0, off_slot_ = 0, off_tables_ = 0, off_table_offset_ = 0;
  size_t off_out_rows_ = 0;  // the batch's logits_rows then argmax_rows, for gather_rows
  int n_out_ = 0;
  void* batch_dev_ = nullptr;
  size_t batch_cap_ = 0;
  void* w_scratch_ = nullptr;  // f16 copy of a quantized weight during a prefill matmul
  size_t w_scratch_cap_ = 0;
  void* x_scratch_ = nullptr;  // activations converted for cuBLAS
  size_t x_scratch_cap_ = 0;
  void* attn_scratch_ = nullptr;  // flash-decoding partial results
  size_t attn_scratch_cap_ = 0;
  void* argmax_dev_ = nullptr;
  size_t argmax_cap_ = 0;
  std::optional<double> bandwidth_;
  // Decode steps captured as CUDA graphs (HEARTH_CUDA_GRAPHS=1); every op goes through it.
  std::unique_ptr<cuda::StepGraphs> graphs_;
};

}  // namespace hearth
