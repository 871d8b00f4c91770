// ssm/interop/bpe_tokenizer.hpp — the byte-level BPE tokenizer of GPT-2 / GPT-NeoX (the one state-spaces/mamba-*-hf
// ship, EleutherAI/gpt-neox-20b's) read from a Hugging Face `tokenizer.json`, following the published algorithm of HF
// `tokenizers`: added tokens split first; each piece between them NFC-normalized, split by the GPT-2 regex, its UTF-8
// bytes mapped to printable code points (byte_to_unicode), then merged pair by pair, lowest merge rank first.
//
// Supported: model BPE (merges as "a b" strings or ["a", "b"] arrays, ignore_merges, unk_token/fuse_unk); normalizer
// null, NFC or a Sequence of those; pre-tokenizer ByteLevel (add_prefix_space, use_regex), alone or as the only member
// of a Sequence; decoder ByteLevel; added tokens with single_word, lstrip, rstrip. NFC is real: canonical
// decomposition, reordering and composition from tables generated from Python's unicodedata (unicode_tables.hpp;
// HF uses the unicode-normalization crate, whose Unicode version may differ for code points new since then).
// Refused with an error that names the file: other models, normalizers, pre-tokenizers and decoders, byte_fallback,
// dropout, continuing_subword_prefix, end_of_word_suffix. The post-processor is ignored: no BOS/EOS is added.
// Limits: added tokens are matched on the raw text, also those marked `normalized` (HF matches those on the NFC text;
// the two differ only when NFC changes the token or its neighbours); an empty piece yields no token even with
// add_prefix_space; after an rstrip the search for the next added token resumes past the stripped spaces.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <queue>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ssm/core/error.hpp"
#include "ssm/interop/unicode_tables.hpp"

namespace ssm::hf {

namespace detail {

// ---- Unicode classes --------------------------------------------------------------------------------------------

inline bool in_ranges(std::span<const unicode::CodeRange> table, char32_t cp) {
  auto it = std::upper_bound(table.begin(), table.end(), static_cast<std::uint32_t>(cp),
                             [](std::uint32_t v, const unicode::CodeRange& r) { return v < r.lo; });
  return it != table.begin() && static_cast<std::uint32_t>(cp) <= std::prev(it)->hi;
}

/// \p{L}
inline bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= U'a' && (cp | 0x20) <= U'z';
  return in_ranges(unicode::letter, cp);
}
/// \p{N}
inline bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= U'0' && cp <= U'9';
  return in_ranges(unicode::number, cp);
}
/// \s: Unicode White_Space.
inline bool is_space(char32_t cp) {
  if (cp < 0x80) return cp == U' ' || (cp >= 0x09 && cp <= 0x0D);
  return in_ranges(unicode::white_space, cp);
}
/// \w of Rust's regex crate (what HF's single_word tests).
inline bool is_word(char32_t cp) {
  if (cp < 0x80) return is_letter(cp) || is_number(cp) || cp == U'_';
  return in_ranges(unicode::word, cp);
}

inline std::uint8_t combining_class(char32_t cp) {
  if (cp < unicode::nfc_inert_below) return 0;
  const auto& t = unicode::ccc;
  auto it = std::upper_bound(std::begin(t), std::end(t), static_cast<std::uint32_t>(cp),
                             [](std::uint32_t v, const unicode::CccRange& r) { return v < r.lo; });
  return (it != std::begin(t) && static_cast<std::uint32_t>(cp) <= std::prev(it)->hi) ? std::prev(it)->ccc : 0;
}

// ---- UTF-8 ------------------------------------------------------------------------------------------------------

/// One step of a strict UTF-8 decoder at s[i]: the code point and its length, or ok = false and the length of the
/// maximal ill-formed subpart (what a lossy decoder replaces by one U+FFFD, as Rust's from_utf8_lossy does).
struct Utf8Step {
  char32_t cp;
  std::size_t len;
  bool ok;
};

inline Utf8Step utf8_step(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1, true};
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return {0, 1, false};
  }
  char32_t cp = b0 & (0xFF >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return {0, k, false};
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return {0, k, false};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, n, true};
}

