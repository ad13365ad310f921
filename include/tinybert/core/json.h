// JSON parsing with a nesting limit: nlohmann's parser and destructor recurse once per level, so
// a body of 100,000 '[' would overflow the stack; deeper input fails cleanly here instead.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tinybert/core/error.h"

namespace tinybert {

// Deep enough for any config, request or data line we read (HF configs nest 3 levels).
constexpr size_t kMaxJsonDepth = 64;

// Text that is not JSON, or nests deeper than allowed; what() says why, without nlohmann's
// "[json.exception...]" prefix.
struct JsonError : Error {
  using Error::Error;
};

// Fails with JsonError when arrays/objects in `text` nest deeper than `max_depth` (strings
// and their escapes are skipped; the text need not be valid JSON otherwise), or when it holds a
// NUL byte (nlohmann stops reading there and would accept what follows unread).
void check_json_depth(std::string_view text, size_t max_depth = kMaxJsonDepth);

// nlohmann's message without its "[json.exception...]" prefix, at most 200 characters (it may
// quote a 100,000-digit number).
std::string json_error_text(const nlohmann::json::exception& e);

// Parses `text` after check_json_depth; JsonError for invalid JSON (numbers out of range
// included).
template <typename Json = nlohmann::json>
Json parse_json(std::string_view text, size_t max_depth = kMaxJsonDepth) {
  check_json_depth(text, max_depth);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw JsonError(json_error_text(e));
  }
}

// Prints a command's resolved settings to stderr: "tinybert COMMAND settings: {...}".
void print_settings(const std::string& command, const nlohmann::json& settings);

}  // namespace tinybert
