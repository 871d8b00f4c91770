// ssm/data/text_dataset.hpp — labelled-text data sets in their published formats: IMDB (the aclImdb/ tree
// and a label/text TSV), Twitter US Airline Sentiment (Tweets.csv), Sentiment140 (the 6-column Latin-1 CSV,
// labels 0/2/4) and a generic loader (label<TAB>text TSV, or CSV with named label and text columns); stratified
// splits with a seed. Bad rows (malformed records, invalid UTF-8, unknown labels) are counted and either skipped
// or fatal, with messages naming file:line.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/data/csv.hpp"

namespace ssm::data {

struct TextExample {
  std::int32_t label = 0;
  std::string text;   ///< UTF-8
  std::string group;  ///< examples that must stay in one split (IMDB: the movie's URL); empty: none
};

/// What a loader saw: rows read, rows kept, and why the others were dropped.
struct LoadReport {
  Index rows = 0;          ///< records (or files) read, the header excluded
  Index loaded = 0;        ///< examples kept
  Index malformed = 0;     ///< records that could not be parsed (bad quoting, wrong field count, bad file name)
  Index bad_encoding = 0;  ///< invalid UTF-8 in the text
  Index bad_label = 0;     ///< a label outside the known classes
  Index dropped = 0;       ///< valid rows left out on purpose (e.g. Sentiment140's neutral tweets)
  std::vector<std::string> messages;  ///< the first problems, each naming file:line

  Index skipped() const { return malformed + bad_encoding + bad_label; }
};

struct TextDataset {
  std::vector<TextExample> examples;
  std::vector<std::string> classes;  ///< class names by label id
  LoadReport report;
  std::string source;

  Index size() const { return static_cast<Index>(examples.size()); }
  Index num_classes() const { return static_cast<Index>(classes.size()); }
  std::vector<Index> class_counts() const {
    std::vector<Index> c(classes.size(), 0);
    for (auto& e : examples) ++c[static_cast<std::size_t>(e.label)];
    return c;
  }
};

struct LoadOptions {
  bool skip_bad_rows = false;  ///< false: the first bad row is an error; true: count it and go on
  Index limit = -1;            ///< stop after this many examples (-1: all)
  Index max_messages = 20;     ///< problems kept in LoadReport::messages
};

namespace detail {

/// Records a bad row: throws when bad rows are fatal, else counts it (the caller increments the counter).
inline void bad_row(LoadReport& r, const LoadOptions& opt, const std::string& message) {
  SSM_CHECK(opt.skip_bad_rows, message, " (pass --skip-bad-rows to skip such rows)");
  if (static_cast<Index>(r.messages.size()) < opt.max_messages) r.messages.push_back(message);
}

/// Adds an example after checking its text is UTF-8 and its label known; returns false when the limit is reached.
inline bool add_example(TextDataset& ds, const LoadOptions& opt, const std::string& where, std::int32_t label,
                        std::string text) {
  if (label < 0) {
    ++ds.report.bad_label;
    bad_row(ds.report, opt, where + ": unknown label");
    return true;
  }
  if (const std::size_t at = utf8_invalid_at(text); at != std::string::npos) {
    ++ds.report.bad_encoding;
    bad_row(ds.report, opt, where + ": invalid UTF-8 in the text at byte " + std::to_string(at));
    return true;
  }
  ds.examples.push_back({label, std::move(text)});
  ++ds.report.loaded;
  return opt.limit < 0 || ds.size() < opt.limit;
}

inline std::int32_t class_of(const std::vector<std::string>& labels, std::string_view s) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == s) return static_cast<std::int32_t>(i);
  return -1;
}

inline std::string trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return std::string(s.substr(a, b - a));
}

/// Label names in a sensible class order: numeric order when every label is an integer, else byte order.
inline std::vector<std::string> sorted_labels(std::vector<std::string> labels) {
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  const bool numeric = std::all_of(labels.begin(), labels.end(), [](const std::string& s) {
    if (s.empty() || s.size() > 9) return false;
    std::size_t i = s[0] == '-' ? 1 : 0;
    if (i == s.size()) return false;
    for (; i < s.size(); ++i)
      if (s[i] < '0' || s[i] > '9') return false;
    return true;
  });
  if (numeric)
    std::sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) { return std::stol(a) < std::stol(b); });
  return labels;
}

}  // namespace detail

