#include "format/gguf.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "format/byte_reader.h"
#include "util/error.h"

namespace hearth {

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

namespace {

constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 4;

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::BOOL:
      return 1;
    case GgufType::UINT16:
    case GgufType::INT16:
      return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32:
      return 4;
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::FLOAT64:
      return 8;
    default:
      return 0;
  }
}

bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::UINT16:
    case GgufType::INT16:
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::BOOL:
      return true;
    default:
      return false;
  }
}

GgufType read_type(ByteReader& r, const std::string& key) {
  uint32_t t = r.read<uint32_t>("metadata value type");
  if (t > static_cast<uint32_t>(GgufType::FLOAT64))
    throw Error(r.file(), "metadata key '" + key + "' has unknown value type " + std::to_string(t));
  return static_cast<GgufType>(t);
}

std::string read_gguf_string(ByteReader& r, const char* what) {
  uint64_t len = r.read<uint64_t>(what);
  if (len > r.remaining())
    throw Error(r.file(), std::string("truncated while reading ") + what + " (length " +
                              std::to_string(len) + " exceeds the file)");
  return r.read_string(what, len);
}

// Reads one scalar into v (integers go to both i and u, so either getter works).
void read_scalar(ByteReader& r, GgufType t, GgufValue& v) {
  switch (t) {
    case GgufType::UINT8:
      v.u = r.read<uint8_t>("uint8 value");
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::INT8:
      v.i = r.read<int8_t>("int8 value");
      v.u = static_cast<uint64_t>(v.i);
      break;
    case GgufType::UINT16:
      v.u = r.read<uint16_t>("uint16 value");
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::INT16:
      v.i = r.read<int16_t>("int16 value");
      v.u = static_cast<uint64_t>(v.i);
      break;
    case GgufType::UINT32:
      v.u = r.read<uint32_t>("uint32 value");
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::INT32:
      v.i = r.read<int32_t>("int32 value");
      v.u = static_cast<uint64_t>(v.i);
      break;
    case GgufType::UINT64:
      v.u = r.read<uint64_t>("uint64 value");
      v.i = static_cast<int64_t>(v.u);
      break;
    case GgufType::INT64:
      v.i = r.read<int64_t>("int64 value");
      v.u = static_cast<uint64_t>(v.i);
      break;
    case GgufType::BOOL: {
      uint8_t b = r.read<uint8_t>("bool value");
      v.i = b != 0;
      v.u = b != 0;
      break;
    }
    case GgufType::FLOAT32:
      v.f = r.read<float>("float32 value");
      break;
    case GgufType::FLOAT64:
      v.f = r.read<double>("float64 value");
      break;
    default:
      break;
  }
}

