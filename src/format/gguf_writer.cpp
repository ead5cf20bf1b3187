#include "format/gguf_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include "util/error.h"

namespace hearth {

namespace {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void put(const void* p, size_t n) = 0;
  template <typename T>
  void pod(T v) {
    put(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    put(s.data(), s.size());
  }
  size_t written = 0;
};

class FileSink : public Sink {
 public:
  explicit FileSink(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) throw Error(path, "cannot open for writing");
  }
  ~FileSink() override {
    if (f_) std::fclose(f_);
  }
  void put(const void* p, size_t n) override {
    if (n && std::fwrite(p, 1, n, f_) != n) throw Error(path_, "write failed (disk full?)");
    written += n;
  }
  void close() {
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      throw Error(path_, "write failed on close");
    }
    f_ = nullptr;
  }

 private:
  std::string path_;
  FILE* f_;
};

void put_scalar(Sink& s, GgufType t, const GgufValue& v) {
  switch (t) {
    case GgufType::UINT8:
      s.pod<uint8_t>(static_cast<uint8_t>(v.u));
      break;
    case GgufType::INT8:
      s.pod<int8_t>(static_cast<int8_t>(v.i));
      break;
    case GgufType::UINT16:
      s.pod<uint16_t>(static_cast<uint16_t>(v.u));
      break;
    case GgufType::INT16:
      s.pod<int16_t>(static_cast<int16_t>(v.i));
      break;
    case GgufType::UINT32:
      s.pod<uint32_t>(static_cast<uint32_t>(v.u));
      break;
    case GgufType::INT32:
      s.pod<int32_t>(static_cast<int32_t>(v.i));
      break;
    case GgufType::UINT64:
      s.pod<uint64_t>(v.u);
      break;
    case GgufType::INT64:
      s.pod<int64_t>(v.i);
      break;
    case GgufType::BOOL:
      s.pod<uint8_t>(v.i ? 1 : 0);
      break;
    case GgufType::FLOAT32:
      s.pod<float>(static_cast<float>(v.f));
      break;
    case GgufType::FLOAT64:
      s.pod<double>(v.f);
      break;
    case GgufType::STRING:
      s.str(v.s);
      break;
    case GgufType::ARRAY:
      break;
  }
}

void put_value(Sink& s, const GgufValue& v) {
  if (v.type != GgufType::ARRAY) {
    put_scalar(s, v.type, v);
    return;
  }
  s.pod<uint32_t>(static_cast<uint32_t>(v.elem_type));
  s.pod<uint64_t>(v.array_size());
  GgufValue e;
  switch (v.elem_type) {
    case GgufType::STRING:
      for (auto& x : v.strings) s.str(x);
      break;
    case GgufType::ARRAY:
      for (auto& a : v.arrays) put_value(s, a);
      break;
    case GgufType::FLOAT32:
    case GgufType::FLOAT64:
      for (double x : v.floats) {
        e.f = x;
        put_scalar(s, v.elem_type, e);
      }
      break;
    default:
      for (int64_t x : v.ints) {
        e.i = x;
        e.u = static_cast<uint64_t>(x);
        put_scalar(s, v.elem_type, e);
      }
  }
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key == "general.alignment") alignment_ = static_cast<size_t>(value.u);
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::set_string(const std::string& key, const std::string& v) {
  GgufValue g;
  g.type = GgufType::STRING;
  g.s = v;
  set(key, std::move(g));
}
void GgufWriter::set_u32(const std::string& key, uint32_t v) {
  GgufValue g;
  g.type = GgufType::UINT32;
  g.u = v;
  g.i = v;
  set(key, std::move(g));
}
void GgufWriter::set_i32(const std::string& key, int32_t v) {
  GgufValue g;
  g.type = GgufType::INT32;
  g.i = v;
  g.u = static_cast<uint64_t>(v);
  set(key, std::move(g));
}
void GgufWriter::set_f32(const std::string& key, float v) {
  GgufValue g;
  g.type = GgufType::FLOAT32;
  g.f = v;
  set(key, std::move(g));
}
void GgufWriter::set_bool(const std::string& key, bool v) {
  GgufValue g;
  g.type = GgufType::BOOL;
  g.i = v;
  g.u = v;
  set(key, std::move(g));
}
void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = GgufType::STRING;
  g.strings = v;
  set(key, std::move(g));
}
void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = GgufType::INT32;
  g.ints.assign(v.begin(), v.end());
  set(key, std::move(g));
}
void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = GgufType::FLOAT32;
  g.floats.assign(v.begin(), v.end());
  set(key, std::move(g));
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes) {
  tensors_.push_back({name, type, shape, data, nbytes, nullptr});
}

void GgufWriter::add_tensor_lazy(const std::string& name, DType type,
                                 const std::vector<int64_t>& shape, size_t nbytes, Fill fill) {
  tensors_.push_back({name, type, shape, nullptr, nbytes, std::move(fill)});
}

void GgufWriter::emit(const std::function<void(const void*, size_t)>& put) const {
  struct FnSink : Sink {
    const std::function<void(const void*, size_t)>& fn;
    explicit FnSink(const std::function<void(const void*, size_t)>& f) : fn(f) {}
    void put(const void* p, size_t n) override {
      fn(p, n);
      written += n;
    }
  } s(put);
  s.put("GGUF", 4);
  s.pod<uint32_t>(3);
  s.pod<uint64_t>(tensors_.size());
  s.pod<uint64_t>(kv_.size());
  for (auto& [k, v] : kv_) {
    s.str(k);
    s.pod<uint32_t>(static_cast<uint32_t>(v.type));
    put_value(s, v);
  }
  uint64_t offset = 0;
  for (auto& t : tensors_) {
    s.str(t.name);
    s.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it)
      s.pod<uint64_t>(static_cast<uint64_t>(*it));
    s.pod<uint32_t>(static_cast<uint32_t>(t.type));
    s.pod<uint64_t>(offset);
    offset += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  static const uint8_t zeros[256] = {};
  auto pad = [&] {
    size_t n = (alignment_ - s.written % alignment_) % alignment_;
    while (n) {
      size_t k = std::min(n, sizeof zeros);
      s.put(zeros, k);
      n -= k;
    }
  };
  pad();
  std::vector<uint8_t> buf;
  size_t done = 0;
  for (auto& t : tensors_) {
    if (t.fill) {
      buf.assign(t.nbytes, 0);
      t.fill(buf.data());
      s.put(buf.data(), t.nbytes);
    } else {
      s.put(t.data, t.nbytes);
    }
    pad();
    if (progress_) progress_(++done, tensors_.size());
  }
}

void GgufWriter::write(const std::string& path) const {
  FileSink f(path);
  emit([&](const void* p, size_t n) { f.put(p, n); });
  f.close();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  emit([&](const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  });
  return out;
}

}  // namespace hearth
