#include "backend/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm/gemm.h"
#include "backend/cpu/simd/elementwise.h"
#include "quant/half.h"
#include "quant/quantize.h"
#include "util/error.h"

namespace hearth {

CpuBackend::CpuBackend(int threads, bool mmap_weights)
    : pool_(threads > 0 ? threads : default_thread_count()), mmap_weights_(mmap_weights) {}

bool CpuBackend::supports(DType t) const {
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
      return false;  // Q8_K is an activation format, not a weight type
  }
}

namespace {

// Maps a piece of the file's pages in with one call instead of a page fault every 4 KB (which
// made copying an 8B model take 6-8 s); a no-op where the kernel lacks MADV_POPULATE_READ.
void prefault(const uint8_t* p, size_t bytes) {
#ifdef MADV_POPULATE_READ
  const auto begin = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  const auto end = reinterpret_cast<uintptr_t>(p) + bytes;
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);
#else
  (void)p, (void)bytes;
#endif
}

}  // namespace

Weight CpuBackend::upload(const TensorView& t) {
  if (!supports(t.dtype))
    throw Error(t.file, std::string("unsupported type ") + dtype_name(t.dtype) + " in tensor '" +
                            t.name + "' (the CPU backend reads F32, F16 and BF16 weights)");
  Weight w;
  w.name = t.name;
  w.dtype = t.dtype;
  w.rows = t.shape.size() >= 2 ? t.shape[0] : 1;
  w.cols = t.shape.back();
  w.data = t.data;
  const gemm::GemmKernel* g = t.shape.size() == 2 ? gemm::gemm_kernel(t.dtype) : nullptr;
  // The token table is read by row (embed), so it keeps the file's layout.
  if (!mmap_weights_ && g != nullptr && g->prepack != nullptr && t.name != "token_embd.weight" &&
      g->prepack_fits(w.rows, w.cols)) {
    // Into the GEMM kernel's panels, every thread packing a share of them.
    auto* dst = static_cast<uint8_t*>(arena_.alloc(g->prepacked_bytes(w.rows, w.cols)));
    const auto* src = static_cast<const uint8_t*>(t.data);
    const size_t row_bytes = dtype_row_bytes(t.dtype, w.cols);
    const size_t panel = static_cast<size_t>(g->panel_rows);
    const size_t panels = (static_cast<size_t>(w.rows) + panel - 1) / panel;
    pool_.parallel_for(panels, [&](size_t b, size_t e, int) {
      const size_t r0 = b * panel, r1 = std::min(e * panel, static_cast<size_t>(w.rows));
      prefault(src + r0 * row_bytes, (r1 - r0) * row_bytes);
      g->prepack(src, w.rows, w.cols, static_cast<int64_t>(r0), static_cast<int64_t>(r1), dst);
    });
    w.data = dst;
    w.layout = kLayoutGemmPanels + static_cast<int>(cpu::simd_level());
  } else if (!mmap_weights_) {
    // Into memory the kernels own, every thread copying a share (faulting its pages in).
    auto* dst = static_cast<uint8_t*>(arena_.alloc(t.nbytes));
    const auto* src = static_cast<const uint8_t*>(t.data);
    pool_.parallel_for(
        t.nbytes,
        [&](size_t b, size_t e, int) {
          prefault(src + b, e - b);
          std::memcpy(dst + b, src + b, e - b);
        },
        size_t{1} << 20);
    w.data = dst;
  } else if (reinterpret_cast<uintptr_t>(t.data) % 4 != 0) {
    // safetensors does not promise aligned data; the kernels read whole elements, so a tensor at
    // an odd offset (rare: real checkpoints pad their header) is copied once to aligned memory.
    owned_.emplace_back(this, t.nbytes);
    std::memcpy(owned_.back().get(), t.data, t.nbytes);
    w.data = owned_.back().get();
  }
  if (t.shape.size() == 1 && t.dtype != DType::F32) {
    // A norm weight: converted once here, as the contract says, instead of in every rmsnorm.
    owned_.emplace_back(this, static_cast<size_t>(w.cols) * sizeof(float));
    quant::dequantize_row(t.dtype, w.data, owned_.back().f32(), w.cols);
    w.dtype = DType::F32;
    w.data = owned_.back().get();
  }
  return w;
}

