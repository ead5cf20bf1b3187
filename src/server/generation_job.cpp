#include "server/generation_job.h"

#include "parallel/communicator.h"

namespace hearth::server {

GenerationJob::GenerationJob(Scheduler& sched, const Tokenizer& tok, Metrics& metrics,
                             Clock::time_point t0)
    : sched_(sched), tok_(tok), metrics_(metrics), t0_(t0) {}

GenerationJob::~GenerationJob() = default;

void GenerationJob::start(std::vector<ChoiceSpec> specs) {
  choices_.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    choices_[i].stream = std::make_unique<ChoiceStream>(tok_, std::move(specs[i].setup));
  {
    std::lock_guard<std::mutex> lock(mu_);
    unfinished_ = static_cast<int>(specs.size());
  }
  // Callbacks hold the job alive until their sequence is finished.
  auto self = shared_from_this();
  try {
    for (size_t i = 0; i < specs.size(); ++i) {
      const int index = static_cast<int>(i);
      ids_.push_back(
          sched_.submit(std::move(specs[i].prompt), std::move(specs[i].params),
                        [self, index](const TokenEvent& ev) { return self->on_event(index, ev); }));
    }
  } catch (...) {
    cancel();
    // Choices never submitted will never hear a finish.
    std::lock_guard<std::mutex> lock(mu_);
    unfinished_ -= static_cast<int>(specs.size() - ids_.size());
    throw;
  }
}

bool GenerationJob::on_event(int index, const TokenEvent& ev) {
  Choice& c = choices_[static_cast<size_t>(index)];
  const auto now = Clock::now();
  if (ev.token >= 0) {
    if (c.got_token)
      metrics_.observe_inter_token(std::chrono::duration<double>(now - c.last_token).count());
    c.got_token = true;
    c.last_token = now;
  }
  ChoiceUpdate update;
  const bool keep_going = c.stream->on_event(ev, update);
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ev.token >= 0 && !first_token_seen_) first = first_token_seen_ = true;
    if (update.finished) {
      c.done = true;
      --unfinished_;
    }
    if (update.finished || !update.text.empty() || !update.tokens.empty())
      queue_.push_back({index, std::move(update)});
  }
  if (first) metrics_.observe_ttft(std::chrono::duration<double>(now - t0_).count());
  cv_.notify_all();
  return keep_going;
}

std::vector<GenerationJob::Item> GenerationJob::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || unfinished_ == 0; });
  std::vector<Item> out(std::make_move_iterator(queue_.begin()),
                        std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

std::vector<GenerationJob::Item> GenerationJob::wait_all() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return unfinished_ == 0; });
  std::vector<Item> out(std::make_move_iterator(queue_.begin()),
                        std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

bool GenerationJob::wait_started(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return started_locked(); });
}

bool GenerationJob::started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_locked();
}

bool GenerationJob::started_locked() const {
  return first_token_seen_ || !queue_.empty() || unfinished_ < static_cast<int>(choices_.size());
}

std::optional<ChoiceUpdate> GenerationJob::failed_before_start() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (first_token_seen_ || queue_.empty()) return std::nullopt;
  const ChoiceUpdate& u = queue_.front().update;
  if (!u.finished || u.error.empty()) return std::nullopt;
  return u;
}

bool GenerationJob::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unfinished_ == 0 && queue_.empty();
}

void GenerationJob::cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_ || unfinished_ == 0) return;
    cancelled_ = true;
  }
  for (auto id : ids_) sched_.cancel(id);
}

ApiError shutting_down() {
  return ApiError(503, "the server is shutting down", "server_error", "", "shutting_down");
}

ApiError job_error(const ChoiceUpdate& u) {
  if (u.raw_finish == FinishReason::Cancelled)
    return ApiError(503, "the request was cancelled: the server is shutting down", "server_error",
                    "", "shutting_down");
  if (u.error == kQueueTimeoutError)
    return ApiError(503,
                    "The server is overloaded: the request waited in the queue longer than the "
                    "server's queue timeout without starting. Please retry later.",
                    "server_error", "", "queue_timeout");
  if (u.error.find(kRankLostError) != std::string::npos)
    return ApiError(503,
                    "generation stopped: a tensor-parallel rank of this server stopped answering, "
                    "and the server is going down",
                    "server_error", "", "rank_lost");
  return ApiError(500, "generation failed: " + u.error, "server_error");
}

void record_finished(Metrics& metrics, int prompt_tokens, int completion_tokens,
                     GenerationJob::Clock::time_point t0) {
  metrics.add_tokens(static_cast<uint64_t>(prompt_tokens),
                     static_cast<uint64_t>(completion_tokens));
  metrics.observe_request(std::chrono::duration<double>(GenerationJob::Clock::now() - t0).count());
}

}  // namespace hearth::server
