// tinybert tokenize: JSON lines {"text", "text_pair"} on stdin -> {"ids", "type_ids", "tokens"}.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::cli {

Runner add_tokenize(CLI::App& app) {
  struct Options {
    std::string vocab;
    bool cased = false;
    size_t max_length = 0;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("tokenize", "tokenize JSON lines from stdin with a WordPiece vocab");
  cmd->add_option("--vocab", o->vocab, "vocab.txt")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--cased", o->cased, "keep case and accents (default: lowercase + strip accents)");
  cmd->add_option("--max-length", o->max_length, "truncate longest_first to this many tokens (0: no truncation)")
      ->capture_default_str();
  add_common_options(cmd, o->common);
  return [o]() {
    auto tok = text::Tokenizer::from_vocab(
        o->vocab, text::NormalizerOptions{.strip_accents = std::nullopt, .lowercase = !o->cased});
    std::string line;
    size_t line_no = 0;
    std::vector<std::string> tokens;
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (line.empty()) continue;
      try {
        auto j = nlohmann::json::parse(line);
        if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
          fail("expected an object with a string \"text\"");
        std::optional<std::string> pair;
        if (j.contains("text_pair") && !j["text_pair"].is_null()) {
          if (!j["text_pair"].is_string()) fail("\"text_pair\" must be a string or null");
          pair = j["text_pair"].get<std::string>();
        }
        auto e = tok.encode(j["text"].get<std::string>(),
                            pair ? std::optional<std::string_view>(*pair) : std::nullopt, o->max_length);
        tokens.clear();
        for (int32_t id : e.ids) tokens.push_back(tok.vocab().token(id));
        std::cout << nlohmann::json{{"ids", e.ids}, {"type_ids", e.type_ids}, {"tokens", tokens}}.dump()
                  << "\n";
      } catch (const nlohmann::json::exception& e) {
        fail("stdin line ", line_no, ": invalid JSON: ", e.what());
      } catch (const Error& e) {
        fail("stdin line ", line_no, ": ", e.what());
      }
    }
    return 0;
  };
}

}  // namespace tinybert::cli
