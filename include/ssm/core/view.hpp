// ssm/core/view.hpp — non-owning strided views of rank 1..4 (pointer + extents + strides, like Eigen::Map
// or std::mdspan with layout_stride). Element (i, j, …) lives at data()[i·stride(0) + j·stride(1) + …].
// Views never allocate; owning storage is ssm::Buffer (core/buffer.hpp) held by models and trainers.
#pragma once

#include <array>
#include <cstring>
#include <string>
#include <type_traits>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"

namespace ssm {

template <class T, int Rank>
class View {
  static_assert(Rank >= 1 && Rank <= 4, "ssm::View supports ranks 1 to 4");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using Extents = std::array<Index, Rank>;
  static constexpr int rank = Rank;

  View() = default;

  /// Contiguous row-major view: the last extent varies fastest.
  View(T* data, const Extents& extents) : data_(data) {
    Index s = 1;
    for (int d = Rank - 1; d >= 0; --d) {
      SSM_CHECK(extents[d] >= 0, "view extent ", d, " must be >= 0, found ", extents[d]);
      ext_[d] = extents[d];
      str_[d] = s;
      s *= extents[d];
    }
  }

  /// Strided view; strides are in elements and may be any non-negative value.
  View(T* data, const Extents& extents, const Extents& strides) : data_(data) {
    for (int d = 0; d < Rank; ++d) {
      SSM_CHECK(extents[d] >= 0, "view extent ", d, " must be >= 0, found ", extents[d]);
      ext_[d] = extents[d];
      str_[d] = strides[d];
    }
  }

  /// A view of T converts to a view of const T.
  template <class U>
    requires(!std::is_same_v<U, T> && std::is_convertible_v<U (*)[], T (*)[]>)
  View(const View<U, Rank>& other) : data_(other.data()) {  // NOLINT(google-explicit-constructor)
    for (int d = 0; d < Rank; ++d) {
      ext_[d] = other.extent(d);
      str_[d] = other.stride(d);
    }
  }

  SSM_HOST_DEVICE T* data() const { return data_; }
  SSM_HOST_DEVICE Index extent(int d) const { return ext_[d]; }
  SSM_HOST_DEVICE Index stride(int d) const { return str_[d]; }
  Extents extents() const {
    Extents e{};
    for (int d = 0; d < Rank; ++d) e[d] = ext_[d];
    return e;
  }
  Extents strides() const {
    Extents s{};
    for (int d = 0; d < Rank; ++d) s[d] = str_[d];
    return s;
  }
  SSM_HOST_DEVICE Index size() const {
    Index n = 1;
    for (int d = 0; d < Rank; ++d) n *= ext_[d];
    return n;
  }
  SSM_HOST_DEVICE bool empty() const { return size() == 0; }
  /// True when the elements are packed row-major with no gaps (so data()[0 .. size()) is the view).
  bool is_contiguous() const {
    Index s = 1;
    for (int d = Rank - 1; d >= 0; --d) {
      if (ext_[d] != 1 && str_[d] != s) return false;
      s *= ext_[d];
    }
    return true;
  }

  template <class... Is>
    requires(sizeof...(Is) == Rank && (std::is_integral_v<Is> && ...))
  SSM_HOST_DEVICE T& operator()(Is... is) const {
    const Index idx[Rank] = {static_cast<Index>(is)...};
    Index off = 0;
    for (int d = 0; d < Rank; ++d) {
#if defined(SSM_BOUNDS_CHECK) && !defined(__CUDA_ARCH__)
      SSM_CHECK(idx[d] >= 0 && idx[d] < ext_[d], "index ", idx[d], " out of range [0, ", ext_[d], ") in dimension ",
                d);
#endif
      off += idx[d] * str_[d];
    }
    return data_[off];
  }

  /// Rank > 1: the sub-view at index i of the first dimension. Rank 1: the element.
  SSM_HOST_DEVICE decltype(auto) operator[](Index i) const {
    if constexpr (Rank == 1) {
      return (*this)(i);
    } else {
      View<T, Rank - 1> sub;
      sub.data_ = data_ + i * str_[0];
      for (int d = 1; d < Rank; ++d) {
        sub.ext_[d - 1] = ext_[d];
        sub.str_[d - 1] = str_[d];
      }
      return sub;
    }
  }

