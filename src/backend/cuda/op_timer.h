#pragma once
// HEARTH_CUDA_PROFILE=1: the GPU time of every backend op, from CUDA events recorded around each
// launch, summed by label (op, weight type, shape) and printed to stderr when the backend is
// destroyed. Meant for eager runs (HEARTH_CUDA_GRAPHS=0): a replayed graph runs as one launch.
#include <cuda_runtime.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hearth::cuda {

class OpTimer {
 public:
  explicit OpTimer(cudaStream_t stream);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

  bool on() const { return on_; }
  void before(const std::string& label);
  void after();
  // The stream has been synchronized: read the events recorded so far.
  void collect();
  void step() { ++steps_; }

 private:
  cudaEvent_t take();
  struct Pending {
    std::string label;
    cudaEvent_t start, stop;
  };
  struct Total {
    int64_t calls = 0;
    double ms = 0;
  };
  cudaStream_t stream_;
  bool on_ = false;
  int64_t steps_ = 0;
  std::vector<Pending> pending_;
  std::vector<cudaEvent_t> free_;
  std::map<std::string, Total> totals_;
};

}  // namespace hearth::cuda
