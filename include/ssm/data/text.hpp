// ssm/data/text.hpp — text → token ids as in the published sentiment setups: normalisation (lower-case,
// URLs → <url>, @mentions → <user>, HTML line breaks and entities, emoticons kept as tokens), a word
// tokenizer, a word vocabulary built from the training split (<pad> = 0, <unk> = 1, min count, max size),
// a byte-level tokenizer, and TextEncoder, which bundles them and serialises into a checkpoint's metadata.
// With SSM_HAVE_HF (the ssm::hf target) it also wraps a Hugging Face tokenizer.json (GPT-NeoX byte-level BPE,
// ssm/interop/bpe_tokenizer.hpp), so that a downloaded model is fine-tuned on the ids it was trained with.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"
#include "ssm/data/subword.hpp"

#if defined(SSM_HAVE_HF)
#include "ssm/interop/bpe_tokenizer.hpp"
#else
namespace ssm::hf {
class BpeTokenizer;
}
#endif

namespace ssm::data {

struct NormalizeOptions {
  bool lower = true;        ///< ASCII letters to lower case (bytes of other UTF-8 characters are kept)
  bool html = true;         ///< <br />, <br/>, <br> → space; &amp; &lt; &gt; &quot; &#39; &apos; decoded
  bool urls = true;         ///< http://…, https://…, www.… → <url>
  bool mentions = true;     ///< @name → <user>
};

namespace detail {
inline bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
inline bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
inline bool is_word_byte(unsigned char c) { return is_alnum(c) || c == '_' || c >= 0x80; }
inline bool starts_with_ci(std::string_view s, std::size_t at, std::string_view prefix) {
  if (s.size() - at < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    unsigned char a = static_cast<unsigned char>(s[at + i]);
    if (a >= 'A' && a <= 'Z') a = static_cast<unsigned char>(a - 'A' + 'a');
    if (a != static_cast<unsigned char>(prefix[i])) return false;
  }
  return true;
}
}  // namespace detail

/// Normalised text: whitespace runs (and U+0085, U+00A0) become one space; see NormalizeOptions.
inline std::string normalize_text(std::string_view s, const NormalizeOptions& opt = {}) {
  using detail::is_space;
  std::string out;
  out.reserve(s.size());
  const auto space = [&] {
    if (!out.empty() && out.back() != ' ') out += ' ';
  };
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool at_word_start = i == 0 || is_space(static_cast<unsigned char>(s[i - 1])) ||
                               !detail::is_word_byte(static_cast<unsigned char>(s[i - 1]));
    if (is_space(c)) {
      space();
      ++i;
      continue;
    }
    if (c == 0xC2 && i + 1 < n && (static_cast<unsigned char>(s[i + 1]) == 0x85 || static_cast<unsigned char>(s[i + 1]) == 0xA0)) {
      space();
      i += 2;
      continue;
    }
    if (opt.html && c == '<' && detail::starts_with_ci(s, i, "<br")) {
      std::size_t j = i + 3;
      while (j < n && (s[j] == ' ' || s[j] == '/')) ++j;
      if (j < n && s[j] == '>') {
        space();
        i = j + 1;
        continue;
      }
    }
    if (opt.html && c == '&') {
      static constexpr std::pair<std::string_view, char> entities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
      bool done = false;
      for (auto& [name, ch] : entities)
        if (detail::starts_with_ci(s, i, name)) {
          out += ch;
          i += name.size();
          done = true;
          break;
        }
      if (done) continue;
    }
    if (opt.urls && at_word_start &&
        (detail::starts_with_ci(s, i, "http://") || detail::starts_with_ci(s, i, "https://") ||
         detail::starts_with_ci(s, i, "www."))) {
      while (i < n && !is_space(static_cast<unsigned char>(s[i]))) ++i;
      space();
      out += "<url>";
      space();
      continue;
    }
    if (opt.mentions && c == '@' && at_word_start && i + 1 < n && detail::is_word_byte(static_cast<unsigned char>(s[i + 1])) &&
        static_cast<unsigned char>(s[i + 1]) < 0x80) {
      ++i;
      while (i < n && static_cast<unsigned char>(s[i]) < 0x80 && detail::is_word_byte(static_cast<unsigned char>(s[i]))) ++i;
      space();
      out += "<user>";
      space();
      continue;
    }
    out += (opt.lower && c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    ++i;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

namespace detail {
/// Length of an emoticon starting at s[i] (0 when none): eyes [:;=8x] nose [-o^']? mouth, "<3", "^_^", "-_-",
/// and mirrored forms "(:" / "):". Text is lower-cased already. Must end at a token boundary.
inline std::size_t emoticon_at(std::string_view s, std::size_t i) {
  const auto boundary = [&](std::size_t j) { return j >= s.size() || is_space(static_cast<unsigned char>(s[j])) || !is_alnum(static_cast<unsigned char>(s[j])); };
  for (std::string_view fixed : {"^_^", "-_-", "<3", "</3", "o_o", "t_t", ";_;"})
    if (s.substr(i, fixed.size()) == fixed && boundary(i + fixed.size())) return fixed.size();
  const std::string_view eyes = ":;=8x", noses = "-o^'", mouths = ")(][dp/\\|o3*}{@$s";
  const auto in = [](std::string_view set, char c) { return set.find(c) != std::string_view::npos; };
  if (i < s.size() && in(eyes, s[i])) {
    if (s[i] == 'x' || s[i] == '8') {  // only as a whole token ("xd", "8)"), never inside a word
      if (i > 0 && !is_space(static_cast<unsigned char>(s[i - 1]))) return 0;
    }
    std::size_t j = i + 1;
    if (j < s.size() && in(noses, s[j]) && j + 1 < s.size() && in(mouths, s[j + 1])) ++j;
    if (j < s.size() && in(mouths, s[j])) {
      std::size_t k = j + 1;
      while (k < s.size() && s[k] == s[j] && k - j < 8) ++k;  // ":)))" is one token
      const bool letter_mouth = is_alnum(static_cast<unsigned char>(s[j]));
      if (letter_mouth ? (k >= s.size() || is_space(static_cast<unsigned char>(s[k]))) : true) {
        if (s[i] == 'x' || s[i] == '8' || letter_mouth) {
          if (k < s.size() && !is_space(static_cast<unsigned char>(s[k]))) return 0;
        }
        return k - i;
      }
    }
  }
  if (i + 1 < s.size() && (s[i] == '(' || s[i] == ')') && (s[i + 1] == ':' || s[i + 1] == ';') && boundary(i + 2))
    return 2;
  return 0;
}
}  // namespace detail

/// Splits normalised text into tokens: <url> and <user>; emoticons; words (letters, digits, '_', apostrophes
/// inside a word, and any non-ASCII UTF-8 bytes); every other punctuation character on its own, a run of the
/// same character (up to three kept) as one token ("!!!").
inline std::vector<std::string> tokenize_words(std::string_view s) {
  using detail::is_space;
  std::vector<std::string> out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (c == '<' && (s.substr(i, 5) == "<url>" || s.substr(i, 6) == "<user>")) {
      const std::size_t len = s[i + 1] == 'u' && s[i + 2] == 'r' ? 5 : 6;
      out.emplace_back(s.substr(i, len));
      i += len;
      continue;
    }
    const bool prev_space = i == 0 || is_space(static_cast<unsigned char>(s[i - 1])) || !detail::is_word_byte(static_cast<unsigned char>(s[i - 1]));
    if (prev_space || !detail::is_word_byte(c)) {
      if (const std::size_t e = detail::emoticon_at(s, i); e > 0 && (prev_space || !detail::is_alnum(c))) {
        out.emplace_back(s.substr(i, e));
        i += e;
        continue;
      }
    }
    if (detail::is_word_byte(c)) {
      std::size_t j = i;
      while (j < n) {
        const unsigned char d = static_cast<unsigned char>(s[j]);
        if (detail::is_word_byte(d)) {
          ++j;
        } else if (d == '\'' && j + 1 < n && detail::is_word_byte(static_cast<unsigned char>(s[j + 1]))) {
          ++j;
        } else {
          break;
        }
      }
      out.emplace_back(s.substr(i, j - i));
      i = j;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && s[j] == s[i]) ++j;
    out.emplace_back(std::min<std::size_t>(j - i, 3), static_cast<char>(c));
    i = j;
  }
  return out;
}

/// Word vocabulary: id 0 is <pad>, 1 is <unk>, then tokens by descending training count (ties by byte order).
class Vocabulary {
 public:
  static constexpr std::int32_t kPad = 0, kUnk = 1;

  Vocabulary() : tokens_{"<pad>", "<unk>"} { rebuild_index(); }

  /// From the tokens of the training texts: tokens seen at least `min_count` times, at most `max_size` ids
  /// in all (<pad> and <unk> included; max_size <= 0: no limit).
  static Vocabulary build(const std::vector<std::vector<std::string>>& texts, Index min_count = 1, Index max_size = 0) {
    std::unordered_map<std::string, Index> counts;
    for (auto& t : texts)
      for (auto& w : t) ++counts[w];
    std::vector<std::pair<std::string, Index>> items;
    for (auto& [w, c] : counts)
      if (c >= min_count && w != "<pad>" && w != "<unk>") items.emplace_back(w, c);
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    Vocabulary v;
    for (auto& [w, c] : items) {
      if (max_size > 0 && static_cast<Index>(v.tokens_.size()) >= max_size) break;
      v.tokens_.push_back(w);
    }
    v.rebuild_index();
    return v;
  }

  Index size() const { return static_cast<Index>(tokens_.size()); }
  std::int32_t id(std::string_view token) const {
    auto it = index_.find(std::string(token));
    return it == index_.end() ? kUnk : it->second;
  }
  const std::string& token(std::int32_t id) const {
    SSM_CHECK(id >= 0 && id < size(), "vocabulary id ", id, " out of range [0, ", size(), ")");
    return tokens_[static_cast<std::size_t>(id)];
  }

  /// One token per line after a header line "ssm-vocab 1 <size>". Tokens never hold whitespace.
  std::string serialize() const {
    std::string s = "ssm-vocab 1 " + std::to_string(tokens_.size()) + "\n";
    for (auto& t : tokens_) s += t + "\n";
    return s;
  }
  static Vocabulary deserialize(std::string_view s, const std::string& source = "vocabulary") {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < s.size()) {
      std::size_t end = s.find('\n', start);
      if (end == std::string_view::npos) end = s.size();
      lines.emplace_back(s.substr(start, end - start));
      start = end + 1;
    }
    SSM_CHECK(!lines.empty() && lines[0].rfind("ssm-vocab 1 ", 0) == 0, source,
              ": not a serialised vocabulary (expected a first line 'ssm-vocab 1 <size>')");
    const long n = std::strtol(lines[0].c_str() + 12, nullptr, 10);
    SSM_CHECK(n >= 2 && static_cast<std::size_t>(n) == lines.size() - 1, source, ": the header announces ", n,
              " tokens, found ", lines.size() - 1);
    SSM_CHECK(lines[1] == "<pad>" && lines[2] == "<unk>", source, ": ids 0 and 1 must be <pad> and <unk>");
    Vocabulary v;
    v.tokens_.assign(lines.begin() + 1, lines.end());
    v.rebuild_index();
    SSM_CHECK(static_cast<Index>(v.index_.size()) == v.size(), source, ": a token appears twice");
    return v;
  }

 private:
  void rebuild_index() {
    index_.clear();
    for (std::size_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], static_cast<std::int32_t>(i));
  }
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t> index_;
};

