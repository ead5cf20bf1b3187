#include <memory>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"
#ifdef HEARTH_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace hearth {

std::unique_ptr<Backend> make_backend(const BackendOptions& opts) {
  if (opts.device == "cpu") return std::make_unique<CpuBackend>(opts.threads, opts.mmap_weights);
#ifdef HEARTH_HAVE_CUDA
  const bool have_gpu = cuda_device_count() > 0;
  if (opts.device == "auto")
    return have_gpu ? std::unique_ptr<Backend>(std::make_unique<CudaBackend>())
                    : std::unique_ptr<Backend>(
                          std::make_unique<CpuBackend>(opts.threads, opts.mmap_weights));
  if (opts.device == "cuda") {
    if (!have_gpu) throw Error("--device cuda", "no CUDA device found");
    return std::make_unique<CudaBackend>();
  }
#else
  if (opts.device == "auto") return std::make_unique<CpuBackend>(opts.threads, opts.mmap_weights);
  if (opts.device == "cuda")
    throw Error("--device cuda", "this build of hearth has no CUDA backend");
#endif
  throw Error("--device", "unknown device '" + opts.device + "' (expected cpu, cuda or auto)");
}

}  // namespace hearth
