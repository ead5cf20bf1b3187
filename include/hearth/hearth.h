#pragma once
// hearth's C++ API in one include. Link hearth_core (CMake target) to use it. For example:
//
//   hearth::Engine engine("Meta-Llama-3.1-8B-Instruct.gguf", {});  // file, backend, weights, cache
//   hearth::Tokenizer tok = hearth::load_tokenizer("Meta-Llama-3.1-8B-Instruct.gguf");
//   std::string prompt = hearth::render_llama31_chat(messages, {});  // the official template
//   hearth::Scheduler sched(engine.model(), engine.cache(), engine.context());
//   hearth::GenerationParams params;
//   params.stop_tokens = hearth::end_of_sequence_ids(engine.config(), &tok);
//   hearth::GenerationResult result =
//       hearth::generate_blocking(sched, tok.encode(prompt, false, true), params);
//   std::string text = tok.decode(result.tokens, /*skip_special=*/true);
#include "chat/llama31_template.h"
#include "chat/tool_calls.h"
#include "runtime/engine.h"
#include "runtime/request.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"
#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"
