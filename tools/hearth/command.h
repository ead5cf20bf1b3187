#pragma once
// Each subcommand lives in its own cmd_*.cpp and registers itself here, so adding one touches
// no other file. setup() declares the options on its CLI11 subcommand and returns the action.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace hearth::cli {

using Action = std::function<int()>;
using Setup = std::function<Action(CLI::App&)>;

struct CommandSpec {
  std::string name;
  std::string help;
  Setup setup;
};

std::vector<CommandSpec>& command_registry();

struct RegisterCommand {
  RegisterCommand(std::string name, std::string help, Setup setup) {
    command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

// Parses "1,2,3" (spaces allowed) into token ids; throws hearth::Error on anything else.
std::vector<int32_t> parse_token_list(const std::string& text);

// True when stdout is a terminal: progress bars and colour only then.
bool stdout_is_tty();

}  // namespace hearth::cli
