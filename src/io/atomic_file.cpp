// Atomic file writes (temp + fsync + rename).
#include "tinybert/io/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

std::string temp_sibling(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path t = fs::absolute(fs::path(target)).lexically_normal();
  fs::create_directories(t.parent_path());
  std::random_device rd;
  for (;;) {
    fs::path p = t.parent_path() / cat(".", t.filename().string(), ".tmp", rd() % 100000000);
    if (!fs::exists(p)) return p.string();
  }
}

void replace_directory(const std::string& fresh, const std::string& target) {
  namespace fs = std::filesystem;
  try {
    if (!fs::exists(target)) {
      fs::rename(fresh, target);
      return;
    }
    // One atomic swap, so that a kill at any moment leaves `target` whole (old or new) and only
    // a temporary sibling to clean up; filesystems without it get two renames.
    if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(fresh);  // now the old directory
      return;
    }
    if (errno != EINVAL && errno != ENOSYS)
      fail("cannot put ", fresh, " in place of ", target, ": ", std::strerror(errno));
    const std::string old = temp_sibling(target);
    fs::rename(target, old);
    fs::rename(fresh, target);
    fs::remove_all(old);
  } catch (const fs::filesystem_error& e) {
    fail("cannot put ", fresh, " in place of ", target, ": ", e.what());
  }
}

}  // namespace tinybert::io
