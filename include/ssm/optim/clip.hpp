// ssm/optim/clip.hpp — gradient-norm clipping: with n = ‖g‖₂ over the whole flat gradient buffer,
// g ← g · min(1, max_norm / (n + 1e-6)) (PyTorch's clip_grad_norm_). The norm is summed in double over
// fixed chunks, so it is the same on any thread count.
#pragma once

#include <cmath>
#include <vector>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm::backend {

/// ‖g‖₂ in double (Cuda overload in backend/cuda/optim.cuh).
template <Real T>
double l2_norm(Scalar, View<const T, 1> g) {
  const Index grain = 1 << 14;
  std::vector<double> part(static_cast<std::size_t>(chunk_count(g.extent(0), grain)), 0.0);
  parallel_chunks(g.extent(0), grain, [&](Index c, Index i0, Index i1) {
    double s = 0;
    for (Index i = i0; i < i1; ++i) s += static_cast<double>(g(i)) * static_cast<double>(g(i));
    part[c] = s;
  });
  double s = 0;
  for (double p : part) s += p;
  return std::sqrt(s);
}

/// g ← s·g.
template <Real T>
void scale(Scalar, View<T, 1> g, T s) {
  T* const p = g.data();
  parallel_for(g.extent(0), 1 << 14, [=](Index i0, Index i1) {
    for (Index i = i0; i < i1; ++i) p[i] *= s;
  });
}

}  // namespace ssm::backend

namespace ssm::optim {

/// ‖g‖₂ in double, on the backend where g lives.
template <Backend B = backend::Default, Real T>
double grad_norm(View<T, 1> g) {
  return l2_norm(B{}, View<const T, 1>(g));
}

/// Scales g so that its norm is at most max_norm and returns the norm before clipping. A non-finite norm
/// (NaN or Inf somewhere in g) leaves g unchanged and is returned as is: the caller must not step on it.
template <Backend B = backend::Default, Real T>
double clip_grad_norm(View<T, 1> g, double max_norm) {
  const double n = l2_norm(B{}, View<const T, 1>(g));
  if (!std::isfinite(n) || max_norm <= 0) return n;
  const double s = max_norm / (n + 1e-6);
  if (s < 1.0) scale(B{}, g, static_cast<T>(s));
  return n;
}

}  // namespace ssm::optim
