#pragma once
// The backend contract: everything the model needs from a compute device. The Llama graph is
// written once against this interface; cpu/ and cuda/ implement it. Pointers named "device
// memory" come from alloc() (host memory on the CPU backend).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/checkpoint.h"
#include "format/dtype.h"
#include "format/tensor_view.h"

namespace hearth {

class Communicator;

// A weight matrix [rows, cols] (vectors: rows = 1) in the backend's memory, y = W x.
struct Weight {
  std::string name;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  const void* data = nullptr;
  // 0: data holds the rows as the file does. A backend that rearranges a weight at upload (into
  // its kernels' layout) sets its own nonzero tag; then only that backend's kernels read data.
  int layout = 0;
};

// One forward step's inputs, host side (runtime/batch_builder.h builds them). Token i belongs to
// sequence seq[i] at position pos[i] and writes its K/V into cache slot slot[i] (block *
// block_size + offset). Sequence s reads its keys through blocks
// block_tables[table_offset[s] .. table_offset[s + 1]).
//
// The step hands back results for the rows listed here only (token indices into this batch): the
// full logits of logits_rows (a row that samples, wants logprobs or runs a constraint), and just
// the index of the largest logit of argmax_rows (greedy decoding: found on the device, so 4 bytes
// a row come back instead of the vocabulary's floats). gather_rows() takes logits_rows, then
// argmax_rows, in that order.
struct BatchInputs {
  std::vector<int32_t> tokens;
  std::vector<int32_t> pos;
  std::vector<int32_t> seq;
  std::vector<int32_t> slot;
  std::vector<int32_t> block_tables;
  std::vector<int32_t> table_offset;
  std::vector<int32_t> logits_rows;
  std::vector<int32_t> argmax_rows;
  int32_t block_size = 16;
  int n_tokens() const { return static_cast<int>(tokens.size()); }
  int n_out() const { return static_cast<int>(logits_rows.size() + argmax_rows.size()); }
};

// One product of several that read the same input: y = w x.
struct MatmulOut {
  const Weight* w;
  float* y;
};

struct AttentionShape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
};

// Per-layer K and V storage: [n_slots, n_kv_heads, head_dim] elements of `dtype` each (F32, or
// F16 where the backend supports it: half the memory and half the bytes attention reads), device
// memory.
struct KvLayer {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::F32;
};

// How a device backend's decode steps ran as captured graphs (bench reports it).
struct GraphStats {
  bool enabled = false;    // on at the end of the run
  int64_t captured = 0;    // steps captured into a new graph
  int64_t replayed = 0;    // steps run as one graph launch
  int64_t diverged = 0;    // replays abandoned because a call differed from the capture
  std::string off_reason;  // why graphs are off, when they are
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual bool supports(DType weight_type) const = 0;
  // Element types this backend can keep the KV cache in.
  virtual bool supports_kv(DType t) const { return t == DType::F32; }

