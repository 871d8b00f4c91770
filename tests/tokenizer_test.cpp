// tests/tokenizer_test.cpp — the byte-level BPE tokenizer of a Hugging Face tokenizer.json (ssm::hf::BpeTokenizer):
// the GPT-2 pre-token split, the byte alphabet, NFC, merge order, both merge formats, added tokens, the ByteLevel
// decoder and the errors for bad input and bad files. Expected ids are derived by hand in the comments: the test
// vocab gives byte b the id b (its byte-level symbol), and merges the ids 256, 257, … in rank order.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hf_fixtures.hpp"
#include "ssm/data/corpus.hpp"
#include "ssm/interop/bpe_tokenizer.hpp"
#include "test_util.hpp"

using ssm::Error;
using ssm::hf::BpeTokenizer;
using json = nlohmann::json;
using Ids = std::vector<std::int32_t>;
namespace fs = std::filesystem;
using ssm::test::added;
using ssm::test::base_merges;
using ssm::test::byte_symbol;
using ssm::test::make_json;
using ssm::test::TempDir;

namespace {

BpeTokenizer make(const json& j) { return BpeTokenizer::from_json(j.dump(), "test.json"); }

Ids bytes_of(std::string_view s) {
  Ids ids;
  for (char c : s) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

using Pieces = std::vector<std::string>;
Pieces split(std::string_view s) { return ssm::hf::detail::pretokenize_gpt2(s); }

}  // namespace

TEST_SUITE("tokenizer") {
  TEST_CASE("GPT-2 pre-token split follows the regex alternatives") {
    // \s+(?!\S) leaves the last space of "  end" to " end"; the trailing run is kept whole.
    CHECK(split("Hello world's  end!!  ") == Pieces{"Hello", " world", "'s", " ", " end", "!!", "  "});
    CHECK(split(" 123") == Pieces{" 123"});
    CHECK(split("abc123 4.5") == Pieces{"abc", "123", " 4", ".", "5"});
    // Letters beyond ASCII are \p{L}: accented Latin, CJK, kana.
    CHECK(split("héllo wörld") == Pieces{"héllo", " wörld"});
    CHECK(split("日本語 テスト") == Pieces{"日本語", " テスト"});
    // Emoji are neither letters nor numbers: one run with the punctuation after them.
    CHECK(split("hi 😀😀!") == Pieces{"hi", " 😀😀!"});
    // Contractions are lowercase only; "'" before "RE" is punctuation.
    CHECK(split("I'm don't THEY'RE") == Pieces{"I", "'m", " don", "'t", " THEY", "'", "RE"});
    CHECK(split("we'll you've they're he'd") == Pieces{"we", "'ll", " you", "'ve", " they", "'re", " he", "'d"});
    // Newlines: "\n\n" before a word splits as "\n" (\s+(?!\S) less one) and "\n" (\s+).
    CHECK(split("a\n\nb") == Pieces{"a", "\n", "\n", "b"});
    CHECK(split("x   ") == Pieces{"x", "   "});
    CHECK(split("a \tb") == Pieces{"a", " ", "\t", "b"});
    // U+00A0 is white space but not the literal space the word alternatives may start with.
    CHECK(split("a\u00A0\u00A0b") == Pieces{"a", "\u00A0", "\u00A0", "b"});
    // Unicode digits are \p{N} (Arabic-Indic, superscript two).
    CHECK(split("x \u0661\u0662\u00B2") == Pieces{"x", " \u0661\u0662\u00B2"});
    CHECK(split("").empty());
  }

  TEST_CASE("character classes and the byte alphabet") {
    using namespace ssm::hf::detail;
    CHECK(is_letter(U'é'));
    CHECK(is_letter(U'語'));
    CHECK_FALSE(is_letter(U'😀'));
    CHECK(is_number(U'\u0663'));
    CHECK(is_space(U'\u3000'));
    CHECK(is_space(U'\u0085'));
    CHECK_FALSE(is_space(U'\u200B'));  // zero width space is not White_Space
    CHECK_FALSE(is_space(0x1C));       // Python's str.isspace says yes; \s does not
    // Hand-checked points of bytes_to_unicode: 0x00..0x20 → U+0100..U+0120, 0x7F → U+0121, 0xAD → U+0143.
    CHECK(bytes_to_symbols(std::string(1, '\0')) == "\u0100");
    CHECK(bytes_to_symbols(" ") == "Ġ");
    CHECK(bytes_to_symbols("\n") == "Ċ");
    CHECK(bytes_to_symbols("\x7F") == "\u0121");
    CHECK(bytes_to_symbols("\xAD") == "\u0143");
    CHECK(bytes_to_symbols("a~\xA1") == "a~\u00A1");
    for (int b = 0; b < 256; ++b) CHECK(bytes_to_symbols(std::string(1, static_cast<char>(b))) == byte_symbol(b));
  }

  TEST_CASE("NFC composes, reorders and respects exclusions") {
    using ssm::hf::detail::nfc_utf8;
    CHECK(nfc_utf8("e\u0301") == "\u00E9");
    CHECK(nfc_utf8("\u212B") == "\u00C5");                 // ANGSTROM SIGN is a singleton → Å
    CHECK(nfc_utf8("a\u0302\u0323") == "\u1EAD");          // reordered to a + dot below (220) + circumflex (230)
    CHECK(nfc_utf8("a\u0301\u0301") == "\u00E1\u0301");    // the second acute is blocked by the first
    CHECK(nfc_utf8("\u1100\u1161\u11A8") == "\uAC01");     // Hangul L V T → 각
    CHECK(nfc_utf8("\u0958") == "\u0915\u093C");           // composition exclusion: stays decomposed
    CHECK(nfc_utf8("\u0301e") == "\u0301e");               // a leading mark composes with nothing
    CHECK(nfc_utf8("plain ascii") == "plain ascii");
    CHECK(ssm::hf::detail::unicode::version == std::string("14.0.0"));
  }

  TEST_CASE("encode applies merges to each pre-token") {
    const auto tok = make(make_json());
    // " the": Ġ t h e → Ġt (rank 0) → he (1) → Ġthe (2).
    CHECK(tok.encode(" the") == Ids{258});
    // "Hello": H e l l o → ll (3) → llo (4) = [72 101 260]; " world": Ġw (5), or (6), Ġwor (7) = [263 108 100].
    CHECK(tok.encode("Hello world") == Ids{72, 101, 260, 263, 108, 100});
    // No merge for "the" at the start of a text besides h e: t he.
    CHECK(tok.encode("the") == Ids{116, 257});
    // "\n\n" splits as two pre-tokens; control bytes are their own symbols.
    CHECK(tok.encode("a\n\nb\x01") == Ids{97, 10, 10, 98, 1});
    CHECK(tok.encode("").empty());
    // Two-byte UTF-8 é = C3 A9: two byte symbols.
    CHECK(tok.encode("é") == Ids{0xC3, 0xA9});
    // NFC first: e + U+0301 is é.
    CHECK(tok.encode("e\u0301") == tok.encode("é"));
    CHECK(tok.vocab_size() == 302);
    CHECK(tok.merge_count() == 8);
    CHECK(tok.token_to_id("Ġthe") == 258);
    CHECK(tok.token_to_id("<|padding|>") == 301);
    CHECK_FALSE(tok.token_to_id("nope").has_value());
    CHECK(tok.id_to_token(263) == "Ġwor");
    CHECK(tok.id_to_token(32) == "Ġ");
    CHECK(tok.id_to_token(300) == "<|endoftext|>");
    CHECK_THROWS_WITH_AS(tok.id_to_token(299), doctest::Contains("no token has id 299"), Error);
    CHECK_THROWS_AS(tok.id_to_token(-1), Error);
  }

  TEST_CASE("the lower merge rank wins, leftmost among equals") {
    // "abc" with "b c" ranked before "a b": bc first, then no "a bc" → [a, bc]; the other order → [ab, c].
    const auto bc_first = make(make_json({{"b", "c"}, {"a", "b"}}));  // bc = 256, ab = 257
    const auto ab_first = make(make_json({{"a", "b"}, {"b", "c"}}));  // ab = 256, bc = 257
    CHECK(bc_first.encode("abc") == Ids{97, 256});
    CHECK(ab_first.encode("abc") == Ids{256, 99});
    // "aaa" with "a a": the leftmost pair merges first → [aa, a].
    const auto aa = make(make_json({{"a", "a"}}));
    CHECK(aa.encode("aaa") == Ids{256, 97});
    CHECK(aa.encode("aaaa") == Ids{256, 256});
    // A merge of merges after an earlier merge invalidated a pending pair: "abcd" with c d (0), b c (1), a b (2),
    // ab cd (3): cd first; then b c is gone (c belongs to cd); a b → ab; ab cd → abcd.
    const auto chain = make(make_json({{"c", "d"}, {"b", "c"}, {"a", "b"}, {"ab", "cd"}}));
    CHECK(chain.encode("abcd") == Ids{259});
    CHECK(chain.encode("bcd") == Ids{98, 256});
  }

  TEST_CASE("both merge formats give the same ids") {
    const auto legacy = make(make_json(base_merges, false));
    const auto arrays = make(make_json(base_merges, true));
    for (const char* s : {" the", "Hello world", "the other world, hello!", "llo llo  "}) {
      CAPTURE(s);
      CHECK(legacy.encode(s) == arrays.encode(s));
    }
    CHECK(arrays.encode(" the world") == Ids{258, 263, 108, 100});
  }

  TEST_CASE("ignore_merges emits a word that is in the vocab whole") {
    auto j = make_json();
    j["model"]["vocab"]["Ġworld"] = 270;
    CHECK(make(j).encode(" world") == Ids{263, 108, 100});
    j["model"]["ignore_merges"] = true;
    CHECK(make(j).encode(" world") == Ids{270});
    CHECK(make(j).encode(" worlds") == Ids{263, 108, 100, 115});
  }

  TEST_CASE("add_prefix_space and use_regex") {
    auto j = make_json();
    j["pre_tokenizer"]["add_prefix_space"] = true;
    // " hello" → Ġ, he (1), llo (3, 4); no Ġ h merge.
    CHECK(make(j).encode("hello") == Ids{32, 257, 260});
    CHECK(make(j).encode(" hello") == Ids{32, 257, 260});
    CHECK(make(make_json()).encode("hello") == Ids{257, 260});
    // Inside a Sequence, and without the regex the whole text is one word: " the the" has no split at the space.
    json seq = make_json();
    seq["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", json::array({{{"type", "ByteLevel"}, {"add_prefix_space", false},
                                                            {"use_regex", false}}})}};
    CHECK(make(seq).encode(" the the") == Ids{258, 258});
    CHECK(make(seq).encode("a b") == Ids{97, 32, 98});
  }

