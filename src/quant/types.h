#pragma once
// Element types a tensor can have, with their block sizes and names. Quantized types are stored in
// blocks of `block_size` elements taking `block_bytes` bytes; the enum values are ggml's, so GGUF
// type ids map one to one (format/dtype.h reads them).
#include <cstddef>
#include <cstdint>

#include "quant/portable.h"

namespace hearth {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

struct DTypeInfo {
  const char* name;
  int64_t block_size;  // elements per block (1 for plain floats); 0 for a value outside the enum
  size_t block_bytes;  // bytes per block
};

HEARTH_HD constexpr DTypeInfo dtype_info(DType t) {
  switch (t) {
    case DType::F32:
      return {"F32", 1, 4};
    case DType::F16:
      return {"F16", 1, 2};
    case DType::BF16:
      return {"BF16", 1, 2};
    case DType::Q4_0:
      return {"Q4_0", 32, 18};
    case DType::Q8_0:
      return {"Q8_0", 32, 34};
    case DType::Q4_K:
      return {"Q4_K", 256, 144};
    case DType::Q6_K:
      return {"Q6_K", 256, 210};
    case DType::Q8_K:
      return {"Q8_K", 256, 292};
  }
  return {"unknown", 0, 0};
}

HEARTH_HD constexpr const char* dtype_name(DType t) {
  return dtype_info(t).name;
}

HEARTH_HD constexpr bool is_quantized(DType t) {
  return dtype_info(t).block_size > 1;
}

// Bytes for n elements (n a multiple of the block size: callers check, with row_fits_blocks).
HEARTH_HD constexpr size_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo i = dtype_info(t);
  return i.block_size > 0 ? static_cast<size_t>(n / i.block_size) * i.block_bytes : 0;
}

HEARTH_HD constexpr bool row_fits_blocks(DType t, int64_t n) {
  const int64_t bs = dtype_info(t).block_size;
  return bs > 0 && n % bs == 0;
}

}  // namespace hearth
