// ssm/train/checkpoint.hpp — the checkpoint file: named tensors plus string metadata, versioned, with a
// CRC-32, written atomically (temporary file, fsync, rename). Loading checks everything — magic, version,
// checksum, every name, shape and dtype — before a single parameter of the model is overwritten.
//
// Layout (little-endian):
//   0   "SSMCKPT\0"                     8-byte magic
//   8   u32 version (= 1), u32 flags (= 0)
//   16  u64 metadata count, u64 tensor count
//   32  metadata: { u32 key length, key, u64 value length, value } …
//       tensors:  { u32 name length, name, u8 dtype, u8 rank, u16 0, u64 dims[rank], u64 byte count, bytes } …
//   end u32 CRC-32 (IEEE) of every byte before it, then "SEND"
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ssm/core/file_io.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm {

static_assert(std::endian::native == std::endian::little, "the checkpoint reader assumes a little-endian host");

enum class DType : std::uint8_t { F32 = 1, F64 = 2, I32 = 3, U8 = 4 };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::U8: return "uint8";
  }
  return "unknown";
}

inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::F32;
  else if constexpr (std::is_same_v<T, double>) return DType::F64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::I32;
  else {
    static_assert(std::is_same_v<T, std::uint8_t>, "checkpoints hold float, double, int32 or uint8 tensors");
    return DType::U8;
  }
}

namespace detail {

inline std::uint32_t crc32(const std::byte* data, std::size_t n, std::uint32_t crc = 0) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ static_cast<std::uint8_t>(data[i])) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

inline std::string shape_string(const std::vector<std::int64_t>& s) {
  std::string r = "{";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "}";
}

}  // namespace detail

class Checkpoint {
 public:
  static constexpr char kMagic[8] = {'S', 'S', 'M', 'C', 'K', 'P', 'T', '\0'};
  static constexpr std::uint32_t kVersion = 1;

  struct Tensor {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;

    std::int64_t numel() const {
      std::int64_t n = 1;
      for (auto d : shape) n *= d;
      return n;
    }
  };

  // ---- metadata -------------------------------------------------------------------------------------------
  void set(std::string key, std::string value) { meta_[std::move(key)] = std::move(value); }
  const std::string* get(std::string_view key) const {
    auto it = meta_.find(std::string(key));
    return it == meta_.end() ? nullptr : &it->second;
  }
  /// The value, or an error naming the file and the key.
  const std::string& require(std::string_view key) const {
    const std::string* v = get(key);
    SSM_CHECK(v != nullptr, where(), ": no metadata entry '", key, "'");
    return *v;
  }
  const std::map<std::string, std::string>& metadata() const { return meta_; }

