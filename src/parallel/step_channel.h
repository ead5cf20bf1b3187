#pragma once
// Rank 0 plans every step; this carries the plan (the batch: tokens, positions, KV slots, block
// tables, rows to read back) to the other ranks, and tells them when the run ends.
#include "backend/backend.h"
#include "parallel/communicator.h"

namespace hearth {

// Rank 0: the next step is `batch`.
void send_step(Communicator& comm, const BatchInputs& batch);
// Rank 0: no more steps; the other ranks exit with `code`.
void send_stop(Communicator& comm, int code);
// Other ranks: fills `batch` and returns true for a step; false (with `code`) at the end.
bool receive_step(Communicator& comm, BatchInputs& batch, int& code);

}  // namespace hearth
