// hearth: the command-line entry point. Exit codes: 0 success, 1 a runtime error (bad model file,
// bad input), 2 a usage error (unknown option, missing argument).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "command.h"
#include "parallel/world.h"
#include "util/error.h"

namespace hearth::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
  };
  skip_space();
  if (i < text.size() && text[i] == '[') ++i;  // accept a JSON array too
  for (;;) {
    skip_space();
    if (i >= text.size() || text[i] == ']') break;
    size_t start = i;
    if (text[i] == '-' || text[i] == '+') ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    std::string num = text.substr(start, i - start);
    if (num.empty() || num == "-" || num == "+")
      throw Error("--tokens", "expected a comma-separated list of integers, got '" + text + "'");
    long long v = 0;
    try {
      v = std::stoll(num);
    } catch (...) {
      throw Error("--tokens", "token id '" + num + "' is out of range");
    }
    if (v < 0 || v > INT32_MAX) throw Error("--tokens", "token id " + num + " is out of range");
    out.push_back(static_cast<int32_t>(v));
    skip_space();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    skip_space();
    if (i < text.size() && text[i] != ']')
      throw Error("--tokens", "expected a comma-separated list of integers, got '" + text + "'");
  }
  if (out.empty()) throw Error("--tokens", "no token ids given");
  return out;
}

bool stdout_is_tty() {
  return ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace hearth::cli

namespace {

// Under mpirun, an error every rank raised together is printed once, by rank 0; any other error
// names the rank it happened on.
void print_error(const char* what, bool collective) {
  std::fflush(stdout);
  const int rank = hearth::parallel::rank();
  if (rank == 0)
    std::cerr << "hearth: error: " << what << "\n";
  else if (!collective)
    std::cerr << "hearth: error (rank " << rank << "): " << what << "\n";
}

int run_command(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  try {
    hearth::parallel::init(&argc, &argv);
  } catch (const hearth::Error& e) {
    print_error(e.what(), true);
    return 1;
  }
  // Ranks other than 0 end when rank 0 tells them to (mpirun forwards SIGINT and SIGTERM to
  // every rank): dying first would leave rank 0 waiting on them instead of finishing its work.
  if (hearth::parallel::world() && !hearth::parallel::is_root()) {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  }
  int rc = run_command(argc, argv);
  if (hearth::parallel::lost_a_rank() && hearth::parallel::is_root()) {
    print_error((std::string(hearth::kRankLostError) + "; exiting").c_str(), true);
    if (rc == 0) rc = 1;
  }
  hearth::parallel::finalize();
  return rc;
}

namespace {

int run_command(int argc, char** argv) {
  using namespace hearth::cli;
  CLI::App app{"hearth: run Llama 3.1 models on hardware you own", "hearth"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");
  auto specs = command_registry();
  std::sort(specs.begin(), specs.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, Action> actions;
  for (auto& spec : specs) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.help);
    actions[sub] = spec.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, action] : actions)
      if (sub->parsed()) return action();
  } catch (const hearth::parallel::WorkerExit& w) {
    return w.code;
  } catch (const hearth::parallel::CollectiveError& e) {
    print_error(e.what(), true);
    return 1;
  } catch (const hearth::Error& e) {
    print_error(e.what(), false);
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory", false);
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what(), false);
    return 1;
  }
  return 2;
}

}  // namespace
