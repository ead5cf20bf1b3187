#pragma once
// The Communicator over MPI_COMM_WORLD (built only when CMake finds MPI).
#include <memory>

#include "parallel/communicator.h"

namespace hearth::parallel {

// MPI_Init_thread; the returned communicator spans every rank mpirun started.
std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv);
void finalize_mpi();

}  // namespace hearth::parallel
