// tests/data_test.cpp — the data layer on fixtures the tests write themselves: the CSV reader (quotes,
// embedded commas and newlines, BOM, CRLF, malformed records), encodings, the IMDB / airline / Sentiment140 /
// generic loaders (including malformed files and Latin-1), splits, text normalisation, tokenizers, vocabulary
// serialisation, bucketed batches; and the classification metrics against hand-computed values.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "ssm/data/batching.hpp"
#include "ssm/data/csv.hpp"
#include "ssm/data/text.hpp"
#include "ssm/data/text_dataset.hpp"
#include "ssm/train/metrics.hpp"
#include "test_util.hpp"

using namespace ssm;
using namespace ssm::data;
namespace fs = std::filesystem;
using ssm::test::TempDir;

namespace {

/// A fresh directory under the system's temporary directory, removed at the end of the test.
std::vector<CsvRecord> read_all(std::string_view text, std::vector<std::string>* errors = nullptr) {
  CsvReader r(text, "t.csv");
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string err;
  for (;;) {
    auto st = r.next(rec, err);
    if (st == CsvReader::Status::End) break;
    if (st == CsvReader::Status::Malformed) {
      if (errors) errors->push_back(err);
      continue;
    }
    out.push_back(rec);
  }
  return out;
}

}  // namespace

