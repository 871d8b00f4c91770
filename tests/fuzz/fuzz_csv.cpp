// tests/fuzz/fuzz_csv.cpp — libFuzzer target for the CSV reader and every loader built on it: the generic TSV and
// CSV loaders, Twitter US Airline and Sentiment140 (UTF-8 and Latin-1), with bad rows skipped and fatal. Any input
// must give records or an ssm::Error — never a crash, a hang or an out-of-bounds read (run under ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ssm/data/csv.hpp"
#include "ssm/data/text_dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ssm::data;
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  // The reader itself, with several dialects: every record starts on a line not before the previous one.
  CsvOptions opt;
  opt.delimiter = "\t,;|"[mode & 3];
  opt.quote = (mode & 4) ? '\0' : '"';
  CsvReader reader(text, "fuzz.csv", opt);
  CsvRecord rec;
  std::string err;
  ssm::Index last_line = 0, records = 0;
  for (;;) {
    const auto st = reader.next(rec, err);
    if (st == CsvReader::Status::End) break;
    if (rec.line < last_line) __builtin_trap();
    if (st == CsvReader::Status::Malformed && err.find("fuzz.csv:") == std::string::npos) __builtin_trap();
    last_line = rec.line;
    if (++records > static_cast<ssm::Index>(size) + 1) __builtin_trap();  // each record consumes input
  }

  // The loaders, bad rows skipped (must not throw except for a bad header) and fatal (may throw ssm::Error).
  for (bool skip : {true, false}) {
    const LoadOptions lo{.skip_bad_rows = skip, .limit = (mode & 8) ? 3 : -1};
    try {
      auto ds = parse_labelled_tsv(text, "fuzz.tsv", lo);
      for (auto& e : ds.examples)
        if (e.label < 0 || e.label >= ds.num_classes() || !is_valid_utf8(e.text)) __builtin_trap();
    } catch (const ssm::Error&) {
      if (skip) __builtin_trap();
    }
    try {
      parse_labelled_csv(text, "fuzz.csv", "label", "text", lo);
    } catch (const ssm::Error&) {
    }
    try {
      parse_airline(text, "Tweets.csv", lo);
    } catch (const ssm::Error&) {
    }
    for (Encoding enc : {Encoding::Utf8, Encoding::Latin1}) {
      try {
        auto ds = parse_sentiment140(text, "s140.csv", lo, enc);
        for (auto& e : ds.examples)
          if (!is_valid_utf8(e.text)) __builtin_trap();
      } catch (const ssm::Error&) {
        if (skip) __builtin_trap();
      }
    }
  }
  return 0;
}
