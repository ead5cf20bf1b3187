// Fuzz target: the GGUF reader (header, metadata of every type, tensor infos, data bounds) and
// the checkpoint built on it (hyper-parameters from metadata, tensor names and shapes).
#include "format/checkpoint.h"
#include "format/gguf.h"
#include "fuzz_support.h"
#include "util/error.h"

namespace {

// Reads every byte a tensor view claims, so ASan reports a view that points outside the file.
uint8_t touch(const hearth::TensorView& t) {
  if (t.nbytes == 0) return 0;
  return static_cast<uint8_t>(t.data[0] ^ t.data[t.nbytes - 1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const hearth::fuzz::MemFile file(std::string_view(reinterpret_cast<const char*>(data), size));
  volatile uint8_t sink = 0;
  try {
    hearth::GgufFile g(file.path());
    for (const auto& [key, v] : g.metadata()) {
      sink = sink ^ static_cast<uint8_t>(v.array_size() + key.size());
      // The typed getters must refuse a wrong type with an Error, never misread it.
      try {
        (void)g.get_int(key);
      } catch (const hearth::Error&) {
      }
      try {
        (void)g.get_string_array(key);
      } catch (const hearth::Error&) {
      }
    }
    for (const auto& t : g.tensors()) sink = sink ^ touch(t);
  } catch (const hearth::Error&) {
  }
  try {
    const hearth::Checkpoint ck = hearth::open_gguf_checkpoint(file.path());
    for (const auto& [name, t] : ck.tensors) sink = sink ^ touch(t);
  } catch (const hearth::Error&) {
  }
  return 0;
}
