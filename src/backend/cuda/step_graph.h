#pragma once
// Decode steps as CUDA graphs (on unless HEARTH_CUDA_GRAPHS=0). The model calls the backend op by
// op; a decode step's calls are the same every token (same kernels, same pointers: only data in
// device memory changes), so the first step of a shape is captured into a graph, and later steps
// are checked call by call against the capture and, when every call matched, run as one graph
// launch instead of hundreds of kernel launches.
//
// Each call is kept with its arguments as a closure: when a later step diverges from the capture,
// the calls skipped so far are run for real, in order, and the graph is dropped. A mismatch costs
// time, never a wrong result. The step's key must capture everything that changes the calls (token
// count, sequences, attention's split count), so that steady decoding never mismatches; if steps
// keep mismatching anyway, graphs are switched off with a warning on stderr.
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace hearth::cuda {

// A call's identity: a 64-bit hash of its op number and every argument. Matching a replayed step
// call by call must cost next to nothing on the host: the GPU waits for it.
using OpSig = uint64_t;

class SigHash {
 public:
  void add(uint64_t w) {
    // splitmix64's finalizer on each word, folded in order.
    w += 0x9e3779b97f4a7c15ull;
    w = (w ^ (w >> 30)) * 0xbf58476d1ce4e5b9ull;
    w = (w ^ (w >> 27)) * 0x94d049bb133111ebull;
    h_ = (h_ ^ (w ^ (w >> 31))) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

class StepGraphs {
 public:
  StepGraphs(cudaStream_t stream, bool enabled) : stream_(stream), disabled_(!enabled) {
    if (!enabled) off_reason_ = "HEARTH_CUDA_GRAPHS=0";
  }
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  // Capturing or replaying a step (calls are not simply run).
  bool active() const { return mode_ != Mode::Eager; }
  // A step whose shape is `key` starts; its inputs are already on the device.
  void begin(uint64_t key);
  // Replaying and the call matches the capture's next one: it is skipped (true).
  bool try_replay(OpSig sig) {
    if (mode_ != Mode::Replay || !replay_ || pos_ >= replay_->ops.size() ||
        replay_->ops[pos_].sig != sig)
      return false;
    ++pos_;
    return true;
  }
  // One backend call: run it now, capture it, or (replaying, after a mismatch) run what the
  // capture skipped so far and this call.
  void call(OpSig sig, std::function<void()> run);
  // The step's results are wanted: ends the capture and launches the new graph, or launches the
  // replayed one if every call matched.
  void finish();
  // Leaves graph mode with every call so far executed for real. For anything that cannot happen
  // inside a capture (allocation, host copies) and for a step that ends without results.
  void abandon();
  GraphStats stats() const;

 private:
  enum class Mode { Eager, Capture, Replay };
  struct Op {
    OpSig sig;
    std::function<void()> run;
  };
  struct Graph {
    std::vector<Op> ops;
    cudaGraphExec_t exec = nullptr;
  };
  void end_capture_discard() noexcept;
  void switch_off(const std::string& why);

  cudaStream_t stream_;
  bool disabled_;
  Mode mode_ = Mode::Eager;
  uint64_t key_ = 0;
  std::vector<Op> captured_;
  bool capturing_ = false;  // cudaStreamBeginCapture done for this step
  std::map<uint64_t, Graph> graphs_;
  std::set<uint64_t> uncapturable_;  // keys whose capture failed: those steps run eagerly
  size_t pos_ = 0;                   // calls matched so far while replaying
  const Graph* replay_ = nullptr;    // the graph being replayed
  int64_t captured_steps_ = 0, replayed_steps_ = 0, diverged_steps_ = 0;
  std::string off_reason_;
};

}  // namespace hearth::cuda
