#pragma once
// Anthropic Messages API responses: the message object, its streamed event sequence
//   message_start, ping, (content_block_start, content_block_delta*, content_block_stop)*,
//   message_delta (stop_reason, stop_sequence, output_tokens), message_stop
// and Anthropic's error shape {"type": "error", "error": {"type", "message"}}.
// Tool calls are parsed when the choice ends, so a tool_use block streams as one
// input_json_delta holding the whole arguments object.
#include <memory>
#include <string>

#include "server/event_reply.h"

namespace hearth::server {

// "end_turn", "max_tokens", "stop_sequence" or "tool_use" for a finished choice.
std::string anthropic_stop_reason(const ChoiceUpdate& finished);

// The error object, its type named after the status (400 invalid_request_error, 401
// authentication_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error,
// 503 overloaded_error, other 5xx api_error).
ojson anthropic_error_body(const ApiError& e);

struct AnthropicHeader {
  std::string id;  // msg_...
  std::string model;
  int input_tokens = 0;
};
std::unique_ptr<EventFormatter> make_anthropic_formatter(AnthropicHeader h);

}  // namespace hearth::server
