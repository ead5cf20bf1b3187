#pragma once
// One HTTP request's sequences in the scheduler: n choices (times prompts, for /v1/completions).
// Scheduler callbacks run each choice's ChoiceStream on the scheduler thread and queue the
// updates; the HTTP thread waits for them. Cancelling (the client went away, shutdown) frees the
// sequences' KV blocks at the scheduler's next step.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "runtime/scheduler.h"
#include "server/api_error.h"
#include "server/choice_stream.h"
#include "server/metrics.h"

namespace hearth::server {

struct ChoiceSpec {
  std::vector<int32_t> prompt;
  GenerationParams params;
  ChoiceSetup setup;
};

class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  using Clock = std::chrono::steady_clock;
  GenerationJob(Scheduler& sched, const Tokenizer& tok, Metrics& metrics, Clock::time_point t0);
  ~GenerationJob();

  // Submits every choice; on failure cancels those already submitted and rethrows
  // (QueueFullError, hearth::Error).
  void start(std::vector<ChoiceSpec> choices);

  struct Item {
    int choice;
    ChoiceUpdate update;
  };
  // Waits up to `timeout` for updates and returns them in arrival order (possibly none).
  std::vector<Item> wait(std::chrono::milliseconds timeout);
  // Waits until every choice has finished and returns all updates.
  std::vector<Item> wait_all();
  bool finished() const;  // every choice finished and every update taken
  // Waits up to `timeout` until some choice produced a token or finished, without taking the
  // update; true once one has. started() asks the same without waiting.
  bool wait_started(std::chrono::milliseconds timeout);
  bool started() const;
  // The failing finish of a job that ended before any token (a queue timeout), if it did.
  std::optional<ChoiceUpdate> failed_before_start() const;
  void cancel();  // unfinished choices end with FinishReason::Cancelled
  size_t size() const { return ids_.size(); }

 private:
  struct Choice {
    std::unique_ptr<ChoiceStream> stream;
    Clock::time_point last_token;
    bool got_token = false;
    bool done = false;
  };
  bool on_event(int index, const TokenEvent& ev);
  bool started_locked() const;

  Scheduler& sched_;
  const Tokenizer& tok_;
  Metrics& metrics_;
  Clock::time_point t0_;
  std::vector<Scheduler::RequestId> ids_;
  std::vector<Choice> choices_;  // touched by the scheduler thread only, until done

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  int unfinished_ = 0;
  bool first_token_seen_ = false;
  bool cancelled_ = false;
};

// 503 for new work while the server drains for shutdown.
ApiError shutting_down();
// How a job's failure (cancelled at shutdown, or failed) reaches the client, streamed or not.
ApiError job_error(const ChoiceUpdate& u);
// A request that ran to its end: its tokens and its latency.
void record_finished(Metrics& metrics, int prompt_tokens, int completion_tokens,
                     GenerationJob::Clock::time_point t0);

}  // namespace hearth::server
