#pragma once
// OpenAI Responses API responses: the response object (output items: an assistant message with
// output_text, function_call items) and its streamed events, each with a sequence_number:
//   response.created, response.in_progress,
//   response.output_item.added, response.content_part.added, response.output_text.delta*,
//   response.output_text.done, response.content_part.done, response.output_item.done,
//   per tool call: response.output_item.added, response.function_call_arguments.delta,
//   response.function_call_arguments.done, response.output_item.done,
//   response.completed (or response.incomplete when max_output_tokens cut it short).
// A failure after the stream began is an `error` event followed by response.failed.
#include <memory>
#include <string>

#include "server/event_reply.h"
#include "server/responses_request.h"

namespace hearth::server {

struct ResponsesHeader {
  std::string id;  // resp_...
  int64_t created_at = 0;
  std::string model;
};

std::unique_ptr<EventFormatter> make_responses_formatter(ResponsesHeader h,
                                                         const ResponsesRequest& r);

}  // namespace hearth::server
