// Errors with context: thrown inside the library, caught at the edges (CLI, server).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinybert {

// An error a user can act on: says what failed, where (file, key, line), and what was expected.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Concatenates anything streamable: cat("tensor ", name, " has shape ", n).
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

// Throws Error(cat(args...)).
template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(cat(std::forward<Args>(args)...));
}

// Reads a whole file; fails with the path and the system's reason.
std::string read_file(const std::string& path);

}  // namespace tinybert
