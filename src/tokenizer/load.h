#pragma once
// Reading a tokenizer from the files a model ships with. Every problem throws hearth::Error with
// one line naming the file and what is wrong.
#include <string>

#include "tokenizer/tokenizer.h"

namespace hearth {

class GgufFile;

// Paths: tokenizer.json and tokenizer_config.json (the latter may be "": no config). The
// tokenizer must be byte-level BPE with the Llama 3 pre-tokenizer. BOS comes from the config's
// bos_token (else <|begin_of_text|>), add_bos from its add_bos_token (default true), and the EOS
// set is the config's eos_token plus <|end_of_text|>, <|eom_id|> and <|eot_id|> where present.
Tokenizer tokenizer_from_hf_json(const std::string& tokenizer_json,
                                 const std::string& tokenizer_config_json);

// Same as above from file contents; names are used in errors only.
Tokenizer tokenizer_from_hf_json_text(const std::string& json_text, const std::string& json_name,
                                      const std::string& config_text,
                                      const std::string& config_name);
// What the parser extracted, before the Tokenizer is built (the GGUF writer writes it back).
TokenizerSpec tokenizer_spec_from_hf_json_text(const std::string& json_text,
                                               const std::string& json_name,
                                               const std::string& config_text,
                                               const std::string& config_name);

// tokenizer.ggml.model = gpt2 with tokenizer.ggml.pre = llama-bpe (or llama3/llama-v3; absent is
// read as llama-bpe), .tokens, .merges, .token_type (optional), .bos_token_id, .eos_token_id,
// .eot_token_id, .eom_token_id, .add_bos_token.
Tokenizer tokenizer_from_gguf(const GgufFile& gguf);
TokenizerSpec tokenizer_spec_from_gguf(const GgufFile& gguf);

// model_path: a Hugging Face checkpoint directory (tokenizer.json, optional tokenizer_config.json,
// and generation_config.json whose eos_token_id joins the EOS set), a tokenizer.json file, or a
// .gguf file.
Tokenizer load_tokenizer(const std::string& model_path);
TokenizerSpec load_tokenizer_spec(const std::string& model_path);
bool has_tokenizer(const std::string& model_path);

}  // namespace hearth
