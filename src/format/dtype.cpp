#include "format/dtype.h"

#include <algorithm>
#include <cctype>

namespace hearth {

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

}  // namespace hearth
