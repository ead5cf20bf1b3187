#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal and not --quiet.
#include <chrono>
#include <cstddef>
#include <string>

namespace hearth {

class Progress {
 public:
  Progress(std::string label, bool quiet);
  ~Progress();
  void update(size_t done, size_t total);
  void finish();

 private:
  std::string label_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace hearth