TEST_SUITE("data") {

TEST_CASE("CSV: quotes, doubled quotes, embedded delimiters and newlines, BOM, CRLF") {
  const std::string text = "\xEF\xBB\xBF" "a,b,c\r\n" "1,\"x, y\",\"say \"\"hi\"\"\"\r\n" "2,\"two\nlines\",\r\n" "3,,last";
  auto recs = read_all(text);
  REQUIRE(recs.size() == 4);
  CHECK(recs[0].fields == std::vector<std::string>{"a", "b", "c"});
  CHECK(recs[1].fields == std::vector<std::string>{"1", "x, y", "say \"hi\""});
  CHECK(recs[2].fields == std::vector<std::string>{"2", "two\nlines", ""});
  CHECK(recs[3].fields == std::vector<std::string>{"3", "", "last"});
  CHECK(recs[0].line == 1);
  CHECK(recs[2].line == 3);
  CHECK(recs[3].line == 5);  // the embedded newline counts
  // A trailing newline does not make an empty record; a lone CR inside a field is data.
  auto r2 = read_all("x,y\n\"a\rb\",c\n");
  REQUIRE(r2.size() == 2);
  CHECK(r2[1].fields[0] == "a\rb");
}

TEST_CASE("CSV: malformed records are reported with file:line and the reader goes on") {
  std::vector<std::string> errors;
  auto recs = read_all("h1,h2\n\"bad\"x,1\nok,2\n\"never closed,3\nlost,4\n", &errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("t.csv:2") != std::string::npos);
  CHECK(errors[1].find("t.csv:4") != std::string::npos);
  CHECK(errors[1].find("never closed") != std::string::npos);
  REQUIRE(recs.size() == 2);
  CHECK(recs[1].fields == std::vector<std::string>{"ok", "2"});
}

TEST_CASE("encodings: UTF-8 validation and Latin-1 conversion") {
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK(utf8_invalid_at("ab\xE9z") == 2);              // Latin-1 é is not UTF-8
  CHECK(utf8_invalid_at("\xC0\xAF") == 0);             // overlong
  CHECK(utf8_invalid_at("x\xED\xA0\x80") == 1);        // surrogate
  CHECK(utf8_invalid_at("\xF4\x90\x80\x80") == 0);     // above U+10FFFF
  CHECK(utf8_invalid_at("ok\xE2\x82") == 2);           // truncated
  CHECK(latin1_to_utf8("caf\xE9") == "caf\xC3\xA9");
  CHECK(is_valid_utf8(latin1_to_utf8("\x80\xFF\xA0")));
}

TEST_CASE("generic TSV loader: labels inferred in numeric order, CRLF, malformed and bad UTF-8 rows") {
  TempDir dir("data");
  const auto path = dir.write("d.tsv", "10\tten\r\n2\ttwo\ttabs\r\n\r\n2\tagain\n");
  auto ds = load_labelled_tsv(path);
  CHECK(ds.classes == std::vector<std::string>{"2", "10"});
  REQUIRE(ds.size() == 3);
  CHECK(ds.examples[0].label == 1);
  CHECK(ds.examples[1].text == "two\ttabs");
  CHECK(ds.examples[1].label == 0);

  const auto bad = dir.write("bad.tsv", "1\tfine\nno tab here\n0\tlatin \xE9\n1\tok\n");
  CHECK_THROWS_WITH_AS(load_labelled_tsv(bad), doctest::Contains("bad.tsv:2: expected 'label<TAB>text'"), Error);
  auto skipped = load_labelled_tsv(bad, {.skip_bad_rows = true});
  CHECK(skipped.size() == 2);
  CHECK(skipped.report.malformed == 1);
  CHECK(skipped.report.bad_encoding == 1);
  CHECK(skipped.report.rows == 4);
  REQUIRE(skipped.report.messages.size() == 2);
  CHECK(skipped.report.messages[1].find("bad.tsv:3: invalid UTF-8") != std::string::npos);

  CHECK(load_labelled_tsv(bad, {.skip_bad_rows = true, .limit = 1}).size() == 1);
  CHECK_THROWS_WITH_AS(load_labelled_tsv(dir.path.string() + "/missing.tsv"), doctest::Contains("missing.tsv"), Error);
  // Explicit classes: an unknown label is a bad row.
  CHECK_THROWS_WITH_AS(load_labelled_tsv(path, {}, {"2"}), doctest::Contains("d.tsv:1: unknown label"), Error);
}

TEST_CASE("generic CSV loader with named columns") {
  TempDir dir("data");
  const auto path = dir.write("d.csv", "id,text,label\n1,\"hello, world\",pos\n2,\"multi\nline\",neg\n3,short\n");
  CHECK_THROWS_WITH_AS(load_labelled_csv(path, "label", "text"), doctest::Contains("d.csv:5: 2 fields, the header has 3"),
                       Error);
  auto ds = load_labelled_csv(path, "label", "text", {.skip_bad_rows = true});
  CHECK(ds.classes == std::vector<std::string>{"neg", "pos"});
  REQUIRE(ds.size() == 2);
  CHECK(ds.examples[0].text == "hello, world");
  CHECK(ds.examples[1].text == "multi\nline");
  CHECK(ds.report.malformed == 1);
  CHECK_THROWS_WITH_AS(load_labelled_csv(path, "sentiment", "text"),
                       doctest::Contains("no column named 'sentiment' in the header (columns: id, text, label)"), Error);
}

TEST_CASE("airline loader: Tweets.csv columns, three classes, BOM and CRLF") {
  TempDir dir("data");
  const std::string header = "tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,text,tweet_created";
  const auto path = dir.write("Tweets.csv", "\xEF\xBB\xBF" + header + "\r\n" +
                                                "5.7E+17,neutral,1,,\"@VirginAmerica What @dhepburn said.\",24-02-2015\r\n" +
                                                "5.7E+17,negative,0.7,Bad Flight,\"it's \"\"really\"\" bad,\nsorry\",x\r\n" +
                                                "5.7E+17,positive,1,,thanks!,x\r\n" + "5.7E+17,angry,1,,what,x\r\n");
  CHECK_THROWS_WITH_AS(load_airline(path), doctest::Contains("Tweets.csv:6: unknown label"), Error);
  auto ds = load_airline(path, {.skip_bad_rows = true});
  CHECK(ds.classes == std::vector<std::string>{"negative", "neutral", "positive"});
  REQUIRE(ds.size() == 3);
  CHECK(ds.examples[0].label == 1);
  CHECK(ds.examples[1].label == 0);
  CHECK(ds.examples[1].text == "it's \"really\" bad,\nsorry");
  CHECK(ds.examples[2].label == 2);
  CHECK(ds.report.bad_label == 1);
}

TEST_CASE("Sentiment140 loader: 6 columns, Latin-1, labels 0/4, neutral 2 dropped") {
  TempDir dir("data");
  const auto path = dir.write("training.csv",
                              "\"0\",\"1467810369\",\"Mon Apr 06 22:19:45 PDT 2009\",\"NO_QUERY\",\"a\",\"so sad \xE9t\xE9\"\n"
                              "\"4\",\"2\",\"d\",\"q\",\"b\",\"happy, \"\"very\"\"\"\r\n"
                              "\"2\",\"3\",\"d\",\"q\",\"c\",\"meh\"\n"
                              "\"4\",\"4\",\"d\",\"q\",\"too few\"\n"
                              "\"9\",\"5\",\"d\",\"q\",\"e\",\"?\"\n");
  CHECK_THROWS_WITH_AS(load_sentiment140(path), doctest::Contains("training.csv:4: 5 fields, expected 6"), Error);
  auto ds = load_sentiment140(path, {.skip_bad_rows = true});
  REQUIRE(ds.size() == 2);
  CHECK(ds.examples[0].label == 0);
  CHECK(ds.examples[0].text == "so sad \xC3\xA9t\xC3\xA9");
  CHECK(ds.examples[1].label == 1);
  CHECK(ds.examples[1].text == "happy, \"very\"");
  CHECK(ds.report.dropped == 1);
  CHECK(ds.report.malformed == 1);
  CHECK(ds.report.bad_label == 1);
  CHECK(ds.report.rows == 5);
}

TEST_CASE("IMDB loaders: the aclImdb tree and the TSV") {
  TempDir dir("data");
  dir.write("aclImdb/train/pos/0_9.txt", "Great film.<br /><br />Loved it.");
  dir.write("aclImdb/train/pos/12_7.txt", "Good.\n");
  dir.write("aclImdb/train/neg/3_1.txt", "Awful.");
  dir.write("aclImdb/train/neg/1_4.txt", "Bad.");
  dir.write("aclImdb/train/neg/readme.md", "not a review");
  auto ds = load_imdb_dir(dir.path.string(), "train");
  CHECK(ds.classes == std::vector<std::string>{"negative", "positive"});
  REQUIRE(ds.size() == 4);
  // Classes alternate, ids ascending within a class.
  CHECK(ds.examples[0].text == "Bad.");
  CHECK(ds.examples[1].label == 1);
  CHECK(ds.examples[3].text == "Good.");
  CHECK(load_imdb_dir((dir.path / "aclImdb").string(), "train").size() == 4);
  CHECK(load_imdb_dir(dir.path.string(), "train", {.limit = 2}).class_counts() == std::vector<Index>{1, 1});

  dir.write("aclImdb/train/neg/7_8.txt", "rating 8 is not negative");
  CHECK_THROWS_WITH_AS(load_imdb_dir(dir.path.string(), "train"), doctest::Contains("7_8.txt"), Error);
  CHECK(load_imdb_dir(dir.path.string(), "train", {.skip_bad_rows = true}).report.malformed == 1);
  CHECK_THROWS_WITH_AS(load_imdb_dir(dir.path.string(), "test"), doctest::Contains("holds no IMDB split 'test'"), Error);

  CHECK(ds.examples[0].group.empty());  // no urls_*.txt: no movies

  const auto tsv = dir.write("train.tsv", "0\tbad movie\n1\tgood movie\n");
  auto t = load_imdb_tsv(tsv);
  CHECK(t.classes == std::vector<std::string>{"negative", "positive"});
  CHECK(t.size() == 2);
  CHECK(t.examples[1].label == 1);
}

TEST_CASE("IMDB movies from urls_*.txt, and a split that keeps each movie in one part") {
  TempDir dir("data");
  // 12 reviews per class of 6 movies (line <id> of urls_<class>.txt is review <id>'s movie), CRLF in one file.
  std::string pos_urls, neg_urls;
  for (int id = 0; id < 12; ++id) {
    dir.write("aclImdb/train/pos/" + std::to_string(id) + "_9.txt", "good " + std::to_string(id));
    dir.write("aclImdb/train/neg/" + std::to_string(id) + "_2.txt", "bad " + std::to_string(id));
    pos_urls += "http://www.imdb.com/title/tt" + std::to_string(id / 2) + "/usercomments\n";
    neg_urls += "http://www.imdb.com/title/tt" + std::to_string(3 + id / 4) + "/usercomments\r\n";
  }
  dir.write("aclImdb/train/urls_pos.txt", pos_urls);
  dir.write("aclImdb/train/urls_neg.txt", neg_urls);
  const auto ds = load_imdb_dir(dir.path.string(), "train");
  REQUIRE(ds.size() == 24);
  for (const auto& e : ds.examples) {
    const int id = std::stoi(e.text.substr(e.text.find(' ') + 1));
    CHECK(e.group == "http://www.imdb.com/title/tt" + std::to_string(e.label ? id / 2 : 3 + id / 4) + "/usercomments");
  }
  // Movies tt3 … tt5 have reviews of both classes; every movie lands wholly in one part, for every seed.
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto parts = grouped_split(ds, {0.75, 0.25}, seed);
    REQUIRE(parts.size() == 2);
    CHECK(parts[0].size() + parts[1].size() == 24);
    CHECK(parts[1].size() >= 2);
    std::map<std::string, int> where;
    for (int p = 0; p < 2; ++p)
      for (const auto& e : parts[static_cast<std::size_t>(p)].examples) {
        const auto [it, fresh] = where.try_emplace(e.group, p);
        CHECK(it->second == p);
      }
    CHECK(grouped_split(ds, {0.75, 0.25}, seed)[1].examples.size() == parts[1].examples.size());  // seeded
  }
  // Examples without a group are groups of their own; bad fractions are refused.
  TextDataset loose;
  loose.classes = {"a"};
  for (int i = 0; i < 10; ++i) loose.examples.push_back({0, std::to_string(i), ""});
  CHECK(grouped_split(loose, {0.7, 0.3}, 3)[0].size() == 7);
  CHECK_THROWS_AS(grouped_split(loose, {0.7, 0.2}, 3), Error);

  // A review without its movie line names the file.
  dir.write("aclImdb/train/pos/12_8.txt", "good 12");
  CHECK_THROWS_WITH_AS(load_imdb_dir(dir.path.string(), "train"), doctest::Contains("urls_pos.txt"), Error);
}

