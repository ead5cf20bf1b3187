#pragma once
// Server-sent events as the OpenAI streaming API frames them: one JSON object per event,
// "data: <json>\n\n", ending with "data: [DONE]\n\n".
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace hearth::server {

std::string sse_event(const nlohmann::json& payload);
std::string sse_event(const nlohmann::ordered_json& payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";
// A comment line: clients ignore it; writing it tells whether the client is still there.
inline constexpr std::string_view kSseKeepAlive = ": keep-alive\n\n";

// Serializes for the wire: compact, and never throws on ill-formed UTF-8 (replaced).
std::string to_wire(const nlohmann::json& j);
std::string to_wire(const nlohmann::ordered_json& j);

}  // namespace hearth::server
