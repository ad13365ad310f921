// tinybert tokenize: JSON lines {"text", "text_pair"} on stdin -> {"ids", "type_ids", "tokens",
// "offsets", "word_ids", "sequence_ids"} (HF tokenizers' fields; null for [CLS]/[SEP]).
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tinybert/core/error.h"
#include "tinybert/data/task.h"
#include "tinybert/text/tokenizer.h"

namespace tinybert::cli {

namespace {

// The values, with -1 (no word / sequence: a special token) as null.
template <class T>
nlohmann::ordered_json or_null(const std::vector<T>& v) {
  auto a = nlohmann::ordered_json::array();
  for (T x : v) a.push_back(x < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(x));
  return a;
}

}  // namespace

Runner add_tokenize(CLI::App& app) {
  struct Options {
    std::string vocab;
    bool cased = false;
    size_t max_length = 0;
    CommonOptions common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("tokenize", "tokenize JSON lines from stdin with a WordPiece vocab");
  cmd->add_option("--vocab", o->vocab, "vocab.txt")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--cased", o->cased, "keep case and accents (default: lowercase + strip accents)");
  cmd->add_option("--max-length", o->max_length,
                  "truncate longest_first to this many tokens (0: no truncation)")
      ->capture_default_str()
      ->check(non_negative(1 << 20));
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
      auto row = data::parse_text_line(line, line_no, "stdin");
      try {
        auto e = tok.encode_aligned(
            row.text,
            row.text_pair ? std::optional<std::string_view>(*row.text_pair) : std::nullopt,
            o->max_length);
        tokens.clear();
        for (int32_t id : e.ids) tokens.push_back(tok.vocab().token(id));
        std::cout << nlohmann::ordered_json{{"ids", e.ids},
                                            {"type_ids", e.type_ids},
                                            {"tokens", tokens},
                                            {"offsets", e.offsets},
                                            {"word_ids", or_null(e.word_ids)},
                                            {"sequence_ids", or_null(e.sequence_ids)}}
                         .dump()
                  << "\n";
      } catch (const Error& e) {
        fail("stdin line ", line_no, ": ", e.what());
      }
    }
    return 0;
  };
}

}  // namespace tinybert::cli
