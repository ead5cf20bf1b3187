#pragma once
// A tensor as it lies in a mapped file: no copy, just where and what.
#include <cstdint>
#include <string>
#include <vector>

#include "format/dtype.h"

namespace hearth {

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  // Outermost dimension first, as PyTorch writes it: a linear layer's weight is [out, in].
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // where it came from, for error messages

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace hearth