/// Text → ids: normalise, then words through a Vocabulary ("word"), subword pieces through a SentencePiece
/// model ("subword", data/subword.hpp: 0 pads, 1 is <unk>), the UTF-8 bytes ("byte": id = byte + 1, 0 pads,
/// 257 ids) or a Hugging Face tokenizer.json ("hf-bpe": its own ids; its end-of-text token ends documents).
/// Sequences are cut to max_length (keeping the beginning) and never empty: a text with no tokens becomes one
/// <unk> (word, subword), one space (byte) or the end-of-text token (hf-bpe).
class TextEncoder {
 public:
  enum class Kind { Word, Byte, Subword, HfBpe };

  /// hf-bpe's normalisation: the text as the model read it in pretraining (case, URLs and @names kept), with
  /// HTML line breaks and entities still decoded (IMDB's reviews are full of <br />).
  static constexpr NormalizeOptions kHfNormalize{.lower = false, .html = true, .urls = false, .mentions = false};

  TextEncoder() = default;
  TextEncoder(Kind kind, Index max_length, NormalizeOptions norm = {}, Vocabulary vocab = {})
      : kind_(kind), max_length_(max_length), norm_(norm), vocab_(std::move(vocab)) {
    SSM_CHECK(max_length > 0, "the maximum sequence length must be positive, found ", max_length);
  }

