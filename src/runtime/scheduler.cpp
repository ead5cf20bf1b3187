#include "runtime/scheduler.h"

#include <algorithm>
#include <future>

#include "runtime/logits_processing.h"
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
  std::vector<int32_t> prompt;
  std::vector<int32_t> generated;
  GenerationParams params;
  TokenCallback cb;
  SequenceKv kv;
  int n_fed = 0;  // tokens of prompt ++ generated already in the cache
  Sampler sampler;
  bool done = false;

  Seq(GenerationParams p) : params(std::move(p)), sampler(params.sampling) {}
  int total() const { return static_cast<int>(prompt.size() + generated.size()); }
  int32_t token_at(int i) const {
    return i < static_cast<int>(prompt.size()) ? prompt[static_cast<size_t>(i)]
                                               : generated[static_cast<size_t>(i) - prompt.size()];
  }
};

Scheduler::Scheduler(LlamaModel& model, KvCache& cache, int context, SchedulerOptions opts)
    : model_(model), cache_(cache), context_(context), opts_(opts) {
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
  const int64_t V = model_.config().vocab_size;
  for (int32_t t : prompt)
    if (t < 0 || t >= V)
      throw Error("prompt", "token id " + std::to_string(t) + " is out of range (vocabulary size " +
                                std::to_string(V) + ")");
  if (static_cast<int64_t>(prompt.size()) >= context_)
    throw Error("prompt", std::to_string(prompt.size()) +
                              " tokens leave no room in the context of " +
                              std::to_string(context_) + " tokens");
  const int64_t capacity = static_cast<int64_t>(cache_.n_blocks()) * cache_.block_size();
  if (static_cast<int64_t>(prompt.size()) + 1 > capacity)
    throw Error("prompt", std::to_string(prompt.size()) + " tokens do not fit the KV cache (" +
                              std::to_string(capacity) + " token slots)");
  validate_sampling(params.sampling);
  if (params.max_tokens < 0) throw Error("max_tokens", "must be >= 0");
  auto s = std::make_shared<Seq>(std::move(params));
  s->prompt = std::move(prompt);
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
  s.n_fed = 0;
  TokenEvent ev;
  ev.finish = r;
  ev.error = error;
  ev.prompt_tokens = static_cast<int>(s.prompt.size());
  ev.completion_tokens = static_cast<int>(s.generated.size());
  s.cb(ev);
}

void Scheduler::preempt(std::vector<std::shared_ptr<Seq>>& running, size_t index) {
  auto s = running[index];
  kv_release(cache_, s->kv);
  s->n_fed = 0;  // recomputed from prompt ++ generated when readmitted: same logits, same tokens
  running.erase(running.begin() + static_cast<long>(index));
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.push_front(s);
  stats_.preemptions++;
}

void Scheduler::loop() {
  std::vector<std::shared_ptr<Seq>> running;
  for (;;) {
    std::vector<std::shared_ptr<Seq>> to_cancel;
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
        // Admission: oldest first, while a slot and the blocks for its pending tokens are free.
        int free_blocks = cache_.free_blocks();
        while (!waiting_.empty() && static_cast<int>(running.size()) < opts_.max_seqs) {
          auto& s = waiting_.front();
          int need = (s->total() + 1 + cache_.block_size() - 1) / cache_.block_size();
          if (need > free_blocks && !running.empty()) break;
          free_blocks -= need;
          running.push_back(s);
          waiting_.pop_front();
        }
      }
    }
    for (auto& s : to_cancel) finish(*s, FinishReason::Cancelled);
    if (stop_now) return;
    if (!running.empty()) step(running);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.running = running.size();
    stats_.waiting = waiting_.size();
    stats_.kv_blocks_free = cache_.free_blocks();
    stats_.kv_blocks_used = cache_.n_blocks() - cache_.free_blocks();
  }
}

void Scheduler::step(std::vector<std::shared_ptr<Seq>>& running) {
  const int budget = model_.max_batch_tokens();
  const int bs = cache_.block_size();
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
      int pending = s->total() - s->n_fed;
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
          if (s->generated.empty())
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

  BatchInputs b;
  b.block_size = bs;
  std::vector<int32_t> rows;
  std::vector<Seq*> row_seq;
  b.table_offset.push_back(0);
  for (size_t si = 0; si < plan.size(); ++si) {
    Seq& s = *plan[si].seq;
    for (int k = 0; k < plan[si].n; ++k) {
      int p = s.n_fed + k;
      b.tokens.push_back(s.token_at(p));
      b.pos.push_back(p);
      b.seq.push_back(static_cast<int32_t>(si));
      b.slot.push_back(s.kv.slot(p, bs));
    }
    b.block_tables.insert(b.block_tables.end(), s.kv.blocks.begin(), s.kv.blocks.end());
    b.table_offset.push_back(static_cast<int32_t>(b.block_tables.size()));
    if (s.n_fed + plan[si].n == s.total()) {
      rows.push_back(b.n_tokens() - 1);
      row_seq.push_back(&s);
    }
  }
  try {
    model_.forward(b, cache_, rows, logits_);
  } catch (const std::exception& e) {
    for (auto& p : plan) finish(*p.seq, FinishReason::Error, e.what());
    running.erase(std::remove_if(running.begin(), running.end(), [](auto& s) { return s->done; }),
                  running.end());
    return;
  }
  uint64_t prompt_fed = 0;
  for (auto& p : plan) {
    int prompt_left = static_cast<int>(p.seq->prompt.size()) - p.seq->n_fed;
    prompt_fed += static_cast<uint64_t>(std::clamp(prompt_left, 0, p.n));
    p.seq->n_fed += p.n;
    p.seq->kv.length = p.seq->n_fed;
  }

  const int64_t V = model_.config().vocab_size;
  uint64_t produced = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    Seq& s = *row_seq[r];
    const float* raw = logits_.data() + r * static_cast<size_t>(V);
    TokenEvent ev;
    if (s.params.max_tokens == 0) {
      finish(s, FinishReason::Length);
      continue;
    }
    row_.assign(raw, raw + V);
    process_logits(row_.data(), V, s.params, s.prompt, s.generated);
    int32_t tok = s.sampler.sample(row_.data(), V);
    if (s.params.top_logprobs >= 0) compute_logprobs(raw, V, tok, s.params.top_logprobs, ev);
    if (s.params.constraint) s.params.constraint->accept(tok);
    s.generated.push_back(tok);
    ++produced;
    ev.token = tok;
    ev.prompt_tokens = static_cast<int>(s.prompt.size());
    ev.completion_tokens = static_cast<int>(s.generated.size());
    const bool is_stop = std::find(s.params.stop_tokens.begin(), s.params.stop_tokens.end(), tok) !=
                         s.params.stop_tokens.end();
    if (is_stop)
      ev.finish = FinishReason::Stop;
    else if (static_cast<int>(s.generated.size()) >= s.params.max_tokens || s.total() >= context_)
      ev.finish = FinishReason::Length;
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
  stats_.last_batch_tokens = b.n_tokens();
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
