#pragma once
// The process's place among the ranks mpirun started. Without mpirun there is one rank and no
// communicator, and nothing else changes. main() calls init() first and finalize() last.
#include <string>

#include "parallel/communicator.h"
#include "util/error.h"

namespace hearth::parallel {

// An error every rank raises together (a shape that does not divide, ranks that see different
// files): rank 0 prints it, the others exit non-zero without repeating it.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

// Thrown on ranks other than 0 when rank 0 ends the run: the command's own work is rank 0's, so
// main() returns `code` without running the rest of the command.
struct WorkerExit {
  int code = 0;
};

// Starts MPI when the process was launched by mpirun (its environment says so). Throws
// CollectiveError when it was, but this hearth was built without MPI.
void init(int* argc, char*** argv);
void finalize();

// The communicator over every rank; nullptr in a single process.
Communicator* world();
// This process's rank (0 in a single process), known from the environment even before init().
int rank();
bool is_root();
// This process's rank among the ranks on its own machine; -1 when not started by mpirun.
int local_rank();

// True when a collective was abandoned because a rank stopped answering (Communicator::abort):
// the run failed, whatever the command returned.
bool lost_a_rank();

// True when hearth was compiled with MPI support.
bool built_with_mpi();

}  // namespace hearth::parallel