/// Decodes UTF-8 into code points; ill-formed input throws, naming `what` and the byte offset.
inline std::u32string decode_utf8(std::string_view s, std::string_view what) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto st = utf8_step(s, i);
    if (!st.ok) {
      std::ostringstream bytes;
      for (std::size_t k = i; k < std::min(s.size(), i + 4); ++k)
        bytes << (k > i ? " " : "") << "0x" << std::hex << static_cast<int>(static_cast<unsigned char>(s[k]));
      SSM_FAIL(what, ": invalid UTF-8 at byte offset ", i, " (bytes ", bytes.str(), ")");
    }
    out.push_back(st.cp);
    i += st.len;
  }
  return out;
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

inline std::string encode_utf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_utf8(out, cp);
  return out;
}

/// Bytes → text, each maximal ill-formed subpart replaced by U+FFFD.
inline std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto st = utf8_step(s, i);
    if (st.ok)
      out.append(s.substr(i, st.len));
    else
      out.append("\xEF\xBF\xBD");
    i += st.len;
  }
  return out;
}

// ---- NFC (UAX #15: canonical decomposition, canonical ordering, canonical composition) -------------------------

inline constexpr char32_t hangul_s = 0xAC00, hangul_l = 0x1100, hangul_v = 0x1161, hangul_t = 0x11A7;
inline constexpr char32_t hangul_lcount = 19, hangul_vcount = 21, hangul_tcount = 28;
inline constexpr char32_t hangul_ncount = hangul_vcount * hangul_tcount, hangul_scount = hangul_lcount * hangul_ncount;

inline void decompose_into(char32_t cp, std::u32string& out) {
  if (cp >= hangul_s && cp < hangul_s + hangul_scount) {
    const char32_t s = cp - hangul_s;
    out.push_back(hangul_l + s / hangul_ncount);
    out.push_back(hangul_v + (s % hangul_ncount) / hangul_tcount);
    if (s % hangul_tcount != 0) out.push_back(hangul_t + s % hangul_tcount);
    return;
  }
  const auto& t = unicode::decompositions;
  auto it = std::lower_bound(std::begin(t), std::end(t), static_cast<std::uint32_t>(cp),
                             [](const unicode::Decomposition& d, std::uint32_t v) { return d.cp < v; });
  if (it != std::end(t) && it->cp == cp) {
    for (std::size_t k = 0; k < it->len; ++k) out.push_back(unicode::decomp_pool[it->at + k]);
  } else {
    out.push_back(cp);
  }
}

/// The primary composite of a + b, or 0 when there is none.
inline char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= hangul_l && a < hangul_l + hangul_lcount && b >= hangul_v && b < hangul_v + hangul_vcount)
    return hangul_s + ((a - hangul_l) * hangul_vcount + (b - hangul_v)) * hangul_tcount;
  if (a >= hangul_s && a < hangul_s + hangul_scount && (a - hangul_s) % hangul_tcount == 0 && b > hangul_t &&
      b < hangul_t + hangul_tcount)
    return a + (b - hangul_t);
  const auto& t = unicode::compositions;
  auto it = std::lower_bound(std::begin(t), std::end(t), std::pair<std::uint32_t, std::uint32_t>(a, b),
                             [](const unicode::Composition& c, const std::pair<std::uint32_t, std::uint32_t>& v) {
                               return c.first < v.first || (c.first == v.first && c.second < v.second);
                             });
  return (it != std::end(t) && it->first == a && it->second == b) ? it->composite : 0;
}

