#pragma once
// The CUDA implementation of the backend contract, for one NVIDIA GPU. Weights are copied to the
// device once at upload, in the layouts of blocks.cuh (GGUF blocks, with Q4_0/Q8_0/Q6_K rows
// repacked for aligned loads); activations are float32 device memory, the KV cache float32, f16 or
// bf16. Everything runs in order on one stream; to_host synchronizes. Decode steps run as CUDA
// graphs (HEARTH_CUDA_GRAPHS=0 turns that off). Under mpirun each rank drives its own GPU and
// the model's partial sums meet through NCCL (nccl_ranks.h), queued on the same stream. This header
// names no CUDA type, so host-only code (make_backend, tests) can include it.
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"

struct CUstream_st;
struct cublasContext;

namespace hearth {
namespace cuda {
class StepGraphs;
class OpTimer;
class NcclRanks;
}  // namespace cuda

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
  bool supports_kv(DType t) const override;
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
  void matmul_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) override;
  void rope(float* x, int n, int n_heads, int head_dim) override;
  void kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) override;
  void attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                 float* out) override;
  void swiglu(const float* gate, const float* up, size_t count, float* out) override;
  void add(float* x, const float* y, size_t count) override;
  void add_rmsnorm(float* x, const float* y, const Weight& w, float eps, int n,
                   float* out) override;
  void rope_kv_store(float* q, float* k, const float* v, const KvLayer& kv, int n, int n_heads,
                     int n_kv_heads, int head_dim) override;
  void gather_rows(const float* x, int dim, float* out) override;
  // Tensor parallelism over NCCL (where hearth was built with it): one GPU per rank.
  void join_ranks(Communicator& comm) override;
  void all_reduce_sum(Communicator& comm, float* x, size_t count) override;

  std::optional<double> device_bandwidth_gbs() override;
  std::optional<double> device_bf16_tflops() override;
  std::optional<GraphStats> graph_stats() const override;
  void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) override;

  // The GPU's name, e.g. "NVIDIA H100 80GB HBM3".
  std::string device_name() const override;

 private:
  void release() noexcept;  // frees everything; safe on a partly constructed backend
  // Grows a scratch allocation to at least `bytes` (contents not kept).
  void* scratch(void*& p, size_t& cap, size_t bytes);
  // Matmuls through cuBLAS; x converted once for all of outs.
  void gemm_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n);
  void gemv_launch(const std::vector<MatmulOut>& outs, const float* x, int n);
  void gemm_quant_launch(const MatmulOut& o, const float* x, int n);
  // Waits for the stream; under tensor parallelism, by polling, so a lost rank ends the wait.
  void synchronize();

  int device_ = 0;
  int sm_count_ = 132;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  void* cublas_ws_ = nullptr;
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
  size_t off_tiles_ = 0;
  int n_tiles_ = 0;  // prompt tiles for the tensor-core attention (0: not this step)
  void* batch_dev_ = nullptr;
  size_t batch_cap_ = 0;
  void* staging_ = nullptr;  // file-layout bytes of a tensor being repacked at upload
  size_t staging_cap_ = 0;
  void* w_scratch_ = nullptr;  // f16 copy of a quantized weight during a prefill matmul
  size_t w_scratch_cap_ = 0;
  void* x_scratch_ = nullptr;  // activations converted for cuBLAS: f16 part, then bf16 part
  size_t x_scratch_cap_ = 0;
  void* act_scratch_ = nullptr;  // activations quantized for the quantized GEMV
  size_t act_scratch_cap_ = 0;
  void* split_scratch_ = nullptr;  // partial sums of gemm_quant's column splits
  size_t split_scratch_cap_ = 0;
  void* y_scratch_ = nullptr;  // the hi and lo halves' products of a split GEMM
  size_t y_scratch_cap_ = 0;
  void* attn_scratch_ = nullptr;  // flash-decoding partial results
  size_t attn_scratch_cap_ = 0;
  void* argmax_dev_ = nullptr;
  size_t argmax_cap_ = 0;
  std::optional<double> bandwidth_;
  std::optional<double> bf16_tflops_;
  // Decode steps captured as CUDA graphs; every op goes through it.
  std::unique_ptr<cuda::StepGraphs> graphs_;
  std::unique_ptr<cuda::OpTimer> timer_;  // HEARTH_CUDA_PROFILE=1
  // Set by join_ranks. A shared_ptr binds its deleter where it is made, so a build without NCCL
  // never needs the type.
  std::shared_ptr<cuda::NcclRanks> nccl_;
};

}  // namespace hearth
