// Error bodies, and the ids that tie a 500 to its line in the log.
#include "tinybert/serve/errors.h"

#include <atomic>
#include <random>

#include "tinybert/core/error.h"

namespace tinybert::serve {

nlohmann::ordered_json error_body(const std::string& type, const std::string& message,
                                  const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json body = {{"error", message}, {"type", type}};
  if (extra.is_object()) body.update(extra);
  return body;
}

nlohmann::ordered_json internal_error_body(const std::string& detail, std::ostream& log) {
  static const uint32_t run = std::random_device{}();
  static std::atomic<uint64_t> count{0};
  const std::string id = cat(std::hex, run, "-", std::dec, ++count);
  log << "internal error " << id << ": " << detail << std::endl;
  return error_body("internal", "internal error (id " + id + "; the server log has the details)",
                    {{"id", id}});
}

}  // namespace tinybert::serve
