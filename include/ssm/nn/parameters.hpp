// ssm/nn/parameters.hpp — every trainable tensor of a model as a named slot in one flat buffer.
// Layers declare their tensors to a ParamLayout (name, shape, optimiser group, weight decay) and keep the
// returned slots; Parameters<T> owns two buffers of the layout's size, values and gradients, and a layer's
// `bind(base)` turns its slots into views — bind(values) and bind(grads) are identically shaped structs.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "ssm/core/buffer.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

/// How the optimiser treats a tensor. Groups let A, B, Δ of an SSM have their own learning rate.
struct ParamOptions {
  bool weight_decay = true;       ///< false for biases, norm gains, SSM dynamics (A_log, D, dt bias)
  std::string group = "default";  ///< optimiser parameter group, e.g. "ssm"
};

/// One declared tensor: where it lives in the flat buffer and how it is optimised.
struct ParamInfo {
  std::string name;
  std::vector<Index> shape;
  Index offset = 0;  ///< in elements from the start of the flat buffer (a multiple of 16)
  Index size = 0;    ///< elements
  ParamOptions options;
};

/// Where one tensor of rank R sits; bind() makes a view of it in any buffer of the same layout.
template <int R>
struct ParamSlot {
  Index offset = -1;
  std::array<Index, R> extents{};

  template <class T>
  View<T, R> bind(T* base) const {
    SSM_CHECK(offset >= 0, "binding a parameter slot that was never declared");
    return View<T, R>(base + offset, extents);
  }
};

/// The list of a model's tensors. Offsets are padded to 16 elements (64 bytes in float) so every
/// tensor starts on a vector boundary.
class ParamLayout {
 public:
  static constexpr Index kPad = 16;

  template <int R>
  ParamSlot<R> add(std::string name, const std::array<Index, R>& extents, ParamOptions options = {}) {
    SSM_CHECK(!name.empty(), "a parameter needs a name");
    SSM_CHECK(find(name) == nullptr, "parameter '", name, "' declared twice");
    Index n = 1;
    for (Index e : extents) {
      SSM_CHECK(e >= 0, "parameter '", name, "': negative extent in ", shape_string(extents));
      n *= e;
    }
    ParamInfo info;
    info.name = std::move(name);
    info.shape.assign(extents.begin(), extents.end());
    info.offset = size_;
    info.size = n;
    info.options = std::move(options);
    entries_.push_back(std::move(info));
    size_ += (n + kPad - 1) / kPad * kPad;
    return ParamSlot<R>{entries_.back().offset, extents};
  }

  const std::vector<ParamInfo>& entries() const { return entries_; }
  /// Elements of the flat buffer, padding included.
  Index size() const { return size_; }
  /// Elements that are parameters (padding excluded).
  Index count() const {
    Index n = 0;
    for (auto& e : entries_) n += e.size;
    return n;
  }
  const ParamInfo* find(std::string_view name) const {
    for (auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

 private:
  std::vector<ParamInfo> entries_;
  Index size_ = 0;
};

/// "name.sub" — prefixes compose layer names into model names ("blocks.0.mixer.in_proj.weight").
inline std::string join_name(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string s(prefix);
  s += '.';
  s += name;
  return s;
}

/// Owns the values and gradients of a layout, both zero-filled at construction (so the padding is zero).
template <Real T, class Space = memory::Host>
class Parameters;

template <Real T>
class Parameters<T, memory::Host> {
 public:
  explicit Parameters(ParamLayout layout)
      : layout_(std::move(layout)), values_(layout_.size(), T(0)), grads_(layout_.size(), T(0)) {}

  const ParamLayout& layout() const { return layout_; }
  T* values() { return values_.data(); }
  const T* values() const { return values_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }
  View<T, 1> value_view() { return values_.view(); }
  View<const T, 1> value_view() const { return values_.view(); }
  View<T, 1> grad_view() { return grads_.view(); }
  View<const T, 1> grad_view() const { return grads_.view(); }
  Index size() const { return layout_.size(); }
  /// Number of trainable scalars (what a parameter-count column reports).
  Index count() const { return layout_.count(); }

  void zero_grad() { grads_.fill(T(0)); }

  /// The named tensor, flattened.
  View<T, 1> value(std::string_view name) { return View<T, 1>(values() + entry(name).offset, {entry(name).size}); }
  View<T, 1> grad(std::string_view name) { return View<T, 1>(grads() + entry(name).offset, {entry(name).size}); }

 private:
  const ParamInfo& entry(std::string_view name) const {
    const ParamInfo* e = layout_.find(name);
    SSM_CHECK(e != nullptr, "no parameter named '", name, "'");
    return *e;
  }

  ParamLayout layout_;
  Buffer<T> values_;
  Buffer<T> grads_;
};

}  // namespace ssm