  // ---- tensors --------------------------------------------------------------------------------------------
  /// Copies the view's elements in row-major order under `name` (replacing a tensor of that name).
  template <class U, int R>
  void add(std::string name, View<U, R> v) {
    using T = std::remove_const_t<U>;
    Tensor t;
    t.name = std::move(name);
    t.dtype = dtype_of<T>();
    for (int d = 0; d < R; ++d) t.shape.push_back(v.extent(d));
    t.bytes.resize(static_cast<std::size_t>(v.size()) * sizeof(T));
    View<T, R> dst(reinterpret_cast<T*>(t.bytes.data()), v.extents());
    copy(v, dst);
    put(std::move(t));
  }
  void put(Tensor t) {
    SSM_CHECK(t.bytes.size() == static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype), "tensor '", t.name,
              "': ", t.bytes.size(), " bytes for ", t.numel(), " elements of ", dtype_name(t.dtype));
    for (auto& old : tensors_)
      if (old.name == t.name) {
        old = std::move(t);
        return;
      }
    tensors_.push_back(std::move(t));
  }
  const Tensor* find(std::string_view name) const {
    for (auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  const std::vector<Tensor>& tensors() const { return tensors_; }

  /// Throws unless the tensor exists with exactly this shape; the message names file, tensor and shapes.
  const Tensor& expect(std::string_view name, const std::vector<std::int64_t>& shape) const {
    const Tensor* t = find(name);
    SSM_CHECK(t != nullptr, where(), ": the model's tensor '", name, "' is missing from the checkpoint");
    SSM_CHECK(t->shape == shape, where(), ": tensor '", name, "' has shape ", detail::shape_string(t->shape),
              ", the model expects ", detail::shape_string(shape));
    return *t;
  }

  /// Copies a tensor's elements into dst (same element count), converting between float and double.
  template <class T>
  void read(const Tensor& t, View<T, 1> dst) const {
    SSM_CHECK(t.numel() == dst.size(), where(), ": tensor '", t.name, "' has ", t.numel(), " elements, expected ",
              dst.size());
    const auto convert = [&]<class S>(S) {
      const S* src = reinterpret_cast<const S*>(t.bytes.data());
      for (Index i = 0; i < dst.size(); ++i) {
        S s;
        std::memcpy(&s, src + i, sizeof(S));  // bytes may be unaligned
        dst(i) = static_cast<T>(s);
      }
    };
    switch (t.dtype) {
      case DType::F32: return convert(float{});
      case DType::F64: return convert(double{});
      case DType::I32: return convert(std::int32_t{});
      case DType::U8: return convert(std::uint8_t{});
    }
  }

  // ---- files ----------------------------------------------------------------------------------------------
  /// Writes the file atomically: the bytes go to `path.tmp-PID`, are fsync'ed, then renamed over `path`, so a crash
  /// (even SIGKILL) or an error (a full disk, a file-size limit) leaves any previous file at `path` as it was.
  /// Errors name `path`, the temporary file and the system's reason; the temporary file is removed.
  void save(const std::string& path) const {
    std::vector<std::byte> out;
    serialize(out);
    write_file_atomically(path, out, "checkpoint");
  }

  /// Reads and verifies a file. Errors name the file and the byte offset where reading went wrong.
  static Checkpoint load(const std::string& path) { return from_bytes(read_file(path), path); }

  /// The bytes of a checkpoint file, unverified (from_bytes checks them): what one rank reads and broadcasts.
  static std::vector<std::byte> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    SSM_CHECK(in.good(), "cannot open checkpoint '", path, "'");
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> buf(raw.size());
    if (!raw.empty()) std::memcpy(buf.data(), raw.data(), raw.size());
    return buf;
  }
  /// Verifies and reads the bytes save() writes; `source` names them in messages.
  static Checkpoint from_bytes(const std::vector<std::byte>& buf, const std::string& source) {
    Checkpoint ck;
    ck.source_ = source;
    ck.parse(buf);
    return ck;
  }
  /// What save() writes.
  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out;
    serialize(out);
    return out;
  }

  /// The file this checkpoint was loaded from ("<memory>" otherwise), for messages.
  const std::string& source() const { return source_; }
  /// Names a checkpoint built in memory (e.g. from another format) in later messages.
  void set_source(std::string source) { source_ = std::move(source); }
  std::string where() const { return "checkpoint '" + source_ + "'"; }

 private:
  template <class U>
  static void put_pod(std::vector<std::byte>& out, U v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(U));
  }
  static void put_bytes(std::vector<std::byte>& out, const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
  }

  void serialize(std::vector<std::byte>& out) const {
    put_bytes(out, kMagic, 8);
    put_pod<std::uint32_t>(out, kVersion);
    put_pod<std::uint32_t>(out, 0);
    put_pod<std::uint64_t>(out, meta_.size());
    put_pod<std::uint64_t>(out, tensors_.size());
    for (auto& [k, v] : meta_) {
      put_pod<std::uint32_t>(out, static_cast<std::uint32_t>(k.size()));
      put_bytes(out, k.data(), k.size());
      put_pod<std::uint64_t>(out, v.size());
      put_bytes(out, v.data(), v.size());
    }
    for (auto& t : tensors_) {
      put_pod<std::uint32_t>(out, static_cast<std::uint32_t>(t.name.size()));
      put_bytes(out, t.name.data(), t.name.size());
      put_pod<std::uint8_t>(out, static_cast<std::uint8_t>(t.dtype));
      put_pod<std::uint8_t>(out, static_cast<std::uint8_t>(t.shape.size()));
      put_pod<std::uint16_t>(out, 0);
      for (auto d : t.shape) put_pod<std::uint64_t>(out, static_cast<std::uint64_t>(d));
      put_pod<std::uint64_t>(out, t.bytes.size());
      put_bytes(out, t.bytes.data(), t.bytes.size());
    }
    put_pod<std::uint32_t>(out, detail::crc32(out.data(), out.size()));
    put_bytes(out, "SEND", 4);
  }

  /// Bounds-checked reader over the file's bytes.
  struct Reader {
    const std::vector<std::byte>& buf;
    std::size_t pos;
    std::size_t end;
    const std::string& file;

    void need(std::size_t n, const std::string& what) const {
      SSM_CHECK(n <= end - pos, "checkpoint '", file, "' is truncated: byte offset ", pos, " needs ", n,
                " more bytes for ", what, ", only ", end - pos, " remain");
    }
    template <class U>
    U pod(const std::string& what) {
      need(sizeof(U), what);
      U v;
      std::memcpy(&v, buf.data() + pos, sizeof(U));
      pos += sizeof(U);
      return v;
    }
    std::string str(std::size_t n, const std::string& what) {
      need(n, what);
      std::string s(reinterpret_cast<const char*>(buf.data() + pos), n);
      pos += n;
      return s;
    }
  };

  void parse(const std::vector<std::byte>& buf) {
    const std::string& f = source_;
    SSM_CHECK(buf.size() >= 40, "checkpoint '", f, "' is ", buf.size(), " bytes long, too short to be a checkpoint");
    SSM_CHECK(std::memcmp(buf.data(), kMagic, 8) == 0, "'", f,
              "' is not an ssm checkpoint (bad magic number at byte offset 0)");
    std::uint32_t version;
    std::memcpy(&version, buf.data() + 8, 4);
    SSM_CHECK(version == kVersion, "checkpoint '", f, "' has format version ", version, " at byte offset 8; this build reads version ",
              kVersion);
    SSM_CHECK(std::memcmp(buf.data() + buf.size() - 4, "SEND", 4) == 0, "checkpoint '", f,
              "' is truncated or corrupt: no end marker at byte offset ", buf.size() - 4);
    std::uint32_t stored;
    std::memcpy(&stored, buf.data() + buf.size() - 8, 4);
    const std::uint32_t computed = detail::crc32(buf.data(), buf.size() - 8);
    SSM_CHECK(stored == computed, "checkpoint '", f, "' is corrupt: CRC-32 over bytes [0, ", buf.size() - 8,
              ") is 0x", std::hex, computed, ", the file records 0x", stored);

    Reader r{buf, 16, buf.size() - 8, f};
    const auto n_meta = r.pod<std::uint64_t>("the metadata count");
    const auto n_tensors = r.pod<std::uint64_t>("the tensor count");
    for (std::uint64_t i = 0; i < n_meta; ++i) {
      const std::string what = "metadata entry " + std::to_string(i);
      const auto klen = r.pod<std::uint32_t>(what);
      std::string key = r.str(klen, what);
      const auto vlen = r.pod<std::uint64_t>(what);
      meta_[std::move(key)] = r.str(static_cast<std::size_t>(vlen), what);
    }
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      std::string what = "tensor " + std::to_string(i);
      const auto nlen = r.pod<std::uint32_t>(what);
      Tensor t;
      t.name = r.str(nlen, what);
      what = "tensor '" + t.name + "'";
      const std::size_t at = r.pos;
      const auto dt = r.pod<std::uint8_t>(what);
      SSM_CHECK(dt >= 1 && dt <= 4, "checkpoint '", f, "': ", what, " has unknown dtype code ", int(dt),
                " at byte offset ", at);
      t.dtype = static_cast<DType>(dt);
      const auto rank = r.pod<std::uint8_t>(what);
      r.pod<std::uint16_t>(what);
      for (int d = 0; d < rank; ++d) t.shape.push_back(static_cast<std::int64_t>(r.pod<std::uint64_t>(what)));
      const auto nbytes = r.pod<std::uint64_t>(what);
      SSM_CHECK(nbytes == static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype), "checkpoint '", f, "': ", what,
                " records ", nbytes, " bytes for shape ", detail::shape_string(t.shape), " of ", dtype_name(t.dtype),
                " (byte offset ", r.pos - 8, ")");
      r.need(static_cast<std::size_t>(nbytes), what);
      t.bytes.assign(buf.begin() + static_cast<std::ptrdiff_t>(r.pos),
                     buf.begin() + static_cast<std::ptrdiff_t>(r.pos + nbytes));
      r.pos += static_cast<std::size_t>(nbytes);
      tensors_.push_back(std::move(t));
    }
    SSM_CHECK(r.pos == r.end, "checkpoint '", f, "': ", r.end - r.pos, " unexpected bytes at byte offset ", r.pos);
  }

  std::map<std::string, std::string> meta_;
  std::vector<Tensor> tensors_;
  std::string source_ = "<memory>";
};

