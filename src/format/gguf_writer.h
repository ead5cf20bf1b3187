#pragma once
// GGUF v3 writer: metadata in insertion order, tensor infos, data aligned to general.alignment.
// Tensor bytes are referenced, not copied: they must stay alive until write() returns.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/gguf.h"

namespace hearth {

class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);
  void set_string(const std::string& key, const std::string& v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);

  // shape outermost first, as everywhere in hearth; written innermost first as GGUF wants.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                  const void* data, size_t nbytes);

  // The bytes are produced at write time by fill(dst) (dst holds nbytes): a whole model never
  // needs to sit in memory at once.
  using Fill = std::function<void(uint8_t* dst)>;
  void add_tensor_lazy(const std::string& name, DType type, const std::vector<int64_t>& shape,
                       size_t nbytes, Fill fill);
  // Called after each tensor is written, with how many of how many are done.
  void on_progress(std::function<void(size_t done, size_t total)> cb) { progress_ = std::move(cb); }

  size_t alignment() const { return alignment_; }
  void write(const std::string& path) const;  // throws hearth::Error on I/O failure
  std::vector<uint8_t> to_bytes() const;

 private:
  void emit(const std::function<void(const void*, size_t)>& put) const;
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
    Fill fill;
  };
  std::function<void(size_t, size_t)> progress_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
  size_t alignment_ = 32;
};

}  // namespace hearth