void* CpuBackend::alloc(size_t bytes) {
  // 64-byte alignment: one cache line, and what AVX-512 loads like.
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

void CpuBackend::free(void* p) {
  std::free(p);
}

void CpuBackend::to_host(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBackend::set_rope(const std::vector<float>& inv_freq, RopeLayout layout) {
  inv_freq_ = inv_freq;
  rope_layout_ = layout;
}

void CpuBackend::set_batch(const BatchInputs& batch) {
  batch_ = &batch;
  const size_t half = inv_freq_.size();
  const size_t n = batch.tokens.size();
  cos_.resize(n * half);
  sin_.resize(n * half);
  for (size_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < half; ++i) {
      // The angle in float32 as the reference computes it, then cos/sin rounded from double.
      float angle = static_cast<float>(batch.pos[t]) * inv_freq_[i];
      cos_[t * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_[t * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

void CpuBackend::embed(const Weight& table, float* out) {
  if (table.layout != 0) throw Error(table.name, "internal: the token table was rearranged");
  const int n = batch_->n_tokens();
  const size_t row_bytes = dtype_row_bytes(table.dtype, table.cols);
  for (int t = 0; t < n; ++t) {
    auto* row = static_cast<const uint8_t*>(table.data) +
                static_cast<size_t>(batch_->tokens[t]) * row_bytes;
    quant::dequantize_row(table.dtype, row, out + static_cast<size_t>(t) * table.cols, table.cols);
  }
}

void CpuBackend::rmsnorm(const float* x, const Weight& w, float eps, int n, float* out) {
  if (w.dtype != DType::F32)
    throw Error(w.name, "internal: rmsnorm weight is not F32 (upload converts vectors)");
  const int64_t dim = w.cols;
  const float* weight = static_cast<const float*>(w.data);
  pool_.parallel_for(static_cast<size_t>(n), [&](size_t b, size_t e, int) {
    for (size_t t = b; t < e; ++t) {
      const float* xr = x + t * dim;
      float* o = out + t * dim;
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(dim)) + eps);
      for (int64_t i = 0; i < dim; ++i) o[i] = weight[i] * (xr[i] * inv);
    }
  });
}

void CpuBackend::rope(float* x, int n, int n_heads, int head_dim) {
  const int half = head_dim / 2;
  for (int t = 0; t < n; ++t) {
    const float* c = cos_.data() + static_cast<size_t>(t) * half;
    const float* s = sin_.data() + static_cast<size_t>(t) * half;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (static_cast<size_t>(t) * n_heads + h) * head_dim;
      if (rope_layout_ == RopeLayout::Halves) {
        for (int i = 0; i < half; ++i) {
          float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      } else {
        for (int i = 0; i < half; ++i) {
          float a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * c[i] - b * s[i];
          v[2 * i + 1] = b * c[i] + a * s[i];
        }
      }
    }
  }
}

void CpuBackend::kv_store(const KvLayer& kv, const float* k, const float* v, int n, int kv_dim) {
  const cpu::SimdLevel level = cpu::simd_level();
  auto store = [&](void* cache, const float* src, size_t slot) {
    if (kv.dtype == DType::F32)
      return (void)std::memcpy(static_cast<float*>(cache) + slot * kv_dim, src,
                               sizeof(float) * kv_dim);
    uint16_t* dst = static_cast<uint16_t*>(cache) + slot * kv_dim;
    if (level >= cpu::SimdLevel::kAvx512)
      return cpu::simd::f32_to_f16_avx512(src, dst, static_cast<size_t>(kv_dim));
    if (level >= cpu::SimdLevel::kAvx2)
      return cpu::simd::f32_to_f16_avx2(src, dst, static_cast<size_t>(kv_dim));
    for (int i = 0; i < kv_dim; ++i) dst[i] = f32_to_f16(src[i]);
  };
  for (int t = 0; t < n; ++t) {
    const size_t slot = static_cast<size_t>(batch_->slot[t]);
    store(kv.k, k + static_cast<size_t>(t) * kv_dim, slot);
    store(kv.v, v + static_cast<size_t>(t) * kv_dim, slot);
  }
}

void CpuBackend::swiglu(const float* gate, const float* up, size_t count, float* out) {
  const cpu::SimdLevel level = cpu::simd_level();
  // 4096-float pieces: large enough that a thread's share outweighs waking it.
  pool_.parallel_for(
      count,
      [&](size_t b, size_t e, int) {
        if (level >= cpu::SimdLevel::kAvx512)
          return cpu::simd::swiglu_avx512(gate + b, up + b, e - b, out + b);
        if (level >= cpu::SimdLevel::kAvx2)
          return cpu::simd::swiglu_avx2(gate + b, up + b, e - b, out + b);
        for (size_t i = b; i < e; ++i) {
          float g = gate[i];
          out[i] = g / (1.0f + std::exp(-g)) * up[i];
        }
      },
      4096);
}

void CpuBackend::add(float* x, const float* y, size_t count) {
  for (size_t i = 0; i < count; ++i) x[i] += y[i];
}

void CpuBackend::gather_rows(const float* x, int dim, float* out) {
  for (const auto* rows : {&batch_->logits_rows, &batch_->argmax_rows})
    for (int32_t r : *rows) {
      std::memcpy(out, x + static_cast<size_t>(r) * dim, sizeof(float) * dim);
      out += dim;
    }
}

void CpuBackend::argmax_rows(const float* x, int rows, int64_t cols, int32_t* out_host) {
  // The logits are host memory already: scan them where they are.
  for (int r = 0; r < rows; ++r) {
    const float* row = x + static_cast<size_t>(r) * static_cast<size_t>(cols);
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (row[c] > row[best]) best = c;
    out_host[r] = static_cast<int32_t>(best);
  }
}

}  // namespace hearth
