#pragma once
// The Llama 3.1 tokenizer (tokenizer.json and tokenizer_config.json as Meta ships them), built
// into the library so `hearth synth` can write models with the real tokenizer without a file to
// point at, wherever the binary runs.
#include "tokenizer/tokenizer.h"

namespace hearth {

TokenizerSpec builtin_llama31_tokenizer_spec();

}  // namespace hearth
