#include "format/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"

namespace hearth {

namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit

DType parse_dtype(const std::string& path, const std::string& name, const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  throw Error(path,
              "unsupported dtype " + s + " in tensor '" + name + "' (expected BF16, F16 or F32)");
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(std::make_shared<MappedFile>(path)) {
  const size_t size = file_->size();
  if (size < 8) throw Error(path, "truncated: too short for a safetensors header");
  uint64_t header_len;
  std::memcpy(&header_len, file_->data(), 8);
  if (header_len > kMaxHeader || header_len > size - 8)
    throw Error(path, "not a safetensors file or truncated (header length " +
                          std::to_string(header_len) + " exceeds the file)");
  const char* hbegin = reinterpret_cast<const char*>(file_->data() + 8);
  if (header_len == 0 || hbegin[0] != '{') throw Error(path, "not a safetensors file (bad header)");

  // nlohmann keeps the last of duplicate keys; a duplicated tensor name must be an error instead.
  std::set<std::string> names;
  std::string duplicate;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (depth == 1 && ev == nlohmann::json::parse_event_t::key) {
      auto key = parsed.get<std::string>();
      if (!names.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbegin, hbegin + header_len, cb);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("safetensors header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) throw Error(path, "duplicate tensor '" + duplicate + "'");
  if (!header.is_object()) throw Error(path, "safetensors header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  for (auto& item : header.items()) {
    // Named, not a structured binding: lambdas may not capture those before clang 16 (make fuzz).
    const std::string& name = item.key();
    auto& info = item.value();
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) {
      return Error(path, "tensor '" + name + "': " + what);
    };
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
        !info.contains("data_offsets"))
      throw bad("entry needs dtype, shape and data_offsets");
    if (!info["dtype"].is_string()) throw bad("dtype is not a string");
    TensorView tv;
    tv.name = name;
    tv.file = path;
    tv.dtype = parse_dtype(path, name, info["dtype"].get<std::string>());
    const auto& shape = info["shape"];
    if (!shape.is_array() || shape.size() > 4)
      throw bad("shape must be an array of at most 4 dims");
    unsigned __int128 numel = 1;
    for (auto& d : shape) {
      if (!d.is_number_unsigned()) throw bad("shape holds a non-integer or negative dimension");
      uint64_t x = d.get<uint64_t>();
      if (x > (uint64_t{1} << 40)) throw bad("dimension too large");
      tv.shape.push_back(static_cast<int64_t>(x));
      numel *= x;
    }
    const auto& off = info["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      throw bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                "] extend beyond the end of the file (truncated?)");
    unsigned __int128 want = numel * dtype_info(tv.dtype).block_bytes;
    if (want != e - b)
      throw bad("holds " + std::to_string(e - b) + " bytes but shape " + shape_str(tv.shape) +
                " of " + dtype_name(tv.dtype) + " needs " +
                std::to_string(static_cast<uint64_t>(want)));
    tv.data = file_->data() + data_start + b;
    tv.nbytes = static_cast<size_t>(e - b);
    tensors_.push_back(std::move(tv));
  }
}

}  // namespace hearth