TEST_CASE("gzip-compressed files are read through gzip") {
  TempDir dir("data");
  const auto path = dir.write("d.tsv", "1\tcompressed text\n");
  if (std::system(("gzip -k " + path + " 2>/dev/null").c_str()) != 0) return;  // no gzip on this machine
  auto ds = load_labelled_tsv(path + ".gz");
  REQUIRE(ds.size() == 1);
  CHECK(ds.examples[0].text == "compressed text");
  dir.write("broken.tsv.gz", "not gzip");
  CHECK_THROWS_WITH_AS(load_labelled_tsv(dir.path.string() + "/broken.tsv.gz"), doctest::Contains("broken.tsv.gz"), Error);
}

TEST_CASE("stratified splits keep class proportions, are disjoint and repeatable") {
  TextDataset ds;
  ds.classes = {"a", "b", "c"};
  for (int i = 0; i < 1000; ++i) ds.examples.push_back({i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2, std::to_string(i)});
  auto parts = stratified_split(ds, {0.7, 0.15, 0.15}, 42);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].class_counts() == std::vector<Index>{420, 210, 70});
  CHECK(parts[1].class_counts() == std::vector<Index>{90, 45, 15});
  CHECK(parts[2].class_counts() == std::vector<Index>{90, 45, 15});
  std::set<std::string> seen;
  for (auto& p : parts)
    for (auto& e : p.examples) CHECK(seen.insert(e.text).second);
  CHECK(seen.size() == 1000);
  auto again = stratified_split(ds, {0.7, 0.15, 0.15}, 42);
  CHECK(again[1].examples[7].text == parts[1].examples[7].text);
  auto other = stratified_split(ds, {0.7, 0.15, 0.15}, 43);
  bool differs = false;
  for (std::size_t i = 0; i < other[1].examples.size(); ++i) differs |= other[1].examples[i].text != parts[1].examples[i].text;
  CHECK(differs);
  auto sub = stratified_subset(ds, 100, 1);
  CHECK(sub.class_counts() == std::vector<Index>{60, 30, 10});
  CHECK_THROWS_AS(stratified_split(ds, {0.5, 0.4}, 1), Error);
}