  TEST_CASE("added tokens split the text first") {
    const auto tok = make(make_json());
    CHECK(tok.encode("a<|endoftext|>b") == Ids{97, 300, 98});
    CHECK(tok.encode("<|endoftext|><|padding|>") == Ids{300, 301});
    // The text after an added token is a fresh piece: " the" keeps its space.
    CHECK(tok.encode("<|endoftext|> the") == Ids{300, 258});
    CHECK(tok.encode("<|endoftext") == bytes_of("<|endoftext"));

    auto j = make_json();
    j["added_tokens"].push_back(added(400, "<mask>", true, /*lstrip=*/true));
    j["added_tokens"].push_back(added(401, "<r>", true, false, /*rstrip=*/true));
    j["added_tokens"].push_back(added(402, "cat", false, false, false, /*single_word=*/true));
    j["added_tokens"].push_back(added(403, "ab", false));
    j["added_tokens"].push_back(added(404, "abc", false));
    j["added_tokens"].push_back(added(405, "  ", false));  // GPT-NeoX's whitespace tokens look like this
    const auto t = make(j);
    // lstrip swallows the space before <mask>; without it the space is its own piece.
    CHECK(t.encode("a <mask>b") == Ids{97, 400, 98});
    CHECK(t.encode("a <r>b") == Ids{97, 32, 401, 98});
    // rstrip swallows the spaces after <r>.
    CHECK(t.encode("<r> \t b") == Ids{401, 98});
    // single_word: only with no word character on either side.
    CHECK(t.encode("cat x") == Ids{402, 32, 120});
    CHECK(t.encode("concat") == bytes_of("concat"));
    CHECK(t.encode("cat_") == bytes_of("cat_"));
    CHECK(t.encode("(cat)") == Ids{40, 402, 41});
    // Longest match at the leftmost position.
    CHECK(t.encode("xabcx") == Ids{120, 404, 120});
    CHECK(t.encode("xabx") == Ids{120, 403, 120});
    // "a  b": the two spaces are an added token; it decodes to its own bytes (space is not in the byte alphabet).
    CHECK(t.encode("a  b") == Ids{97, 405, 98});
    CHECK(t.decode(Ids{97, 405, 98}) == "a  b");
    CHECK(t.vocab_size() == 406);
  }

