#pragma once
// Llama 3.1 special tokens that the chat format and generation stop on. Ids are fixed by the
// Llama 3 vocabulary (128,000 BPE tokens, then the 256 reserved special tokens).
#include <cstdint>
#include <string_view>

namespace hearth::llama31 {

constexpr int32_t kBeginOfTextId = 128000;
constexpr int32_t kEndOfTextId = 128001;
constexpr int32_t kStartHeaderId = 128006;
constexpr int32_t kEndHeaderId = 128007;
constexpr int32_t kEomId = 128008;        // ends an assistant message that calls a tool
constexpr int32_t kEotId = 128009;        // ends a turn
constexpr int32_t kPythonTagId = 128010;  // opens a built-in tool call

constexpr std::string_view kBeginOfText = "<|begin_of_text|>";
constexpr std::string_view kEndOfText = "<|end_of_text|>";
constexpr std::string_view kStartHeader = "<|start_header_id|>";
constexpr std::string_view kEndHeader = "<|end_header_id|>";
constexpr std::string_view kEom = "<|eom_id|>";
constexpr std::string_view kEot = "<|eot_id|>";
constexpr std::string_view kPythonTag = "<|python_tag|>";

}  // namespace hearth::llama31
