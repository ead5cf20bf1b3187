#include "backend/cuda/cuda_backend.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend/cuda/blocks.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/op_timer.h"
#include "backend/cuda/step_graph.h"
#include "parallel/communicator.h"
#include "parallel/world.h"
#ifdef HEARTH_HAVE_NCCL
#include "backend/cuda/nccl_ranks.h"
#endif

namespace hearth {

namespace {

// Ops, numbered for the call signatures of captured decode steps.
enum Op : uint64_t {
  kEmbed = 1,
  kRmsNorm,
  kGemv,
  kRope,
  kKvStore,
  kAttention,
  kSwiglu,
  kAdd,
  kGather,
  kArgmax,
  kAddRmsNorm,
  kRopeKvStore,
  kGemm,
  kGemmQuant,
  kAllReduce
};

// Steps of at most this many tokens (decoding, alone or batched) may run as graphs; longer ones
// are prompt chunks, each of a shape seldom seen again.
constexpr int kGraphMaxTokens = 64;

// cuBLAS's workspace: 32 MiB, NVIDIA's advice for Hopper.
constexpr size_t kCublasWorkspace = size_t{32} << 20;

template <class T>
uint64_t word(T v) {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<uintptr_t>(v);
  } else if constexpr (std::is_same_v<T, float>) {
    return std::bit_cast<uint32_t>(v);
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<uint64_t>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? 1 : 0;
  } else {
    static_assert(std::is_integral_v<T>);
    return static_cast<uint64_t>(v);
  }
}

template <class... A>
cuda::OpSig sig(Op op, A... args) {
  cuda::SigHash h;
  h.add(static_cast<uint64_t>(op));
  (h.add(word(args)), ...);
  return h.value();
}

// A backend op: launched straight away in the ordinary (eager) case, with no allocation (timed
// when profiling); while a decode step is replayed, only its signature is checked against the
// capture (a hash: no allocation either); while one is captured, it is recorded.
template <class Label, class Run, class... A>
void dispatch(cuda::StepGraphs& graphs, cuda::OpTimer& timer, const Label& label, const Run& run,
              Op op, A... args) {
  if (!graphs.active()) {
    if (!timer.on()) return run();
    timer.before(label());
    run();
    timer.after();
    return;
  }
  const cuda::OpSig s = sig(op, args...);
  if (graphs.try_replay(s)) return;
  graphs.call(s, run);
}

std::string shape_label(const char* op, DType t, int64_t rows, int64_t cols, int n) {
  return std::string(op) + " " + dtype_name(t) + " " + std::to_string(rows) + "x" +
         std::to_string(cols) + " n" + std::to_string(n);
}

// Batch arrays live in one device allocation of at least this many ints, so that a growing
// sequence does not move them (a captured step keeps pointing at them).
constexpr size_t kMinBatchInts = size_t{1} << 16;

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver / no device: clear the sticky error, report none
    return 0;
  }
  return n;
}

CudaBackend::CudaBackend(int device) : device_(device) {
  try {
    HEARTH_CUDA_CHECK(cudaSetDevice(device_));
    HEARTH_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_));
    // A blocking stream: the legacy default stream (synchronous cudaMemcpy) orders with it.
    cudaStream_t s = nullptr;
    HEARTH_CUDA_CHECK(cudaStreamCreate(&s));
    stream_ = s;
    cublasHandle_t h = nullptr;
    HEARTH_CUBLAS_CHECK(cublasCreate(&h));
    cublas_ = h;
    HEARTH_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // A workspace of our own: cuBLAS then allocates nothing inside a captured step.
    HEARTH_CUDA_CHECK(cudaMalloc(&cublas_ws_, kCublasWorkspace));
    HEARTH_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_ws_, kCublasWorkspace));
    // Plain float32 SGEMM (no TF32): F32 weights are the reference path.
    HEARTH_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    const char* env = std::getenv("HEARTH_CUDA_GRAPHS");
    graphs_ = std::make_unique<cuda::StepGraphs>(stream_, env == nullptr || env[0] != '0');
    timer_ = std::make_unique<cuda::OpTimer>(stream_);
  } catch (...) {
    release();
    throw;
  }
}

CudaBackend::~CudaBackend() {
  release();
}

