#include "runtime/scheduler.h"

#include <algorithm>
#include <future>

#include "kv/prefix_cache.h"
#include "util/error.h"

namespace hearth {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None:
      return "none";
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Cancelled:
      return "cancelled";
    case FinishReason::Error:
      return "error";
  }
  return "?";
}

struct Scheduler::Seq {
  RequestId id = 0;
  Generation gen;
  TokenCallback cb;
  SequenceKv kv;  // kv.length: tokens of gen.tokens() already in the cache
  bool done = false;
  bool admitted = false;  // ever taken into a batch: cached_tokens counts the first admission;
                          // a preempted sequence waits untimed
  std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();

  Seq(std::vector<int32_t> prompt, GenerationParams p, int context)
      : gen(std::move(prompt), std::move(p), context) {}
};

Scheduler::Scheduler(LlamaModel& model, KvCache& cache, int context, SchedulerOptions opts)
    : model_(model), cache_(cache), context_(context), opts_(opts), builder_(cache.block_size()) {
  opts_.max_seqs = std::max(1, opts_.max_seqs);
  opts_.prefill_chunk = std::max(1, opts_.prefill_chunk);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  shutdown(false);
}

Scheduler::RequestId Scheduler::submit(std::vector<int32_t> prompt, GenerationParams params,
                                       TokenCallback cb) {
  if (prompt.empty()) throw Error("prompt", "is empty");
  model_.check_tokens(prompt, "prompt");
  if (static_cast<int64_t>(prompt.size()) >= context_)
    throw Error("prompt", std::to_string(prompt.size()) +
                              " tokens leave no room in the context of " +
                              std::to_string(context_) + " tokens");
  const int64_t capacity = static_cast<int64_t>(cache_.n_blocks()) * cache_.block_size();
  if (static_cast<int64_t>(prompt.size()) + 1 > capacity)
    throw Error("prompt", std::to_string(prompt.size()) + " tokens do not fit the KV cache (" +
                              std::to_string(capacity) + " token slots)");
  auto s = std::make_shared<Seq>(std::move(prompt), std::move(params), context_);
  s->cb = std::move(cb);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw QueueFullError("server", "is shutting down");
    if (waiting_.size() >= static_cast<size_t>(opts_.max_queue))
      throw QueueFullError("server",
                           "request queue is full (" + std::to_string(opts_.max_queue) + ")");
    s->id = next_id_++;
    waiting_.push_back(s);
  }
  cv_.notify_all();
  return s->id;
}

void Scheduler::cancel(RequestId id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_.insert(id);
  }
  cv_.notify_all();
}

void Scheduler::shutdown(bool drain) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    draining_ = drain;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Scheduler::finish(Seq& s, FinishReason r, const std::string& error) {
  if (s.done) return;
  s.done = true;
  kv_release(cache_, s.kv);
  s.cb(s.gen.finish_event(r, error));
}

void Scheduler::preempt(std::vector<std::shared_ptr<Seq>>& running, size_t index) {
  auto s = running[index];
  kv_release(cache_, s->kv);  // recomputed from all its tokens when readmitted: same logits, tokens
  running.erase(running.begin() + static_cast<long>(index));
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.push_front(s);
  stats_.preemptions++;
}

void Scheduler::expire_waiting(std::vector<std::shared_ptr<Seq>>& out) {
  const auto limit =
      std::chrono::steady_clock::now() - std::chrono::milliseconds(opts_.queue_timeout_ms);
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (!(*it)->admitted && (*it)->queued_at < limit) {
      out.push_back(*it);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

void Scheduler::loop() {
  std::vector<std::shared_ptr<Seq>> running;
  for (;;) {
    std::vector<std::shared_ptr<Seq>> to_cancel, to_time_out;
    bool stop_now = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || !waiting_.empty() || !running.empty() || !cancelled_.empty();
      });
      if (stopping_ && (!draining_ || (waiting_.empty() && running.empty()))) stop_now = true;
      // Cancellations: from the queue and from the running set.
      if (!cancelled_.empty()) {
        for (auto it = waiting_.begin(); it != waiting_.end();) {
          if (cancelled_.count((*it)->id)) {
            to_cancel.push_back(*it);
            it = waiting_.erase(it);
          } else {
            ++it;
          }
        }
        for (auto it = running.begin(); it != running.end();) {
          if (cancelled_.count((*it)->id)) {
            to_cancel.push_back(*it);
            it = running.erase(it);
          } else {
            ++it;
          }
        }
        cancelled_.clear();
      }
      if (stop_now) {
        for (auto& s : waiting_) to_cancel.push_back(s);
        waiting_.clear();
        for (auto& s : running) to_cancel.push_back(s);
        running.clear();
      } else {
        if (opts_.queue_timeout_ms > 0) expire_waiting(to_time_out);
        // Admission: oldest first, while a slot and the blocks for its pending tokens are free.
        // Blocks the prefix cache already holds cost nothing unless they are idle (taking
        // those lowers the free count); an admitted sequence takes them at once.
        int reserved = 0;
        const int bs = cache_.block_size();
        while (!waiting_.empty() && static_cast<int>(running.size()) < opts_.max_seqs) {
          auto& s = waiting_.front();
          const PrefixProbe probe = kv_probe_prefix(cache_, s->gen.tokens());
          const int need = (s->gen.total() + 1 + bs - 1) / bs - probe.blocks + probe.idle;
          if (need > cache_.free_blocks() - reserved && !running.empty()) break;
          const int attached = kv_attach_prefix(cache_, s->kv, s->gen.tokens());
          if (!s->admitted) s->gen.set_cached_tokens(std::min(attached, s->gen.prompt_len()));
          s->admitted = true;
          reserved += need - probe.idle;
          running.push_back(s);
          waiting_.pop_front();
        }
      }
    }
    for (auto& s : to_cancel) finish(*s, FinishReason::Cancelled);
    for (auto& s : to_time_out) finish(*s, FinishReason::Error, kQueueTimeoutError);
    if (stop_now) return;
    if (!running.empty()) step(running);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.running = running.size();
    stats_.waiting = waiting_.size();
    stats_.kv_blocks_free = cache_.free_blocks();
    stats_.kv_blocks_used = cache_.n_blocks() - cache_.free_blocks();
    stats_.kv_blocks_cached = cache_.pool().idle_cached();
    stats_.prefix_cache = cache_.pool().stats();
  }
}