  /// A word encoder whose vocabulary is built from `texts` (the training split).
  static TextEncoder build_word(const std::vector<std::string>& texts, Index max_length, Index min_count = 2,
                                Index max_size = 30000, NormalizeOptions norm = {}) {
    std::vector<std::vector<std::string>> toks;
    toks.reserve(texts.size());
    for (auto& t : texts) toks.push_back(tokenize_words(normalize_text(t, norm)));
    return TextEncoder(Kind::Word, max_length, norm, Vocabulary::build(toks, min_count, max_size));
  }
  static TextEncoder byte_level(Index max_length, NormalizeOptions norm = {}) {
    return TextEncoder(Kind::Byte, max_length, norm);
  }
  /// A subword encoder whose SentencePiece model is trained on `texts` (normalised first, as encode() will).
  static TextEncoder build_subword(const std::vector<std::string>& texts, Index max_length,
                                   const SubwordOptions& options, NormalizeOptions norm = {}) {
    std::vector<std::string> normed;
    normed.reserve(texts.size());
    for (auto& t : texts) normed.push_back(normalize_text(t, norm));
    return from_subword_model(train_subword(normed, options), max_length, norm);
  }
  /// A subword encoder from a serialized SentencePiece model (e.g. the bytes of a .model file from spm_train,
  /// trained with --pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1).
  static TextEncoder from_subword_model(std::string proto, Index max_length, NormalizeOptions norm = {},
                                        const std::string& source = "subword model") {
    TextEncoder e(Kind::Subword, max_length, norm);
    e.spm_ = load_subword(proto, source);
    e.spm_proto_ = std::move(proto);
    return e;
  }

