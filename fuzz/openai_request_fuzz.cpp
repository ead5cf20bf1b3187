// Fuzz target: an OpenAI request body, as the server reads it: the JSON parse with its nesting
// limit, then the chat-completions and completions validators, then (for a chat request that
// validated) the prompt the template renders from it. Every refusal must be an ApiError whose
// status is a 4xx: a body is the client's fault or fine, never a crash or a 500.
#include <nlohmann/json.hpp>

#include "chat/llama31_template.h"
#include "fuzz_support.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "util/error.h"

namespace {

constexpr int64_t kVocab = 128256;

void check_status(const hearth::server::ApiError& e) {
  if (e.status() < 400 || e.status() >= 500) hearth::fuzz::violated("a body gave a non-4xx error");
  (void)e.body().dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::server;
  const std::string body(reinterpret_cast<const char*>(data), size);
  ojson j;
  try {
    j = parse_json_body(body);
  } catch (const ApiError& e) {
    check_status(e);
    return 0;
  }
  try {
    const ChatRequest r = parse_chat_request(j, kVocab);
    hearth::ChatTemplateOptions opts;
    if (r.tool_choice != ToolChoice::kNone) opts.tools = r.tools;
    try {
      (void)hearth::render_llama31_chat(r.messages, opts);
    } catch (const hearth::Error&) {  // the service turns these into a 400 naming messages
    }
  } catch (const ApiError& e) {
    check_status(e);
  }
  try {
    (void)parse_completion_request(j, kVocab);
  } catch (const ApiError& e) {
    check_status(e);
  }
  return 0;
}