void CudaBackend::release() noexcept {
  // Also runs from the destructor: errors here can only be ignored.
  graphs_.reset();  // ends a capture in progress; before NCCL, which waits for its graphs to go
  timer_.reset();   // prints the profile, if one was asked for
#ifdef HEARTH_HAVE_NCCL
  // The queued all-reduces finish before the communicator is finalized; after an abort the stream
  // may hold one that never ends: no waiting on it.
  const bool stuck = nccl_ && nccl_->aborted();
  if (stream_ && !stuck) cudaStreamSynchronize(stream_);
  nccl_.reset();
#else
  if (stream_) cudaStreamSynchronize(stream_);
#endif
  for (void* p : weights_) cudaFree(p);
  weights_.clear();
  for (void* p : {static_cast<void*>(inv_freq_), batch_dev_, staging_, w_scratch_, x_scratch_,
                  argmax_dev_, attn_scratch_, act_scratch_, y_scratch_, split_scratch_})
    if (p) cudaFree(p);
  inv_freq_ = nullptr;
  batch_dev_ = staging_ = w_scratch_ = x_scratch_ = argmax_dev_ = attn_scratch_ = act_scratch_ =
      y_scratch_ = split_scratch_ = nullptr;
  if (cublas_) cublasDestroy(cublas_);
  cublas_ = nullptr;
  if (cublas_ws_) cudaFree(cublas_ws_);
  cublas_ws_ = nullptr;
  if (stream_) cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

bool CudaBackend::supports(DType t) const {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

bool CudaBackend::supports_kv(DType t) const {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

Weight CudaBackend::upload(const TensorView& t) {
  if (!supports(t.dtype))
    throw Error(t.file, "tensor '" + t.name + "' has a type the CUDA backend does not read (" +
                            dtype_name(t.dtype) + ")");
  Weight w;
  w.name = t.name;
  w.dtype = t.dtype;
  w.rows = t.shape.size() >= 2 ? t.shape[0] : 1;
  w.cols = t.shape.empty() ? 0 : t.shape.back();
  graphs_->abandon();
  if (w.cols % cuda::block_elems(t.dtype) != 0)
    throw Error(t.file, "tensor '" + t.name + "': row length " + std::to_string(w.cols) +
                            " is not a whole number of blocks");
  const size_t file_bytes = cuda::file_row_bytes(t.dtype, w.cols) * static_cast<size_t>(w.rows);
  if (file_bytes != t.nbytes)
    throw Error(t.file, "tensor '" + t.name + "': " + std::to_string(t.nbytes) +
                            " bytes for its shape and type, expected " +
                            std::to_string(file_bytes));
  // A norm weight (one dimension) is converted to F32 here, once, as the contract says.
  std::vector<float> converted;
  TensorView norm_f32;
  if (t.shape.size() == 1 && t.dtype != DType::F32) {
    if (cuda::repacked(t.dtype))
      throw Error(t.file, "tensor '" + t.name + "': a one-dimensional " + dtype_name(t.dtype) +
                              " tensor (norm weights are F32, F16 or BF16)");
    converted.resize(static_cast<size_t>(w.cols));
    for (int64_t i = 0; i < w.cols; ++i)
      converted[static_cast<size_t>(i)] =
          cuda::load_elem(t.dtype, static_cast<const uint8_t*>(t.data), w.cols, i);
    norm_f32 = t;
    norm_f32.dtype = w.dtype = DType::F32;
    norm_f32.data = reinterpret_cast<const uint8_t*>(converted.data());
    norm_f32.nbytes = converted.size() * sizeof(float);
  }
  const TensorView& v = converted.empty() ? t : norm_f32;
  const size_t nbytes = v.nbytes;
  const bool repack = cuda::repacked(v.dtype);
  const bool bf16 = v.dtype == DType::BF16;
  void* p = alloc(cuda::row_bytes(v.dtype, w.cols) * static_cast<size_t>(w.rows));
  try {
    if (repack || bf16) {
      // The legacy-stream copy waits for the last kernel that read the staging buffer.
      scratch(staging_, staging_cap_, v.nbytes + 16);
      HEARTH_CUDA_CHECK(cudaMemcpy(staging_, v.data, v.nbytes, cudaMemcpyHostToDevice));
    }
    if (repack) {
      cuda::repack_rows(v.dtype, staging_, w.rows, w.cols, p, stream_);
    } else if (bf16) {
      // bf16 weights are kept as f16, which holds every bf16 value of a weight's range exactly:
      // prefill can then multiply them with f16 activations (8 more bits than bf16's) in one
      // tensor-core GEMM. With bf16 activations devA's logits move by 0.036 from float32, past the
      // GPU's 2e-2 bound. A tensor with values beyond f16's range stays bf16.
      // The overflow flag: an int just past the tensor's bytes in the staging buffer.
      int* flag = reinterpret_cast<int*>(static_cast<uint8_t*>(staging_) + (v.nbytes + 3) / 4 * 4);
      HEARTH_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream_));
      cuda::bf16_to_f16(staging_, v.nbytes / 2, p, flag, stream_);
      int overflow = 0;
      HEARTH_CUDA_CHECK(
          cudaMemcpyAsync(&overflow, flag, sizeof(int), cudaMemcpyDeviceToHost, stream_));
      HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (overflow)
        HEARTH_CUDA_CHECK(cudaMemcpy(p, v.data, v.nbytes, cudaMemcpyHostToDevice));
      else
        w.dtype = DType::F16;
    } else {
      HEARTH_CUDA_CHECK(cudaMemcpy(p, v.data, v.nbytes, cudaMemcpyHostToDevice));
    }
  } catch (...) {
    free(p);
    throw;
  }
  weights_.push_back(p);
  // An 8B model takes seconds to copy: show the progress on a terminal, erased by the first step.
  const size_t step = size_t{512} << 20, before = uploaded_;
  uploaded_ += nbytes;
  if (uploaded_ / step != before / step && isatty(2)) {
    std::fprintf(stderr, "\ruploading weights to the GPU: %.1f GiB", uploaded_ / 1073741824.0);
    std::fflush(stderr);
    progress_shown_ = true;
  }
  w.data = p;
  return w;
}

void* CudaBackend::alloc(size_t bytes) {
  graphs_->abandon();
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 256));
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error("cuda", "cannot allocate " + std::to_string(bytes >> 20) +
                            " MiB of device memory: " + cudaGetErrorString(e));
  }
  return p;
}

