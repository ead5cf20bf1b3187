#include "backend/backend.h"

#include "parallel/communicator.h"

namespace hearth {

void Backend::all_reduce_sum(Communicator& comm, float* x, size_t count) {
  comm.all_reduce_sum(x, count);
}

}  // namespace hearth
