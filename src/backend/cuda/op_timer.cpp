#include "backend/cuda/op_timer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace hearth::cuda {

OpTimer::OpTimer(cudaStream_t stream) : stream_(stream) {
  const char* env = std::getenv("HEARTH_CUDA_PROFILE");
  on_ = env != nullptr && env[0] == '1';
}

OpTimer::~OpTimer() {
  if (!on_) return;
  cudaStreamSynchronize(stream_);
  collect();
  double all = 0;
  for (auto& [label, t] : totals_) all += t.ms;
  std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  std::fprintf(
      stderr, "hearth GPU op profile: %lld steps, %.3f ms of kernels in all (%.3f per step)\n",
      static_cast<long long>(steps_), all, steps_ ? all / static_cast<double>(steps_) : 0.0);
  std::fprintf(stderr, "%-44s %9s %11s %10s %7s\n", "op", "calls", "total ms", "mean us", "share");
  for (auto& [label, t] : rows)
    std::fprintf(stderr, "%-44s %9lld %11.3f %10.2f %6.1f%%\n", label.c_str(),
                 static_cast<long long>(t.calls), t.ms,
                 1000.0 * t.ms / static_cast<double>(t.calls), all > 0 ? 100.0 * t.ms / all : 0.0);
  for (auto& p : pending_) {
    cudaEventDestroy(p.start);
    cudaEventDestroy(p.stop);
  }
  for (cudaEvent_t e : free_) cudaEventDestroy(e);
}

cudaEvent_t OpTimer::take() {
  if (!free_.empty()) {
    cudaEvent_t e = free_.back();
    free_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  cudaEventCreate(&e);
  return e;
}

void OpTimer::before(const std::string& label) {
  Pending p{label, take(), nullptr};
  cudaEventRecord(p.start, stream_);
  pending_.push_back(std::move(p));
}

void OpTimer::after() {
  if (pending_.empty() || pending_.back().stop) return;
  pending_.back().stop = take();
  cudaEventRecord(pending_.back().stop, stream_);
}

void OpTimer::collect() {
  for (auto& p : pending_) {
    float ms = 0;
    if (p.stop && cudaEventElapsedTime(&ms, p.start, p.stop) == cudaSuccess) {
      Total& t = totals_[p.label];
      ++t.calls;
      t.ms += ms;
    }
    free_.push_back(p.start);
    if (p.stop) free_.push_back(p.stop);
  }
  pending_.clear();
  (void)cudaGetLastError();
}

}  // namespace hearth::cuda