TEST_CASE("normalisation: lower case, URLs, mentions, HTML breaks and entities, emoticons kept") {
  CHECK(normalize_text("Great MOVIE!<br /><br />See http://t.co/x1 or www.imdb.com") ==
        "great movie! see <url> or <url>");
  CHECK(normalize_text("@VirginAmerica thanks @dhepburn_2! mail a@b.com") == "<user> thanks <user> ! mail a@b.com");
  CHECK(normalize_text("fish &amp; chips &lt;3 \xC2\x85 end") == "fish & chips <3 end");
  CHECK(normalize_text("  spaced\t\nout  ") == "spaced out");
  NormalizeOptions keep{.lower = false, .html = false, .urls = false, .mentions = false};
  CHECK(normalize_text("Keep <br /> @Me", keep) == "Keep <br /> @Me");
}

TEST_CASE("word tokenizer: words, contractions, punctuation runs, emoticons, special tokens") {
  using V = std::vector<std::string>;
  CHECK(tokenize_words("i don't like it!!!! :( really") == V{"i", "don't", "like", "it", "!!!", ":(", "really"});
  CHECK(tokenize_words("<user> love it :-) ;) :d <3 xd") == V{"<user>", "love", "it", ":-)", ";)", ":d", "<3", "xd"});
  CHECK(tokenize_words("at 10:30, 8pm. <url>") == V{"at", "10", ":", "30", ",", "8pm", ".", "<url>"});
  CHECK(tokenize_words("great:) 'quoted' caf\xC3\xA9") == V{"great", ":)", "'", "quoted", "'", "caf\xC3\xA9"});
  CHECK(tokenize_words("").empty());
}