inline std::u32string nfc(std::u32string_view in) {
  if (std::all_of(in.begin(), in.end(), [](char32_t c) { return c < unicode::nfc_inert_below; }))
    return std::u32string(in);
  std::u32string d;
  d.reserve(in.size() + 8);
  for (char32_t cp : in) decompose_into(cp, d);
  std::vector<std::uint8_t> cc(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) cc[i] = combining_class(d[i]);
  // Canonical ordering: a stable sort by class within each run of non-starters.
  for (std::size_t i = 1; i < d.size(); ++i) {
    if (cc[i] == 0) continue;
    for (std::size_t j = i; j > 0 && cc[j - 1] > cc[j]; --j) {
      std::swap(d[j - 1], d[j]);
      std::swap(cc[j - 1], cc[j]);
    }
  }
  // Composition: a character joins the last starter unless a character in between blocks it (its class is 0 or
  // not below the character's own).
  std::u32string out;
  out.reserve(d.size());
  std::size_t starter = std::u32string::npos;
  int last_cc = -1;  // class of the last character appended; -1 before any
  for (std::size_t i = 0; i < d.size(); ++i) {
    const int c = cc[i];
    if (starter != std::u32string::npos && (last_cc == 0 || last_cc < c)) {
      if (const char32_t comp = compose_pair(out[starter], d[i]); comp != 0) {
        out[starter] = comp;
        continue;
      }
    }
    if (c == 0) starter = out.size();
    // A non-starter before any starter blocks nothing yet cannot be composed onto: keep starter unset.
    last_cc = (starter == std::u32string::npos) ? 256 : c;
    out.push_back(d[i]);
  }
  return out;
}

inline std::string nfc_utf8(std::string_view utf8) { return encode_utf8(nfc(decode_utf8(utf8, "NFC input"))); }

// ---- GPT-2 pre-tokenizer ----------------------------------------------------------------------------------------

/// The end of the match of 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ at t[i]:
/// the first alternative that matches wins, as in a backtracking regex engine.
inline std::size_t gpt2_match_end(std::u32string_view t, std::size_t i) {
  const std::size_t n = t.size();
  const char32_t c = t[i];
  if (c == U'\'' && i + 1 < n) {
    const char32_t c1 = t[i + 1];
    if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') return i + 2;
    if (i + 2 < n) {
      const char32_t c2 = t[i + 2];
      if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) return i + 3;
    }
  }
  auto run = [&](std::size_t from, auto pred) {
    while (from < n && pred(t[from])) ++from;
    return from;
  };
  auto other = [](char32_t x) { return !is_space(x) && !is_letter(x) && !is_number(x); };
  // The optional leading space of the next three alternatives; t[i] == ' ' itself is none of L, N, other.
  const std::size_t k = (c == U' ' && i + 1 < n) ? i + 1 : i;
  if (is_letter(t[k])) return run(k, is_letter);
  if (is_number(t[k])) return run(k, is_number);
  if (other(t[k])) return run(k, other);
  // t[i] is white space. \s+(?!\S): the whole run at the end of the text, else the run less its last character
  // (which stays with the word after it) when that leaves one; else \s+ takes the single character.
  const std::size_t j = run(i, is_space);
  if (j == n) return j;
  return j - 1 > i ? j - 1 : j;
}

/// The GPT-2 pre-token split of a code point sequence, as [begin, end) index pairs covering all of it.
inline std::vector<std::pair<std::size_t, std::size_t>> split_gpt2(std::u32string_view t) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < t.size();) {
    const std::size_t j = gpt2_match_end(t, i);
    out.emplace_back(i, j);
    i = j;
  }
  return out;
}

/// split_gpt2 on UTF-8 text, the pieces as UTF-8 (for tests and inspection).
inline std::vector<std::string> pretokenize_gpt2(std::string_view utf8) {
  const auto cps = decode_utf8(utf8, "pre-tokenizer input");
  std::vector<std::string> out;
  for (auto [b, e] : split_gpt2(cps)) out.push_back(encode_utf8(std::u32string_view(cps).substr(b, e - b)));
  return out;
}

// ---- byte-level alphabet ----------------------------------------------------------------------------------------

/// GPT-2's bytes_to_unicode: bytes 33..126, 161..172, 174..255 stand for themselves, the other 68 bytes, in order,
/// for U+0100..U+0143, so that every byte is a printable, non-space character.
inline const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[static_cast<std::size_t>(b)] = self ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

