#include "server/event_reply.h"

#include "server/sse.h"

namespace hearth::server {
namespace {

using Clock = GenerationJob::Clock;

class EventStream : public SseStream {
 public:
  EventStream(std::shared_ptr<GenerationJob> job, std::unique_ptr<EventFormatter> fmt, Usage usage,
              Metrics& metrics, Clock::time_point t0)
      : job_(std::move(job)), fmt_(std::move(fmt)), usage_(usage), metrics_(metrics), t0_(t0) {}
  ~EventStream() override { job_->cancel(); }

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

  void cancel() override {
    if (!ended_) metrics_.count_cancelled();
    ended_ = true;
    job_->cancel();
  }

  // As the OpenAI routes' stream: a request refused while still queued keeps its own status.
  bool wait_started(std::chrono::milliseconds timeout) override {
    return job_->wait_started(timeout);
  }

  std::optional<ApiError> failed_before_start() override {
    auto u = job_->failed_before_start();
    if (!u) return std::nullopt;
    job_->cancel();
    ended_ = true;
    return job_error(*u);
  }

 private:
  std::shared_ptr<GenerationJob> job_;
  std::unique_ptr<EventFormatter> fmt_;
  Usage usage_;
  Metrics& metrics_;
  Clock::time_point t0_;
  bool opened_ = false, ended_ = false;
};

class EventPending : public PendingReply {
 public:
  EventPending(std::shared_ptr<GenerationJob> job, std::unique_ptr<EventFormatter> fmt, Usage usage,
               Metrics& metrics, Clock::time_point t0)
      : job_(std::move(job)), fmt_(std::move(fmt)), usage_(usage), metrics_(metrics), t0_(t0) {}
  ~EventPending() override { job_->cancel(); }

  bool wait(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (!ready_ && !job_->finished()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      for (auto& item : job_->wait(left)) {
        if (item.update.finished && !item.update.error.empty()) {
          job_->cancel();
          const ApiError e = job_error(item.update);
          status_ = e.status();
          body_ = to_wire(fmt_->error_body(e));
          overloaded_ = e.code() == "queue_timeout";
          ready_ = true;
          return true;
        }
        usage_.completion_tokens += item.update.completion_tokens;
        fmt_->add(item.update);
      }
    }
    if (ready_) return true;
    record_finished(metrics_, usage_.prompt_tokens, usage_.completion_tokens, t0_);
    status_ = 200;
    body_ = to_wire(fmt_->response(usage_));
    ready_ = true;
    return true;
  }

  int status() const override { return status_; }
  const std::string& body() const override { return body_; }
  bool overloaded() const override { return overloaded_; }
  bool started() const override { return job_->started(); }

  void cancel() override {
    if (!ready_) metrics_.count_cancelled();
    ready_ = true;
    job_->cancel();
  }

 private:
  std::shared_ptr<GenerationJob> job_;
  std::unique_ptr<EventFormatter> fmt_;
  Usage usage_;
  Metrics& metrics_;
  Clock::time_point t0_;
  bool ready_ = false;
  int status_ = 500;
  std::string body_;
  bool overloaded_ = false;
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
