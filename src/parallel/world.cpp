#include "parallel/world.h"

#include <cstdlib>
#include <memory>

#ifdef HEARTH_HAVE_MPI
#include "parallel/mpi_communicator.h"
#endif

namespace hearth::parallel {
namespace {

std::unique_ptr<Communicator>& world_ptr() {
  static std::unique_ptr<Communicator> w;
  return w;
}

// Open MPI (and PMIx-based launchers) export the rank and size to every process they start.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

int launched_size() {
  int n = env_int("OMPI_COMM_WORLD_SIZE", 0);
  if (n == 0) n = env_int("PMIX_SIZE", 0);
  if (n == 0) n = env_int("PMI_SIZE", 0);
  return n;
}

}  // namespace

bool built_with_mpi() {
#ifdef HEARTH_HAVE_MPI
  return true;
#else
  return false;
#endif
}

int rank() {
  if (world_ptr()) return world_ptr()->rank();
  int r = env_int("OMPI_COMM_WORLD_RANK", -1);
  if (r < 0) r = env_int("PMIX_RANK", -1);
  if (r < 0) r = env_int("PMI_RANK", 0);
  return r;
}

int local_rank() {
  if (launched_size() <= 0) return -1;
  int r = env_int("OMPI_COMM_WORLD_LOCAL_RANK", -1);
  if (r < 0) r = env_int("MPI_LOCALRANKID", -1);  // MPICH's Hydra
  if (r < 0) r = env_int("SLURM_LOCALID", -1);
  return r < 0 ? 0 : r;
}

bool is_root() {
  return rank() == 0;
}

bool lost_a_rank() {
  return world_ptr() && world_ptr()->aborted();
}

Communicator* world() {
  return world_ptr().get();
}

void init(int* argc, char*** argv) {
  const int n = launched_size();
  if (n <= 0) return;  // not started by mpirun: a plain single process
#ifdef HEARTH_HAVE_MPI
  world_ptr() = make_mpi_communicator(argc, argv);
  if (world_ptr()->size() == 1) world_ptr().reset();  // mpirun -np 1: nothing to split
#else
  (void)argc;
  (void)argv;
  if (n > 1)
    throw CollectiveError("mpirun",
                          "this hearth was built without MPI (CMake found no MPI when it was "
                          "configured): install libopenmpi-dev (make setup) and rebuild, or run "
                          "it without mpirun");
#endif
}

void finalize() {
#ifdef HEARTH_HAVE_MPI
  if (world_ptr()) {
    // After a rank was lost MPI_Finalize would wait on it for ever; mpirun reports the exit.
    const bool lost = world_ptr()->aborted();
    world_ptr().reset();
    if (!lost) finalize_mpi();
  }
#endif
}

}  // namespace hearth::parallel