  // Weights: the CPU backend keeps views into the mapped file; a GPU backend copies once. A
  // one-dimensional tensor (a norm weight) comes back as F32 whatever its file type: converted
  // here, once, so rmsnorm never converts per call.
  virtual Weight upload(const TensorView& t) = 0;

  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* p) = 0;
  virtual void to_host(void* dst, const void* src, size_t bytes) = 0;

  // RoPE frequencies per rotated pair (head_dim / 2 of them) and the pair layout; set once.
  virtual void set_rope(const std::vector<float>& inv_freq, RopeLayout layout) = 0;
  // Makes the step's token ids, positions, block tables and output rows readable by the kernels.
  // A backend may keep a reference instead of a copy: the caller keeps `batch` alive and
  // unchanged until the step's results are read.
  virtual void set_batch(const BatchInputs& batch) = 0;

  // All activations are float32 rows; n is the number of rows (tokens).
  virtual void embed(const Weight& table, float* out) = 0;  // rows of the batch's tokens
  virtual void rmsnorm(const float* x, const Weight& w, float eps, int n, float* out) = 0;  // w F32
  virtual void matmul(const Weight& w, const float* x, int n, float* y) = 0;  // y[n, rows]
  // Several matrices of the same width applied to one input (Q/K/V, gate/up). A backend may share
  // the input's conversion and one dispatch between them; results equal separate matmul calls.
  virtual void matmul_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) {
    for (const MatmulOut& o : outs) matmul(*o.w, x, n, o.y);
  }
  virtual void rope(float* x, int n, int n_heads, int head_dim) = 0;  // in place, batch positions
  virtual void kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) = 0;
  virtual void attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                         float* out) = 0;
  virtual void swiglu(const float* gate, const float* up, size_t count, float* out) = 0;
  virtual void add(float* x, const float* y, size_t count) = 0;
  // Fused forms of common sequences, for backends where each op costs a launch; the defaults run
  // the plain ops. x += y, then out = rmsnorm(x) * w:
  virtual void add_rmsnorm(float* x, const float* y, const Weight& w, float eps, int n,
                           float* out) {
    add(x, y, static_cast<size_t>(n) * static_cast<size_t>(w.cols));
    rmsnorm(x, w, eps, n, out);
  }
  // RoPE on q and k in place, then k and v into the cache at the batch's slots:
  virtual void rope_kv_store(float* q, float* k, const float* v, const KvLayer& kv, int n,
                             int n_heads, int n_kv_heads, int head_dim) {
    rope(q, n, n_heads, head_dim);
    rope(k, n, n_kv_heads, head_dim);
    kv_store(kv, k, v, n, n_kv_heads * head_dim);
  }
  // out[r] = x[row r of the batch's outputs: logits_rows, then argmax_rows], dim floats each.
  virtual void gather_rows(const float* x, int dim, float* out) = 0;

  // Tensor parallelism. join_ranks() runs once on every rank together, before any step: a backend
  // that sums over ranks by its own means (NCCL between GPUs) sets that up here, over `comm`; one
  // that cannot take part throws. all_reduce_sum() sums x[0..count) (device memory) over every
  // rank, in place, in order with the backend's other ops. The defaults suit a backend whose
  // device memory is host memory: the communicator reads it directly.
  virtual void join_ranks(Communicator& comm) { (void)comm; }
  virtual void all_reduce_sum(Communicator& comm, float* x, size_t count);

  // Host -> device copy into memory from alloc() (tests, tools); a plain copy on the CPU.
  virtual void from_host(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  // The device's own measured memory bandwidth (GB/s) for bench's decode limit; nullopt where the
  // host's read bandwidth is the one that counts (the CPU backend).
  virtual std::optional<double> device_bandwidth_gbs() { return std::nullopt; }
  // The device's measured bf16 matrix-multiply rate (TFLOP/s), the ceiling for prefill; nullopt on
  // the CPU backend.
  virtual std::optional<double> device_bf16_tflops() { return std::nullopt; }
  // The device's own name ("NVIDIA H200"); the backend's name where there is none.
  virtual std::string device_name() const { return name(); }
  // Decode steps as graphs, where the backend has them.
  virtual std::optional<GraphStats> graph_stats() const { return std::nullopt; }
  // Greedy sampling: out[r] = index of the first maximum of row r of x[rows, cols] (device
  // memory), as torch.argmax picks ties. Done where the logits are, so one int per row comes
  // back to the host instead of the row; this fallback copies the rows (backends override it).
  virtual void argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int r = 0; r < rows; ++r) {
      to_host(row.data(), x + static_cast<size_t>(r) * cols, row.size() * sizeof(float));
      int32_t best = 0;
      for (int64_t c = 1; c < cols; ++c)
        if (row[c] > row[best]) best = static_cast<int32_t>(c);
      out_host[r] = best;
    }
  }
};

// Owns one allocation made through a backend.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* b, size_t bytes)
      : backend_(b), ptr_(bytes ? b->alloc(bytes) : nullptr), bytes_(bytes) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_;
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  float* f32() const { return static_cast<float*>(ptr_); }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  void reset() {
    if (ptr_ && backend_) backend_->free(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

 private:
  Backend* backend_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct BackendOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: all cores
  // CPU: read the weights where the file is mapped instead of copying them into memory the
  // process owns (for machines short of memory; the page cache's pages read slower).
  bool mmap_weights = false;
};

std::unique_ptr<Backend> make_backend(const BackendOptions& opts);

}  // namespace hearth
