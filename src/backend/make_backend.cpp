#include <memory>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"

namespace hearth {

std::unique_ptr<Backend> make_backend(const BackendOptions& opts) {
  if (opts.device == "cpu" || opts.device == "auto")
    return std::make_unique<CpuBackend>(opts.threads);
  if (opts.device == "cuda")
    throw Error("--device cuda", "this build of hearth has no CUDA backend");
  throw Error("--device", "unknown device '" + opts.device + "' (expected cpu, cuda or auto)");
}

}  // namespace hearth
