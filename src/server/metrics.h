#pragma once
// Prometheus text exposition of what the server and its scheduler are doing. Counters and
// histograms are updated from the HTTP and scheduler threads; render() takes a snapshot.
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/scheduler.h"

namespace hearth::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // upper bounds, ascending; +Inf is implicit
  void observe(double v);
  // Appends the _bucket/_sum/_count lines for `name`.
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& endpoint, int status);
  void add_tokens(uint64_t prompt, uint64_t completion);
  void observe_ttft(double seconds);
  void observe_inter_token(double seconds);
  void observe_request(double seconds);
  void count_cancelled();         // the client went away before the end
  void add_in_flight(int delta);  // generation requests being served
  std::string render(const SchedulerStats& s) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0, cancelled_ = 0;
  std::atomic<int> in_flight_{0};
  Histogram ttft_, itl_, duration_;
};

}  // namespace hearth::server
