#pragma once
// hearth's C++ API in one include. Link hearth_core (CMake target) to use it.
//
//   hearth::Engine engine("Meta-Llama-3.1-8B-Instruct.gguf", {});       // file, backend, weights,
//   KV cache hearth::Tokenizer tok = hearth::load_tokenizer(path);                  // Llama 3 BPE
//   std::string prompt = hearth::render_llama31_chat(messages, {});        // the official chat
//   format hearth::Scheduler sched(engine.model(), engine.cache(), engine.context()); auto result =
//   hearth::generate_blocking(sched, tok.encode(prompt, false, true), params);
#include "chat/llama31_template.h"
#include "chat/tool_calls.h"
#include "runtime/engine.h"
#include "runtime/request.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"
#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"
