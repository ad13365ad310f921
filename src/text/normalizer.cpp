// BertNormalizer: an ASCII fast path through a table, utf8proc for everything else.
#include "tinybert/text/normalizer.h"

#include <utf8proc.h>

#include "tinybert/core/error.h"

namespace tinybert::text {

bool is_bert_whitespace(int32_t cp) {
  switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_bert_control(int32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

bool is_bert_punctuation(int32_t cp) {
  if (cp < 0x80)
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
           (cp >= 123 && cp <= 126);
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_chinese_char(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

namespace {

void append_utf8(int32_t cp, std::string& out) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

}  // namespace

Normalizer::Normalizer(NormalizerOptions options)
    : options_(options), strip_accents_(options.strip_accents.value_or(options.lowercase)) {
  for (int c = 0; c < 128; ++c) {
    char m = static_cast<char>(c);
    if (options_.clean_text) {
      if (c == 0 || is_bert_control(c))
        m = 0;
      else if (is_bert_whitespace(c))
        m = ' ';
    }
    if (options_.lowercase && c >= 'A' && c <= 'Z') m = static_cast<char>(c - 'A' + 'a');
    ascii_[c] = m;
  }
}

void Normalizer::normalize(std::string_view in, std::string& out) const {
  normalize_impl<false>(in, out, nullptr);
}

void Normalizer::normalize(std::string_view in, std::string& out,
                           std::vector<int32_t>& origin) const {
  origin.clear();
  normalize_impl<true>(in, out, &origin);
}

template <bool kTrack>
void Normalizer::normalize_impl(std::string_view in, std::string& out,
                                std::vector<int32_t>* origin) const {
  out.clear();
  out.reserve(in.size() + in.size() / 8);
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  int32_t chars = 0;  // code points of `in` before byte i
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (char m = ascii_[c]; m != 0 || (c == 0 && !options_.clean_text)) {
        out.push_back(m);
        if constexpr (kTrack) origin->push_back(chars);
      }
      ++i;
      ++chars;
      continue;
    }
    utf8proc_int32_t cp;
    auto len = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (len < 0) fail("invalid UTF-8 at byte ", i, " (byte value 0x", std::hex, int(c), ")");
    i += static_cast<size_t>(len);
    normalize_codepoint(cp, out);
    if constexpr (kTrack) origin->resize(out.size(), chars);
    ++chars;
  }
}

std::optional<size_t> invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t cp;
    auto len = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (len < 0) return i;
    i += static_cast<size_t>(len);
  }
  return std::nullopt;
}

void Normalizer::normalize_codepoint(int32_t cp, std::string& out) const {
  if (options_.clean_text) {
    if (cp == 0xFFFD || is_bert_control(cp)) return;
    if (is_bert_whitespace(cp)) {
      out.push_back(' ');
      return;
    }
  }
  if (options_.handle_chinese_chars && is_chinese_char(cp)) {
    out.push_back(' ');
    append_utf8(cp, out);
    out.push_back(' ');
    return;
  }
  utf8proc_int32_t parts[8];
  utf8proc_ssize_t count = 1;
  parts[0] = cp;
  if (strip_accents_) {
    int boundclass = 0;
    count = utf8proc_decompose_char(cp, parts, 8, UTF8PROC_DECOMPOSE, &boundclass);
    if (count < 0 || count > 8) {
      parts[0] = cp;
      count = 1;
    }
  }
  for (utf8proc_ssize_t k = 0; k < count; ++k) {
    int32_t c = parts[k];
    if (strip_accents_ && utf8proc_category(c) == UTF8PROC_CATEGORY_MN) continue;
    if (options_.lowercase) {
      if (c == 0x130) {  // full case mapping: İ -> i + combining dot above
        out.push_back('i');
        append_utf8(0x307, out);
        continue;
      }
      c = utf8proc_tolower(c);
    }
    append_utf8(c, out);
  }
}

}  // namespace tinybert::text
