#pragma once
// Element types a weight can have. Quantized types are stored in blocks of `block_size` elements
// taking `block_bytes` bytes; the values are ggml's so GGUF type ids map one to one.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

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
  int64_t block_size;  // elements per block (1 for plain floats)
  size_t block_bytes;  // bytes per block
};

const DTypeInfo& dtype_info(DType t);
const char* dtype_name(DType t);
// ggml type id -> DType, or nullopt for an id hearth does not know.
std::optional<DType> dtype_from_ggml(uint32_t id);
// Name of a ggml type id hearth cannot read (for error messages), e.g. "Q5_K" or "type 99".
std::string ggml_type_name(uint32_t id);
std::optional<DType> dtype_from_name(const std::string& name);  // "bf16", "q4_0", ...
bool is_quantized(DType t);
// Bytes for n elements (n must be a multiple of the block size; checked by callers).
size_t dtype_row_bytes(DType t, int64_t n);

}  // namespace hearth
