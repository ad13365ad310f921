// Helpers of the data tests (no LibTorch): a temporary file with given text, the message of a
// failing call, and the fixtures' bert-base-uncased tokenizer.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "tinybert/core/error.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::test {

// Writes `text` to TMP/`folder`/`name` and returns the path.
inline std::string write_temp(const std::string& folder, const std::string& name,
                              const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / folder;
  std::filesystem::create_directories(dir);
  auto p = (dir / name).string();
  std::ofstream(p) << text;
  return p;
}

// What f() throws as tinybert::Error, or "no error".
inline std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

inline const text::Tokenizer& tokenizer() {
  static auto t = text::Tokenizer::from_vocab(std::string(TINYBERT_FIXTURES) + "/vocab.txt");
  return t;
}

}  // namespace tinybert::test
