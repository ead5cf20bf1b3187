#pragma once
// Helpers shared by the fuzz harnesses: file-based parsers read from an in-memory file, and one
// input split into the several files a parser reads together.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::fuzz {

// An anonymous in-memory file holding `bytes`, reachable by path (/proc/self/fd/N), so the
// mmap-based readers see exactly what a file on disk would give them, without disk traffic.
class MemFile {
 public:
  explicit MemFile(std::string_view bytes) {
    fd_ = memfd_create("hearth-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
      if (n <= 0) std::abort();
      off += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Splits an input at every occurrence of `sep` (a marker unlikely in real files, which the
// fuzzer learns from the seeds); missing parts are empty.
inline std::vector<std::string> split(const uint8_t* data, size_t size, std::string_view sep,
                                      size_t parts) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> out;
  while (out.size() + 1 < parts) {
    const size_t at = in.find(sep);
    if (at == std::string_view::npos) break;
    out.emplace_back(in.substr(0, at));
    in.remove_prefix(at + sep.size());
  }
  out.emplace_back(in);
  out.resize(parts);
  return out;
}

// A property the parser promised does not hold: print and abort, so the fuzzer keeps the input.
[[noreturn]] inline void violated(const char* what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

}  // namespace hearth::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