void CudaBackend::free(void* p) {
  if (!p) return;
  try {
    graphs_->abandon();
  } catch (const std::exception& e) {  // called from destructors: report, do not throw
    std::fprintf(stderr, "hearth: %s\n", e.what());
  }
  const cudaError_t e = cudaFree(p);
  if (e != cudaSuccess)
    std::fprintf(stderr, "hearth: cudaFree failed: %s\n", cudaGetErrorString(e));
}

void CudaBackend::to_host(void* dst, const void* src, size_t bytes) {
  graphs_->finish();
  HEARTH_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  synchronize();
  if (timer_->on()) timer_->collect();
}

void CudaBackend::synchronize() {
#ifdef HEARTH_HAVE_NCCL
  if (nccl_) return nccl_->wait(stream_);
#endif
  HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::join_ranks(Communicator& comm) {
#ifdef HEARTH_HAVE_NCCL
  HEARTH_CUDA_CHECK(cudaSetDevice(device_));
  nccl_ = std::make_shared<cuda::NcclRanks>(comm);
#else
  (void)comm;
  throw parallel::CollectiveError(
      "--device cuda",
      "this hearth was built without NCCL, which tensor parallelism between GPUs needs (CMake "
      "looks for nccl.h and libnccl beside the CUDA toolkit): rebuild with NCCL, or run with "
      "--device cpu");
#endif
}

void CudaBackend::all_reduce_sum(Communicator& comm, float* x, size_t count) {
#ifdef HEARTH_HAVE_NCCL
  if (!nccl_) throw Error("all_reduce_sum", "internal: join_ranks was not called");
  comm.count_device_collective(count * sizeof(float));
  cuda::NcclRanks* nccl = nccl_.get();
  dispatch(
      *graphs_, *timer_, [] { return std::string("all_reduce"); },
      [=, this] { nccl->all_reduce_sum(x, count, stream_); }, kAllReduce, x, count);
#else
  (void)comm;
  (void)x;
  (void)count;
  throw Error("all_reduce_sum", "internal: this hearth was built without NCCL");
#endif
}

void CudaBackend::from_host(void* dst, const void* src, size_t bytes) {
  graphs_->abandon();
  HEARTH_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void* CudaBackend::scratch(void*& p, size_t& cap, size_t bytes) {
  if (bytes <= cap && p) return p;
  graphs_->abandon();
  if (p) {
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));  // queued kernels may still read it
    free(p);
    p = nullptr;
    cap = 0;
  }
  p = alloc(bytes);
  cap = bytes;
  return p;
}