void Scheduler::step(std::vector<std::shared_ptr<Seq>>& running) {
  const int budget = model_.max_batch_tokens();
  // Plan: decoding sequences (one pending token) first so streams never stall behind a long
  // prompt; then prompt chunks in admission order.
  struct Plan {
    std::shared_ptr<Seq> seq;
    int n;
  };
  std::vector<Plan> plan;
  int used = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running.size() && used < budget; ++i) {
      auto s = running[i];  // a copy: preemption below shifts the vector
      int pending = s->gen.total() - s->kv.length;
      if ((pass == 0) != (pending == 1)) continue;
      int n = std::min({pending, budget - used, opts_.prefill_chunk});
      // Reserve blocks; preempt the youngest other sequence until it fits.
      while (!kv_reserve(cache_, s->kv, n)) {
        size_t victim = running.size();
        for (size_t j = running.size(); j-- > 0;)
          if (running[j] != s && std::none_of(plan.begin(), plan.end(),
                                              [&](auto& p) { return p.seq == running[j]; })) {
            victim = j;
            break;
          }
        if (victim == running.size()) break;
        if (victim < i) --i;
        preempt(running, victim);
      }
      if (!kv_reserve(cache_, s->kv, n)) {
        if (plan.empty() && running.size() == 1) {
          // Alone and still out of blocks: the cache is full of this sequence.
          if (s->gen.n_generated() == 0)
            finish(*s, FinishReason::Error, "the KV cache is too small for this request");
          else
            finish(*s, FinishReason::Length);
          running.erase(running.begin() + static_cast<long>(i));
          --i;
        }
        continue;  // retried next step when blocks come free
      }
      plan.push_back({s, n});
      used += n;
    }
  }
  if (plan.empty()) return;

  builder_.reset();
  refs_.clear();
  for (auto& p : plan) {
    Generation& g = p.seq->gen;
    const bool last = p.seq->kv.length + p.n == g.total();  // its pending tokens all fed
    refs_.push_back(builder_.add(p.seq->kv, g.tokens().subspan(p.seq->kv.length, p.n),
                                 last ? g.wanted() : RowOutput::None));
  }
  try {
    model_.forward(builder_.batch(), cache_, result_);
  } catch (const std::exception& e) {
    for (auto& p : plan) finish(*p.seq, FinishReason::Error, e.what());
    running.erase(std::remove_if(running.begin(), running.end(), [](auto& s) { return s->done; }),
                  running.end());
    return;
  }
  uint64_t prompt_fed = 0;
  for (auto& p : plan) {
    const int prompt_left = p.seq->gen.prompt_len() - p.seq->kv.length;
    prompt_fed += static_cast<uint64_t>(std::clamp(prompt_left, 0, p.n));
    p.seq->kv.length += p.n;
    kv_publish_full_blocks(cache_, p.seq->kv, p.seq->gen.tokens());
  }

  const int64_t V = model_.config().vocab_size;
  uint64_t produced = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (refs_[i].kind == RowOutput::None) continue;
    Seq& s = *plan[i].seq;
    const TokenEvent ev = s.gen.advance(result_, refs_[i], V);
    if (ev.token >= 0) ++produced;
    if (ev.finish != FinishReason::None) {
      // Blocks go back before the caller hears the finish, so it can count on them.
      s.done = true;
      kv_release(cache_, s.kv);
    }
    if (!s.cb(ev) && !s.done) finish(s, FinishReason::Stop);
  }
  running.erase(std::remove_if(running.begin(), running.end(), [](auto& s) { return s->done; }),
                running.end());
  std::lock_guard<std::mutex> lock(mu_);
  stats_.steps++;
  stats_.prompt_tokens += prompt_fed;
  stats_.completion_tokens += produced;
  stats_.last_batch_tokens = builder_.n_tokens();
  stats_.last_batch_seqs = static_cast<int>(plan.size());
}

GenerationResult generate_blocking(Scheduler& s, std::vector<int32_t> prompt, GenerationParams p) {
  auto result = std::make_shared<GenerationResult>();
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  s.submit(std::move(prompt), std::move(p), [result, done](const TokenEvent& ev) {
    if (ev.token >= 0) result->tokens.push_back(ev.token);
    result->events.push_back(ev);
    if (ev.finish != FinishReason::None) {
      result->finish = ev.finish;
      result->error = ev.error;
      done->set_value();
    }
    return true;
  });
  fut.wait();
  return std::move(*result);
}

}  // namespace hearth