  TEST_CASE("decode inverts encode") {
    const auto tok = make(make_json());
    const std::vector<std::string> texts = {
        "Hello world's  end!!  ",
        "the  other\tworld\n\n\r\nbye",
        std::string("ctl \x01\x02\x1F\x7F and nul ") + std::string(1, '\0') + " ok",
        "naïve café — 日本語のテキスト, 한국어, Ελληνικά",
        "emoji 😀👍🏽 flags 🇫🇷 zwj 👩‍💻",
        "soft\u00ADhyphen nbsp\u00A0here \u3000ideographic",
        "<|endoftext|>after the <|padding|> end",
        "  leading and trailing   ",
    };
    for (const auto& s : texts) {
      CAPTURE(s);
      const auto ids = tok.encode(s);
      CHECK(tok.decode(ids) == s);
    }
    // Special tokens can be dropped.
    CHECK(tok.decode(Ids{97, 300, 98}, true) == "ab");
    CHECK(tok.decode(Ids{258, 263, 108, 100}) == " the world");
    // A character cut between tokens: lossy decode gives U+FFFD, decode_bytes the raw byte.
    CHECK(tok.decode(Ids{0xE2}) == "\uFFFD");
    CHECK(tok.decode_bytes(Ids{0xE2}) == "\xE2");
    CHECK(tok.decode(Ids{0xE2, 0x82, 0xAC}) == "€");
    CHECK_THROWS_WITH_AS(tok.decode(Ids{97, 280}), doctest::Contains("cannot decode id 280 at position 1"), Error);
    CHECK_THROWS_WITH_AS(tok.decode(Ids{302}), doctest::Contains("cannot decode id 302"), Error);
    CHECK_THROWS_AS(tok.decode(Ids{-5}), Error);
  }

