// ssm/data/corpus.hpp — unlabelled text for language modelling. Documents come from directories of .txt files
// (aclImdb/train/unsup, one review per file), plain text files (one document per line), the text column of
// label<TAB>text files and a named column of CSV files; a seeded shuffle holds whole documents out for
// perplexity; the encoded documents are packed into one stream, each followed by an end-of-text token, and cut
// into fixed-length windows, so no training step computes padding.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/data/csv.hpp"
#include "ssm/data/text.hpp"
#include "ssm/data/text_dataset.hpp"

namespace ssm::data {

/// Unlabelled documents and where each group came from.
struct Corpus {
  std::vector<std::string> documents;
  std::vector<std::string> sources;  ///< one line per read_corpus spec: "PATH: N documents"

  Index size() const { return static_cast<Index>(documents.size()); }
};

/// Adds the documents of one source to `corpus`:
///   DIR                     every *.txt file directly in DIR (in name order) is one document
///   FILE.tsv[.gz]           the text after the first tab of every line (the label<TAB>text files)
///   FILE.csv[.gz]:COLUMN    that column of a CSV file with a header row
///   any other FILE[.gz]     every non-empty line is one document
/// Empty documents are skipped; a source that yields none is an error naming it.
inline void read_corpus(Corpus& corpus, const std::string& spec) {
  namespace fs = std::filesystem;
  const Index before = corpus.size();
  std::string path = spec, column;
  if (const auto colon = spec.rfind(':'); colon != std::string::npos && !fs::exists(spec)) {
    path = spec.substr(0, colon);
    column = spec.substr(colon + 1);
  }
  const auto add = [&](std::string text) {
    if (text.find_first_not_of(" \t\r\n") != std::string::npos) corpus.documents.push_back(std::move(text));
  };
  const auto strip_gz = [](std::string p) { return detail::ends_with(p, ".gz") ? p.substr(0, p.size() - 3) : p; };
  if (fs::is_directory(path)) {
    SSM_CHECK(column.empty(), "corpus '", spec, "': a directory takes no column");
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) add(read_file(f.string()));
  } else if (detail::ends_with(strip_gz(path), ".csv")) {
    SSM_CHECK(!column.empty(), "corpus '", spec, "': a CSV file needs its text column, as FILE.csv:COLUMN");
    const std::string content = read_file(path);
    CsvReader reader(content, path);
    CsvRecord rec;
    std::string error;
    const auto next = [&] {
      const auto st = reader.next(rec, error);
      SSM_CHECK(st != CsvReader::Status::Malformed, "corpus: ", error);
      return st == CsvReader::Status::Ok;
    };
    SSM_CHECK(next(), "corpus '", path, "': no header row");
    const auto it = std::find(rec.fields.begin(), rec.fields.end(), column);
    SSM_CHECK(it != rec.fields.end(), "corpus '", path, "': no column '", column, "' in the header");
    const auto at = static_cast<std::size_t>(it - rec.fields.begin());
    const std::size_t columns = rec.fields.size();
    while (next()) {
      SSM_CHECK(rec.fields.size() == columns, "corpus '", path, "':", rec.line, ": ", rec.fields.size(),
                " fields where the header has ", columns);
      add(std::move(rec.fields[at]));
    }
  } else {
    SSM_CHECK(column.empty(), "corpus '", spec, "': only CSV files take a column");
    const bool tsv = detail::ends_with(strip_gz(path), ".tsv");
    const std::string content = read_file(path);
    std::size_t start = 0;
    Index number = 0;
    while (start < content.size()) {
      std::size_t end = content.find('\n', start);
      if (end == std::string::npos) end = content.size();
      std::string_view line(content.data() + start, end - start);
      start = end + 1;
      ++number;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (tsv && !line.empty()) {
        const auto tab = line.find('\t');
        SSM_CHECK(tab != std::string_view::npos, "corpus ", path, ":", number, ": expected 'label<TAB>text'");
        line.remove_prefix(tab + 1);
      }
      add(std::string(line));
    }
  }
  const Index n = corpus.size() - before;
  SSM_CHECK(n > 0, "corpus '", spec, "': no documents (an empty directory or file, or no *.txt files)");
  corpus.sources.push_back(spec + ": " + std::to_string(n) + " documents");
}

/// Splits the documents, after a shuffle by `seed`, into training and held-out parts; at least one held-out
/// document when `held_out_fraction` > 0 and there are two or more.
inline std::pair<Corpus, Corpus> hold_out(const Corpus& c, double held_out_fraction, std::uint64_t seed) {
  SSM_CHECK(held_out_fraction >= 0 && held_out_fraction < 1, "the held-out fraction must be in [0, 1), found ",
            held_out_fraction);
  std::vector<Index> idx(static_cast<std::size_t>(c.size()));
  std::iota(idx.begin(), idx.end(), Index{0});
  Rng rng(seed, 41);
  shuffle(idx, rng);
  Index held = static_cast<Index>(held_out_fraction * static_cast<double>(c.size()));
  if (held_out_fraction > 0 && held == 0 && c.size() > 1) held = 1;
  std::pair<Corpus, Corpus> parts;
  parts.first.sources = parts.second.sources = c.sources;
  for (Index k = 0; k < c.size(); ++k)
    (k < held ? parts.second : parts.first).documents.push_back(c.documents[static_cast<std::size_t>(idx[k])]);
  return parts;
}

/// Encoded documents packed into one stream, every document followed by `eot`; window w of length L covers
/// stream[w·L, w·L + L] — L inputs and, shifted by one, their L next-token targets — so consecutive windows
/// share one token and every token of the stream but the first is a target exactly once.
struct PackedCorpus {
  std::vector<std::int32_t> stream;
  Index window = 0;
  Index documents = 0;

  Index windows() const {
    return window > 0 && static_cast<Index>(stream.size()) > window
               ? (static_cast<Index>(stream.size()) - 1) / window
               : 0;
  }
  /// The L + 1 tokens of window w.
  const std::int32_t* at(Index w) const { return stream.data() + w * window; }
};

/// The encoder's end-of-text id for language modelling: one past its vocabulary (so the LM's vocabulary is
/// vocab_size() + 1, see lm_vocab_size) — the padding id 0 stays padding, and an <unk> stays unknown; a Hugging
/// Face tokenizer's own <|endoftext|> (inside its vocabulary).
inline std::int32_t eot_id(const TextEncoder& enc) { return enc.end_of_text_id(); }
inline Index lm_vocab_size(const TextEncoder& enc) {
  return enc.kind() == TextEncoder::Kind::HfBpe ? enc.vocab_size() : enc.vocab_size() + 1;
}

/// Encodes without the encoder's truncation (documents are cut only by the window boundaries).
inline PackedCorpus pack(const Corpus& c, const TextEncoder& enc, Index window) {
  SSM_CHECK(window > 0, "the LM window must be positive, found ", window);
  PackedCorpus p;
  p.window = window;
  TextEncoder full = enc;
  full.set_max_length(std::numeric_limits<Index>::max() / 2);
  for (auto& d : c.documents) {
    auto ids = full.encode(d);
    p.stream.insert(p.stream.end(), ids.begin(), ids.end());
    p.stream.push_back(eot_id(enc));
    ++p.documents;
  }
  return p;
}

}  // namespace ssm::data