void CudaBackend::set_rope(const std::vector<float>& inv_freq, RopeLayout layout) {
  graphs_->abandon();
  size_t cap = rope_pairs_ * sizeof(float);
  void* p = inv_freq_;
  scratch(p, cap, std::max<size_t>(inv_freq.size(), 1) * sizeof(float));
  inv_freq_ = static_cast<float*>(p);
  rope_pairs_ = inv_freq.size();
  if (!inv_freq.empty()) from_host(inv_freq_, inv_freq.data(), inv_freq.size() * sizeof(float));
  interleaved_ = layout == RopeLayout::Interleaved;
}

void CudaBackend::set_batch(const BatchInputs& b) {
  if (progress_shown_) {
    std::fprintf(stderr, "\r%50s\r", "");
    progress_shown_ = false;
  }
  graphs_->abandon();  // a step that ended without results
  if (timer_->on()) timer_->step();
  if (staging_) {  // uploads are over once steps run
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    free(staging_);
    staging_ = nullptr;
    staging_cap_ = 0;
  }
  const size_t n = b.tokens.size();
  n_tokens_ = static_cast<int>(n);
  block_size_ = b.block_size;
  max_len_ = 0;
  for (int32_t p : b.pos) max_len_ = std::max(max_len_, p + 1);
  // One host array, one copy: tokens | pos | seq | slot | table_offset | output rows |
  // block_tables. Only the last part's size changes as sequences grow, so the others keep their
  // offsets.
  batch_host_.clear();
  batch_host_.insert(batch_host_.end(), b.tokens.begin(), b.tokens.end());
  off_pos_ = batch_host_.size();
  batch_host_.insert(batch_host_.end(), b.pos.begin(), b.pos.end());
  off_seq_ = batch_host_.size();
  batch_host_.insert(batch_host_.end(), b.seq.begin(), b.seq.end());
  off_slot_ = batch_host_.size();
  batch_host_.insert(batch_host_.end(), b.slot.begin(), b.slot.end());
  off_table_offset_ = batch_host_.size();
  batch_host_.insert(batch_host_.end(), b.table_offset.begin(), b.table_offset.end());
  off_out_rows_ = batch_host_.size();
  batch_host_.insert(batch_host_.end(), b.logits_rows.begin(), b.logits_rows.end());
  batch_host_.insert(batch_host_.end(), b.argmax_rows.begin(), b.argmax_rows.end());
  n_out_ = b.n_out();
  off_tables_ = batch_host_.size();
  batch_host_.insert(batch_host_.end(), b.block_tables.begin(), b.block_tables.end());
  // Prompt chunks: tiles of up to 16 consecutive tokens of one sequence for the tensor-core
  // attention (never in a step that may be captured: its tile list is not part of the key).
  off_tiles_ = batch_host_.size();
  n_tiles_ = 0;
  if (n > static_cast<size_t>(kGraphMaxTokens)) {
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && j - i < static_cast<size_t>(cuda::kPrefillTileTokens) &&
             b.seq[j] == b.seq[i] && b.pos[j] == b.pos[j - 1] + 1)
        ++j;
      batch_host_.push_back(static_cast<int32_t>(i));
      batch_host_.push_back(static_cast<int32_t>(j - i));
      ++n_tiles_;
      i = j;
    }
  }
  scratch(batch_dev_, batch_cap_, std::max(batch_host_.size(), kMinBatchInts) * sizeof(int32_t));
  HEARTH_CUDA_CHECK(cudaMemcpyAsync(batch_dev_, batch_host_.data(),
                                    batch_host_.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                                    stream_));
  // Decode-sized steps, single or batched, may run as a captured graph. The key is what decides
  // the step's calls: tokens, sequences, the rows it returns (as logits and as argmax ids, each at
  // most n), and the context bucket that sets attention's split count.
  if (n >= 1 && n <= static_cast<size_t>(kGraphMaxTokens)) {
    const uint64_t bucket = static_cast<uint64_t>(cuda::attention_len_bucket(max_len_));
    const uint64_t rows = b.logits_rows.size() << 8 | b.argmax_rows.size();
    graphs_->begin((bucket << 48) | (n << 32) | (b.table_offset.size() << 16) | rows);
  }
}

namespace {

const int32_t* at(const void* base, size_t offset) {
  return static_cast<const int32_t*>(base) + offset;
}

}  // namespace

