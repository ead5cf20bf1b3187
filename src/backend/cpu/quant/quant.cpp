// Public entry points: the reference quantizer by type, and the dispatch of dot products and
// activation quantization to the kernel table of the current SIMD level.
#include "backend/cpu/quant/quant.h"

#include <cassert>
#include <cstring>
#include <string>

#include "backend/cpu/quant/kernels.h"
#include "util/error.h"
#include "util/half.h"

namespace hearth::quant {
namespace {

const detail::KernelSet& kernels(cpu::SimdLevel level) {
  switch (level) {
    case cpu::SimdLevel::kScalar:
      return detail::kScalarKernels;
    case cpu::SimdLevel::kAvx2:
      return detail::kAvx2Kernels;
    case cpu::SimdLevel::kAvx512:
      return detail::kAvx512Kernels;
    case cpu::SimdLevel::kAvx512Vnni:
      return detail::kAvx512VnniKernels;
  }
  return detail::kScalarKernels;
}

[[noreturn]] void unsupported(const char* what, DType t) {
  throw Error(what, std::string("unsupported type ") + dtype_name(t));
}

}  // namespace

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  assert(n % dtype_info(t).block_size == 0);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0:
      detail::quantize_q8_0_ref(src, dst, n);
      return;
    case DType::Q4_0:
      detail::quantize_q4_0_ref(src, dst, n);
      return;
    case DType::Q4_K:
      detail::quantize_q4_k_ref(src, dst, n);
      return;
    case DType::Q6_K:
      detail::quantize_q6_k_ref(src, dst, n);
      return;
    case DType::Q8_K:
      detail::quantize_q8_k_ref(src, dst, n);
      return;
  }
  unsupported("quantize_row", t);
}

DType vec_dot_type(DType weight) {
  switch (weight) {
    case DType::Q4_0:
    case DType::Q8_0:
      return DType::Q8_0;
    case DType::Q4_K:
    case DType::Q6_K:
      return DType::Q8_K;
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      return DType::F32;
    case DType::Q8_K:
      break;
  }
  unsupported("vec_dot_type", weight);
}

void quantize_activation(DType dot_type, const float* x, void* dst, int64_t n) {
  assert(n % dtype_info(dot_type).block_size == 0);
  const auto& k = kernels(cpu::simd_level());
  switch (dot_type) {
    case DType::F32:
      std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::Q8_0:
      k.quantize_q8_0(x, dst, n);
      return;
    case DType::Q8_K:
      k.quantize_q8_k(x, dst, n);
      return;
    default:
      break;
  }
  unsupported("quantize_activation", dot_type);
}

VecDotFn vec_dot_fn(DType weight, cpu::SimdLevel level) {
  // Handing out a kernel the CPU cannot run would end the process at the first call.
  if (level > cpu::best_simd_level())
    throw Error("vec_dot",
                std::string(cpu::simd_level_name(level)) + " is not supported by this CPU");
  const auto& k = kernels(level);
  switch (weight) {
    case DType::Q4_0:
      return k.q4_0_q8_0;
    case DType::Q8_0:
      return k.q8_0_q8_0;
    case DType::Q4_K:
      return k.q4_k_q8_k;
    case DType::Q6_K:
      return k.q6_k_q8_k;
    case DType::F32:
      return k.f32_f32;
    case DType::F16:
      return k.f16_f32;
    case DType::BF16:
      return k.bf16_f32;
    case DType::Q8_K:
      break;
  }
  unsupported("vec_dot", weight);
}

VecDotFn vec_dot_fn(DType weight) {
  return vec_dot_fn(weight, cpu::simd_level());
}

float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n) {
  assert(n % dtype_info(weight).block_size == 0);
  return vec_dot_fn(weight)(w_row, x_act, n);
}

}  // namespace hearth::quant