TEST_CASE("vocabulary: <pad> = 0, <unk> = 1, min count, max size, serialisation round trip") {
  std::vector<std::vector<std::string>> texts{{"a", "b", "a", "c"}, {"b", "a", "d"}};
  auto v = Vocabulary::build(texts, 2);
  CHECK(v.size() == 4);
  CHECK(v.token(0) == "<pad>");
  CHECK(v.token(1) == "<unk>");
  CHECK(v.id("a") == 2);  // 3 occurrences
  CHECK(v.id("b") == 3);
  CHECK(v.id("c") == Vocabulary::kUnk);
  CHECK(Vocabulary::build(texts, 1, 3).size() == 3);
  auto back = Vocabulary::deserialize(v.serialize());
  CHECK(back.size() == v.size());
  CHECK(back.id("b") == 3);
  CHECK_THROWS_AS(Vocabulary::deserialize("garbage"), Error);
  CHECK_THROWS_AS(Vocabulary::deserialize("ssm-vocab 1 5\n<pad>\n<unk>\n"), Error);
}

TEST_CASE("subword encoder (SentencePiece): trained on texts, round trip, truncation, serialisation, refusals") {
  if (!data::have_sentencepiece()) {
    // Built without SentencePiece: a subword tokenizer is refused, saying how to enable it.
    CHECK_THROWS_WITH_AS(TextEncoder::build_subword({"a b"}, 8, {}), doctest::Contains("SSM_ENABLE_SENTENCEPIECE"),
                         Error);
    return;
  }
  // A made-up corpus: sentences from a few words with shared stems, so that pieces below the word pay.
  const std::vector<std::string> words{"play",  "played", "playing", "player", "watch", "watched",
                                       "watching", "great", "greatest", "bad", "badly", "movie", "movies"};
  Rng rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) {
    std::string t;
    for (int k = 0; k < 8; ++k) t += (k ? " " : "") + words[rng.uniform_int(words.size())];
    texts.push_back(t);
  }
  for (const char* type : {"unigram", "bpe"}) {
    CAPTURE(type);
    SubwordOptions so;
    so.type = type;
    so.vocab_size = 48;
    auto enc = TextEncoder::build_subword(texts, 64, so);
    CHECK(enc.kind() == TextEncoder::Kind::Subword);
    CHECK(std::string(enc.kind_name()) == "subword");
    CHECK(enc.vocab_size() > 2);
    CHECK(enc.vocab_size() <= 48);
    const std::string text = "the greatest player watched movies";  // "the" is not in the corpus
    const auto ids = enc.encode("The GREATEST player watched movies");  // normalised (lower case) first
    REQUIRE(!ids.empty());
    for (auto id : ids) {
      CHECK(id > 0);  // never padding
      CHECK(id < enc.vocab_size());
    }
    CHECK(enc.decode(ids).find("greatest player watched movies") != std::string::npos);
    CHECK(enc.tokens(text).size() == ids.size());
    // Truncation keeps the beginning.
    auto shortened = enc;
    shortened.set_max_length(2);
    CHECK(shortened.encode(text) == std::vector<std::int32_t>(ids.begin(), ids.begin() + 2));
    CHECK(enc.encode("   ") == std::vector<std::int32_t>{Vocabulary::kUnk});
    // The model travels in the serialised encoder (the checkpoint's "tokenizer" entry).
    const std::string ser = enc.serialize();
    auto back = TextEncoder::deserialize(ser);
    CHECK(back.kind() == TextEncoder::Kind::Subword);
    CHECK(back.vocab_size() == enc.vocab_size());
    CHECK(back.encode(text) == enc.encode(text));
    CHECK(back.serialize() == ser);
    CHECK_THROWS_WITH_AS(TextEncoder::deserialize(ser.substr(0, ser.size() - 10), "ck.ckpt"),
                         doctest::Contains("ck.ckpt: the SentencePiece model should have"), Error);
  }
  const std::string garbage = "ssm-text-encoder 1\nkind subword\nmax_length 8\nnormalize 1 1 1 1\nspm 5\nhello";
  CHECK_THROWS_WITH_AS(TextEncoder::deserialize(garbage, "x.ckpt"),
                       doctest::Contains("x.ckpt: not a SentencePiece model"), Error);
  SubwordOptions bad;
  bad.type = "wordpiece";
  CHECK_THROWS_WITH_AS(TextEncoder::build_subword(texts, 8, bad), doctest::Contains("unigram or bpe"), Error);
}