GgufValue read_value(ByteReader& r, GgufType t, const std::string& key, int depth) {
  GgufValue v;
  v.type = t;
  if (t == GgufType::STRING) {
    v.s = read_gguf_string(r, "string value");
  } else if (t == GgufType::ARRAY) {
    if (depth >= kMaxArrayDepth)
      throw Error(r.file(), "metadata key '" + key + "' nests arrays too deeply");
    v.elem_type = read_type(r, key);
    uint64_t n = r.read<uint64_t>("array length");
    // Every element takes at least one byte (strings at least 8), so a count beyond the bytes
    // left is a lie we can reject before allocating for it.
    size_t min_elem = v.elem_type == GgufType::STRING  ? 8
                      : v.elem_type == GgufType::ARRAY ? 12
                                                       : scalar_size(v.elem_type);
    if (n > r.remaining() / min_elem)
      throw Error(r.file(), "metadata key '" + key + "' claims " + std::to_string(n) +
                                " array elements, more than the file holds");
    if (v.elem_type == GgufType::STRING) {
      v.strings.reserve(n);
      for (uint64_t k = 0; k < n; ++k)
        v.strings.push_back(read_gguf_string(r, "string array element"));
    } else if (v.elem_type == GgufType::ARRAY) {
      v.arrays.reserve(n);
      for (uint64_t k = 0; k < n; ++k)
        v.arrays.push_back(read_value(r, GgufType::ARRAY, key, depth + 1));
    } else if (v.elem_type == GgufType::FLOAT32 || v.elem_type == GgufType::FLOAT64) {
      v.floats.reserve(n);
      for (uint64_t k = 0; k < n; ++k) {
        GgufValue e;
        read_scalar(r, v.elem_type, e);
        v.floats.push_back(e.f);
      }
    } else {
      v.ints.reserve(n);
      for (uint64_t k = 0; k < n; ++k) {
        GgufValue e;
        read_scalar(r, v.elem_type, e);
        v.ints.push_back(v.elem_type == GgufType::UINT64 ? static_cast<int64_t>(e.u) : e.i);
      }
    }
  } else {
    read_scalar(r, t, v);
  }
  return v;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                "int32",  "float32", "bool",   "string", "array",
                                "uint64", "int64",   "float64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

size_t GgufValue::array_size() const {
  return strings.size() + ints.size() + floats.size() + arrays.size();
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  ByteReader r(file_->data(), file_->size(), path);
  r.need(4, "magic");
  if (std::memcmp(file_->data(), "GGUF", 4) != 0) throw Error(path, "not a GGUF file (bad magic)");
  r.skip(4, "magic");
  version_ = r.read<uint32_t>("version");
  if (version_ < 2 || version_ > 3)
    throw Error(path,
                "unsupported GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Smallest possible entries: a tensor info takes >= 8+4+8+4+8 bytes, a key/value >= 8+4+1.
  if (n_tensors > r.remaining() / 32 || n_kv > r.remaining() / 13)
    throw Error(path, "header claims " + std::to_string(n_tensors) + " tensors and " +
                          std::to_string(n_kv) + " metadata entries, more than the file holds");

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = read_gguf_string(r, "metadata key");
    GgufType t = read_type(r, key);
    GgufValue v = read_value(r, t, key, 0);
    if (!kv_.emplace(key, std::move(v)).second)
      throw Error(path, "duplicate metadata key '" + key + "'");
  }
  if (auto it = kv_.find("general.alignment"); it != kv_.end()) {
    if (!is_integer(it->second.type) || it->second.u == 0 || it->second.u > (1u << 20) ||
        (it->second.u & (it->second.u - 1)) != 0)
      throw Error(path, "general.alignment must be a power of two");
    alignment_ = static_cast<size_t>(it->second.u);
  }

  struct RawInfo {
    std::string name;
    std::vector<int64_t> shape;
    uint32_t type;
    uint64_t offset;
  };
  std::vector<RawInfo> infos;
  infos.reserve(n_tensors);
  std::map<std::string, size_t> seen;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    RawInfo ti;
    ti.name = read_gguf_string(r, "tensor name");
    uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      throw Error(path, "tensor '" + ti.name + "' has " + std::to_string(n_dims) + " dimensions");
    std::vector<int64_t> ne(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t x = r.read<uint64_t>("tensor dimension");
      if (x == 0 || x > (uint64_t{1} << 40))
        throw Error(path, "tensor '" + ti.name + "' has invalid dimension " + std::to_string(x));
      ne[d] = static_cast<int64_t>(x);
    }
    ti.shape.assign(ne.rbegin(), ne.rend());
    ti.type = r.read<uint32_t>("tensor type");
    ti.offset = r.read<uint64_t>("tensor offset");
    if (!seen.emplace(ti.name, k).second) throw Error(path, "duplicate tensor '" + ti.name + "'");
    infos.push_back(std::move(ti));
  }

  size_t data_start = (r.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > file_->size() && n_tensors > 0)
    throw Error(path, "truncated: tensor data section is missing");

  tensors_.reserve(infos.size());
  for (auto& ti : infos) {
    auto dt = dtype_from_ggml(ti.type);
    if (!dt)
      throw Error(path,
                  "unsupported type " + ggml_type_name(ti.type) + " in tensor '" + ti.name + "'");
    const auto& info = dtype_info(*dt);
    TensorView tv;
    tv.name = ti.name;
    tv.dtype = *dt;
    tv.shape = ti.shape;
    tv.file = path;
    int64_t inner = ti.shape.back();
    if (inner % info.block_size != 0)
      throw Error(path, "tensor '" + ti.name + "' of type " + info.name + " has row length " +
                            std::to_string(inner) + ", not a multiple of the block size " +
                            std::to_string(info.block_size));
    // Element count fits: each dim <= 2^40 and we check the product as we go.
    unsigned __int128 numel = 1;
    for (auto d : ti.shape) numel *= static_cast<unsigned __int128>(d);
    unsigned __int128 bytes = numel / info.block_size * info.block_bytes;
    if (ti.offset % alignment_ != 0)
      throw Error(path, "tensor '" + ti.name + "' offset " + std::to_string(ti.offset) +
                            " is not aligned to " + std::to_string(alignment_));
    unsigned __int128 end = static_cast<unsigned __int128>(data_start) + ti.offset + bytes;
    if (end > file_->size())
      throw Error(path, "tensor '" + ti.name + "' (offset " + std::to_string(ti.offset) + ", " +
                            std::to_string(static_cast<uint64_t>(bytes)) +
                            " bytes) extends beyond the end of the file (truncated?)");
    tv.nbytes = static_cast<size_t>(bytes);
    tv.data = file_->data() + data_start + ti.offset;
    tensors_.push_back(std::move(tv));
  }
  // Overlapping tensors mean a corrupt or hostile index: refuse rather than alias weights.
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].data < tensors_[b].data; });
  for (size_t i = 1; i < order.size(); ++i) {
    const auto& prev = tensors_[order[i - 1]];
    const auto& cur = tensors_[order[i]];
    if (prev.data + prev.nbytes > cur.data)
      throw Error(path, "tensor '" + prev.name + "' overlaps tensor '" + cur.name + "'");
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {
const GgufValue& require(const GgufFile& g, const std::string& key) {
  const GgufValue* v = g.find(key);
  if (!v) throw Error(g.path(), "missing metadata key '" + key + "'");
  return *v;
}
[[noreturn]] void wrong_type(const GgufFile& g, const std::string& key, const GgufValue& v,
                             const char* expected) {
  std::string got = gguf_type_name(v.type);
  if (v.type == GgufType::ARRAY) got += std::string(" of ") + gguf_type_name(v.elem_type);
  throw Error(g.path(), "metadata key '" + key + "' has type " + got + ", expected " + expected);
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const auto& v = require(*this, key);
  if (v.type != GgufType::STRING) wrong_type(*this, key, v, "string");
  return v.s;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const auto& v = require(*this, key);
  if (!is_integer(v.type)) wrong_type(*this, key, v, "an integer");
  if (v.type == GgufType::UINT64 &&
      v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw Error(path(), "metadata key '" + key + "' is out of range");
  return v.i;
}

double GgufFile::get_float(const std::string& key) const {
  const auto& v = require(*this, key);
  if (v.type == GgufType::FLOAT32 || v.type == GgufType::FLOAT64) return v.f;
  if (is_integer(v.type)) return static_cast<double>(v.i);
  wrong_type(*this, key, v, "a number");
}

bool GgufFile::get_bool(const std::string& key) const {
  const auto& v = require(*this, key);
  if (v.type != GgufType::BOOL) wrong_type(*this, key, v, "bool");
  return v.i != 0;
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const auto& v = require(*this, key);
  if (v.type != GgufType::ARRAY || v.elem_type != GgufType::STRING)
    wrong_type(*this, key, v, "array of string");
  return v.strings;
}

const std::vector<int64_t>& GgufFile::get_int_array(const std::string& key) const {
  const auto& v = require(*this, key);
  if (v.type != GgufType::ARRAY || !is_integer(v.elem_type))
    wrong_type(*this, key, v, "array of integers");
  return v.ints;
}

const std::vector<double>& GgufFile::get_float_array(const std::string& key) const {
  const auto& v = require(*this, key);
  if (v.type != GgufType::ARRAY ||
      (v.elem_type != GgufType::FLOAT32 && v.elem_type != GgufType::FLOAT64))
    wrong_type(*this, key, v, "array of floats");
  return v.floats;
}

std::optional<int64_t> GgufFile::get_int_opt(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_float(key);
}

}  // namespace hearth