void CudaBackend::embed(const Weight& table, float* out) {
  const DType t = table.dtype;
  const void* data = table.data;
  const int64_t cols = table.cols;
  const int32_t* tokens = at(batch_dev_, 0);
  const int n = n_tokens_;
  dispatch(
      *graphs_, *timer_, [] { return std::string("embed"); },
      [=, this] { cuda::embed(t, data, cols, tokens, n, out, stream_); }, kEmbed, t, data, cols,
      tokens, n, out);
}

void CudaBackend::rmsnorm(const float* x, const Weight& w, float eps, int n, float* out) {
  const DType t = w.dtype;
  const void* data = w.data;
  const int64_t dim = w.cols;
  dispatch(
      *graphs_, *timer_, [] { return std::string("rmsnorm"); },
      [=, this] { cuda::rmsnorm(x, t, data, dim, eps, n, out, stream_); }, kRmsNorm, x, t, data,
      dim, eps, n, out);
}

void CudaBackend::matmul(const Weight& w, const float* x, int n, float* y) {
  matmul_shared_input({{&w, y}}, x, n);
}

void CudaBackend::matmul_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) {
  if (n <= 0 || outs.empty()) return;
  for (const MatmulOut& o : outs)
    if (o.w->cols != outs.front().w->cols)
      throw Error("cuda matmul", "internal: shared-input matrices of different widths");
  // Decoding: the GEMV up to 8 tokens; batched decoding of quantized weights: the tensor-core
  // kernel that reads the quants as they are; everything else (prompts, float weights past 8
  // tokens) through cuBLAS.
  std::vector<MatmulOut> gemv_outs, rest;
  const bool x_aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  for (const MatmulOut& o : outs) {
    if (n <= cuda::kGemvMaxTokens)
      gemv_outs.push_back(o);
    else if (x_aligned && cuda::gemm_quant_supports(o.w->dtype, o.w->cols, n))
      gemm_quant_launch(o, x, n);
    else
      rest.push_back(o);
  }
  // One GEMV launch per weight type (Q4_K_M mixes Q4_K and Q6_K within a layer).
  std::vector<bool> done(gemv_outs.size(), false);
  std::vector<MatmulOut> group;
  for (size_t i = 0; i < gemv_outs.size(); ++i) {
    if (done[i]) continue;
    group.clear();
    for (size_t j = i; j < gemv_outs.size(); ++j)
      if (!done[j] && gemv_outs[j].w->dtype == gemv_outs[i].w->dtype &&
          group.size() < static_cast<size_t>(cuda::kGemvMaxMats)) {
        group.push_back(gemv_outs[j]);
        done[j] = true;
      }
    gemv_launch(group, x, n);
  }
  if (!rest.empty()) gemm_shared_input(rest, x, n);
}

void CudaBackend::gemm_quant_launch(const MatmulOut& o, const float* x, int n) {
  const Weight& w = *o.w;
  const cuda::GemmSplit sp = cuda::gemm_quant_split(w.rows, w.cols, sm_count_);
  float* partial = nullptr;
  if (sp.splits > 1)
    partial = static_cast<float*>(
        scratch(split_scratch_, split_scratch_cap_,
                static_cast<size_t>(sp.splits) * n * static_cast<size_t>(w.rows) * sizeof(float)));
  const DType t = w.dtype;
  const void* data = w.data;
  const int64_t rows = w.rows, cols = w.cols;
  float* y = o.y;
  dispatch(
      *graphs_, *timer_, [&] { return shape_label("gemm_quant", t, rows, cols, n); },
      [=, this] { cuda::gemm_quant(t, data, rows, cols, x, n, y, sp, partial, stream_); },
      kGemmQuant, t, data, rows, cols, x, n, y, sp.splits, sp.tiles_per_split, partial);
}

void CudaBackend::gemv_launch(const std::vector<MatmulOut>& outs, const float* x, int n) {
  cuda::GemvOut g[cuda::kGemvMaxMats] = {};
  const int count = static_cast<int>(outs.size());
  for (int m = 0; m < count; ++m) g[m] = {outs[m].w->data, outs[m].y, outs[m].w->rows};
  const DType t = outs.front().w->dtype;
  const int64_t cols = outs.front().w->cols;
  // Scratch before the op: growing it ends a capture.
  void* act = scratch(act_scratch_, act_scratch_cap_, cuda::act_quant_bytes(n, cols));
  dispatch(
      *graphs_, *timer_,
      [&] { return shape_label("gemv", t, g[0].rows + g[1].rows + g[2].rows, cols, n); },
      [=, this] { cuda::gemv(t, g, count, cols, x, n, act, stream_); }, kGemv, t, cols, x, n, act,
      count, g[0].w, g[0].y, g[0].rows, g[1].w, g[1].y, g[1].rows, g[2].w, g[2].y, g[2].rows);
}

