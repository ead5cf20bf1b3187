#include "server/metrics.h"

#include <cstdio>

namespace hearth::server {
namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, double v) {
  out += name + ' ' + num(v) + '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name) const {
  uint64_t acc = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    acc += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(acc) + '\n';
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + '\n';
  out += name + "_sum " + num(sum_) + '\n';
  out += name + "_count " + std::to_string(count_) + '\n';
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      duration_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::add_tokens(uint64_t prompt, uint64_t completion) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt;
  completion_tokens_ += completion;
}

void Metrics::observe_ttft(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(s);
}

void Metrics::observe_inter_token(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  itl_.observe(s);
}

void Metrics::observe_request(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  duration_.observe(s);
}

void Metrics::count_cancelled() {
  std::lock_guard<std::mutex> lock(mu_);
  ++cancelled_;
}

void Metrics::add_in_flight(int delta) {
  in_flight_ += delta;
}

std::string Metrics::render(const SchedulerStats& s) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "hearth_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (auto& [key, n] : requests_)
    out += "hearth_requests_total{endpoint=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + '\n';
  header(out, "hearth_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
  sample(out, "hearth_prompt_tokens_total", static_cast<double>(prompt_tokens_));
  header(out, "hearth_completion_tokens_total", "counter",
         "Tokens generated for finished requests.");
  sample(out, "hearth_completion_tokens_total", static_cast<double>(completion_tokens_));
  header(out, "hearth_requests_cancelled_total", "counter",
         "Generations cancelled because the client disconnected.");
  sample(out, "hearth_requests_cancelled_total", static_cast<double>(cancelled_));
  header(out, "hearth_http_requests_in_flight", "gauge", "Generation requests being served.");
  sample(out, "hearth_http_requests_in_flight", in_flight_.load());
  header(out, "hearth_queue_depth", "gauge", "Sequences waiting for a batch slot.");
  sample(out, "hearth_queue_depth", static_cast<double>(s.waiting));
  header(out, "hearth_running_sequences", "gauge", "Sequences in the running batch.");
  sample(out, "hearth_running_sequences", static_cast<double>(s.running));
  header(out, "hearth_batch_tokens", "gauge", "Tokens in the last forward step.");
  sample(out, "hearth_batch_tokens", s.last_batch_tokens);
  header(out, "hearth_batch_sequences", "gauge", "Sequences in the last forward step.");
  sample(out, "hearth_batch_sequences", s.last_batch_seqs);
  header(out, "hearth_kv_blocks_used", "gauge", "KV cache blocks in use.");
  sample(out, "hearth_kv_blocks_used", s.kv_blocks_used);
  header(out, "hearth_kv_blocks_free", "gauge", "KV cache blocks free.");
  sample(out, "hearth_kv_blocks_free", s.kv_blocks_free);
  header(out, "hearth_kv_blocks_cached", "gauge",
         "Idle KV blocks kept for the prefix cache (counted as free: evicted when needed).");
  sample(out, "hearth_kv_blocks_cached", s.kv_blocks_cached);
  header(out, "hearth_prefix_cache_hits_total", "counter",
         "Full prompt KV blocks taken from the prefix cache instead of computed.");
  sample(out, "hearth_prefix_cache_hits_total", static_cast<double>(s.prefix_cache.hits));
  header(out, "hearth_prefix_cache_misses_total", "counter",
         "Full prompt KV blocks looked up in the prefix cache and not found.");
  sample(out, "hearth_prefix_cache_misses_total", static_cast<double>(s.prefix_cache.misses));
  header(out, "hearth_prefix_cache_evictions_total", "counter",
         "Cached KV blocks evicted (least recently used first) to make room.");
  sample(out, "hearth_prefix_cache_evictions_total", static_cast<double>(s.prefix_cache.evictions));
  header(out, "hearth_scheduler_steps_total", "counter", "Batched forward steps.");
  sample(out, "hearth_scheduler_steps_total", static_cast<double>(s.steps));
  header(out, "hearth_preemptions_total", "counter", "Sequences preempted for KV blocks.");
  sample(out, "hearth_preemptions_total", static_cast<double>(s.preemptions));
  header(out, "hearth_scheduler_prompt_tokens_total", "counter",
         "Prompt tokens fed through the model (recomputation included).");
  sample(out, "hearth_scheduler_prompt_tokens_total", static_cast<double>(s.prompt_tokens));
  header(out, "hearth_scheduler_generated_tokens_total", "counter",
         "Tokens sampled by the scheduler.");
  sample(out, "hearth_scheduler_generated_tokens_total", static_cast<double>(s.completion_tokens));
  header(out, "hearth_time_to_first_token_seconds", "histogram",
         "From request arrival to its first generated token.");
  ttft_.render(out, "hearth_time_to_first_token_seconds");
  header(out, "hearth_inter_token_latency_seconds", "histogram",
         "Between consecutive tokens of one sequence.");
  itl_.render(out, "hearth_inter_token_latency_seconds");
  header(out, "hearth_request_duration_seconds", "histogram",
         "From request arrival to its last token.");
  duration_.render(out, "hearth_request_duration_seconds");
  return out;
}

}  // namespace hearth::server