// ---- generic: label<TAB>text ---------------------------------------------------------------------------------

/// Lines "label<TAB>text" (LF or CRLF; the text is everything after the first tab and is not unquoted).
/// `classes`: the label strings in class order; empty = every label seen, in numeric or byte order.
/// Blank lines are ignored; a line without a tab or with an empty label is malformed.
inline TextDataset parse_labelled_tsv(std::string_view content, const std::string& source, const LoadOptions& opt = {},
                                      std::vector<std::string> classes = {}) {
  TextDataset ds;
  ds.source = source;
  if (content.size() >= 3 && content.substr(0, 3) == "\xEF\xBB\xBF") content.remove_prefix(3);
  struct Row {
    Index line;
    std::string label, text;
  };
  std::vector<Row> rows;
  Index line = 0;
  std::size_t start = 0;
  while (start < content.size()) {
    std::size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    std::string_view l = content.substr(start, end - start);
    start = end + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    ++ds.report.rows;
    const std::size_t tab = l.find('\t');
    const std::string where = source + ":" + std::to_string(line);
    if (tab == std::string_view::npos || detail::trim(l.substr(0, tab)).empty()) {
      ++ds.report.malformed;
      detail::bad_row(ds.report, opt, where + ": expected 'label<TAB>text'");
      continue;
    }
    rows.push_back({line, detail::trim(l.substr(0, tab)), std::string(l.substr(tab + 1))});
  }
  if (classes.empty()) {
    std::vector<std::string> seen;
    for (auto& r : rows) seen.push_back(r.label);
    classes = detail::sorted_labels(std::move(seen));
  }
  ds.classes = classes;
  for (auto& r : rows)
    if (!detail::add_example(ds, opt, source + ":" + std::to_string(r.line), detail::class_of(classes, r.label),
                             std::move(r.text)))
      break;
  return ds;
}

inline TextDataset load_labelled_tsv(const std::string& path, const LoadOptions& opt = {},
                                     std::vector<std::string> classes = {}) {
  return parse_labelled_tsv(read_file(path), path, opt, std::move(classes));
}

// ---- generic: CSV with a header ------------------------------------------------------------------------------

/// A CSV file whose header names the columns; labels from `label_column`, texts from `text_column`.
/// `classes` as for parse_labelled_tsv. Records with a field count unlike the header's are malformed.
inline TextDataset parse_labelled_csv(std::string_view content, const std::string& source,
                                      const std::string& label_column, const std::string& text_column,
                                      const LoadOptions& opt = {}, std::vector<std::string> classes = {},
                                      CsvOptions csv = {}) {
  TextDataset ds;
  ds.source = source;
  CsvReader reader(content, source, csv);
  CsvRecord rec;
  std::string err;
  auto st = reader.next(rec, err);
  SSM_CHECK(st != CsvReader::Status::End, source, ": the file is empty (expected a header row)");
  SSM_CHECK(st == CsvReader::Status::Ok, err, " (in the header row)");
  const std::vector<std::string> header = rec.fields;
  const auto column = [&](const std::string& name) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (detail::trim(header[i]) == name) return static_cast<Index>(i);
    std::string names;
    for (auto& h : header) names += (names.empty() ? "" : ", ") + h;
    SSM_FAIL(source, ":1: no column named '", name, "' in the header (columns: ", names, ")");
  };
  const Index lc = column(label_column), tc = column(text_column);
  struct Row {
    Index line;
    std::string label, text;
  };
  std::vector<Row> rows;
  for (;;) {
    st = reader.next(rec, err);
    if (st == CsvReader::Status::End) break;
    if (st == CsvReader::Status::Ok && rec.fields.size() == 1 && rec.fields[0].empty()) continue;  // blank line
    ++ds.report.rows;
    if (st == CsvReader::Status::Malformed) {
      ++ds.report.malformed;
      detail::bad_row(ds.report, opt, err);
      continue;
    }
    if (rec.fields.size() != header.size()) {
      ++ds.report.malformed;
      detail::bad_row(ds.report, opt,
                      source + ":" + std::to_string(rec.line) + ": " + std::to_string(rec.fields.size()) +
                          " fields, the header has " + std::to_string(header.size()));
      continue;
    }
    rows.push_back({rec.line, detail::trim(rec.fields[static_cast<std::size_t>(lc)]),
                    std::move(rec.fields[static_cast<std::size_t>(tc)])});
  }
  if (classes.empty()) {
    std::vector<std::string> seen;
    for (auto& r : rows) seen.push_back(r.label);
    classes = detail::sorted_labels(std::move(seen));
  }
  ds.classes = classes;
  for (auto& r : rows)
    if (!detail::add_example(ds, opt, source + ":" + std::to_string(r.line), detail::class_of(classes, r.label),
                             std::move(r.text)))
      break;
  return ds;
}

