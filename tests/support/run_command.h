#pragma once
// Runs a shell command line, capturing stdout, stderr and the exit status.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace hearth::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline CommandResult run_command(const std::string& cmdline) {
  static int counter = 0;
  std::string base =
      "/tmp/hearth-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::string full = cmdline + " >" + base + ".out 2>" + base + ".err </dev/null";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

template <typename Ints>
std::string join_ids(const Ints& ids, const char* sep = ",") {
  std::string out;
  for (auto id : ids) {
    if (!out.empty()) out += sep;
    out += std::to_string(static_cast<long long>(id));
  }
  return out;
}

#ifdef HEARTH_BIN
inline std::string hearth_cmd(const std::string& args) {
  return std::string(HEARTH_BIN) + " " + args;
}
#endif

}  // namespace hearth::testing
