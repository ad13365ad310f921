// The page served at GET /: try the model in a browser (generated from index.html by CMake).
#pragma once

namespace tinybert::serve {
extern const char* const kPage;
}