// ---- models and optimisers --------------------------------------------------------------------------------

/// Adds every parameter of the model as "<prefix><name>" (values only), e.g. "model.head.weight".
/// Tensor names of a model's parameters start with this prefix, so they never mix with optimiser state.
inline constexpr std::string_view kParamPrefix = "model.";
/// ... and those of an optimiser's state with this one.
inline constexpr std::string_view kStatePrefix = "optimizer.";

template <Real T>
void add_parameters(Checkpoint& ck, const Parameters<T>& params, std::string_view prefix = kParamPrefix) {
  for (auto& e : params.layout().entries()) {
    Checkpoint::Tensor t;
    t.name = std::string(prefix) + e.name;
    t.dtype = dtype_of<T>();
    t.shape.assign(e.shape.begin(), e.shape.end());
    t.bytes.resize(static_cast<std::size_t>(e.size) * sizeof(T));
    if (e.size) std::memcpy(t.bytes.data(), params.values() + e.offset, t.bytes.size());
    ck.put(std::move(t));
  }
}

/// Throws unless every parameter is present with the model's shape and, when `strict`, the checkpoint holds no
/// other tensor under `prefix`. Writes nothing.
template <Real T>
void check_parameters(const Checkpoint& ck, const Parameters<T>& params, std::string_view prefix = kParamPrefix,
                      bool strict = true) {
  for (auto& e : params.layout().entries()) {
    const auto& t = ck.expect(std::string(prefix) + e.name, std::vector<std::int64_t>(e.shape.begin(), e.shape.end()));
    SSM_CHECK(t.dtype == DType::F32 || t.dtype == DType::F64, ck.where(), ": tensor '", t.name, "' is ",
              dtype_name(t.dtype), ", a parameter must be float32 or float64");
  }
  if (!strict) return;
  for (auto& t : ck.tensors()) {
    if (t.name.compare(0, prefix.size(), prefix) != 0) continue;
    SSM_CHECK(params.layout().find(std::string_view(t.name).substr(prefix.size())) != nullptr, ck.where(),
              ": tensor '", t.name, "' is not a parameter of this model (a checkpoint of another architecture?)");
  }
}

