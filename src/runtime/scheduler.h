#pragma once
// Continuous batching over the paged KV cache. One thread runs one batched forward per step over
// every active sequence: requests join and leave between steps, long prompts are fed in chunks
// so running streams keep flowing, and when KV blocks run out the youngest sequence is
// preempted (its blocks freed, its tokens recomputed later) rather than anything failing.
// Full blocks are shared through the prefix cache (kv/prefix_cache.h): a sequence starts after
// the longest cached prefix of its tokens, and a preempted one takes back whatever of its own
// blocks is still cached when it is readmitted.
// Each step is the pipeline every caller shares: the scheduler plans (which sequences, how many
// tokens each), the batch builder turns the plan into the model's inputs, the model runs it, and
// each sequence's Generation consumes its result.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "kv/kv_cache.h"
#include "model/llama.h"
#include "runtime/batch_builder.h"
#include "runtime/generation.h"
#include "runtime/request.h"
#include "util/error.h"

namespace hearth {

struct SchedulerOptions {
  int max_seqs = 16;        // sequences in one batch
  int prefill_chunk = 128;  // prompt tokens one sequence may add per step
  int max_queue = 256;      // waiting requests before submit() refuses
  // A request still waiting for its first admission after this long finishes with
  // kQueueTimeoutError instead of waiting on (0: no limit). Preempted sequences are not timed.
  int queue_timeout_ms = 0;
};

// The error text of a sequence that timed out in the queue.
inline constexpr const char* kQueueTimeoutError = "queue timeout";

struct SchedulerStats {
  size_t waiting = 0, running = 0;
  int kv_blocks_used = 0, kv_blocks_free = 0;
  int kv_blocks_cached = 0;  // idle prefix-cache blocks, counted in kv_blocks_free
  PrefixCacheStats prefix_cache;
  uint64_t prompt_tokens = 0, completion_tokens = 0, steps = 0, preemptions = 0;
  int last_batch_tokens = 0, last_batch_seqs = 0;
};

class QueueFullError : public Error {
 public:
  using Error::Error;
};

class Scheduler {
 public:
  using RequestId = uint64_t;

  Scheduler(LlamaModel& model, KvCache& cache, int context, SchedulerOptions opts = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Throws hearth::Error for an empty prompt, a prompt that leaves no room in the context, a
  // token id outside the vocabulary, or one that can never fit the KV cache; QueueFullError
  // when the queue is full. The callback then hears every token and exactly one finish.
  RequestId submit(std::vector<int32_t> prompt, GenerationParams params, TokenCallback cb);
  void cancel(RequestId id);
  // Stops accepting work; drain=true lets running and queued requests finish first.
  void shutdown(bool drain);
  SchedulerStats stats() const;
  int context() const { return context_; }

 private:
  struct Seq;
  void loop();
  void expire_waiting(std::vector<std::shared_ptr<Seq>>& out);  // under mu_
  void step(std::vector<std::shared_ptr<Seq>>& running);
  void finish(Seq& s, FinishReason r, const std::string& error = "");
  void preempt(std::vector<std::shared_ptr<Seq>>& running, size_t index);

  LlamaModel& model_;
  KvCache& cache_;
  int context_;
  SchedulerOptions opts_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Seq>> waiting_;
  std::unordered_set<RequestId> cancelled_;
  RequestId next_id_ = 1;
  bool stopping_ = false, draining_ = false;
  SchedulerStats stats_;
  BatchBuilder builder_;  // the step thread's: inputs and results reused from step to step
  StepResult result_;
  std::vector<ResultRef> refs_;
  std::thread thread_;
};

// Convenience for the CLI and tests: submit and wait for the whole result.
struct GenerationResult {
  std::vector<int32_t> tokens;
  std::vector<TokenEvent> events;
  FinishReason finish = FinishReason::None;
  std::string error;
};
GenerationResult generate_blocking(Scheduler& s, std::vector<int32_t> prompt, GenerationParams p);

}  // namespace hearth
