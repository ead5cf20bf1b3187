#include "server/stop_strings.h"

#include <algorithm>

namespace hearth::server {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

StopStringMatcher::Result StopStringMatcher::push(std::string_view text) {
  Result r;
  if (stopped_) return r;
  held_.append(text);
  // The earliest complete match wins; held_ never contains one already, so search it whole.
  size_t first = std::string::npos;
  for (auto& s : stops_)
    if (size_t at = held_.find(s); at < first) {
      first = at;
      matched_ = s;
    }
  if (first != std::string::npos) {
    r.text = held_.substr(0, first);
    r.stopped = stopped_ = true;
    released_ += r.text.size();
    held_.clear();
    return r;
  }
  // Keep the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (auto& s : stops_) {
    const size_t most = std::min(s.size() - 1, held_.size());
    for (size_t k = most; k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  }
  r.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  released_ += r.text.size();
  return r;
}

std::string StopStringMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(held_);
  held_.clear();
  released_ += out.size();
  return out;
}

}  // namespace hearth::server