  /// An encoder from the text of a Hugging Face tokenizer.json (needs SSM_HAVE_HF: link ssm::hf).
  static TextEncoder from_hf_tokenizer(std::string json_text, Index max_length, NormalizeOptions norm = kHfNormalize,
                                       const std::string& source = "tokenizer.json") {
#if defined(SSM_HAVE_HF)
    TextEncoder e(Kind::HfBpe, max_length, norm);
    e.bpe_ = std::make_shared<const hf::BpeTokenizer>(hf::BpeTokenizer::from_json(json_text, source));
    e.bpe_json_ = std::move(json_text);
    const auto eot = e.bpe_->token_to_id("<|endoftext|>");
    e.bpe_eot_ = eot ? *eot : 0;
    return e;
#else
    (void)json_text, (void)max_length, (void)norm;
    SSM_FAIL(source, ": a Hugging Face tokenizer needs ssm::hf (configure with -DSSM_ENABLE_HF=ON, nlohmann-json3-dev)");
#endif
  }

  Kind kind() const { return kind_; }
  /// "word", "byte", "subword" (the programs' --tokenizer option's names) or "hf-bpe".
  const char* kind_name() const {
    switch (kind_) {
      case Kind::Word: return "word";
      case Kind::Byte: return "byte";
      case Kind::Subword: return "subword";
      case Kind::HfBpe: return "hf-bpe";
    }
    return "?";
  }
  /// The id that ends a document in a language model's stream: hf-bpe's <|endoftext|> (0 when the file has none),
  /// for the others the first id past the vocabulary (data::eot_id).
  std::int32_t end_of_text_id() const {
    return kind_ == Kind::HfBpe ? bpe_eot_ : static_cast<std::int32_t>(vocab_size());
  }
  Index max_length() const { return max_length_; }
  void set_max_length(Index n) {
    SSM_CHECK(n > 0, "the maximum sequence length must be positive, found ", n);
    max_length_ = n;
  }
  const Vocabulary& vocabulary() const { return vocab_; }
  Index vocab_size() const {
    switch (kind_) {
      case Kind::Byte: return 257;
      case Kind::Subword: return static_cast<Index>(subword_size(spm_));
      case Kind::HfBpe: return bpe_size();
      case Kind::Word: break;
    }
    return vocab_.size();
  }
  static constexpr std::int32_t pad_id() { return 0; }