/// The inverse of byte_to_unicode: the byte a code point stands for, or -1.
inline int unicode_to_byte(char32_t cp) {
  static const std::array<std::int16_t, 324> table = [] {
    std::array<std::int16_t, 324> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[byte_to_unicode()[static_cast<std::size_t>(b)]] = static_cast<std::int16_t>(b);
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

/// The byte-level form of raw bytes: each byte replaced by its character, as UTF-8 (what the vocab spells).
inline std::string bytes_to_symbols(std::string_view bytes) {
  std::string out;
  for (char b : bytes) append_utf8(out, byte_to_unicode()[static_cast<unsigned char>(b)]);
  return out;
}

}  // namespace detail

/// One entry of `added_tokens`: matched in the raw text before the rest of the pipeline and emitted as its id.
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false;  ///< only where neither neighbour is a word character
  bool lstrip = false;       ///< swallows the white space on its left
  bool rstrip = false;       ///< swallows the white space on its right
  bool normalized = true;    ///< HF matches it on the normalized text; here on the raw text (see the header)
  bool special = false;      ///< dropped by decode(ids, true)
};

/// A byte-level BPE tokenizer (GPT-2 / GPT-NeoX) read from a Hugging Face tokenizer.json.
class BpeTokenizer {
 public:
  /// Reads a tokenizer.json; every error names the file.
  static BpeTokenizer from_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    SSM_CHECK(in.good(), "cannot open tokenizer file '", path, "'");
    std::ostringstream text;
    text << in.rdbuf();
    SSM_CHECK(!in.bad(), "cannot read tokenizer file '", path, "'");
    return from_json(text.str(), path);
  }

  /// Parses the text of a tokenizer.json; `source_name` names it in errors.
  static BpeTokenizer from_json(std::string_view json_text, std::string_view source_name = "tokenizer.json") {
    BpeTokenizer tok;
    tok.source_ = std::string(source_name);
    const std::string& src = tok.source_;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(json_text.begin(), json_text.end());
    } catch (const nlohmann::json::exception& e) {
      SSM_FAIL(src, ": not valid JSON (", e.what(), ")");
    }
    try {
      tok.load(j);
    } catch (const nlohmann::json::exception& e) {  // a field of an unexpected JSON type
      SSM_FAIL(src, ": malformed tokenizer file (", e.what(), ")");
    }
    return tok;
  }

  /// Text → ids. Ill-formed UTF-8 throws with the byte offset.
  std::vector<std::int32_t> encode(std::string_view utf8_text) const {
    (void)detail::decode_utf8(utf8_text, source_ + ": text to encode");  // validate once, with the offset
    std::vector<std::int32_t> ids;
    std::size_t piece = 0;  // start of the text not yet tokenized
    std::size_t pos = 0;    // where the search for the next added token resumes
    while (pos < utf8_text.size()) {
      const auto m = find_added(utf8_text, pos);
      if (!m) break;
      const AddedToken& a = added_[m->first];
      std::size_t start = m->second, stop = m->second + a.content.size();
      pos = stop;
      if (a.single_word) {
        const bool word_before = start > 0 && detail::is_word(last_char(utf8_text.substr(0, start)));
        const bool word_after = stop < utf8_text.size() && detail::is_word(first_char(utf8_text.substr(stop)));
        if (word_before || word_after) continue;
      }
      if (a.lstrip)
        while (start > piece && detail::is_space(last_char(utf8_text.substr(0, start))))
          start -= char_len_before(utf8_text, start);
      if (a.rstrip)
        while (stop < utf8_text.size() && detail::is_space(first_char(utf8_text.substr(stop))))
          stop += detail::utf8_step(utf8_text, stop).len;
      encode_piece(utf8_text.substr(piece, start - piece), ids);
      ids.push_back(a.id);
      piece = pos = stop;
    }
    encode_piece(utf8_text.substr(piece), ids);
    return ids;
  }

  /// Ids → bytes by the ByteLevel decoder: each token's characters mapped back to the bytes they stand for (a token
  /// with a character outside that alphabet, such as an added "  ", gives its own UTF-8), concatenated.
  std::string decode_bytes(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::int32_t id = ids[i];
      SSM_CHECK(known(id), source_, ": cannot decode id ", id, " at position ", i, ": not in the vocabulary (size ",
                vocab_size(), ")");
      if (skip_special_tokens && special_[static_cast<std::size_t>(id)]) continue;
      out += id_bytes_[static_cast<std::size_t>(id)];
    }
    return out;
  }

  /// Ids → text: decode_bytes with ill-formed UTF-8 (a character cut between tokens) replaced by U+FFFD, as HF does.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const {
    return detail::utf8_lossy(decode_bytes(ids, skip_special_tokens));
  }

  /// 1 + the largest id of the vocab and the added tokens.
  std::int32_t vocab_size() const { return static_cast<std::int32_t>(id_token_.size()); }

  /// The id of a token (added tokens first, then the model's vocab), spelled as in the file (byte-level form).
  std::optional<std::int32_t> token_to_id(std::string_view token) const {
    const std::string key(token);
    if (auto it = added_ids_.find(key); it != added_ids_.end()) return it->second;
    if (auto it = vocab_.find(key); it != vocab_.end()) return it->second;
    return std::nullopt;
  }

  /// The token of an id as the file spells it; an id with none throws.
  const std::string& id_to_token(std::int32_t id) const {
    SSM_CHECK(known(id), source_, ": no token has id ", id, " (vocabulary size ", vocab_size(), ")");
    return id_token_[static_cast<std::size_t>(id)];
  }

  const std::vector<AddedToken>& added_tokens() const { return added_; }
  bool is_special(std::int32_t id) const { return known(id) && special_[static_cast<std::size_t>(id)]; }
  std::size_t merge_count() const { return merges_.size(); }
  const std::string& source() const { return source_; }

 private:
  BpeTokenizer() = default;

  bool known(std::int32_t id) const {
    return id >= 0 && id < vocab_size() && has_token_[static_cast<std::size_t>(id)];
  }

  static char32_t first_char(std::string_view s) { return detail::utf8_step(s, 0).cp; }
  static std::size_t char_len_before(std::string_view s, std::size_t end) {
    std::size_t b = end - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
    return end - b;
  }
  static char32_t last_char(std::string_view s) {
    return detail::utf8_step(s, s.size() - char_len_before(s, s.size())).cp;
  }

  /// The leftmost, then longest, added token at or after byte `from`: (index into added_, byte offset).
  std::optional<std::pair<std::size_t, std::size_t>> find_added(std::string_view s, std::size_t from) const {
    for (std::size_t p = from; p < s.size(); ++p) {
      for (std::size_t k : added_by_first_[static_cast<unsigned char>(s[p])])  // longest first
        if (s.substr(p).starts_with(added_[k].content)) return std::pair{k, p};
    }
    return std::nullopt;
  }

  /// Normalizer, pre-tokenizer and BPE on a piece of text between added tokens; appends the ids.
  void encode_piece(std::string_view utf8, std::vector<std::int32_t>& ids) const {
    if (utf8.empty()) return;
    std::u32string cps = detail::decode_utf8(utf8, source_);
    if (nfc_) cps = detail::nfc(cps);
    if (add_prefix_space_ && cps.front() != U' ') cps.insert(cps.begin(), U' ');
    if (!use_regex_) {
      bpe_word(detail::encode_utf8(cps), ids);
      return;
    }
    const std::u32string_view view(cps);
    for (auto [b, e] : detail::split_gpt2(view)) bpe_word(detail::encode_utf8(view.substr(b, e - b)), ids);
  }

  static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }

  /// BPE on one pre-token (its raw UTF-8 bytes): start from one symbol per byte, then repeatedly merge the adjacent
  /// pair of lowest rank (leftmost among equals) until no adjacent pair has a merge — HF's Word::merge_all.
  void bpe_word(const std::string& bytes, std::vector<std::int32_t>& ids) const {
    if (ignore_merges_) {
      if (auto it = vocab_.find(detail::bytes_to_symbols(bytes)); it != vocab_.end()) {
        ids.push_back(it->second);
        return;
      }
    }
    struct Symbol {
      std::int32_t id;
      std::int32_t prev, next;
      bool alive;
    };
    std::vector<Symbol> sym;
    sym.reserve(bytes.size());
    for (char ch : bytes) {
      const auto b = static_cast<unsigned char>(ch);
      std::int32_t id = byte_id_[b];
      if (id < 0) {
        SSM_CHECK(unk_id_.has_value(), source_, ": the byte-level symbol of byte 0x", std::hex, static_cast<int>(b),
                  std::dec, " ('", detail::bytes_to_symbols(std::string(1, ch)),
                  "') has no id in model.vocab and the model has no unk_token");
        if (fuse_unk_ && !sym.empty() && sym.back().id == *unk_id_) continue;
        id = *unk_id_;
      }
      const auto n = static_cast<std::int32_t>(sym.size());
      sym.push_back({id, n - 1, n + 1, true});
    }
    if (sym.empty()) return;
    sym.back().next = -1;

    struct Candidate {
      std::int32_t rank, pos, new_id;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto push = [&](std::int32_t pos) {
      const std::int32_t next = sym[static_cast<std::size_t>(pos)].next;
      if (next < 0) return;
      auto it = merges_.find(pair_key(sym[static_cast<std::size_t>(pos)].id, sym[static_cast<std::size_t>(next)].id));
      if (it != merges_.end()) queue.push({it->second.first, pos, it->second.second});
    };
    for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(sym.size()); ++i) push(i);
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = sym[static_cast<std::size_t>(top.pos)];
      if (!left.alive || left.next < 0) continue;
      Symbol& right = sym[static_cast<std::size_t>(left.next)];
      // Skip a candidate made stale by an earlier merge of one of its symbols.
      auto it = merges_.find(pair_key(left.id, right.id));
      if (it == merges_.end() || it->second.second != top.new_id) continue;
      left.id = top.new_id;
      left.next = right.next;
      right.alive = false;
      if (right.next >= 0) sym[static_cast<std::size_t>(right.next)].prev = top.pos;
      if (left.prev >= 0) push(left.prev);
      push(top.pos);
    }
    for (std::int32_t i = 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next)
      ids.push_back(sym[static_cast<std::size_t>(i)].id);
  }

  // ---- loading ------------------------------------------------------------------------------------------------

  static std::string type_of(const nlohmann::json& node) {
    if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) return "";
    return node["type"].get<std::string>();
  }

  bool flag(const nlohmann::json& node, const char* key, bool fallback, std::string_view where) const {
    if (!node.contains(key) || node[key].is_null()) return fallback;
    SSM_CHECK(node[key].is_boolean(), source_, ": ", where, ".", key, " must be true or false, found ",
              node[key].dump());
    return node[key].get<bool>();
  }

  void load_normalizer(const nlohmann::json& n, const std::string& where) {
    if (n.is_null()) return;
    const std::string type = type_of(n);
    if (type == "NFC") {
      nfc_ = true;
    } else if (type == "Sequence") {
      SSM_CHECK(n.contains("normalizers") && n["normalizers"].is_array(), source_, ": ", where,
                " is a Sequence without a 'normalizers' array");
      for (std::size_t i = 0; i < n["normalizers"].size(); ++i)
        load_normalizer(n["normalizers"][i], where + ".normalizers[" + std::to_string(i) + "]");
    } else {
      SSM_FAIL(source_, ": ", where, " has type '", type.empty() ? n.dump() : type,
               "', which this reader does not support (only null, NFC, or a Sequence of NFC)");
    }
  }

  void load_pre_tokenizer(const nlohmann::json& p) {
    const std::string type = type_of(p);
    const nlohmann::json* bl = &p;
    std::string where = "pre_tokenizer";
    if (type == "Sequence") {
      SSM_CHECK(p.contains("pretokenizers") && p["pretokenizers"].is_array() && p["pretokenizers"].size() == 1 &&
                    type_of(p["pretokenizers"][0]) == "ByteLevel",
                source_, ": pre_tokenizer is a Sequence ", p.contains("pretokenizers") ? p["pretokenizers"].dump() : "",
                "; this reader supports only a Sequence of exactly one ByteLevel");
      bl = &p["pretokenizers"][0];
      where = "pre_tokenizer.pretokenizers[0]";
    } else {
      SSM_CHECK(type == "ByteLevel", source_, ": pre_tokenizer has type '", p.is_null() ? "null" : type,
                "'; this reader supports only byte-level BPE (pre_tokenizer ByteLevel)");
    }
    add_prefix_space_ = flag(*bl, "add_prefix_space", true, where);
    use_regex_ = flag(*bl, "use_regex", true, where);
  }

  void add_token_string(std::int32_t id, const std::string& token, bool special) {
    const auto i = static_cast<std::size_t>(id);
    if (i >= id_token_.size()) {
      id_token_.resize(i + 1);
      has_token_.resize(i + 1, 0);
      special_.resize(i + 1, 0);
    }
    id_token_[i] = token;
    has_token_[i] = 1;
    special_[i] = special ? 1 : 0;
  }

  std::int32_t read_id(const nlohmann::json& v, std::string_view what) const {
    SSM_CHECK(v.is_number_integer() && v.get<std::int64_t>() >= 0 &&
                  v.get<std::int64_t>() < std::numeric_limits<std::int32_t>::max(),
              source_, ": ", what, " must have a non-negative integer id, found ", v.dump());
    return static_cast<std::int32_t>(v.get<std::int64_t>());
  }

  void load(const nlohmann::json& j) {
    const std::string& src = source_;
    SSM_CHECK(j.is_object(), src, ": a tokenizer file must hold a JSON object, found ", j.type_name());
    SSM_CHECK(j.contains("model") && j["model"].is_object(), src, ": no 'model' object");
    const nlohmann::json& m = j["model"];
    const std::string mtype = type_of(m);
    SSM_CHECK(mtype == "BPE" || (mtype.empty() && m.contains("merges")), src, ": model type '", mtype,
              "' is not supported; this reader handles BPE only");
    if (m.contains("dropout") && !m["dropout"].is_null())
      SSM_CHECK(m["dropout"].is_number() && m["dropout"].get<double>() == 0.0, src,
                ": model.dropout = ", m["dropout"].dump(), " is not supported (BPE dropout samples; encode is exact)");
    SSM_CHECK(!flag(m, "byte_fallback", false, "model"), src, ": model.byte_fallback = true is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      SSM_CHECK(!m.contains(key) || m[key].is_null() || (m[key].is_string() && m[key].get<std::string>().empty()),
                src, ": model.", key, " = ", m.contains(key) ? m[key].dump() : "", " is not supported (null only)");
    ignore_merges_ = flag(m, "ignore_merges", false, "model");
    fuse_unk_ = flag(m, "fuse_unk", false, "model");

    // vocab: token → id
    SSM_CHECK(m.contains("vocab") && m["vocab"].is_object(), src, ": model.vocab must be an object token -> id");
    for (const auto& [token, v] : m["vocab"].items()) {
      const std::int32_t id = read_id(v, "model.vocab entry '" + token + "'");
      SSM_CHECK(!known(id), src, ": model.vocab gives id ", id, " to both '", id_token_[static_cast<std::size_t>(id)],
                "' and '", token, "'");
      vocab_.emplace(token, id);
      add_token_string(id, token, false);
    }
    if (m.contains("unk_token") && !m["unk_token"].is_null()) {
      SSM_CHECK(m["unk_token"].is_string(), src, ": model.unk_token must be a string or null");
      if (auto it = vocab_.find(m["unk_token"].get<std::string>()); it != vocab_.end()) unk_id_ = it->second;
    }
    for (int b = 0; b < 256; ++b) {
      auto it = vocab_.find(detail::bytes_to_symbols(std::string(1, static_cast<char>(b))));
      byte_id_[static_cast<std::size_t>(b)] = it == vocab_.end() ? -1 : it->second;
    }

    // merges: rank = position; "a b" (tokenizers < 0.20) or ["a", "b"]. A repeated pair keeps its later rank, as
    // the HashMap HF builds does.
    SSM_CHECK(m.contains("merges") && m["merges"].is_array(), src, ": model.merges must be an array");
    const auto& merges = m["merges"];
    merges_.reserve(merges.size());
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const auto& e = merges[r];
      std::string a, b;
      if (e.is_string()) {
        const std::string s = e.get<std::string>();
        const auto space = s.find(' ');
        SSM_CHECK(space != std::string::npos && space > 0 && space + 1 < s.size(), src, ": model.merges[", r,
                  "] = ", e.dump(), " is not two tokens separated by a space");
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else {
        SSM_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(), src, ": model.merges[", r,
                  "] = ", e.dump(), " is neither \"a b\" nor [\"a\", \"b\"]");
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      }
      const auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
      SSM_CHECK(ia != vocab_.end(), src, ": model.merges[", r, "] = ", e.dump(), ": '", a, "' is not in model.vocab");
      SSM_CHECK(ib != vocab_.end(), src, ": model.merges[", r, "] = ", e.dump(), ": '", b, "' is not in model.vocab");
      SSM_CHECK(iab != vocab_.end(), src, ": model.merges[", r, "] = ", e.dump(), ": the merged token '", a + b,
                "' is not in model.vocab");
      merges_[pair_key(ia->second, ib->second)] = {static_cast<std::int32_t>(r), iab->second};
    }

    // added tokens
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      SSM_CHECK(j["added_tokens"].is_array(), src, ": added_tokens must be an array");
      for (std::size_t i = 0; i < j["added_tokens"].size(); ++i) {
        const auto& t = j["added_tokens"][i];
        const std::string where = "added_tokens[" + std::to_string(i) + "]";
        SSM_CHECK(t.is_object() && t.contains("content") && t["content"].is_string() && t.contains("id"), src, ": ",
                  where, " needs a string 'content' and an 'id', found ", t.dump());
        AddedToken a;
        a.content = t["content"].get<std::string>();
        a.id = read_id(t["id"], where);
        a.single_word = flag(t, "single_word", false, where);
        a.lstrip = flag(t, "lstrip", false, where);
        a.rstrip = flag(t, "rstrip", false, where);
        a.normalized = flag(t, "normalized", true, where);
        a.special = flag(t, "special", false, where);
        if (a.content.empty()) continue;  // HF ignores empty added tokens
        added_ids_[a.content] = a.id;
        add_token_string(a.id, a.content, a.special);
        added_.push_back(std::move(a));
      }
    }
    for (std::size_t k = 0; k < added_.size(); ++k)
      added_by_first_[static_cast<unsigned char>(added_[k].content[0])].push_back(k);
    auto longer = [&](std::size_t x, std::size_t y) { return added_[x].content.size() > added_[y].content.size(); };
    for (auto& bucket : added_by_first_) std::stable_sort(bucket.begin(), bucket.end(), longer);

    load_normalizer(j.contains("normalizer") ? j["normalizer"] : nlohmann::json(), "normalizer");
    load_pre_tokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json());
    const nlohmann::json dec = j.contains("decoder") ? j["decoder"] : nlohmann::json();
    SSM_CHECK(type_of(dec) == "ByteLevel", src, ": decoder has type '", dec.is_null() ? "null" : type_of(dec),
              "'; this reader supports only the ByteLevel decoder");

    // Bytes each id decodes to (the ByteLevel decoder, per token).
    id_bytes_.resize(id_token_.size());
    for (std::size_t id = 0; id < id_token_.size(); ++id) {
      if (!has_token_[id]) continue;
      const auto cps = detail::decode_utf8(id_token_[id], src + ": token " + std::to_string(id));
      std::string bytes;
      bool all = true;
      for (char32_t cp : cps) {
        const int b = detail::unicode_to_byte(cp);
        if (b < 0) {
          all = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      id_bytes_[id] = all ? bytes : id_token_[id];
    }
  }

  std::string source_;
  std::unordered_map<std::string, std::int32_t> vocab_;      // model.vocab
  std::vector<std::string> id_token_;                         // id → token as spelled in the file
  std::vector<std::string> id_bytes_;                         // id → the bytes it decodes to
  std::vector<unsigned char> has_token_, special_;            // per id
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges_;  // (a, b) → (rank, a+b)
  std::array<std::int32_t, 256> byte_id_{};                   // byte → id of its byte-level symbol, or -1
  std::vector<AddedToken> added_;
  std::unordered_map<std::string, std::int32_t> added_ids_;
  std::array<std::vector<std::size_t>, 256> added_by_first_;  // added_ indices by first byte, longest first
  std::optional<std::int32_t> unk_id_;
  bool nfc_ = false, add_prefix_space_ = false, use_regex_ = true, ignore_merges_ = false, fuse_unk_ = false;
};

}  // namespace ssm::hf