/// Copies the parameters out of a checkpoint checked by check_parameters (float32 and float64 convert).
template <Real T>
void copy_parameters(const Checkpoint& ck, Parameters<T>& params, std::string_view prefix = kParamPrefix) {
  for (auto& e : params.layout().entries())
    ck.read(*ck.find(std::string(prefix) + e.name), View<T, 1>(params.values() + e.offset, {e.size}));
}

/// check_parameters, then copy_parameters: the model is either fully loaded or untouched.
template <Real T>
void load_parameters(const Checkpoint& ck, Parameters<T>& params, std::string_view prefix = kParamPrefix,
                     bool strict = true) {
  check_parameters(ck, params, prefix, strict);
  copy_parameters(ck, params, prefix);
}

/// Optimiser state (AdamW::state(), Sgd::state()): named flat tensors, stored as "optimizer.<name>".
template <Real T>
using NamedState = std::vector<std::pair<std::string, View<T, 1>>>;

template <Real T>
void add_state(Checkpoint& ck, const NamedState<T>& state, std::string_view prefix = kStatePrefix) {
  for (auto& [name, v] : state) ck.add(std::string(prefix) + name, View<const T, 1>(v));
}
/// Throws unless every state tensor is present with the right size. Writes nothing.
template <Real T>
void check_state(const Checkpoint& ck, const NamedState<T>& state, std::string_view prefix = kStatePrefix) {
  for (auto& [name, v] : state) {
    ck.expect(std::string(prefix) + name, std::vector<std::int64_t>{v.extent(0)});
  }
}
template <Real T>
void copy_state(const Checkpoint& ck, const NamedState<T>& state, std::string_view prefix = kStatePrefix) {
  for (auto& [name, v] : state) ck.read(*ck.find(std::string(prefix) + name), v);
}

}  // namespace ssm
