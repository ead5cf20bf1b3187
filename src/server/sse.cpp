#include "server/sse.h"

namespace hearth::server {

std::string to_wire(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string to_wire(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// dump() never emits a raw newline (they are escaped in strings), so one data line suffices.
std::string sse_event(const nlohmann::json& payload) {
  return "data: " + to_wire(payload) + "\n\n";
}

std::string sse_event(const nlohmann::ordered_json& payload) {
  return "data: " + to_wire(payload) + "\n\n";
}

}  // namespace hearth::server
