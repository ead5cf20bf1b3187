#pragma once
// The OpenAI API over one loaded model, independent of the HTTP library: request body in,
// status + JSON body (or an SSE stream) out. Every failure a client can cause comes back as an
// ApiError with its status; nothing here answers 500 for user input.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/json_constraint.h"
#include "runtime/scheduler.h"
#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/json_limits.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server {

struct ServiceConfig {
  std::string model_id;
  int context = 0;
  int64_t vocab_size = 0;
  std::vector<int32_t> end_ids;      // end a turn; stop every request, never printed
  int64_t created = 0;               // unix time shown in /v1/models
  std::vector<std::string> aliases;  // other names the model answers to (serve --alias)
  // Off: special-token text inside messages is encoded as plain text (prompt safety).
  bool parse_special_in_messages = false;
  int max_json_depth = kDefaultMaxJsonDepth;  // deeper request bodies get a 400
};

// A streamed response: the HTTP layer pulls SSE text until next() says it is over, and calls
// cancel() when the client goes away.
class SseStream {
 public:
  virtual ~SseStream() = default;
  // Appends SSE text (possibly none when the timeout passes first); false once finished.
  virtual bool next(std::string& out, std::chrono::milliseconds timeout) = 0;
  virtual void cancel() = 0;
  // Waits up to `timeout` for the first token or the end; true once either came. The HTTP layer
  // holds back its status line until then, so that a request that fails while still queued (a
  // queue timeout) is answered with its own status instead of an error inside a 200 stream.
  virtual bool wait_started(std::chrono::milliseconds) { return true; }
  // The error to answer with instead of a stream, when the work failed before its first token.
  virtual std::optional<ApiError> failed_before_start() { return std::nullopt; }
};

// A non-streamed response still being generated. The HTTP layer waits in slices so that it can
// tell when the client has gone and cancel the work.
class PendingReply {
 public:
  virtual ~PendingReply() = default;
  // True once status() and body() hold the response (an OpenAI error object on failure).
  virtual bool wait(std::chrono::milliseconds timeout) = 0;
  virtual int status() const = 0;
  virtual const std::string& body() const = 0;
  virtual void cancel() = 0;
  // True once the work produced its first token (false while queued or prefilling).
  virtual bool started() const { return true; }
  // The response refuses overload (a queue timeout): the HTTP layer adds Retry-After.
  virtual bool overloaded() const { return false; }
};

// Exactly one of sse (stream: true) and pending (stream: false) is set.
struct Reply {
  std::shared_ptr<SseStream> sse;
  std::shared_ptr<PendingReply> pending;
};

class OpenAiService {
 public:
  using Clock = std::chrono::steady_clock;
  OpenAiService(Scheduler& sched, const Tokenizer& tok, Metrics& metrics, ServiceConfig cfg);

  Reply chat_completions(const std::string& body, Clock::time_point t0 = Clock::now());
  Reply completions(const std::string& body, Clock::time_point t0 = Clock::now());
  // Anthropic's Messages API (service_messages.cpp) and OpenAI's Responses API
  // (service_responses.cpp).
  Reply messages(const std::string& body, Clock::time_point t0 = Clock::now());
  Reply responses(const std::string& body, Clock::time_point t0 = Clock::now());
  std::string models() const;
  std::string model(const std::string& id) const;  // ApiError 404 for another id

  // The prompt a chat request becomes (Llama 3.1 template, tokenized), as `hearth template`.
  std::vector<int32_t> chat_prompt(const ChatRequest& r) const;
  // Set while the server drains for shutdown: new work is refused with 503.
  void set_draining(bool on) { draining_ = on; }
  bool draining() const { return draining_; }
  const ServiceConfig& config() const { return cfg_; }

 private:
  void check_model(const std::string& id) const;
  // One choice of a chat request, as every chat-shaped endpoint builds it.
  ChoiceSpec chat_choice(const ChatRequest& r, const std::vector<int32_t>& prompt, int max_tokens,
                         int choice, uint64_t seed);
  std::shared_ptr<const JsonVocab> json_vocab();
  int budget(int prompt_len, const std::optional<int>& max_tokens, int default_max,
             const char* what) const;
  std::shared_ptr<GenerationJob> start_job(std::vector<ChoiceSpec> specs, Clock::time_point t0,
                                           const char* param);
  ResponseHeader header(const char* id_prefix, const SamplingFields& s) const;
  Reply reply(std::shared_ptr<GenerationJob> job, std::unique_ptr<ResponseFormatter> fmt,
              Usage usage, const SamplingFields& s, Clock::time_point t0);
  GenerationParams base_params(const SamplingFields& s, int max_tokens, int choice,
                               uint64_t seed) const;

  Scheduler& sched_;
  const Tokenizer& tok_;
  Metrics& metrics_;
  ServiceConfig cfg_;
  std::atomic<bool> draining_{false};
  std::once_flag json_once_;
  std::shared_ptr<const JsonVocab> json_vocab_;
  int32_t python_tag_ = -1, eom_ = -1;
};

}  // namespace hearth::server
