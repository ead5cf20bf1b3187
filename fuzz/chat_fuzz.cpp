// Fuzz target: the chat side. First byte even: the input is an OpenAI messages array (JSON),
// normalized and rendered with the Llama 3.1 template, tools and options taken from the bits;
// every failure must be a hearth::Error. First byte odd: the text is model output for the
// tool-call parser, which never throws and returns only object arguments.
#include <nlohmann/json.hpp>

#include "chat/llama31_template.h"
#include "chat/openai_messages.h"
#include "chat/tool_calls.h"
#include "fuzz_support.h"
#include "util/error.h"

namespace {

void render(std::string_view text, uint8_t flags) {
  auto doc = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return;
  hearth::ChatTemplateOptions opts;
  // {"messages": [...], "tools": [...]} or a bare messages array.
  nlohmann::ordered_json messages = doc;
  if (doc.is_object()) {
    messages = doc.value("messages", nlohmann::ordered_json());
    if (doc.contains("tools")) opts.tools = doc["tools"];
  }
  opts.tools_in_user_message = flags & 2;
  opts.add_generation_prompt = flags & 4;
  if (flags & 8) opts.builtin_tools = {"brave_search", "wolfram_alpha"};
  if (flags & 16) opts.date_string = "01 Jan 2025";
  try {
    const auto normalized = hearth::normalize_openai_messages(messages);
    (void)hearth::render_llama31_chat(normalized, opts);
  } catch (const hearth::Error&) {
  }
  try {
    (void)hearth::render_llama31_chat(messages, opts);  // unnormalized, as `hearth template`
  } catch (const hearth::Error&) {
  }
}

void parse_output(std::string_view text, bool eom) {
  const auto parsed = hearth::parse_llama31_output(text, eom);
  for (const auto& call : parsed.tool_calls) {
    if (!call.arguments.is_object()) hearth::fuzz::violated("tool-call arguments not an object");
    (void)call.arguments.dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1)
    parse_output(text, data[0] & 2);
  else
    render(text, data[0]);
  return 0;
}
