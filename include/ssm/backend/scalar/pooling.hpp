// ssm/backend/scalar/pooling.hpp — pooling over time of right-padded sequences x: {B, L, D} with
// lengths n_b ∈ [1, L]:  mean  y_b = (1/n_b) Σ_{t<n_b} x_{b,t};  last  y_b = x_{b, n_b−1};
// max  y_{b,d} = max_{t<n_b} x_{b,t,d}. Positions t ≥ n_b are never read and get zero gradient.
#pragma once

#include <cstdint>
#include <limits>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm {
enum class Pooling { Mean, Last, Max };

inline const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::Mean: return "mean";
    case Pooling::Last: return "last";
    case Pooling::Max: return "max";
  }
  return "?";
}
}  // namespace ssm

namespace ssm::backend {

/// y: {B, D}. argmax: {B, D} time index of each maximum (Max only; may be empty otherwise).
template <Real T>
void pool_forward(Scalar, Pooling kind, CView<T, 3> x, CView<std::int32_t, 1> lengths, View<T, 2> y,
                  View<std::int32_t, 2> argmax) {
  const Index L = x.extent(1), D = x.extent(2);
  for (Index b = 0; b < x.extent(0); ++b)
    SSM_CHECK(lengths(b) >= 1 && lengths(b) <= L, "pooling: sequence ", b, " has length ", lengths(b),
              ", expected 1..", L);
  parallel_for(x.extent(0), 1, [&](Index b0, Index b1) {
    for (Index b = b0; b < b1; ++b) {
      const Index n = lengths(b);
      T* out = &y(b, 0);
      switch (kind) {
        case Pooling::Mean: {
          for (Index d = 0; d < D; ++d) out[d] = T(0);
          for (Index t = 0; t < n; ++t)
            for (Index d = 0; d < D; ++d) out[d] += x(b, t, d);
          const T inv = T(1) / static_cast<T>(n);
          for (Index d = 0; d < D; ++d) out[d] *= inv;
          break;
        }
        case Pooling::Last:
          for (Index d = 0; d < D; ++d) out[d] = x(b, n - 1, d);
          break;
        case Pooling::Max:
          for (Index d = 0; d < D; ++d) {
            out[d] = x(b, 0, d);
            argmax(b, d) = 0;
          }
          for (Index t = 1; t < n; ++t)
            for (Index d = 0; d < D; ++d)
              if (x(b, t, d) > out[d]) {
                out[d] = x(b, t, d);
                argmax(b, d) = static_cast<std::int32_t>(t);
              }
          break;
      }
    }
  });
}

/// dx: {B, L, D} overwritten, zero at padded positions.
template <Real T>
void pool_backward(Scalar, Pooling kind, CView<std::int32_t, 1> lengths, CView<std::int32_t, 2> argmax,
                   CView<T, 2> dy, View<T, 3> dx) {
  const Index L = dx.extent(1), D = dx.extent(2);
  parallel_for(dx.extent(0), 1, [&](Index b0, Index b1) {
    for (Index b = b0; b < b1; ++b) {
      const Index n = lengths(b);
      for (Index t = 0; t < L; ++t)
        for (Index d = 0; d < D; ++d) dx(b, t, d) = T(0);
      switch (kind) {
        case Pooling::Mean: {
          const T inv = T(1) / static_cast<T>(n);
          for (Index t = 0; t < n; ++t)
            for (Index d = 0; d < D; ++d) dx(b, t, d) = dy(b, d) * inv;
          break;
        }
        case Pooling::Last:
          for (Index d = 0; d < D; ++d) dx(b, n - 1, d) = dy(b, d);
          break;
        case Pooling::Max:
          for (Index d = 0; d < D; ++d) dx(b, argmax(b, d), d) = dy(b, d);
          break;
      }
    }
  });
}

}  // namespace ssm::backend
