// ssm/interop/safetensors.hpp — the safetensors file format of Hugging Face checkpoints, read and written.
//
// The format (https://github.com/huggingface/safetensors, "Format"):
//   u64 little-endian N | N bytes of UTF-8 JSON | the data buffer
// The JSON maps each tensor name to {"dtype": "F32"|"F16"|"BF16"|…, "shape": [..], "data_offsets": [begin, end]}
// (offsets relative to the data buffer), plus an optional "__metadata__" object of string → string.
// What the reference implementation refuses is refused here too, with the reason and the file: a header that is
// not a JSON object or overruns the file, a duplicate name, an unknown dtype, a byte count that does not match the
// shape, offsets out of the buffer, overlapping, or leaving holes (the buffer must be covered exactly).
//
// File::open maps the file (mmap), so a multi-gigabyte checkpoint costs no copy until a tensor is read; reading
// converts F32, F16, BF16 and F64 to the caller's float type. Writer writes F32 (or F64) tensors atomically, with
// the header padded by spaces to a multiple of 8 bytes as the reference does, so the data stays aligned.
// The JSON header is parsed by nlohmann::json (docs/design.md: "Dependencies").
#pragma once

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ssm/core/error.hpp"
#include "ssm/core/file_io.hpp"
#include "ssm/core/view.hpp"

namespace ssm::safetensors {

static_assert(std::endian::native == std::endian::little, "the safetensors reader assumes a little-endian host");

/// The dtypes of the format. Floating ones can be read into float/double; the others are described only.
enum class Dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline constexpr std::pair<std::string_view, Dtype> kDtypes[] = {
    {"F64", Dtype::F64}, {"F32", Dtype::F32}, {"F16", Dtype::F16}, {"BF16", Dtype::BF16}, {"I64", Dtype::I64},
    {"I32", Dtype::I32}, {"I16", Dtype::I16}, {"I8", Dtype::I8},   {"U8", Dtype::U8},     {"BOOL", Dtype::BOOL}};

inline std::string_view dtype_name(Dtype d) {
  for (auto& [n, t] : kDtypes)
    if (t == d) return n;
  return "?";
}
inline std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::F64:
    case Dtype::I64: return 8;
    case Dtype::F32:
    case Dtype::I32: return 4;
    case Dtype::F16:
    case Dtype::BF16:
    case Dtype::I16: return 2;
    default: return 1;
  }
}

/// IEEE binary16 → float, exactly (subnormals, infinities and NaN included).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: mant · 2⁻²⁴
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(bits);
}
/// bfloat16 → float: the upper half of a float's bits.
inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0, end = 0;  ///< byte offsets in the data buffer

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

inline std::string shape_string(const std::vector<std::int64_t>& s) {
  std::string out = "{";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "}";
}

