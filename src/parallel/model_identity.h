#pragma once
// Every rank must load the same model: each hashes what it opened (file sizes, the tensor index,
// the hyper-parameters, the first bytes of every tensor) and the ranks compare.
#include <cstdint>

#include "format/checkpoint.h"
#include "parallel/communicator.h"

namespace hearth {

uint64_t model_identity(const Checkpoint& ck);

// Throws parallel::CollectiveError on every rank, naming the first rank that differs from rank 0,
// when the ranks did not open the same model.
void check_same_model(Communicator& comm, const Checkpoint& ck);

}  // namespace hearth
