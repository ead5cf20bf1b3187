#include "server/event_reply.h"

#include "server/job_reply.h"
#include "server/sse.h"

namespace hearth::server {
namespace {

using Clock = GenerationJob::Clock;

class EventStream : public JobSseStream {
 public:
  EventStream(std::shared_ptr<GenerationJob> job, std::unique_ptr<EventFormatter> fmt, Usage usage,
              Metrics& metrics, Clock::time_point t0)
      : JobSseStream(std::move(job), metrics), fmt_(std::move(fmt)), usage_(usage), t0_(t0) {}

  bool next(std::string& out, std::chrono::milliseconds timeout) override {
    if (ended_) return false;
    if (!opened_) {
      opened_ = true;
      out += fmt_->stream_open();
    }
    for (auto& item : job_->wait(timeout)) {
      if (item.update.finished && !item.update.error.empty()) {
        // The status line is gone already: the failure is an event of the stream.
        out += fmt_->error_event(job_error(item.update));
        job_->cancel();
        ended_ = true;
        return false;
      }
      usage_.completion_tokens += item.update.completion_tokens;
      usage_.cached_tokens += item.update.cached_tokens;
      out += fmt_->stream_update(item.update);
    }
    if (job_->finished()) {
      out += fmt_->stream_close(usage_);
      record_finished(metrics_, usage_.prompt_tokens, usage_.completion_tokens, t0_);
      ended_ = true;
      return false;
    }
    return true;
  }

 private:
  std::unique_ptr<EventFormatter> fmt_;
  Usage usage_;
  Clock::time_point t0_;
  bool opened_ = false;
};

class EventPending : public JobPendingReply {
 public:
  EventPending(std::shared_ptr<GenerationJob> job, std::unique_ptr<EventFormatter> fmt, Usage usage,
               Metrics& metrics, Clock::time_point t0)
      : JobPendingReply(std::move(job), usage, metrics, t0), fmt_(std::move(fmt)) {}

 private:
  void add(const GenerationJob::Item& item) override {
    usage_.completion_tokens += item.update.completion_tokens;
    usage_.cached_tokens += item.update.cached_tokens;
    fmt_->add(item.update);
  }
  std::string error_body(const ApiError& e) override { return to_wire(fmt_->error_body(e)); }
  std::string response_body() override { return to_wire(fmt_->response(usage_)); }

  std::unique_ptr<EventFormatter> fmt_;
};

}  // namespace

std::string sse_named(const std::string& name, const ojson& payload) {
  return "event: " + name + "\ndata: " + to_wire(payload) + "\n\n";
}

Reply event_reply(std::shared_ptr<GenerationJob> job, std::unique_ptr<EventFormatter> fmt,
                  Usage usage, bool stream, Metrics& metrics, Clock::time_point t0) {
  Reply out;
  if (stream)
    out.sse = std::make_shared<EventStream>(std::move(job), std::move(fmt), usage, metrics, t0);
  else
    out.pending =
        std::make_shared<EventPending>(std::move(job), std::move(fmt), usage, metrics, t0);
  return out;
}

}  // namespace hearth::server
