// File reading with errors that name the path.
#include "tinybert/core/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace tinybert {

std::string read_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    fail(path, " is not a regular file (a directory or a device)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) fail("cannot read ", path, ": ", std::strerror(errno));
  return os.str();
}

}  // namespace tinybert
