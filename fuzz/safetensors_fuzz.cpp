// Fuzz target: a Hugging Face checkpoint directory as a stranger might ship it: the safetensors
// file (8-byte header length, JSON header, data) and config.json, read alone and together.
// Input: config.json, the separator line, then the safetensors bytes.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "format/checkpoint.h"
#include "format/model_config.h"
#include "format/safetensors.h"
#include "fuzz_support.h"
#include "util/error.h"

namespace {

constexpr std::string_view kSep = "\n--hearth-fuzz-file--\n";

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One directory per process, in memory when /dev/shm exists.
const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm")
                                           ? "/dev/shm"
                                           : std::filesystem::temp_directory_path();
    auto d = base / ("hearth-fuzz-st-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = hearth::fuzz::split(data, size, kSep, 2);
  volatile uint8_t sink = 0;
  const hearth::fuzz::MemFile config(parts[0]), tensors(parts[1]);
  try {
    (void)hearth::parse_hf_config(config.path());
  } catch (const hearth::Error&) {
  }
  try {
    hearth::SafetensorsFile st(tensors.path());
    for (const auto& t : st.tensors())
      if (t.nbytes) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
  } catch (const hearth::Error&) {
  }
  const auto& dir = work_dir();
  write(dir / "config.json", parts[0]);
  write(dir / "model.safetensors", parts[1]);
  try {
    const hearth::Checkpoint ck = hearth::open_hf_checkpoint(dir.string());
    for (const auto& [name, t] : ck.tensors)
      if (t.nbytes) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
  } catch (const hearth::Error&) {
  }
  return 0;
}
