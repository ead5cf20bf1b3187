#pragma once
// One rank's part of a weight matrix, read from the file without touching the rest. A row slice
// is a view into the mapping; a column slice is copied out row by row, whole blocks only.
#include <cstdint>
#include <vector>

#include "format/tensor_view.h"

namespace hearth {

// Rows [first, first + count) of a 2-D tensor, as a view into the same memory.
TensorView row_slice(const TensorView& t, int64_t first, int64_t count);

// Columns [first, first + count) of every row, copied into `storage` (resized); the view returned
// points there. Throws hearth::Error unless both ends fall on block boundaries of t's type.
TensorView column_slice(const TensorView& t, int64_t first, int64_t count,
                        std::vector<uint8_t>& storage);

}  // namespace hearth