TEST_CASE("text encoders: word and byte level, truncation, never empty, serialisation") {
  auto enc = TextEncoder::build_word({"Good movie :)", "bad movie", "good good"}, 3, 1);
  auto ids = enc.encode("GOOD movie, unknownword :) extra");
  REQUIRE(ids.size() == 3);
  CHECK(ids[0] == enc.vocabulary().id("good"));
  CHECK(ids[2] == Vocabulary::kUnk);  // ","
  CHECK(enc.encode("   ") == std::vector<std::int32_t>{Vocabulary::kUnk});
  auto back = TextEncoder::deserialize(enc.serialize());
  CHECK(back.kind() == TextEncoder::Kind::Word);
  CHECK(back.max_length() == 3);
  CHECK(back.encode("good movie :)") == enc.encode("good movie :)"));

  auto bytes = TextEncoder::byte_level(4);
  CHECK(bytes.vocab_size() == 257);
  CHECK(bytes.encode("AbCdef") == std::vector<std::int32_t>{'a' + 1, 'b' + 1, 'c' + 1, 'd' + 1});
  CHECK(TextEncoder::deserialize(bytes.serialize()).encode("xy") == bytes.encode("xy"));
  CHECK_THROWS_AS(TextEncoder::deserialize("ssm-text-encoder 1\nkind word\nmax_length 3\nnormalize 1 1 1 1\n"), Error);
}

TEST_CASE("bucketed batches: every example once, similar lengths together, right padding") {
  EncodedDataset ds;
  ds.classes = 2;
  Rng rng(3);
  for (int i = 0; i < 203; ++i) {
    ds.tokens.emplace_back(1 + rng.uniform_int(40), 5);
    ds.labels.push_back(i % 2);
  }
  Rng shuffle(9);
  auto batches = bucket_batches(ds, 16, &shuffle, 4);
  std::vector<int> count(203, 0);
  for (auto& b : batches) {
    CHECK(b.size() <= 16);
    for (Index i : b) ++count[static_cast<std::size_t>(i)];
  }
  for (int c : count) CHECK(c == 1);
  auto eval = bucket_batches(ds, 16, nullptr);
  for (std::size_t k = 1; k < eval.size(); ++k)
    CHECK(ds.tokens[static_cast<std::size_t>(eval[k - 1].back())].size() <= ds.tokens[static_cast<std::size_t>(eval[k].front())].size());
  auto b = make_batch(ds, eval.back());
  CHECK(b.length == 40);
  for (Index r = 0; r < b.batch; ++r)
    for (Index t = b.lengths[static_cast<std::size_t>(r)]; t < b.length; ++t) CHECK(b.tokens[static_cast<std::size_t>(r * b.length + t)] == 0);
}

}  // TEST_SUITE

