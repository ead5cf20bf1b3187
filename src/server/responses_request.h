#pragma once
// OpenAI Responses API request bodies (POST /v1/responses) read into the ChatRequest the chat
// pipeline runs, plus the fields the response object repeats back:
//   input: a string (one user message) or a list of items:
//     {role, content} / {type: "message", ...}   content a string or input_text/output_text parts
//     {type: "function_call", call_id, name, arguments}   -> an assistant tool call
//     {type: "function_call_output", call_id, output}     -> a tool result
//     {type: "reasoning", ...}                             -> dropped
//   instructions -> a leading system message; developer -> system
//   tools [{type: "function", name, description, parameters, strict}], tool_choice
//   max_output_tokens, temperature, top_p, stream; `stop` accepted as an extension
// The server keeps no state: `store` is accepted and ignored (responses are never stored), and a
// previous_response_id is a 400 previous_response_not_found.
#include <optional>
#include <string>

#include "server/openai_request.h"

namespace hearth::server {

struct ResponsesRequest {
  ChatRequest chat;
  // Repeated back in the response object.
  ojson instructions = nullptr;
  std::optional<int> max_output_tokens;
  ojson tools = ojson::array();  // as the client sent them
  ojson tool_choice = "auto";
  ojson metadata = ojson::object();
  bool parallel_tool_calls = true;
  double temperature = 1.0;
  double top_p = 1.0;
};

ResponsesRequest parse_responses_request(const ojson& body);

}  // namespace hearth::server
