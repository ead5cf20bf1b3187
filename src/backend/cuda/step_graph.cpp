#include "backend/cuda/step_graph.h"

#include <cstdio>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace hearth::cuda {

namespace {

// A model whose steps keep diverging from their captures gains nothing from graphs: past this many
// divergences, and more than one per four replays, they are switched off.
constexpr int kMaxMismatches = 8;

}  // namespace

StepGraphs::~StepGraphs() {
  if (capturing_) end_capture_discard();
  for (auto& [key, g] : graphs_)
    if (g.exec) cudaGraphExecDestroy(g.exec);
}

void StepGraphs::end_capture_discard() noexcept {
  cudaGraph_t g = nullptr;
  cudaStreamEndCapture(stream_, &g);
  if (g) cudaGraphDestroy(g);
  (void)cudaGetLastError();
  capturing_ = false;
}

void StepGraphs::switch_off(const std::string& why) {
  if (disabled_) return;
  disabled_ = true;
  off_reason_ = why;
  std::fprintf(stderr, "hearth: CUDA graphs switched off (%s); decoding goes on without them\n",
               why.c_str());
}

GraphStats StepGraphs::stats() const {
  GraphStats g;
  g.enabled = !disabled_;
  g.captured = captured_steps_;
  g.replayed = replayed_steps_;
  g.diverged = diverged_steps_;
  g.off_reason = off_reason_;
  return g;
}

void StepGraphs::begin(uint64_t key) {
  abandon();
  if (disabled_ || uncapturable_.count(key)) return;
  key_ = key;
  pos_ = 0;
  captured_.clear();
  capturing_ = false;
  auto it = graphs_.find(key);
  replay_ = it == graphs_.end() ? nullptr : &it->second;
  mode_ = replay_ ? Mode::Replay : Mode::Capture;
}

void StepGraphs::call(OpSig sig, std::function<void()> run) {
  switch (mode_) {
    case Mode::Eager:
      run();
      return;
    case Mode::Replay: {
      const Graph& g = graphs_.at(key_);
      if (pos_ < g.ops.size() && g.ops[pos_].sig == sig) {
        ++pos_;
        return;
      }
      abandon();  // runs the calls skipped so far
      run();
      return;
    }
    case Mode::Capture:
      if (!capturing_) {
        // Relaxed: the host work between calls (event waits, pinned copies) stays allowed.
        HEARTH_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
        capturing_ = true;
      }
      captured_.push_back({std::move(sig), run});
      try {
        run();
      } catch (...) {
        end_capture_discard();
        captured_.clear();
        mode_ = Mode::Eager;
        throw;
      }
      return;
  }
}

void StepGraphs::finish() {
  if (mode_ == Mode::Replay) {
    const Graph& g = graphs_.at(key_);
    if (pos_ != g.ops.size()) {
      abandon();  // fewer calls than captured
      return;
    }
    mode_ = Mode::Eager;
    replay_ = nullptr;
    HEARTH_CUDA_CHECK(cudaGraphLaunch(g.exec, stream_));
    ++replayed_steps_;
    return;
  }
  if (mode_ != Mode::Capture) return;
  mode_ = Mode::Eager;
  std::vector<Op> ops = std::move(captured_);
  captured_.clear();
  if (!capturing_) return;  // the step made no calls
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(stream_, &graph);
  cudaGraphExec_t exec = nullptr;
  if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    // Something in the step cannot be captured: run it for real, and run steps of this shape
    // eagerly from now on (all steps, after several shapes failed).
    (void)cudaGetLastError();
    if (uncapturable_.empty())
      std::fprintf(stderr,
                   "hearth: a step could not be captured as a CUDA graph (%s); steps of "
                   "its shape run without graphs\n",
                   cudaGetErrorString(e));
    uncapturable_.insert(key_);
    if (uncapturable_.size() > kMaxMismatches)
      switch_off(std::string("steps could not be captured: ") + cudaGetErrorString(e));
    for (auto& op : ops) op.run();
    return;
  }
  Graph& g = graphs_[key_];
  if (g.exec) cudaGraphExecDestroy(g.exec);
  g.ops = std::move(ops);
  g.exec = exec;
  HEARTH_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
  ++captured_steps_;
}

void StepGraphs::abandon() {
  if (mode_ == Mode::Capture) {
    mode_ = Mode::Eager;
    if (capturing_) end_capture_discard();
    std::vector<Op> ops = std::move(captured_);
    captured_.clear();
    for (auto& op : ops) op.run();
  } else if (mode_ == Mode::Replay) {
    mode_ = Mode::Eager;
    replay_ = nullptr;
    auto it = graphs_.find(key_);
    Graph g = std::move(it->second);
    graphs_.erase(it);
    if (g.exec) cudaGraphExecDestroy(g.exec);
    if (++diverged_steps_ > kMaxMismatches && diverged_steps_ * 4 > replayed_steps_)
      switch_off(std::to_string(diverged_steps_) + " decode steps differed from their captures");
    for (size_t i = 0; i < pos_; ++i) g.ops[i].run();
  }
}

}  // namespace hearth::cuda
