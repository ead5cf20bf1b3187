#include "server/ids.h"

#include <mutex>
#include <random>

namespace hearth::server {
namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 gen([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  return gen;
}
std::mutex mu;

}  // namespace

std::string random_id(const std::string& prefix, int length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out = prefix;
  std::lock_guard<std::mutex> lock(mu);
  for (int i = 0; i < length; ++i) out += kAlphabet[rng()() % (sizeof(kAlphabet) - 1)];
  return out;
}

uint64_t random_seed() {
  std::lock_guard<std::mutex> lock(mu);
  return rng()();
}

}  // namespace hearth::server