// y[n, rows] = x[n, cols] W^T. cuBLAS is column-major: y^T (rows x n) = W' x^T where W' is W read
// as a cols x rows column-major matrix (op T) and x^T is x as a cols x n column-major matrix.
// Activations go in as 16-bit floats matching the weights (f16; bf16 for the rare bf16 tensor
// beyond f16's range; quantized weights are dequantized to an f16 scratch copy first). Up to 64
// tokens (batched decoding, bound by memory, not arithmetic) x is split into hi + lo halves and
// one GEMM over 2n rows sums both: products then carry ~22 bits of x, close to the CPU's float32.
void CudaBackend::gemm_shared_input(const std::vector<MatmulOut>& outs, const float* x, int n) {
  const int k = static_cast<int>(outs.front().w->cols);
  const size_t xcount = static_cast<size_t>(n) * k;
  const bool split = n <= kGraphMaxTokens;
  const int cols_b = split ? 2 * n : n;  // GEMM columns: tokens (twice, hi then lo, if split)
  bool need_f16 = false, need_bf16 = false;
  struct Product {
    const void* w;
    DType t;
    int m;
    float* y;
  };
  std::vector<Product> prods;
  size_t dequant_elems = 0, max_rows = 0;
  for (const MatmulOut& o : outs) {
    const DType t = o.w->dtype;
    need_bf16 |= t == DType::BF16;
    need_f16 |= t != DType::BF16 && t != DType::F32;
    if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
      dequant_elems = std::max(dequant_elems, static_cast<size_t>(o.w->rows) * k);
    max_rows = std::max(max_rows, static_cast<size_t>(o.w->rows));
    prods.push_back({o.w->data, t, static_cast<int>(o.w->rows), o.y});
  }
  // Scratch first: growing it ends a capture, which must not happen inside the captured op.
  const size_t half_bytes = static_cast<size_t>(cols_b) * k * 2;
  auto* xs = static_cast<uint8_t*>(scratch(x_scratch_, x_scratch_cap_, 2 * half_bytes));
  void* x_f16 = xs;
  void* x_bf16 = xs + half_bytes;
  void* w_f16 = dequant_elems ? scratch(w_scratch_, w_scratch_cap_, dequant_elems * 2) : nullptr;
  float* y2 = split ? static_cast<float*>(scratch(y_scratch_, y_scratch_cap_,
                                                  static_cast<size_t>(cols_b) * max_rows * 4))
                    : nullptr;
  auto run = [=, this] {
    auto convert = [&](bool bf16, void* dst) {
      uint8_t* d = static_cast<uint8_t*>(dst);
      if (split)
        cuda::split_half(x, xcount, bf16, d, d + xcount * 2, stream_);
      else if (bf16)
        cuda::f32_to_bf16(x, xcount, d, stream_);
      else
        cuda::f32_to_f16(x, xcount, d, stream_);
    };
    if (need_f16) convert(false, x_f16);
    if (need_bf16) convert(true, x_bf16);
    const float one = 1.0f, zero = 0.0f;
    for (const Product& p : prods) {
      float* out = split ? y2 : p.y;
      auto gemm_ex = [&](const void* a, const void* b, cudaDataType type) {
        HEARTH_CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, p.m, cols_b, k, &one, a,
                                         type, k, b, type, k, &zero, out, CUDA_R_32F, p.m,
                                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      };
      switch (p.t) {
        case DType::F32:
          HEARTH_CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, p.m, n, k, &one,
                                          static_cast<const float*>(p.w), k, x, k, &zero, p.y,
                                          p.m));
          continue;  // exact already: no halves to add
        case DType::BF16:
          gemm_ex(p.w, x_bf16, CUDA_R_16BF);
          break;
        case DType::F16:
          gemm_ex(p.w, x_f16, CUDA_R_16F);
          break;
        default:
          cuda::dequantize_f16(p.t, p.w, p.m, k, w_f16, stream_);
          gemm_ex(w_f16, x_f16, CUDA_R_16F);
          break;
      }
      if (split) {
        const size_t count = static_cast<size_t>(n) * p.m;
        cuda::add_pair(y2, y2 + count, count, p.y, stream_);
      }
    }
  };
  if (!graphs_->active()) {
    if (!timer_->on()) return run();
    timer_->before(shape_label("cublas", prods.front().t, static_cast<int64_t>(max_rows), k, n));
    run();
    timer_->after();
    return;
  }
  cuda::SigHash h;
  h.add(sig(kGemm, x, n, k, xs, w_f16, y2, need_f16, need_bf16));
  for (const Product& p : prods) {
    h.add(word(p.w));
    h.add(word(p.t));
    h.add(word(p.m));
    h.add(word(p.y));
  }
  if (!graphs_->try_replay(h.value())) graphs_->call(h.value(), run);
}

