#include <memory>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"
#ifdef HEARTH_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda_device_choice.h"
#include "parallel/world.h"
#endif

namespace hearth {

std::unique_ptr<Backend> make_backend(const BackendOptions& opts) {
  if (opts.device == "cpu") return std::make_unique<CpuBackend>(opts.threads, opts.mmap_weights);
#ifdef HEARTH_HAVE_CUDA
  const int gpus = cuda_device_count();
  if (opts.device == "auto" && gpus == 0)
    return std::make_unique<CpuBackend>(opts.threads, opts.mmap_weights);
  if (opts.device == "auto" || opts.device == "cuda")
    return std::make_unique<CudaBackend>(choose_cuda_device(parallel::local_rank(), gpus));
#else
  if (opts.device == "auto") return std::make_unique<CpuBackend>(opts.threads, opts.mmap_weights);
  if (opts.device == "cuda")
    throw Error("--device cuda", "this build of hearth has no CUDA backend");
#endif
  throw Error("--device", "unknown device '" + opts.device + "' (expected cpu, cuda or auto)");
}

}  // namespace hearth
