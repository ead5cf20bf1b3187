#include "parallel/tensor_slice.h"

#include <cstring>
#include <string>

#include "util/error.h"

namespace hearth {

TensorView row_slice(const TensorView& t, int64_t first, int64_t count) {
  if (t.shape.size() != 2 || first < 0 || count <= 0 || first + count > t.shape[0])
    throw Error(t.name, "internal: row slice out of range");
  const size_t row_bytes = dtype_row_bytes(t.dtype, t.shape[1]);
  TensorView v = t;
  v.shape = {count, t.shape[1]};
  v.data = t.data + static_cast<size_t>(first) * row_bytes;
  v.nbytes = static_cast<size_t>(count) * row_bytes;
  return v;
}

TensorView column_slice(const TensorView& t, int64_t first, int64_t count,
                        std::vector<uint8_t>& storage) {
  if (t.shape.size() != 2 || first < 0 || count <= 0 || first + count > t.shape[1])
    throw Error(t.name, "internal: column slice out of range");
  const int64_t block = dtype_info(t.dtype).block_size;
  if (first % block != 0 || count % block != 0)
    throw Error(t.name, "columns " + std::to_string(first) + ".." + std::to_string(first + count) +
                            " do not fall on " + dtype_name(t.dtype) + " block boundaries (" +
                            std::to_string(block) + ")");
  const size_t row_bytes = dtype_row_bytes(t.dtype, t.shape[1]);
  const size_t skip = dtype_row_bytes(t.dtype, first), take = dtype_row_bytes(t.dtype, count);
  const int64_t rows = t.shape[0];
  storage.resize(static_cast<size_t>(rows) * take);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(storage.data() + static_cast<size_t>(r) * take,
                t.data + static_cast<size_t>(r) * row_bytes + skip, take);
  TensorView v = t;
  v.shape = {rows, count};
  v.data = storage.data();
  v.nbytes = storage.size();
  return v;
}

}  // namespace hearth
