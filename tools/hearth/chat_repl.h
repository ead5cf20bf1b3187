#pragma once
// Interactive chat in the terminal: `hearth run MODEL` with no prompt.
#include <string>

#include "generate.h"

namespace hearth::cli {

// json: instead of streaming each reply, print one JSON line per turn (its text, prompt tokens
// and how many of them came from the prefix cache).
int chat_repl(Engine& engine, const Tokenizer& tok, const std::string& system,
              const GenerateOptions& o, bool json = false);

}  // namespace hearth::cli
