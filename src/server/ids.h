#pragma once
// Random identifiers and seeds for responses ("chatcmpl-...", "call_...").
#include <cstdint>
#include <string>

namespace hearth::server {

std::string random_id(const std::string& prefix, int length = 24);
uint64_t random_seed();

}  // namespace hearth::server