  /// The elements [begin, end) along dimension `dim`, same rank.
  View slice(int dim, Index begin, Index end) const {
    SSM_CHECK(dim >= 0 && dim < Rank, "slice dimension ", dim, " out of range for rank ", Rank);
    SSM_CHECK(0 <= begin && begin <= end && end <= ext_[dim], "slice [", begin, ", ", end, ") out of range [0, ",
              ext_[dim], "] in dimension ", dim);
    View v = *this;
    v.data_ = data_ + begin * str_[dim];
    v.ext_[dim] = end - begin;
    return v;
  }

  /// The same contiguous elements seen with other extents (the element count must match).
  template <int R2>
  View<T, R2> reshape(const std::array<Index, R2>& extents) const {
    SSM_CHECK(is_contiguous(), "reshape needs a contiguous view");
    Index n = 1;
    for (Index e : extents) n *= e;
    SSM_CHECK(n == size(), "reshape to ", n, " elements from a view of ", size());
    return View<T, R2>(data_, extents);
  }

  View<T, 1> flat() const { return reshape<1>({size()}); }

  View<const T, Rank> as_const() const { return *this; }

 private:
  template <class, int>
  friend class View;

  T* data_ = nullptr;
  Index ext_[Rank] = {};
  Index str_[Rank] = {};
};

template <class T>
using View1 = View<T, 1>;
template <class T>
using View2 = View<T, 2>;
template <class T>
using View3 = View<T, 3>;
template <class T>
using View4 = View<T, 4>;

/// A read-only view whose element type is not deduced: kernels take inputs as CView<T, R> and deduce T
/// from an output, so callers may pass mutable views for inputs.
template <class T, int R>
using CView = View<const std::type_identity_t<T>, R>;

/// The same contiguous elements with other extents; the rank follows from the list: reshape(x, {B * L, D}).
template <class T, int R, std::size_t N>
View<T, static_cast<int>(N)> reshape(const View<T, R>& v, const Index (&extents)[N]) {
  std::array<Index, N> e{};
  for (std::size_t i = 0; i < N; ++i) e[i] = extents[i];
  return v.template reshape<static_cast<int>(N)>(e);
}

/// "{2, 3, 4}"
template <class T, int R>
std::string shape_string(const View<T, R>& v) {
  std::string s = "{";
  for (int d = 0; d < R; ++d) s += (d ? ", " : "") + std::to_string(v.extent(d));
  return s + "}";
}

template <std::size_t R>
std::string shape_string(const std::array<Index, R>& e) {
  std::string s = "{";
  for (std::size_t d = 0; d < R; ++d) s += (d ? ", " : "") + std::to_string(e[d]);
  return s + "}";
}

/// Throws unless `v` has the expected extents; an expected extent of -1 matches anything.
/// Message: "<what>: expected shape {2, -1, 8}, found {2, 5, 7}".
template <class T, int R>
void expect_shape(const View<T, R>& v, const char* what, const std::array<Index, R>& expected) {
  bool ok = true;
  for (int d = 0; d < R; ++d) ok = ok && (expected[d] < 0 || expected[d] == v.extent(d));
  SSM_CHECK(ok, what, ": expected shape ", shape_string(expected), ", found ", shape_string(v));
}

/// Throws unless the innermost dimension is packed (stride 1), as BLAS-style kernels need.
template <class T, int R>
void expect_unit_inner_stride(const View<T, R>& v, const char* what) {
  SSM_CHECK(v.extent(R - 1) <= 1 || v.stride(R - 1) == 1, what, ": expected unit stride in the last dimension, found ",
            v.stride(R - 1));
}

/// Sets every element of a host view.
template <class T, int R>
void fill(const View<T, R>& v, const T& value) {
  if (v.is_contiguous()) {
    T* p = v.data();
    for (Index i = 0, n = v.size(); i < n; ++i) p[i] = value;
    return;
  }
  for (Index i = 0; i < v.extent(0); ++i) {
    if constexpr (R == 1)
      v(i) = value;
    else
      fill(v[i], value);
  }
}

/// Copies src into dst (same extents; any strides), on the host.
template <class T, class U, int R>
void copy(const View<U, R>& src, const View<T, R>& dst) {
  for (int d = 0; d < R; ++d)
    SSM_CHECK(src.extent(d) == dst.extent(d), "copy from ", shape_string(src), " into ", shape_string(dst));
  if (src.is_contiguous() && dst.is_contiguous()) {
    for (Index i = 0, n = src.size(); i < n; ++i) dst.data()[i] = static_cast<T>(src.data()[i]);
    return;
  }
  for (Index i = 0; i < src.extent(0); ++i) {
    if constexpr (R == 1)
      dst(i) = static_cast<T>(src(i));
    else
      copy(src[i], dst[i]);
  }
}

}  // namespace ssm