/// A safetensors file, read-only: the parsed header and the (mapped) bytes.
class File {
 public:
  /// Maps and validates the file; errors name it and say what is wrong.
  static File open(const std::string& path) {
    File f;
    f.source_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY);
    SSM_CHECK(fd >= 0, "cannot open safetensors file '", path, "': ", std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      SSM_FAIL("cannot stat safetensors file '", path, "': ", std::strerror(e));
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      const int e = errno;
      ::close(fd);
      SSM_CHECK(p != MAP_FAILED, "cannot map safetensors file '", path, "': ", std::strerror(e));
      f.map_ = std::shared_ptr<void>(p, [size](void* q) { ::munmap(q, size); });
      f.bytes_ = {static_cast<const std::byte*>(p), size};
    } else {
      ::close(fd);
    }
    f.parse();
    return f;
  }

  /// Validates bytes already in memory (kept by the File); `source` names them in messages.
  static File from_bytes(std::vector<std::byte> bytes, std::string source = "<memory>") {
    File f;
    f.source_ = std::move(source);
    auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
    f.bytes_ = {owned->data(), owned->size()};
    f.map_ = std::shared_ptr<void>(owned, owned.get());
    f.parse();
    return f;
  }

  const std::string& source() const { return source_; }
  /// In the order of their offsets in the file.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return meta_; }
  const TensorInfo* find(std::string_view name) const {
    for (auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  const TensorInfo& require(std::string_view name) const {
    const TensorInfo* t = find(name);
    SSM_CHECK(t != nullptr, "safetensors file '", source_, "' has no tensor '", name, "'");
    return *t;
  }
  /// The raw bytes of a tensor.
  std::span<const std::byte> data(const TensorInfo& t) const { return bytes_.subspan(data_start_ + t.begin, t.end - t.begin); }

  /// Converts a floating tensor into dst (the same number of elements), whatever its stored float dtype.
  template <class T>
  void read(const TensorInfo& t, View<T, 1> dst) const {
    SSM_CHECK(t.numel() == dst.size(), "safetensors file '", source_, "': tensor '", t.name, "' has ", t.numel(),
              " elements, expected ", dst.size());
    const std::byte* src = data(t).data();
    const auto each = [&]<class S>(S, auto convert) {
      for (Index i = 0; i < dst.size(); ++i) {
        S s;
        std::memcpy(&s, src + static_cast<std::size_t>(i) * sizeof(S), sizeof(S));  // may be unaligned
        dst(i) = static_cast<T>(convert(s));
      }
    };
    const auto same = [](auto s) { return s; };
    switch (t.dtype) {
      case Dtype::F32: return each(float{}, same);
      case Dtype::F64: return each(double{}, same);
      case Dtype::F16: return each(std::uint16_t{}, half_to_float);
      case Dtype::BF16: return each(std::uint16_t{}, bf16_to_float);
      default:
        SSM_FAIL("safetensors file '", source_, "': tensor '", t.name, "' is ", dtype_name(t.dtype),
                 "; only F32, F16, BF16 and F64 tensors convert to floating point");
    }
  }
  template <class T>
  std::vector<T> read(std::string_view name) const {
    const TensorInfo& t = require(name);
    std::vector<T> out(static_cast<std::size_t>(t.numel()));
    read(t, View<T, 1>(out.data(), {static_cast<Index>(out.size())}));
    return out;
  }

 private:
  template <class... A>
  [[noreturn]] void bad(A&&... a) const {
    SSM_FAIL("safetensors file '", source_, "': ", std::forward<A>(a)...);
  }

  void parse() {
    if (bytes_.size() < 8) bad("truncated: ", bytes_.size(), " bytes, fewer than the 8 of the header length");
    std::uint64_t n = 0;
    std::memcpy(&n, bytes_.data(), 8);
    constexpr std::uint64_t kMaxHeader = 100'000'000;  // the reference's limit
    if (n > kMaxHeader) bad("header length ", n, " exceeds the format's limit of ", kMaxHeader, " bytes");
    if (n > bytes_.size() - 8) bad("truncated: the header claims ", n, " bytes, the file has ", bytes_.size() - 8, " after the length");
    const std::string_view text(reinterpret_cast<const char*>(bytes_.data() + 8), static_cast<std::size_t>(n));
    if (text.empty() || text.front() != '{') bad("the header is not a JSON object (it must start with '{')");
    data_start_ = 8 + static_cast<std::size_t>(n);
    const std::size_t buffer = bytes_.size() - data_start_;

    // Duplicate names are refused: nlohmann keeps the last silently, so the parser callback watches keys at depth 1.
    std::vector<std::string> keys;
    int depth = 0;
    nlohmann::json::parser_callback_t watch = [&](int d, nlohmann::json::parse_event_t ev, nlohmann::json& j) {
      (void)d;
      if (ev == nlohmann::json::parse_event_t::object_start) ++depth;
      if (ev == nlohmann::json::parse_event_t::object_end) --depth;
      if (ev == nlohmann::json::parse_event_t::key && depth == 1) keys.push_back(j.get<std::string>());
      return true;
    };
    nlohmann::json h;
    try {
      h = nlohmann::json::parse(text.begin(), text.end(), watch);
    } catch (const nlohmann::json::exception& e) {
      bad("the header is not valid JSON: ", e.what());
    }
    if (!h.is_object()) bad("the header is not a JSON object");
    std::sort(keys.begin(), keys.end());
    if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end())
      bad("the header names '", *dup, "' twice");

    for (auto& [name, v] : h.items()) {
      if (name == "__metadata__") {
        if (!v.is_object()) bad("__metadata__ is not an object of strings");
        for (auto& [k, s] : v.items()) {
          if (!s.is_string()) bad("__metadata__ entry '", k, "' is not a string");
          meta_[k] = s.get<std::string>();
        }
        continue;
      }
      if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
        bad("tensor '", name, "': expected an object with dtype, shape and data_offsets");
      TensorInfo t;
      t.name = name;
      const auto& dt = v["dtype"];
      bool known = false;
      if (dt.is_string())
        for (auto& [dn, d] : kDtypes)
          if (dt.get<std::string>() == dn) t.dtype = d, known = true;
      if (!known) bad("tensor '", name, "': unknown dtype ", dt.dump());
      const auto& sh = v["shape"];
      if (!sh.is_array()) bad("tensor '", name, "': shape is not an array");
      std::uint64_t numel = 1;
      for (auto& d : sh) {
        if (!d.is_number_unsigned()) bad("tensor '", name, "': shape ", sh.dump(), " holds a value that is not a size");
        const auto e = d.get<std::uint64_t>();
        if (e != 0 && numel > (std::uint64_t{1} << 62) / e) bad("tensor '", name, "': shape ", sh.dump(), " overflows");
        numel *= e;
        t.shape.push_back(static_cast<std::int64_t>(e));
      }
      const auto& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        bad("tensor '", name, "': data_offsets must be [begin, end], found ", off.dump());
      const auto b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
      if (b > e || e > buffer)
        bad("tensor '", name, "': data_offsets [", b, ", ", e, "] lie outside the data buffer of ", buffer,
            " bytes (file truncated?)");
      if (e - b != numel * dtype_size(t.dtype))
        bad("tensor '", name, "': ", e - b, " bytes for shape ", shape_string(t.shape), " of ", dtype_name(t.dtype),
            " (", numel * dtype_size(t.dtype), " expected)");
      t.begin = static_cast<std::size_t>(b);
      t.end = static_cast<std::size_t>(e);
      tensors_.push_back(std::move(t));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](auto& a, auto& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
    std::size_t at = 0;
    for (auto& t : tensors_) {
      if (t.begin < at) bad("tensor '", t.name, "' at bytes [", t.begin, ", ", t.end, ") overlaps the tensor before it");
      if (t.begin > at) bad("the data buffer has a hole at bytes [", at, ", ", t.begin, ") before tensor '", t.name, "'");
      at = t.end;
    }
    if (at != buffer) bad(buffer - at, " bytes after the last tensor's data are not indexed by the header");
  }

  std::string source_;
  std::shared_ptr<void> map_;  ///< the mapping or the vector that owns bytes_
  std::span<const std::byte> bytes_;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> meta_;
};

/// Collects tensors and writes one safetensors file, in the order they were added.
class Writer {
 public:
  /// Copies the elements of a contiguous array of shape `shape` (float: F32, double: F64).
  template <class T>
  void add(std::string name, std::span<const T> values, std::vector<std::int64_t> shape) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "Writer::add: float or double");
    std::int64_t n = 1;
    for (auto d : shape) {
      SSM_CHECK(d >= 0, "safetensors writer: tensor '", name, "' has a negative extent in ", shape_string(shape));
      n *= d;
    }
    SSM_CHECK(n == static_cast<std::int64_t>(values.size()), "safetensors writer: tensor '", name, "' has ",
              values.size(), " values for shape ", shape_string(shape));
    SSM_CHECK(name != "__metadata__" && !name.empty(), "safetensors writer: bad tensor name '", name, "'");
    for (auto& e : entries_) SSM_CHECK(e.name != name, "safetensors writer: tensor '", name, "' added twice");
    Entry e{std::move(name), std::is_same_v<T, float> ? Dtype::F32 : Dtype::F64, std::move(shape), {}};
    e.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
    entries_.push_back(std::move(e));
  }
  void set_metadata(std::string key, std::string value) { meta_[std::move(key)] = std::move(value); }

  /// The file's bytes.
  std::vector<std::byte> bytes() const {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!meta_.empty()) h["__metadata__"] = meta_;
    std::size_t at = 0;
    for (auto& e : entries_) {
      h[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {at, at + e.bytes.size()}}};
      at += e.bytes.size();
    }
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<std::byte> out(8 + text.size() + at);
    const std::uint64_t n = text.size();
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, text.data(), text.size());
    std::size_t pos = 8 + text.size();
    for (auto& e : entries_) {
      if (!e.bytes.empty()) std::memcpy(out.data() + pos, e.bytes.data(), e.bytes.size());
      pos += e.bytes.size();
    }
    return out;
  }

  /// Writes atomically (a temporary file, fsync, rename): an error leaves any previous file at `path` as it was.
  void save(const std::string& path) const { write_file_atomically(path, bytes(), "safetensors file"); }

 private:
  struct Entry {
    std::string name;
    Dtype dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> meta_;
};

}  // namespace ssm::safetensors