  TEST_CASE("invalid UTF-8 is refused with its byte offset") {
    const auto tok = make(make_json());
    CHECK_THROWS_WITH_AS(tok.encode("ab\xFF"), doctest::Contains("invalid UTF-8 at byte offset 2"), Error);
    CHECK_THROWS_WITH_AS(tok.encode("\xC0\xAF"), doctest::Contains("byte offset 0"), Error);        // overlong
    CHECK_THROWS_WITH_AS(tok.encode("x\xED\xA0\x80"), doctest::Contains("byte offset 1"), Error);   // surrogate
    CHECK_THROWS_WITH_AS(tok.encode("abc\xE2\x82"), doctest::Contains("byte offset 3"), Error);     // truncated
    CHECK_THROWS_WITH_AS(tok.encode("\xF4\x90\x80\x80"), doctest::Contains("byte offset 0"), Error);  // > U+10FFFF
    CHECK_THROWS_WITH_AS(tok.encode("ok\x80"), doctest::Contains("test.json"), Error);
  }

  TEST_CASE("a symbol without an id: error, or unk_token") {
    auto j = make_json();
    j["model"]["vocab"].erase("Ċ");  // byte 0x0A
    const auto no_unk = make(j);
    CHECK(no_unk.encode("ab") == Ids{97, 98});
    CHECK_THROWS_WITH_AS(no_unk.encode("a\nb"), doctest::Contains("byte 0xa ('Ċ') has no id"), Error);
    j["model"]["vocab"]["<unk>"] = 10;
    j["model"]["unk_token"] = "<unk>";
    CHECK(make(j).encode("a\n\n\nb") == Ids{97, 10, 10, 10, 98});  // pre-tokens "a", "\n\n", "\n", "b"
    j["model"]["fuse_unk"] = true;
    CHECK(make(j).encode("\n\n") == Ids{10});
  }