inline TextDataset load_labelled_csv(const std::string& path, const std::string& label_column,
                                     const std::string& text_column, const LoadOptions& opt = {},
                                     std::vector<std::string> classes = {}) {
  return parse_labelled_csv(read_file(path), path, label_column, text_column, opt, std::move(classes));
}

// ---- Twitter US Airline Sentiment ----------------------------------------------------------------------------

inline const std::vector<std::string>& airline_classes() {
  static const std::vector<std::string> c{"negative", "neutral", "positive"};
  return c;
}

/// Tweets.csv: columns airline_sentiment (negative/neutral/positive) and text; 3 classes in that order.
inline TextDataset parse_airline(std::string_view content, const std::string& source, const LoadOptions& opt = {}) {
  return parse_labelled_csv(content, source, "airline_sentiment", "text", opt, airline_classes());
}
inline TextDataset load_airline(const std::string& path, const LoadOptions& opt = {}) {
  return parse_airline(read_file(path), path, opt);
}

// ---- Sentiment140 -------------------------------------------------------------------------------------------

/// The published 6-column CSV without a header: polarity (0 = negative, 2 = neutral, 4 = positive), id, date,
/// query, user, text. The training file is Latin-1 (converted to UTF-8 here). Classes: negative, positive;
/// neutral rows are counted in `dropped` (the manual test file has 139 of them; the usual evaluation uses the
/// 359 others).
inline TextDataset parse_sentiment140(std::string_view content, const std::string& source, const LoadOptions& opt = {},
                                      Encoding encoding = Encoding::Latin1) {
  std::string converted;
  if (encoding == Encoding::Latin1) {
    converted = latin1_to_utf8(content);
    content = converted;
  }
  TextDataset ds;
  ds.source = source;
  ds.classes = {"negative", "positive"};
  CsvReader reader(content, source);
  CsvRecord rec;
  std::string err;
  for (;;) {
    const auto st = reader.next(rec, err);
    if (st == CsvReader::Status::End) break;
    if (st == CsvReader::Status::Ok && rec.fields.size() == 1 && rec.fields[0].empty()) continue;
    ++ds.report.rows;
    const std::string where = source + ":" + std::to_string(rec.line);
    if (st == CsvReader::Status::Malformed) {
      ++ds.report.malformed;
      detail::bad_row(ds.report, opt, err);
      continue;
    }
    if (rec.fields.size() != 6) {
      ++ds.report.malformed;
      detail::bad_row(ds.report, opt, where + ": " + std::to_string(rec.fields.size()) +
                                          " fields, expected 6 (polarity, id, date, query, user, text)");
      continue;
    }
    const std::string pol = detail::trim(rec.fields[0]);
    if (pol == "2") {
      ++ds.report.dropped;
      continue;
    }
    const std::int32_t label = pol == "0" ? 0 : pol == "4" ? 1 : -1;
    if (label < 0) {
      ++ds.report.bad_label;
      detail::bad_row(ds.report, opt, where + ": polarity '" + pol + "', expected 0, 2 or 4");
      continue;
    }
    if (!detail::add_example(ds, opt, where, label, std::move(rec.fields[5]))) break;
  }
  return ds;
}
inline TextDataset load_sentiment140(const std::string& path, const LoadOptions& opt = {},
                                     Encoding encoding = Encoding::Latin1) {
  return parse_sentiment140(read_file(path), path, opt, encoding);
}

// ---- IMDB (Maas et al. 2011) ----------------------------------------------------------------------------------

/// Finds the split directory ("train" or "test") given DIR, DIR/aclImdb, or the split directory's parent.
inline std::filesystem::path imdb_split_dir(const std::string& root, const std::string& split) {
  namespace fs = std::filesystem;
  for (const fs::path& p : {fs::path(root) / "aclImdb" / split, fs::path(root) / split})
    if (fs::is_directory(p / "pos") && fs::is_directory(p / "neg")) return p;
  SSM_FAIL("'", root, "' holds no IMDB split '", split, "': expected ", root, "/aclImdb/", split,
           "/{pos,neg}/<id>_<rating>.txt (extract aclImdb_v1.tar.gz there)");
}

