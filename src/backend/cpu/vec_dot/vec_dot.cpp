// The dispatch of dot products and activation quantization to the kernel table of the current
// SIMD level.
#include "backend/cpu/vec_dot/vec_dot.h"

#include <cassert>
#include <cstring>
#include <string>

#include "backend/cpu/vec_dot/kernels.h"
#include "util/error.h"

namespace hearth::cpu {
namespace {

const detail::KernelSet& kernels(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return detail::kScalarKernels;
    case SimdLevel::kAvx2:
      return detail::kAvx2Kernels;
    case SimdLevel::kAvx512:
      return detail::kAvx512Kernels;
    case SimdLevel::kAvx512Vnni:
      return detail::kAvx512VnniKernels;
  }
  return detail::kScalarKernels;
}

[[noreturn]] void unsupported(const char* what, DType t) {
  throw Error(what, std::string("unsupported type ") + dtype_name(t));
}

}  // namespace

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
  const auto& k = kernels(simd_level());
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

VecDotFn vec_dot_fn(DType weight, SimdLevel level) {
  // Handing out a kernel the CPU cannot run would end the process at the first call.
  if (level > best_simd_level())
    throw Error("vec_dot", std::string(simd_level_name(level)) + " is not supported by this CPU");
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
  return vec_dot_fn(weight, simd_level());
}

float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n) {
  assert(n % dtype_info(weight).block_size == 0);
  return vec_dot_fn(weight)(w_row, x_act, n);
}

}  // namespace hearth::cpu