  TEST_CASE("from_file reads a file and names it in errors") {
    TempDir dir("tok");
    const auto good = dir.write("tokenizer.json", make_json().dump(2));
    const auto tok = BpeTokenizer::from_file(good);
    CHECK(tok.encode("Hello world") == Ids{72, 101, 260, 263, 108, 100});
    CHECK(tok.source() == good);
    const auto missing = (dir.path / "nope.json").string();
    const std::string no_file = "cannot open tokenizer file '" + missing + "'";
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_file(missing), doctest::Contains(no_file.c_str()), Error);
    const auto broken = dir.write("broken.json", "{\"model\": {");
    const std::string not_json = broken + ": not valid JSON";
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_file(broken), doctest::Contains(not_json.c_str()), Error);
    auto j = make_json();
    j["model"]["merges"].push_back("Ġwor ldx");
    const auto bad = dir.write("bad.json", j.dump());
    const std::string bad_merge = bad + ": model.merges[8]";
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_file(bad), doctest::Contains(bad_merge.c_str()), Error);
  }

  TEST_CASE("malformed or unsupported files are refused") {
    auto refuse = [](const json& j, const std::string& what) {
      CAPTURE(what);
      CHECK_THROWS_WITH_AS(BpeTokenizer::from_json(j.dump(), "test.json"), doctest::Contains(what.c_str()), Error);
    };
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_json("not json", "t.json"), doctest::Contains("t.json: not valid JSON"),
                         Error);
    CHECK_THROWS_WITH_AS(BpeTokenizer::from_json("[1, 2]"), doctest::Contains("tokenizer.json: a tokenizer file"),
                         Error);
    json j = make_json();
    j.erase("model");
    refuse(j, "test.json: no 'model' object");
    j = make_json();
    j["model"]["type"] = "WordPiece";
    refuse(j, "model type 'WordPiece' is not supported");
    j = make_json();
    j["model"]["merges"].push_back("Ġwor ldx");
    refuse(j, "model.merges[8] = \"Ġwor ldx\": 'ldx' is not in model.vocab");
    j = make_json();
    j["model"]["merges"].push_back(json::array({"x", "y"}));
    refuse(j, "the merged token 'xy' is not in model.vocab");
    j = make_json();
    j["model"]["merges"].push_back("xy");
    refuse(j, "is not two tokens separated by a space");
    j = make_json();
    j["model"]["merges"].push_back(json::array({"x"}));
    refuse(j, "model.merges[8]");
    j = make_json();
    j["model"]["vocab"]["dup"] = 5;
    refuse(j, "model.vocab gives id 5 to both");
    j = make_json();
    j["model"]["vocab"]["neg"] = -3;
    refuse(j, "non-negative integer id");
    j = make_json();
    j["model"]["vocab"] = json::array();
    refuse(j, "model.vocab must be an object");
    j = make_json();
    j["model"].erase("merges");
    refuse(j, "model.merges must be an array");
    j = make_json();
    j["normalizer"] = {{"type", "NFKC"}};
    refuse(j, "normalizer has type 'NFKC'");
    j = make_json();
    j["normalizer"] = {{"type", "Sequence"},
                       {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Lowercase"}}})}};
    refuse(j, "normalizer.normalizers[1] has type 'Lowercase'");
    j = make_json();
    j["pre_tokenizer"] = {{"type", "Whitespace"}};
    refuse(j, "pre_tokenizer has type 'Whitespace'");
    j = make_json();
    j["pre_tokenizer"] = nullptr;
    refuse(j, "pre_tokenizer has type 'null'");
    j = make_json();
    j["decoder"] = {{"type", "WordPiece"}};
    refuse(j, "decoder has type 'WordPiece'");
    j = make_json();
    j["model"]["byte_fallback"] = true;
    refuse(j, "byte_fallback = true is not supported");
    j = make_json();
    j["model"]["dropout"] = 0.1;
    refuse(j, "model.dropout");
    j = make_json();
    j["model"]["continuing_subword_prefix"] = "##";
    refuse(j, "continuing_subword_prefix");
    j = make_json();
    j["added_tokens"].push_back({{"content", "<x>"}});
    refuse(j, "added_tokens[2] needs a string 'content' and an 'id'");
    j = make_json();
    j["added_tokens"][0]["lstrip"] = "yes";
    refuse(j, "added_tokens[0].lstrip must be true or false");

    // The normalizer may also be null, or a Sequence of NFC; the loaded tokenizers differ only in NFC.
    j = make_json();
    j["normalizer"] = nullptr;
    CHECK(make(j).encode("e\u0301") == Ids{101, 0xCC, 0x81});
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}})}};
    CHECK(make(j).encode("e\u0301") == Ids{0xC3, 0xA9});
  }

  TEST_CASE("an hf-bpe TextEncoder reads text with the tokenizer.json's ids and survives serialization") {
    const std::string text_json = make_json().dump();
    const auto tok = make(make_json());
    const auto enc = ssm::data::TextEncoder::from_hf_tokenizer(text_json, 5);
    CHECK(std::string(enc.kind_name()) == "hf-bpe");
    CHECK(enc.vocab_size() == tok.vocab_size());
    CHECK(enc.end_of_text_id() == 300);
    CHECK(ssm::data::eot_id(enc) == 300);
    CHECK(ssm::data::lm_vocab_size(enc) == enc.vocab_size());  // the end-of-text id is inside the vocabulary
    // Case, URLs and @names as typed (the BPE model saw them so); <br /> still becomes a space.
    CHECK(enc.encode("He") == Ids{72, 101});  // not "he" (id 257)
    const std::string review = "Hello world<br />the @Air http://x";
    const std::string normed = ssm::data::normalize_text(review, ssm::data::TextEncoder::kHfNormalize);
    CHECK(normed.find("<br") == std::string::npos);
    CHECK(normed.find("Hello world") == 0);
    CHECK(normed.find("the @Air http://x") != std::string::npos);
    auto want = tok.encode(normed);
    REQUIRE(want.size() > 5);
    want.resize(5);  // cut to max_length, keeping the beginning
    CHECK(enc.encode(review) == want);
    CHECK(enc.encode("") == Ids{300});  // never empty
    CHECK(enc.decode(tok.encode(" the world")) == " the world");
    CHECK(enc.decode({300, 259, 301}) == "ll");  // special tokens skipped
    const auto back = ssm::data::TextEncoder::deserialize(enc.serialize(), "ckpt");
    CHECK(back.kind() == ssm::data::TextEncoder::Kind::HfBpe);
    CHECK(back.max_length() == 5);
    CHECK(back.encode(review) == want);
    std::string cut = enc.serialize();
    cut.pop_back();
    CHECK_THROWS_WITH_AS(ssm::data::TextEncoder::deserialize(cut, "ckpt"),
                         doctest::Contains("the tokenizer.json should have"), Error);
  }
}
