#pragma once
// Writes a tokenizer into GGUF metadata the way llama.cpp's converter does (tokenizer.ggml.*).
// A Hugging Face tokenizer is read by the one tokenizer.json parser (tokenizer/load.h) and written
// from what it extracted; a GGUF source's tokenizer.* keys are copied as they are.
#include <string>

#include "format/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace hearth {

void add_tokenizer_metadata(GgufWriter& w, const TokenizerSpec& spec);

// source: a .gguf file, a checkpoint directory holding tokenizer.json, or a tokenizer.json path.
// Throws hearth::Error when the source has no tokenizer.
void add_tokenizer_metadata(GgufWriter& w, const std::string& source);

}  // namespace hearth
