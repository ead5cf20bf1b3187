#include "format/dtype.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"

namespace hearth {

const DTypeInfo& dtype_info(DType t) {
  static const DTypeInfo f32{"F32", 1, 4}, f16{"F16", 1, 2}, bf16{"BF16", 1, 2},
      q4_0{"Q4_0", 32, 18}, q8_0{"Q8_0", 32, 34}, q4_k{"Q4_K", 256, 144}, q6_k{"Q6_K", 256, 210},
      q8_k{"Q8_K", 256, 292};
  switch (t) {
    case DType::F32:
      return f32;
    case DType::F16:
      return f16;
    case DType::BF16:
      return bf16;
    case DType::Q4_0:
      return q4_0;
    case DType::Q8_0:
      return q8_0;
    case DType::Q4_K:
      return q4_k;
    case DType::Q6_K:
      return q6_k;
    case DType::Q8_K:
      return q8_k;
  }
  throw Error("internal: unknown dtype " + std::to_string(static_cast<uint32_t>(t)));
}

const char* dtype_name(DType t) {
  return dtype_info(t).name;
}

std::optional<DType> dtype_from_ggml(uint32_t id) {
  switch (id) {
    case 0:
      return DType::F32;
    case 1:
      return DType::F16;
    case 2:
      return DType::Q4_0;
    case 8:
      return DType::Q8_0;
    case 12:
      return DType::Q4_K;
    case 14:
      return DType::Q6_K;
    case 15:
      return DType::Q8_K;
    case 30:
      return DType::BF16;
    default:
      return std::nullopt;
  }
}

std::string ggml_type_name(uint32_t id) {
  static const char* names[] = {"F32",   "F16",   "Q4_0",    "Q4_1",   "Q4_2",    "Q4_3",  "Q5_0",
                                "Q5_1",  "Q8_0",  "Q8_1",    "Q2_K",   "Q3_K",    "Q4_K",  "Q5_K",
                                "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
                                "IQ3_S", "IQ2_S", "IQ4_XS",  "I8",     "I16",     "I32",   "I64",
                                "F64",   "IQ1_M", "BF16"};
  if (id < sizeof(names) / sizeof(names[0])) return names[id];
  return "type " + std::to_string(id);
}

std::optional<DType> dtype_from_name(const std::string& name) {
  std::string up = name;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q8_0, DType::Q4_K,
                  DType::Q6_K, DType::Q8_K})
    if (up == dtype_name(t)) return t;
  return std::nullopt;
}

bool is_quantized(DType t) {
  return dtype_info(t).block_size > 1;
}

size_t dtype_row_bytes(DType t, int64_t n) {
  const auto& i = dtype_info(t);
  return static_cast<size_t>(n / i.block_size) * i.block_bytes;
}

}  // namespace hearth
