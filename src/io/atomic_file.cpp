// Atomic file writes (temp + fsync + rename).
#include "tinybert/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "tinybert/core/error.h"

namespace tinybert::io {

namespace {

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::random_device rd;
  std::string tmp = cat(path, ".tmp.", ::getpid(), ".", rd() % 100000);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) fail("cannot create ", tmp, ": ", std::strerror(errno));
      write(out);
      out.flush();
      if (!out) fail("cannot write ", tmp, ": ", std::strerror(errno));
    }
    fsync_path(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      fail("cannot rename ", tmp, " to ", path, ": ", std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_atomic(path, [&](std::ostream& out) { out.write(contents.data(), contents.size()); });
}

}  // namespace tinybert::io