TEST_SUITE("metrics") {

TEST_CASE("confusion matrix, accuracy, precision, recall, F1 per class and macro (hand-computed)") {
  // truth:     0 0 0 0 1 1 1 2 2 2
  // predicted: 0 0 1 2 1 1 0 2 2 1
  train::ConfusionMatrix cm(3);
  const std::vector<int> t{0, 0, 0, 0, 1, 1, 1, 2, 2, 2}, p{0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
  for (std::size_t i = 0; i < t.size(); ++i) cm.add(t[i], p[i]);
  CHECK(cm(0, 0) == 2);
  CHECK(cm(0, 1) == 1);
  CHECK(cm(2, 1) == 1);
  CHECK(cm.accuracy() == doctest::Approx(0.6));
  // class 0: TP 2, FP 1, FN 2 -> P 2/3, R 1/2, F1 4/7
  CHECK(cm.precision(0) == doctest::Approx(2.0 / 3));
  CHECK(cm.recall(0) == doctest::Approx(0.5));
  CHECK(cm.f1(0) == doctest::Approx(4.0 / 7));
  // class 1: TP 2, FP 2, FN 1 -> P 1/2, R 2/3, F1 4/7;  class 2: TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 2/3
  CHECK(cm.f1(1) == doctest::Approx(4.0 / 7));
  CHECK(cm.f1(2) == doctest::Approx(2.0 / 3));
  CHECK(cm.macro_precision() == doctest::Approx((2.0 / 3 + 0.5 + 2.0 / 3) / 3));
  CHECK(cm.macro_recall() == doctest::Approx((0.5 + 2.0 / 3 + 2.0 / 3) / 3));
  CHECK(cm.macro_f1() == doctest::Approx((4.0 / 7 + 4.0 / 7 + 2.0 / 3) / 3));
  train::ConfusionMatrix empty(2);
  CHECK(empty.precision(1) == 0.0);
  CHECK(empty.f1(0) == 0.0);
  CHECK_THROWS_AS(cm.add(3, 0), Error);
}

TEST_CASE("ROC AUC: perfect, reversed, ties counted as one half, hand-computed case") {
  CHECK(train::roc_auc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}) == 1.0);
  CHECK(train::roc_auc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}) == 0.0);
  CHECK(train::roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}) == 0.5);
  // positives 0.8, 0.4, 0.4; negatives 0.4, 0.1: pairs (p > n) = 0.8>0.4, 0.8>0.1, 0.4>0.1 twice = 4, ties 0.4=0.4
  // twice = 1 -> AUC = 5/6.
  CHECK(train::roc_auc({0.8, 0.4, 0.4, 0.4, 0.1}, {1, 1, 1, 0, 0}) == doctest::Approx(5.0 / 6));
  CHECK(std::isnan(train::roc_auc({0.1, 0.2}, {1, 1})));
  auto curve = train::roc_curve({0.8, 0.4, 0.4, 0.4, 0.1}, {1, 1, 1, 0, 0});
  REQUIRE(curve.size() == 4);
  CHECK(curve[1].tpr == doctest::Approx(1.0 / 3));
  CHECK(curve[1].fpr == 0.0);
  CHECK(curve[2].tpr == 1.0);
  CHECK(curve[2].fpr == 0.5);
  CHECK(curve[3].fpr == 1.0);
  // Trapezoids under the curve give the same AUC.
  double area = 0;
  for (std::size_t i = 1; i < curve.size(); ++i)
    area += (curve[i].fpr - curve[i - 1].fpr) * (curve[i].tpr + curve[i - 1].tpr) / 2;
  CHECK(area == doctest::Approx(5.0 / 6));
}

}  // TEST_SUITE