void CudaBackend::rope(float* x, int n, int n_heads, int head_dim) {
  if (static_cast<size_t>(head_dim / 2) != rope_pairs_)
    throw Error("cuda rope", "head_dim " + std::to_string(head_dim) + " does not match the " +
                                 std::to_string(rope_pairs_) + " frequencies set");
  const int32_t* pos = at(batch_dev_, off_pos_);
  const float* inv_freq = inv_freq_;
  const bool inter = interleaved_;
  dispatch(
      *graphs_, *timer_, [] { return std::string("rope"); },
      [=, this] { cuda::rope(x, n, n_heads, head_dim, pos, inv_freq, inter, stream_); }, kRope, x,
      n, n_heads, head_dim, pos, inv_freq, inter);
}

void CudaBackend::kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) {
  void* kc = kv.k;
  void* vc = kv.v;
  const DType kt = kv.dtype;
  const int32_t* slot = at(batch_dev_, off_slot_);
  dispatch(
      *graphs_, *timer_, [] { return std::string("kv_store"); },
      [=, this] { cuda::kv_store(kt, kc, vc, k, v, slot, n, kv_dim, stream_); }, kKvStore, kt, kc,
      vc, k, v, slot, n, kv_dim);
}

void CudaBackend::rope_kv_store(float* q, float* k, const float* v, const KvLayer& kv, int n,
                                int n_heads, int n_kv_heads, int head_dim) {
  if (static_cast<size_t>(head_dim / 2) != rope_pairs_ || head_dim > cuda::kMaxHeadDim)
    throw Error("cuda rope", "head_dim " + std::to_string(head_dim) + " does not match the " +
                                 std::to_string(rope_pairs_) + " frequencies set");
  void* kc = kv.k;
  void* vc = kv.v;
  const DType kt = kv.dtype;
  const int32_t* pos = at(batch_dev_, off_pos_);
  const int32_t* slot = at(batch_dev_, off_slot_);
  const float* inv_freq = inv_freq_;
  const bool inter = interleaved_;
  dispatch(
      *graphs_, *timer_, [] { return std::string("rope_kv_store"); },
      [=, this] {
        cuda::rope_kv_store(q, k, v, kt, kc, vc, n, n_heads, n_kv_heads, head_dim, pos, slot,
                            inv_freq, inter, stream_);
      },
      kRopeKvStore, q, k, v, kt, kc, vc, n, n_heads, n_kv_heads, head_dim, pos, slot, inv_freq,
      inter);
}

