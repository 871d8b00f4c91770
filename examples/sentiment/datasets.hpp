// examples/sentiment/datasets.hpp — turns --dataset and --data into train / validation / test splits in the
// published protocols: IMDB's official 25k/25k split (validation carved from train), the airline tweets' stratified
// 70/15/15, Sentiment140's stratified 98/1/1 plus its 359 hand-labelled neg/pos test tweets, or a generic file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ssm/data/text_dataset.hpp"

namespace sentiment {

using ssm::Index;
namespace fs = std::filesystem;

struct DataOptions {
  std::string dir;                 ///< --data
  std::string dataset = "airline"; ///< imdb | airline | sentiment140 | generic
  std::string train_file, test_file;
  std::string label_column = "label", text_column = "text";
  double val_fraction = 0.1;       ///< IMDB / generic with a test file: validation carved from train
  std::string val_split = "random"; ///< IMDB: random (stratified) | movie (whole movies, from urls_*.txt)
  Index limit = -1;                ///< train on a stratified subset of this many examples
  bool skip_bad_rows = false;
  std::uint64_t seed = 1;
};

struct Splits {
  ssm::data::TextDataset train, val, test;
  std::optional<ssm::data::TextDataset> manual;  ///< Sentiment140's hand-labelled test tweets
  std::vector<std::string> classes;
  Index default_max_length = 64;
  std::string protocol;
  std::vector<std::pair<std::string, ssm::data::LoadReport>> reports;
};

namespace detail {
inline std::string resolve(const DataOptions& o, const std::string& file) {
  if (file.empty()) return file;
  if (fs::path(file).is_absolute() || fs::exists(file)) return file;
  return (fs::path(o.dir) / file).string();
}
inline std::string first_existing(const std::vector<std::string>& candidates, const std::string& what) {
  for (auto& c : candidates)
    if (fs::exists(c)) return c;
  std::string list;
  for (auto& c : candidates) list += "\n  " + c;
  SSM_FAIL("no ", what, " found; looked for:", list);
}
inline bool is_tsv(const std::string& p) {
  return p.ends_with(".tsv") || p.ends_with(".tsv.gz") || p.ends_with(".txt") || p.ends_with(".txt.gz");
}
/// A generic labelled file: TSV (label<TAB>text) or CSV with named columns.
inline ssm::data::TextDataset load_generic(const DataOptions& o, const std::string& path,
                                           const ssm::data::LoadOptions& lo, std::vector<std::string> classes = {}) {
  if (is_tsv(path)) return ssm::data::load_labelled_tsv(path, lo, std::move(classes));
  return ssm::data::load_labelled_csv(path, o.label_column, o.text_column, lo, std::move(classes));
}
}  // namespace detail

inline Splits load_splits(const DataOptions& o) {
  using namespace ssm::data;
  SSM_CHECK(!o.dir.empty() || !o.train_file.empty(), "--data DIR is required (see --help for what each data set needs)");
  const LoadOptions lo{.skip_bad_rows = o.skip_bad_rows};
  Splits s;
  if (o.dataset == "imdb") {
    s.default_max_length = 512;
    TextDataset train, test;
    if (fs::exists(fs::path(o.dir) / "aclImdb") || fs::exists(fs::path(o.dir) / "train" / "pos")) {
      train = load_imdb_dir(o.dir, "train", lo);
      test = load_imdb_dir(o.dir, "test", lo);
      s.protocol = "IMDB official split (aclImdb tree); validation carved from train";
    } else {
      const std::string d = o.dir;
      train = load_imdb_tsv(detail::first_existing({d + "/train.tsv", d + "/train.tsv.gz"}, "IMDB training data (aclImdb/ or train.tsv)"), lo);
      test = load_imdb_tsv(detail::first_existing({d + "/test.tsv", d + "/test.tsv.gz"}, "IMDB test data (test.tsv)"), lo);
      s.protocol = "IMDB official split (label/text TSV); validation carved from train";
    }
    s.reports = {{"train", train.report}, {"test", test.report}};
    SSM_CHECK(o.val_split == "random" || o.val_split == "movie", "--val-split is random or movie, found '",
              o.val_split, "'");
    const bool by_movie = o.val_split == "movie";
    if (by_movie) {
      for (const auto& e : train.examples)
        SSM_CHECK(!e.group.empty(), "--val-split movie needs the movie of every training review: ", train.source,
                  "/urls_pos.txt and urls_neg.txt (they come with aclImdb_v1.tar.gz; the TSV form has no movies)");
      s.protocol += " by movie (no movie in both)";
    }
    auto parts = by_movie ? grouped_split(train, {1.0 - o.val_fraction, o.val_fraction}, o.seed)
                          : stratified_split(train, {1.0 - o.val_fraction, o.val_fraction}, o.seed);
    s.train = std::move(parts[0]);
    s.val = std::move(parts[1]);
    s.test = std::move(test);
  } else if (o.dataset == "airline") {
    s.default_max_length = 64;
    const std::string path = fs::is_regular_file(o.dir) ? o.dir : detail::first_existing({o.dir + "/Tweets.csv"}, "Tweets.csv");
    auto all = load_airline(path, lo);
    s.reports = {{"Tweets.csv", all.report}};
    auto parts = stratified_split(all, {0.70, 0.15, 0.15}, o.seed);
    s.train = std::move(parts[0]);
    s.val = std::move(parts[1]);
    s.test = std::move(parts[2]);
    s.protocol = "Twitter US Airline, stratified 70/15/15";
  } else if (o.dataset == "sentiment140") {
    s.default_max_length = 64;
    TextDataset all;
    if (!o.train_file.empty()) {
      const std::string path = detail::resolve(o, o.train_file);
      all = detail::is_tsv(path) ? load_labelled_tsv(path, lo, {"0", "1"}) : load_sentiment140(path, lo);
      all.classes = {"negative", "positive"};
    } else {
      all = load_sentiment140(detail::first_existing({o.dir + "/training.1600000.processed.noemoticon.csv"},
                                                     "Sentiment140 training file (or pass --train-file)"),
                              lo);
    }
    s.reports = {{"train", all.report}};
    auto parts = stratified_split(all, {0.98, 0.01, 0.01}, o.seed);
    s.train = std::move(parts[0]);
    s.val = std::move(parts[1]);
    s.test = std::move(parts[2]);
    const std::string manual = o.dir + "/testdata.manual.2009.06.14.csv";
    if (fs::exists(manual)) {
      s.manual = load_sentiment140(manual, lo);
      s.reports.emplace_back("manual", s.manual->report);
    }
    s.protocol = "Sentiment140, stratified 98/1/1" + std::string(s.manual ? " + 359 manual neg/pos test tweets" : "");
  } else if (o.dataset == "generic") {
    s.default_max_length = 256;
    SSM_CHECK(!o.train_file.empty(), "--dataset generic needs --train-file (label<TAB>text TSV, or CSV with ",
              "--label-column and --text-column)");
    auto train = detail::load_generic(o, detail::resolve(o, o.train_file), lo);
    s.reports = {{"train", train.report}};
    if (!o.test_file.empty()) {
      auto test = detail::load_generic(o, detail::resolve(o, o.test_file), lo, train.classes);
      s.reports.emplace_back("test", test.report);
      auto parts = stratified_split(train, {1.0 - o.val_fraction, o.val_fraction}, o.seed);
      s.train = std::move(parts[0]);
      s.val = std::move(parts[1]);
      s.test = std::move(test);
      s.protocol = "generic: given test file; validation carved from train";
    } else {
      auto parts = stratified_split(train, {0.8, 0.1, 0.1}, o.seed);
      s.train = std::move(parts[0]);
      s.val = std::move(parts[1]);
      s.test = std::move(parts[2]);
      s.protocol = "generic: stratified 80/10/10";
    }
  } else {
    SSM_FAIL("unknown --dataset '", o.dataset, "' (imdb | airline | sentiment140 | generic)");
  }
  if (o.limit > 0) s.train = stratified_subset(s.train, o.limit, o.seed + 17);
  s.classes = s.train.classes;
  SSM_CHECK(s.train.size() > 0 && s.val.size() > 0 && s.test.size() > 0, "empty split: train ", s.train.size(),
            ", validation ", s.val.size(), ", test ", s.test.size());
  return s;
}

}  // namespace sentiment
