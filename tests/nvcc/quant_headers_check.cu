// Compiled (never run) in every CUDA build: the quant library's headers must stay valid CUDA, so
// the CUDA backend can decode blocks with the same definitions as the CPU. A kernel calls each
// __host__ __device__ function once, so nvcc compiles them for the device as well as the host.
#include "quant/blocks.h"
#include "quant/dequantize_block.h"
#include "quant/half.h"
#include "quant/portable.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace hearth::quant {

static_assert(dtype_row_bytes(DType::Q4_K, 512) == 288, "constexpr sizes under nvcc");
static_assert(row_fits_blocks(DType::Q8_0, 64) && !row_fits_blocks(DType::Q8_0, 48), "blocks");

__global__ void decode_every_format(const uint8_t* bytes, float* out) {
  dequantize_block(*reinterpret_cast<const BlockQ8_0*>(bytes), out);
  dequantize_block(*reinterpret_cast<const BlockQ4_0*>(bytes), out);
  dequantize_block(*reinterpret_cast<const BlockQ4_K*>(bytes), out);
  dequantize_block(*reinterpret_cast<const BlockQ6_K*>(bytes), out);
  dequantize_block(*reinterpret_cast<const BlockQ8_K*>(bytes), out);
  uint8_t sc = 0, m = 0;
  q4k_scale_min(5, bytes, &sc, &m);
  const Q4KScales s = q4k_unpack_scales(bytes);
  out[0] += static_cast<float>(sc + m + (s.sc & 1) + nearest_int(out[1]));
  out[1] = f16_to_f32(f32_to_f16(out[2])) + bf16_to_f32(f32_to_bf16(out[3]));
  out[2] = static_cast<float>(dtype_row_bytes(DType::Q6_K, 256)) +
           (is_quantized(DType::F16) ? 1.f : 0.f);
  out[3] = dtype_name(DType::BF16)[0] == 'B' ? 1.f : 0.f;
}

}  // namespace hearth::quant
