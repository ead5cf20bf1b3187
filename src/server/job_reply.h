#pragma once
// What every route's reply over one GenerationJob shares, whatever its wire format (OpenAI's or
// Anthropic's events): the job is cancelled with the reply, a client that leaves before the end
// is counted, a failure before the first token keeps its own status, and a non-streamed reply is
// collected in slices until the job ends. The formats supply only their bytes.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/metrics.h"
#include "server/openai_response.h"
#include "server/service.h"

namespace hearth::server {

class JobSseStream : public SseStream {
 public:
  JobSseStream(std::shared_ptr<GenerationJob> job, Metrics& metrics)
      : job_(std::move(job)), metrics_(metrics) {}
  ~JobSseStream() override { job_->cancel(); }

  void cancel() override {
    if (!ended_) metrics_.count_cancelled();
    ended_ = true;
    job_->cancel();
  }
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

 protected:
  std::shared_ptr<GenerationJob> job_;
  Metrics& metrics_;
  bool ended_ = false;
};

class JobPendingReply : public PendingReply {
 public:
  JobPendingReply(std::shared_ptr<GenerationJob> job, Usage usage, Metrics& metrics,
                  GenerationJob::Clock::time_point t0)
      : job_(std::move(job)), usage_(usage), metrics_(metrics), t0_(t0) {}
  ~JobPendingReply() override { job_->cancel(); }

  bool wait(std::chrono::milliseconds timeout) final {
    using Clock = GenerationJob::Clock;
    const auto deadline = Clock::now() + timeout;
    // The job wakes us at every token; keep collecting until it ends or the time is up.
    while (!ready_ && !job_->finished()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      for (auto& item : job_->wait(left)) {
        if (item.update.finished && !item.update.error.empty()) {
          job_->cancel();
          const ApiError e = job_error(item.update);
          answer(e.status(), error_body(e));
          overloaded_ = e.code() == "queue_timeout";
          return true;
        }
        add(item);
      }
    }
    if (ready_) return true;
    record_finished(metrics_, usage_.prompt_tokens, usage_.completion_tokens, t0_);
    answer(200, response_body());
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

 protected:
  // One update of the job: into usage_ and the format's response.
  virtual void add(const GenerationJob::Item& item) = 0;
  virtual std::string error_body(const ApiError& e) = 0;
  virtual std::string response_body() = 0;

  std::shared_ptr<GenerationJob> job_;
  Usage usage_;

 private:
  void answer(int status, std::string body) {
    status_ = status;
    body_ = std::move(body);
    ready_ = true;
  }

  Metrics& metrics_;
  GenerationJob::Clock::time_point t0_;
  bool ready_ = false;
  int status_ = 500;
  std::string body_;
  bool overloaded_ = false;
};

}  // namespace hearth::server