void CudaBackend::attention(const float* q, const KvLayer& kv, const AttentionShape& shape, int n,
                            float* out) {
  cuda::BatchDev b;
  b.tokens = at(batch_dev_, 0);
  b.pos = at(batch_dev_, off_pos_);
  b.seq = at(batch_dev_, off_seq_);
  b.slot = at(batch_dev_, off_slot_);
  b.block_tables = at(batch_dev_, off_tables_);
  b.table_offset = at(batch_dev_, off_table_offset_);
  b.n_tokens = n;
  b.block_size = block_size_;
  if (n_tiles_ > 0 && n == n_tokens_ &&
      cuda::attention_prefill_supports(shape.n_heads, shape.n_kv_heads, shape.head_dim)) {
    graphs_->abandon();  // prompt chunks are never captured (see set_batch)
    if (timer_->on()) timer_->before("attention_prefill n" + std::to_string(n));
    cuda::attention_prefill(q, kv.dtype, kv.k, kv.v, b, at(batch_dev_, off_tiles_), n_tiles_,
                            shape.n_heads, shape.n_kv_heads, shape.head_dim, shape.scale, out,
                            stream_);
    if (timer_->on()) timer_->after();
    return;
  }
  const int splits = cuda::attention_splits(n, shape.n_kv_heads, max_len_, sm_count_);
  float* partial = nullptr;
  if (splits > 1)
    partial = static_cast<float*>(scratch(
        attn_scratch_, attn_scratch_cap_,
        cuda::attention_partial_floats(splits, n, shape.n_heads, shape.head_dim) * sizeof(float)));
  const void* kc = kv.k;
  const void* vc = kv.v;
  const DType kt = kv.dtype;
  const AttentionShape sh = shape;
  dispatch(
      *graphs_, *timer_,
      [&] { return "attention n" + std::to_string(n) + " splits " + std::to_string(splits); },
      [=, this] {
        cuda::attention(q, kt, kc, vc, b, sh.n_heads, sh.n_kv_heads, sh.head_dim, sh.scale, splits,
                        partial, out, stream_);
      },
      kAttention, q, kt, kc, vc, b.tokens, b.pos, b.seq, b.slot, b.block_tables, b.table_offset, n,
      b.block_size, sh.n_heads, sh.n_kv_heads, sh.head_dim, sh.scale, splits, partial, out);
}

void CudaBackend::swiglu(const float* gate, const float* up, size_t count, float* out) {
  dispatch(
      *graphs_, *timer_, [] { return std::string("swiglu"); },
      [=, this] { cuda::swiglu(gate, up, count, out, stream_); }, kSwiglu, gate, up, count, out);
}

void CudaBackend::add(float* x, const float* y, size_t count) {
  dispatch(
      *graphs_, *timer_, [] { return std::string("add"); },
      [=, this] { cuda::add(x, y, count, stream_); }, kAdd, x, y, count);
}

void CudaBackend::add_rmsnorm(float* x, const float* y, const Weight& w, float eps, int n,
                              float* out) {
  const DType t = w.dtype;
  const void* data = w.data;
  const int64_t dim = w.cols;
  dispatch(
      *graphs_, *timer_, [] { return std::string("add_rmsnorm"); },
      [=, this] { cuda::add_rmsnorm(x, y, t, data, dim, eps, n, out, stream_); }, kAddRmsNorm, x, y,
      t, data, dim, eps, n, out);
}

void CudaBackend::gather_rows(const float* x, int dim, float* out) {
  if (n_out_ == 0) return;
  const int32_t* rows = at(batch_dev_, off_out_rows_);  // copied to the device with the batch
  const int m = n_out_;
  dispatch(
      *graphs_, *timer_, [] { return std::string("gather_rows"); },
      [=, this] { cuda::gather_rows(x, rows, m, dim, out, stream_); }, kGather, x, rows, m, dim,
      out);
}

std::optional<double> CudaBackend::device_bandwidth_gbs() {
  if (!bandwidth_) {
    graphs_->abandon();
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    size_t free_b = 0, total_b = 0;
    HEARTH_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    // Two buffers far larger than L2 (50 MB on an H100), within what is free.
    const size_t bytes = std::min<size_t>(size_t{1} << 30, free_b / 4);
    bandwidth_ = cuda::copy_bandwidth_gbs(bytes);
  }
  return bandwidth_;
}

std::optional<double> CudaBackend::device_bf16_tflops() {
  if (!bf16_tflops_) {
    graphs_->abandon();
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    bf16_tflops_ = cuda::bf16_gemm_tflops(cublas_, stream_);
  }
  return bf16_tflops_;
}

std::optional<GraphStats> CudaBackend::graph_stats() const {
  return graphs_->stats();
}

void CudaBackend::argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) {
  if (rows <= 0) return;
  scratch(argmax_dev_, argmax_cap_, static_cast<size_t>(rows) * sizeof(int32_t));
  auto* out = static_cast<int32_t*>(argmax_dev_);
  dispatch(
      *graphs_, *timer_, [] { return std::string("argmax"); },
      [=, this] { cuda::argmax_rows(x, rows, cols, out, stream_); }, kArgmax, x, rows, cols, out);
  to_host(out_host, argmax_dev_, static_cast<size_t>(rows) * sizeof(int32_t));
}

std::string CudaBackend::device_name() const {
  cudaDeviceProp prop{};
  HEARTH_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  return prop.name;
}

}  // namespace hearth