/// The aclImdb tree: SPLIT/pos/<id>_<rating>.txt (rating 7–10) and SPLIT/neg/… (rating 1–4). Classes: negative,
/// positive. Files are read in (class, id) order; with a limit, the classes alternate so a subset stays balanced.
/// Where SPLIT/urls_pos.txt and urls_neg.txt exist (they do in aclImdb_v1.tar.gz), line <id> of the class's file
/// is the review's movie, kept as TextExample::group (for grouped_split).
inline TextDataset load_imdb_dir(const std::string& root, const std::string& split, const LoadOptions& opt = {}) {
  namespace fs = std::filesystem;
  const fs::path dir = imdb_split_dir(root, split);
  TextDataset ds;
  ds.source = dir.string();
  ds.classes = {"negative", "positive"};
  struct File {
    std::int32_t label;
    long id;
    fs::path path;
  };
  std::vector<std::vector<File>> files(2);
  for (std::int32_t label : {0, 1}) {
    const fs::path sub = dir / (label ? "pos" : "neg");
    for (auto& entry : fs::directory_iterator(sub)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".txt") continue;
      ++ds.report.rows;
      const std::string stem = entry.path().stem().string();
      const auto us = stem.find('_');
      long id = -1, rating = -1;
      try {
        std::size_t used = 0;
        if (us != std::string::npos) {
          id = std::stol(stem.substr(0, us), &used);
          if (used != us) id = -1;
          rating = std::stol(stem.substr(us + 1), &used);
          if (used != stem.size() - us - 1) rating = -1;
        }
      } catch (const std::exception&) {
        id = -1;
      }
      const bool ok = id >= 0 && (label ? rating >= 7 && rating <= 10 : rating >= 1 && rating <= 4);
      if (!ok) {
        ++ds.report.malformed;
        detail::bad_row(ds.report, opt, entry.path().string() + ": expected a file named <id>_<rating>.txt with rating " +
                                            (label ? "7-10" : "1-4"));
        continue;
      }
      files[static_cast<std::size_t>(label)].push_back({label, id, entry.path()});
    }
    std::sort(files[static_cast<std::size_t>(label)].begin(), files[static_cast<std::size_t>(label)].end(),
              [](const File& a, const File& b) { return a.id < b.id; });
  }
  std::vector<std::vector<std::string>> urls(2);  // per class, line i: the movie of review id i
  for (std::int32_t label : {0, 1}) {
    const fs::path path = dir / (label ? "urls_pos.txt" : "urls_neg.txt");
    if (!fs::exists(path)) continue;
    const std::string text = read_file(path.string());
    auto& lines = urls[static_cast<std::size_t>(label)];
    for (std::size_t at = 0; at < text.size();) {
      std::size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(at, end - at);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
      at = end + 1;
    }
    for (const File& f : files[static_cast<std::size_t>(label)])
      SSM_CHECK(static_cast<std::size_t>(f.id) < lines.size() && !lines[static_cast<std::size_t>(f.id)].empty(),
                path.string(), ": no movie for review ", f.path.filename().string(), " (line ", f.id + 1, " of ",
                lines.size(), " is missing or empty)");
  }
  const std::size_t n = std::max(files[0].size(), files[1].size());
  for (std::size_t i = 0; i < n; ++i)
    for (auto& list : files) {
      if (i >= list.size()) continue;
      std::string text = read_file(list[i].path.string());
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      const std::size_t before = ds.examples.size();
      const bool more = detail::add_example(ds, opt, list[i].path.string(), list[i].label, std::move(text));
      const auto& movies = urls[static_cast<std::size_t>(list[i].label)];
      if (ds.examples.size() > before && !movies.empty())
        ds.examples.back().group = movies[static_cast<std::size_t>(list[i].id)];
      if (!more) return ds;
    }
  return ds;
}

/// The IMDB reviews as "label<TAB>text" with labels 0 (negative) and 1 (positive), e.g. train.tsv(.gz).
inline TextDataset load_imdb_tsv(const std::string& path, const LoadOptions& opt = {}) {
  TextDataset ds = parse_labelled_tsv(read_file(path), path, opt, {"0", "1"});
  ds.classes = {"negative", "positive"};
  return ds;
}