  /// The tokens (as strings) the text is read as; byte-level gives one string per byte.
  std::vector<std::string> tokens(std::string_view text) const {
    const std::string norm = normalize_text(text, norm_);
    if (kind_ == Kind::Word) return tokenize_words(norm);
    if (kind_ == Kind::Subword) return subword_pieces(spm_, norm);
    if (kind_ == Kind::HfBpe) return bpe_pieces(norm);
    std::vector<std::string> out;
    for (char c : norm) out.emplace_back(1, c);
    return out;
  }

  std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    const std::string norm = normalize_text(text, norm_);
    if (kind_ == Kind::Word) {
      for (auto& w : tokenize_words(norm)) {
        if (static_cast<Index>(ids.size()) >= max_length_) break;
        ids.push_back(vocab_.id(w));
      }
      if (ids.empty()) ids.push_back(Vocabulary::kUnk);
    } else if (kind_ == Kind::Subword) {
      for (int id : subword_encode(spm_, norm)) {
        if (static_cast<Index>(ids.size()) >= max_length_) break;
        ids.push_back(static_cast<std::int32_t>(id));
      }
      if (ids.empty()) ids.push_back(Vocabulary::kUnk);
    } else if (kind_ == Kind::HfBpe) {
      ids = bpe_encode(norm);
      if (static_cast<Index>(ids.size()) > max_length_) ids.resize(static_cast<std::size_t>(max_length_));
      if (ids.empty()) ids.push_back(bpe_eot_);
    } else {
      for (unsigned char c : norm) {
        if (static_cast<Index>(ids.size()) >= max_length_) break;
        ids.push_back(static_cast<std::int32_t>(c) + 1);
      }
      if (ids.empty()) ids.push_back(' ' + 1);
    }
    return ids;
  }

  /// Ids → text: words joined by single spaces (normalisation is not undone), bytes as they were; padding and
  /// ids outside the vocabulary (a language model's end-of-text, data::eot_id) are skipped.
  std::string decode(const std::vector<std::int32_t>& ids) const {
    if (kind_ == Kind::HfBpe) return bpe_decode(ids);
    if (kind_ == Kind::Subword) {
      std::vector<int> kept;
      for (auto id : ids)
        if (id != pad_id() && id >= 0 && id < vocab_size()) kept.push_back(id);
      return subword_decode(spm_, kept);
    }
    std::string out;
    for (auto id : ids) {
      if (id == pad_id() || id < 0 || id >= vocab_size()) continue;
      if (kind_ == Kind::Byte) {
        out += static_cast<char>(id - 1);
      } else {
        if (!out.empty()) out += ' ';
        out += vocab_.token(id);
      }
    }
    return out;
  }

  /// "ssm-text-encoder 1\nkind word|byte|subword\nmax_length N\nnormalize lower html urls mentions (0/1)\n",
  /// then the vocabulary (word), "spm BYTES\n" and the SentencePiece model's serialized proto (subword), or
  /// "bpe BYTES\n" and the text of the tokenizer.json (hf-bpe).
  std::string serialize() const {
    std::ostringstream os;
    os << "ssm-text-encoder 1\nkind " << kind_name() << "\nmax_length " << max_length_ << "\nnormalize "
       << norm_.lower << ' ' << norm_.html << ' ' << norm_.urls << ' ' << norm_.mentions << "\n";
    if (kind_ == Kind::Word) os << vocab_.serialize();
    if (kind_ == Kind::Subword) os << "spm " << spm_proto_.size() << "\n" << spm_proto_;
    if (kind_ == Kind::HfBpe) os << "bpe " << bpe_json_.size() << "\n" << bpe_json_;
    return os.str();
  }
  static TextEncoder deserialize(std::string_view s, const std::string& source = "text encoder") {
    std::istringstream is{std::string(s)};
    std::string magic, version, key, kind;
    Index max_len = 0;
    int lo = 1, ht = 1, ur = 1, me = 1;
    is >> magic >> version >> key >> kind;
    SSM_CHECK(magic == "ssm-text-encoder" && version == "1" && key == "kind" &&
                  (kind == "word" || kind == "byte" || kind == "subword" || kind == "hf-bpe"),
              source, ": not a serialised text encoder (header '", magic, " ", version, "')");
    is >> key >> max_len;
    SSM_CHECK(key == "max_length" && max_len > 0, source, ": bad max_length entry");
    is >> key >> lo >> ht >> ur >> me;
    SSM_CHECK(key == "normalize" && !is.fail(), source, ": bad normalize entry");
    NormalizeOptions norm{.lower = lo != 0, .html = ht != 0, .urls = ur != 0, .mentions = me != 0};
    if (kind == "byte") return TextEncoder(Kind::Byte, max_len, norm);
    if (kind == "subword" || kind == "hf-bpe") {
      const bool spm = kind == "subword";
      std::size_t bytes = 0;
      is >> key >> bytes;
      SSM_CHECK(key == (spm ? "spm" : "bpe") && !is.fail() && is.get() == '\n', source, ": bad ", key,
                " entry of a ", kind, " encoder");
      const auto at = static_cast<std::size_t>(is.tellg());
      SSM_CHECK(at <= s.size() && s.size() - at == bytes, source, ": the ", spm ? "SentencePiece model" : "tokenizer.json",
                " should have ", bytes, " bytes, found ", at <= s.size() ? s.size() - at : 0);
      if (!spm) return from_hf_tokenizer(std::string(s.substr(at)), max_len, norm, source + " (its tokenizer.json)");
      return from_subword_model(std::string(s.substr(at)), max_len, norm, source);
    }
    const auto pos = s.find("ssm-vocab");
    SSM_CHECK(pos != std::string_view::npos, source, ": a word encoder without a vocabulary");
    return TextEncoder(Kind::Word, max_len, norm, Vocabulary::deserialize(s.substr(pos), source));
  }

 private:
#if defined(SSM_HAVE_HF)
  Index bpe_size() const { return bpe_->vocab_size(); }
  std::vector<std::int32_t> bpe_encode(const std::string& text) const { return bpe_->encode(text); }
  std::vector<std::string> bpe_pieces(const std::string& text) const {
    std::vector<std::string> out;
    for (auto id : bpe_->encode(text)) out.push_back(bpe_->id_to_token(id));
    return out;
  }
  std::string bpe_decode(const std::vector<std::int32_t>& ids) const {
    std::vector<std::int32_t> kept;
    for (auto id : ids)
      if (id >= 0 && id < bpe_->vocab_size() && !bpe_->is_special(id)) kept.push_back(id);
    return bpe_->decode(kept);
  }
#else
  [[noreturn]] static void no_hf() { SSM_FAIL("an hf-bpe text encoder needs ssm::hf (-DSSM_ENABLE_HF=ON)"); }
  Index bpe_size() const { no_hf(); }
  std::vector<std::int32_t> bpe_encode(const std::string&) const { no_hf(); }
  std::vector<std::string> bpe_pieces(const std::string&) const { no_hf(); }
  std::string bpe_decode(const std::vector<std::int32_t>&) const { no_hf(); }
#endif

  Kind kind_ = Kind::Word;
  Index max_length_ = 512;
  NormalizeOptions norm_;
  Vocabulary vocab_;
  std::string spm_proto_;  // subword: the SentencePiece model, as serialized into checkpoints
  SubwordModel spm_;
  std::shared_ptr<const hf::BpeTokenizer> bpe_;  // hf-bpe: the tokenizer, shared by copies
  std::string bpe_json_;                         // hf-bpe: the tokenizer.json text, as serialized into checkpoints
  std::int32_t bpe_eot_ = 0;                     // hf-bpe: <|endoftext|>
};

}  // namespace ssm::data
