// The JSON bodies of the server's errors: {"error": message, "type": type, ...}. A 500 shows the
// client an id to quote and nothing of the error itself; the detail goes to the log.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace tinybert::serve {

nlohmann::ordered_json error_body(const std::string& type, const std::string& message,
                                  const nlohmann::ordered_json& extra = {});

// {"error": "internal error (id ...)", "type": "internal", "id": ...}; writes
// "internal error ID: DETAIL" to `log`. Ids are unique within the process.
nlohmann::ordered_json internal_error_body(const std::string& detail, std::ostream& log);

}  // namespace tinybert::serve
