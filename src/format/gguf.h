#pragma once
// GGUF (v2/v3) reader: metadata of every value type, tensor infos, aligned data section.
// Every length and offset is checked against the file before it is used: files are untrusted.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/tensor_view.h"
#include "util/mapped_file.h"

namespace hearth {

enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);

struct GgufValue {
  GgufType type = GgufType::UINT8;
  // Scalars: integers (and bools) in i or u, floats in f, strings in s.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  // Arrays: elem_type says which of these holds the elements.
  GgufType elem_type = GgufType::UINT8;
  std::vector<std::string> strings;
  std::vector<int64_t> ints;      // every integer and bool element type
  std::vector<double> floats;     // FLOAT32 / FLOAT64 elements
  std::vector<GgufValue> arrays;  // arrays of arrays
  size_t array_size() const;
};

// True when the file starts with the GGUF magic (cheap: reads four bytes).
bool is_gguf_file(const std::string& path);

class GgufFile {
 public:
  // Throws hearth::Error naming the file and the problem.
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }

  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const GgufValue* find(const std::string& key) const;
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }

  // Typed getters: throw naming the key when it is missing or of another type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;   // any integer type, range-checked
  double get_float(const std::string& key) const;  // FLOAT32/FLOAT64 (integers accepted)
  bool get_bool(const std::string& key) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  const std::vector<int64_t>& get_int_array(const std::string& key) const;
  const std::vector<double>& get_float_array(const std::string& key) const;
  std::optional<int64_t> get_int_opt(const std::string& key) const;
  std::optional<double> get_float_opt(const std::string& key) const;

  // Tensors in file order; shapes outermost-first (GGUF stores innermost first; reversed here).
  const std::vector<TensorView>& tensors() const { return tensors_; }

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<TensorView> tensors_;
};

}  // namespace hearth
