// The nesting check run before every JSON parse, and settings printing.
#include "tinybert/core/json.h"

#include <iostream>

namespace tinybert {

void check_json_depth(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') throw JsonError(cat("a NUL byte at byte ", i, " (not valid in JSON)"));
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw JsonError(cat("nested deeper than ", max_depth, " levels (at byte ", i, ")"));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

std::string json_error_text(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
  if (what.size() > 200) what = what.substr(0, 200) + "...";
  return what;
}

void print_settings(const std::string& command, const nlohmann::json& settings) {
  std::cerr << "tinybert " << command << " settings: " << settings.dump() << "\n";
}

}  // namespace tinybert
