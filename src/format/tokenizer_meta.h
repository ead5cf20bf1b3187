#pragma once
// Writes a tokenizer into GGUF metadata the way llama.cpp's converter does (tokenizer.ggml.*),
// from a GGUF file (copied key by key) or a Hugging Face tokenizer.json.
#include <string>

#include "format/gguf_writer.h"

namespace hearth {

// source: a .gguf file, a checkpoint directory holding tokenizer.json, or a tokenizer.json path.
// Throws hearth::Error when the source has no tokenizer.
void add_tokenizer_metadata(GgufWriter& w, const std::string& source);

}  // namespace hearth
