#include "tokenizer/builtin_llama31.h"

#include <string>

#include "tokenizer/load.h"

// The assembler copies the files' bytes into .rodata at build time; HEARTH_BUILTIN_TOKENIZER_DIR
// (set by CMake) is read by the assembler only and is not part of the binary.
#define HEARTH_INCBIN(name, file)     \
  asm(".section .rodata\n"            \
      ".balign 16\n"                  \
      ".global " #name                \
      "\n"                            \
      ".hidden " #name "\n" #name     \
      ":\n"                           \
      ".incbin \"" file               \
      "\"\n"                          \
      ".global " #name                \
      "_end\n"                        \
      ".hidden " #name "_end\n" #name \
      "_end:\n"                       \
      ".byte 0\n"                     \
      ".previous\n")

HEARTH_INCBIN(hearth_llama31_tokenizer_json, HEARTH_BUILTIN_TOKENIZER_DIR "/tokenizer.json");
HEARTH_INCBIN(hearth_llama31_tokenizer_config,
              HEARTH_BUILTIN_TOKENIZER_DIR "/tokenizer_config.json");

extern "C" {
extern const char hearth_llama31_tokenizer_json[], hearth_llama31_tokenizer_json_end[];
extern const char hearth_llama31_tokenizer_config[], hearth_llama31_tokenizer_config_end[];
}

namespace hearth {

TokenizerSpec builtin_llama31_tokenizer_spec() {
  const std::string json(hearth_llama31_tokenizer_json, hearth_llama31_tokenizer_json_end);
  const std::string config(hearth_llama31_tokenizer_config, hearth_llama31_tokenizer_config_end);
  return tokenizer_spec_from_hf_json_text(json, "built-in Llama 3.1 tokenizer.json", config,
                                          "built-in Llama 3.1 tokenizer_config.json");
}

}  // namespace hearth
