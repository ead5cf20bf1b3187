#pragma once
// Stop strings over streamed text. Text that could still turn out to be the start of a stop
// string is held back, so no part of a stop string ever reaches the client, not even split
// across chunks; a match ends the text just before the stop string.
#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);  // empty strings are ignored

  struct Result {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string matched; nothing after `text` is ever emitted
  };
  // After a match every push returns nothing.
  Result push(std::string_view text);
  // At the end of generation: whatever was held back (no stop string completed).
  std::string flush();

  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string that matched
  size_t released() const { return released_; }            // bytes emitted so far
  bool active() const { return !stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  std::string matched_;
  size_t released_ = 0;
  bool stopped_ = false;
};

}  // namespace hearth::server
