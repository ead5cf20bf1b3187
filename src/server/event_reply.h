#pragma once
// A one-choice generation answered in an API's own wire format: Anthropic's Messages API and
// OpenAI's Responses API both stream named server-sent events ("event: NAME" + "data: JSON",
// no [DONE]) and shape their errors their own way. The formatter writes the wire text; this
// file drives it from a GenerationJob, streamed or not, with the same cancellation and metrics
// as the chat completions endpoint.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/openai_response.h"
#include "server/service.h"

namespace hearth::server {

// One choice's updates into one API's response. Streaming: stream_open(), stream_update() per
// update (the last one has finished set), then stream_close() with the final usage. Not
// streaming: add() every update, then response(). Failures: error_event() / error_body().
class EventFormatter {
 public:
  virtual ~EventFormatter() = default;
  virtual std::string stream_open() = 0;
  virtual std::string stream_update(const ChoiceUpdate& u) = 0;
  virtual std::string stream_close(const Usage& u) = 0;
  virtual std::string error_event(const ApiError& e) = 0;
  virtual void add(const ChoiceUpdate& u) = 0;
  virtual ojson response(const Usage& u) = 0;
  virtual ojson error_body(const ApiError& e) = 0;
};

// "event: NAME\ndata: JSON\n\n".
std::string sse_named(const std::string& name, const ojson& payload);

// usage.prompt_tokens is the prompt's length; completion tokens are counted as they come.
Reply event_reply(std::shared_ptr<GenerationJob> job, std::unique_ptr<EventFormatter> fmt,
                  Usage usage, bool stream, Metrics& metrics, GenerationJob::Clock::time_point t0);

}  // namespace hearth::server
