// Atomic file writes: write to a temp file beside the target, fsync, then rename over it.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace tinybert::io {

// Calls write(out) on a temp file in the target's directory and renames it to `path` only when
// everything was written; on any error the old file (if any) is left untouched.
void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// write_atomic for a string.
void write_file_atomic(const std::string& path, const std::string& contents);

// Puts the complete directory `fresh` in place of `target`: `target` is renamed aside first and
// removed only once `fresh` has taken its name.
void replace_directory(const std::string& fresh, const std::string& target);

// A new, not yet existing sibling path of `target` for a temporary directory.
std::string temp_sibling(const std::string& target);

}  // namespace tinybert::io
