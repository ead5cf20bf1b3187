#pragma once
// Element types as files name them: GGUF type ids and names. The types themselves, their sizes
// and block layouts are the quant library's (quant/types.h).
#include <cstdint>
#include <optional>
#include <string>

#include "quant/types.h"

namespace hearth {

// ggml type id -> DType, or nullopt for an id hearth does not know.
std::optional<DType> dtype_from_ggml(uint32_t id);
// Name of a ggml type id hearth cannot read (for error messages), e.g. "Q5_K" or "type 99".
std::string ggml_type_name(uint32_t id);
std::optional<DType> dtype_from_name(const std::string& name);  // "bf16", "q4_0", ...

}  // namespace hearth
