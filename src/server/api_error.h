#pragma once
// An error a client sees as an OpenAI error object with an HTTP status:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "top_p", "code": null}}
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace hearth::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type, std::string param = "",
           std::string code = "")
      : std::runtime_error(message),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }  // "" -> null
  const std::string& code() const { return code_; }    // "" -> null
  nlohmann::ordered_json body() const;                 // message, type, param, code: OpenAI's order

 private:
  int status_;
  std::string type_, param_, code_;
};

// 400: the request is malformed or a value is out of range; param names the field.
ApiError invalid_request(const std::string& message, const std::string& param = "",
                         const std::string& code = "");

}  // namespace hearth::server
