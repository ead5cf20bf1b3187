#pragma once
// Interactive chat in the terminal: `hearth run MODEL` with no prompt.
#include <string>

#include "generate.h"

namespace hearth::cli {

int chat_repl(Engine& engine, const Tokenizer& tok, const std::string& system,
              const GenerateOptions& o);

}  // namespace hearth::cli
