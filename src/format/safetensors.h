#pragma once
// safetensors reader: 8-byte header length, JSON header, raw little-endian tensor data.
#include <memory>
#include <string>
#include <vector>

#include "format/tensor_view.h"
#include "util/mapped_file.h"

namespace hearth {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_->path(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::vector<TensorView> tensors_;
};

}  // namespace hearth
