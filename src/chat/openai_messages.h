#pragma once
// OpenAI-style chat messages differ from what the Llama 3.1 template expects in two ways that
// change the prompt: content may be a list of parts, and tool-call arguments are a JSON string.
#include <nlohmann/json.hpp>

namespace hearth {

// Returns a copy of messages with, in each message:
//  - content given as a list of text parts joined into one string with "\n" between parts (the
//    join vLLM uses); any non-text part throws hearth::Error (the models read text only);
//  - content null in a message without tool calls replaced by "" (the template would print None);
//  - tool_calls that are null or empty removed (the template raises on them);
//  - function.arguments given as a string parsed into an object when it holds a JSON object ("" and
//    whitespace count as {}); a string that is not a JSON object is left as it is.
// Throws hearth::Error when messages is not an array of objects.
nlohmann::ordered_json normalize_openai_messages(const nlohmann::ordered_json& messages);

}  // namespace hearth
