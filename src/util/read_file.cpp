#include "util/read_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace hearth {

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path, "file not found");
  if (std::filesystem::is_directory(path, ec)) throw Error(path, "is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path, "cannot read file");
  return ss.str();
}

}  // namespace hearth
