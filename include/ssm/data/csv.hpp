// ssm/data/csv.hpp — an RFC 4180 CSV reader over text in memory (quoted fields with embedded delimiters,
// doubled quotes and newlines; CRLF or LF; a UTF-8 byte-order mark), plus the encoding helpers the text
// loaders need: UTF-8 validation and Latin-1 → UTF-8. Malformed records are reported with file:line and
// never crash the reader; it resynchronises at the next line and goes on.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"

extern char** environ;

namespace ssm::data {

// ---- encodings -------------------------------------------------------------------------------------------

/// Byte offset of the first invalid UTF-8 sequence in s (overlong forms, surrogates and code points above
/// U+10FFFF are invalid), or npos when s is valid UTF-8.
inline std::size_t utf8_invalid_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

inline bool is_valid_utf8(std::string_view s) { return utf8_invalid_at(s) == std::string_view::npos; }

/// Every byte is one Latin-1 (ISO-8859-1) character, U+0000..U+00FF; the result is UTF-8.
inline std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

enum class Encoding { Utf8, Latin1 };

// ---- files -----------------------------------------------------------------------------------------------

namespace detail {
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// Output of `gzip -dc -- path` (no shell involved), for the .gz copies data sets are often shipped as.
inline std::string read_gzip(const std::string& path) {
  int fds[2];
  SSM_CHECK(::pipe(fds) == 0, "cannot create a pipe to decompress '", path, "'");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);  // our own message says what failed
  std::string a0 = "gzip", a1 = "-dc", a2 = "--", a3 = path;
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
  pid_t pid;
  const int rc = posix_spawnp(&pid, "gzip", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    SSM_FAIL("cannot run gzip to decompress '", path, "' (is gzip installed?)");
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  SSM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "'", path, "' could not be decompressed by gzip (exit status ",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1, "): not a gzip file, or truncated");
  return out;
}
}  // namespace detail

/// The whole file as bytes; a name ending in .gz is decompressed (through the gzip program).
inline std::string read_file(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    SSM_CHECK(probe.good(), "cannot open '", path, "': no such file or not readable");
  }
  if (detail::ends_with(path, ".gz")) return detail::read_gzip(path);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  SSM_CHECK(!in.bad(), "reading '", path, "' failed");
  return std::move(os).str();
}

// ---- CSV -------------------------------------------------------------------------------------------------

struct CsvOptions {
  char delimiter = ',';
  char quote = '"';  ///< '\0': no quoting at all (plain TSV: every byte up to the delimiter is data)
};

/// One record: its fields and the 1-based line of the file where it starts.
struct CsvRecord {
  std::vector<std::string> fields;
  Index line = 0;
};

/// Reads records one at a time from text held in memory. A UTF-8 BOM at the start is skipped; records end at
/// LF or CRLF outside quotes (a lone CR inside a field is kept). Inside quotes, "" is one quote and newlines are
/// data. A record is malformed when a closing quote is followed by something other than the delimiter or the
/// end of the record, or a quote is never closed; next() then returns Malformed with a message naming
/// source:line, and the reader continues at the following line.
class CsvReader {
 public:
  enum class Status { Ok, Malformed, End };

  CsvReader(std::string_view text, std::string source, CsvOptions options = {})
      : s_(text), source_(std::move(source)), opt_(options) {
    if (s_.size() >= 3 && static_cast<unsigned char>(s_[0]) == 0xEF && static_cast<unsigned char>(s_[1]) == 0xBB &&
        static_cast<unsigned char>(s_[2]) == 0xBF)
      pos_ = 3;
  }

  const std::string& source() const { return source_; }
  /// The 1-based line the reader is at (the next record starts here).
  Index line() const { return line_; }

  /// Reads the next record into rec. On Malformed, `error` says why and where; rec holds what was read.
  Status next(CsvRecord& rec, std::string& error) {
    rec.fields.clear();
    rec.line = line_;
    if (pos_ >= s_.size()) return Status::End;
    std::string field;
    const char q = opt_.quote, d = opt_.delimiter;
    for (;;) {
      // At the start of a field.
      field.clear();
      if (q != '\0' && pos_ < s_.size() && s_[pos_] == q) {
        const Index open_line = line_;
        ++pos_;
        bool closed = false;
        while (pos_ < s_.size()) {
          const char c = s_[pos_];
          if (c == q) {
            if (pos_ + 1 < s_.size() && s_[pos_ + 1] == q) {
              field += q;
              pos_ += 2;
              continue;
            }
            ++pos_;
            closed = true;
            break;
          }
          if (c == '\n') ++line_;
          field += c;
          ++pos_;
        }
        if (!closed) {
          rec.fields.push_back(std::move(field));
          error = where(open_line) + ": a quoted field opened on this line is never closed (record starting at line " +
                  std::to_string(rec.line) + ")";
          return Status::Malformed;
        }
        // After a closing quote: the delimiter, the end of the record, or an error.
        if (pos_ >= s_.size()) {
          rec.fields.push_back(std::move(field));
          return Status::Ok;
        }
        const char c = s_[pos_];
        if (c == d) {
          ++pos_;
          rec.fields.push_back(std::move(field));
          continue;
        }
        if (c == '\n' || (c == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n') ||
            (c == '\r' && pos_ + 1 == s_.size())) {
          rec.fields.push_back(std::move(field));
          end_record();
          return Status::Ok;
        }
        rec.fields.push_back(std::move(field));
        error = where(line_) + ": unexpected character after a closing quote (record starting at line " +
                std::to_string(rec.line) + ")";
        skip_line();
        return Status::Malformed;
      }
      // Unquoted field: up to the delimiter or the end of the record. A quote inside is taken literally.
      while (pos_ < s_.size()) {
        const char c = s_[pos_];
        if (c == d || c == '\n') break;
        if (c == '\r' && (pos_ + 1 == s_.size() || s_[pos_ + 1] == '\n')) break;
        field += c;
        ++pos_;
      }
      rec.fields.push_back(std::move(field));
      if (pos_ >= s_.size()) return Status::Ok;
      if (s_[pos_] == d) {
        ++pos_;
        continue;
      }
      end_record();
      return Status::Ok;
    }
  }

 private:
  std::string where(Index line) const { return source_ + ":" + std::to_string(line); }
  void end_record() {  // at '\n' or "\r\n" or a final '\r'
    if (s_[pos_] == '\r') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '\n') ++pos_;
    ++line_;
  }
  void skip_line() {
    while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
    if (pos_ < s_.size()) {
      ++pos_;
      ++line_;
    }
  }

  std::string_view s_;
  std::string source_;
  CsvOptions opt_;
  std::size_t pos_ = 0;
  Index line_ = 1;
};

}  // namespace ssm::data