// ---- splits --------------------------------------------------------------------------------------------------

namespace detail {
/// The split functions' fractions: at least one, none negative, summing to 1.
inline void check_fractions(const char* who, const std::vector<double>& fractions) {
  SSM_CHECK(!fractions.empty(), who, " needs at least one fraction");
  double total = 0;
  for (double f : fractions) {
    SSM_CHECK(f >= 0, "split fractions must be >= 0, found ", f);
    total += f;
  }
  SSM_CHECK(std::abs(total - 1.0) < 1e-9, "split fractions must sum to 1, found ", total);
}

/// One data set per part, each holding its examples (indices into ds) in their original order.
inline std::vector<TextDataset> gather_parts(const TextDataset& ds, std::vector<std::vector<Index>>& parts) {
  std::vector<TextDataset> out(parts.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    std::sort(parts[p].begin(), parts[p].end());
    out[p].classes = ds.classes;
    out[p].source = ds.source;
    for (Index i : parts[p]) out[p].examples.push_back(ds.examples[static_cast<std::size_t>(i)]);
    out[p].report.loaded = out[p].size();
  }
  return out;
}
}  // namespace detail

/// Splits by class with the given fractions (summing to 1): within each class the examples are shuffled with
/// the seed and cut at round(cumulative fraction · count). Each part keeps the original order of its examples.
inline std::vector<TextDataset> stratified_split(const TextDataset& ds, const std::vector<double>& fractions,
                                                 std::uint64_t seed) {
  detail::check_fractions("stratified_split", fractions);
  std::vector<std::vector<Index>> by_class(ds.classes.size());
  for (Index i = 0; i < ds.size(); ++i) by_class[static_cast<std::size_t>(ds.examples[static_cast<std::size_t>(i)].label)].push_back(i);
  std::vector<std::vector<Index>> parts(fractions.size());
  Rng rng(seed, 0x5b1);
  for (auto& idx : by_class) {
    shuffle(idx, rng);
    double cum = 0;
    std::size_t begin = 0;
    for (std::size_t p = 0; p < fractions.size(); ++p) {
      cum += fractions[p];
      const std::size_t end = p + 1 == fractions.size() ? idx.size() : static_cast<std::size_t>(std::llround(cum * static_cast<double>(idx.size())));
      for (std::size_t i = begin; i < std::min(end, idx.size()); ++i) parts[p].push_back(idx[i]);
      begin = std::max(begin, std::min(end, idx.size()));
    }
  }
  return detail::gather_parts(ds, parts);
}

/// Like stratified_split, but all examples of one group (TextExample::group; an example without one is a group of
/// its own) land in the same part: the groups are shuffled with the seed and dealt to the parts in turn, each part
/// taking groups until it holds its fraction of the examples. Class balance then holds on average, not exactly.
inline std::vector<TextDataset> grouped_split(const TextDataset& ds, const std::vector<double>& fractions,
                                              std::uint64_t seed) {
  detail::check_fractions("grouped_split", fractions);
  std::map<std::string, std::size_t> index;
  std::vector<std::vector<Index>> groups;
  for (Index i = 0; i < ds.size(); ++i) {
    const std::string& g = ds.examples[static_cast<std::size_t>(i)].group;
    if (g.empty()) {
      groups.push_back({i});
      continue;
    }
    const auto [it, fresh] = index.try_emplace(g, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  Rng rng(seed, 0x6a7);
  shuffle(groups, rng);
  std::vector<std::vector<Index>> parts(fractions.size());
  std::size_t p = 0, taken = 0;
  double cum = fractions[0];
  for (auto& g : groups) {
    while (p + 1 < fractions.size() && static_cast<double>(taken) >= cum * static_cast<double>(ds.size()))
      cum += fractions[++p];
    parts[p].insert(parts[p].end(), g.begin(), g.end());
    taken += g.size();
  }
  return detail::gather_parts(ds, parts);
}

/// A stratified random subset of at most n examples (n < 0 or n >= size: everything).
inline TextDataset stratified_subset(const TextDataset& ds, Index n, std::uint64_t seed) {
  if (n < 0 || n >= ds.size()) return ds;
  const double f = static_cast<double>(n) / static_cast<double>(ds.size());
  TextDataset out = stratified_split(ds, {f, 1.0 - f}, seed)[0];
  out.report = ds.report;
  return out;
}

}  // namespace ssm::data
