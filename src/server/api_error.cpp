#include "server/api_error.h"

namespace hearth::server {

nlohmann::ordered_json ApiError::body() const {
  using oj = nlohmann::ordered_json;
  oj e;
  e["message"] = what();
  e["type"] = type_;
  e["param"] = param_.empty() ? oj(nullptr) : oj(param_);
  e["code"] = code_.empty() ? oj(nullptr) : oj(code_);
  oj out;
  out["error"] = e;
  return out;
}

ApiError invalid_request(const std::string& message, const std::string& param,
                         const std::string& code) {
  return ApiError(400, message, "invalid_request_error", param, code);
}

}  // namespace hearth::server
