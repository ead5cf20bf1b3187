#pragma once
// Anthropic Messages API request bodies (POST /v1/messages) read into the same ChatRequest the
// chat completions endpoint runs, so both share the Llama 3.1 template, the tool-call parser and
// stop strings:
//   system (string or text blocks)         -> a system message
//   text blocks                            -> message content ("\n" between blocks)
//   assistant tool_use {id, name, input}   -> an assistant message with one tool call each
//   user tool_result {tool_use_id, content, is_error} -> a tool message each, in order
//   tools {name, description, input_schema} -> function tools; tool_choice auto/any/tool/none
//   stop_sequences, temperature (0..1), top_p, top_k, max_tokens (required), stream
// Thinking blocks sent back by a client are dropped; images and documents are refused (the model
// reads text only). Every malformed field is a 400 ApiError naming it; the HTTP layer writes it in
// Anthropic's error shape.
#include <string>

#include "server/openai_request.h"

namespace hearth::server {

ChatRequest parse_anthropic_request(const ojson& body);

}  // namespace hearth::server
