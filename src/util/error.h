#pragma once
// One exception type for everything a user can cause. The message is the one line a person sees:
// it names where (file, tensor, field, request) and what is wrong.
#include <stdexcept>
#include <string>

namespace hearth {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  // "where: what" — where is a file path, tensor name or request id.
  Error(const std::string& where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what) {}
};

}  // namespace hearth
