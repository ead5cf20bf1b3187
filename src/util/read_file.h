#pragma once
// Reading a whole (small) file: configs, tokenizer JSON, prompts. Model weights are mapped
// instead (mapped_file.h).
#include <string>

namespace hearth {

// The file's bytes. Throws hearth::Error naming the path when it does not exist, is a directory,
// or cannot be opened or read.
std::string read_file(const std::string& path);

}  // namespace hearth
