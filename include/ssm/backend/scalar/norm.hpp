// ssm/backend/scalar/norm.hpp — row normalisations over the last dimension of x: {M, D} (unit inner stride).
//   RMSNorm:   r = (mean(x²) + ε)^(−½),            y = w ⊙ x · r
//   LayerNorm: μ = mean(x), r = (var(x) + ε)^(−½), y = γ ⊙ (x − μ) · r + β
// Parameter gradients are summed per fixed chunk of rows into scratch and the chunks added in order, so
// they are the same bits on any thread count.
#pragma once

#include <cmath>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

namespace ssm::backend {

namespace detail {
inline constexpr Index kNormRows = 256;  // rows per partial sum of a parameter gradient

/// out[d] += Σ_c part[c, d] over the chunks, in chunk order.
template <class T>
void add_partials(const View<T, 2>& part, T* out, Index D) {
  for (Index d = 0; d < D; ++d) {
    T s = T(0);
    for (Index c = 0; c < part.extent(0); ++c) s += part(c, d);
    out[d] += s;
  }
}
}  // namespace detail

/// y: {M, D}; rstd: {M} receives r for backward.
template <Real T>
void rmsnorm_forward(Scalar, CView<T, 2> x, CView<T, 1> w, T eps, View<T, 2> y, View<T, 1> rstd) {
  const Index D = x.extent(1), xs = x.stride(0), ys = y.stride(0);
  const T* const xp = x.data();
  const T* const wp = w.data();
  T* const yp = y.data();
  T* const rp = rstd.data();
  parallel_for(x.extent(0), 64, [=](Index m0, Index m1) {
    for (Index m = m0; m < m1; ++m) {
      const T* SSM_RESTRICT xi = xp + m * xs;
      T ss = 0;
      for (Index d = 0; d < D; ++d) ss += xi[d] * xi[d];
      const T r = T(1) / std::sqrt(ss / static_cast<T>(D) + eps);
      rp[m] = r;
      T* SSM_RESTRICT yi = yp + m * ys;
      for (Index d = 0; d < D; ++d) yi[d] = wp[d] * xi[d] * r;
    }
  });
}

/// With g = w ⊙ dy:  dx = r·g − x · r³ · ⟨g, x⟩ / D   (overwrites);   dw += Σ_rows dy ⊙ x · r.
template <Real T>
void rmsnorm_backward(Scalar, CView<T, 2> x, CView<T, 1> w, CView<T, 1> rstd, CView<T, 2> dy, View<T, 2> dx,
                      View<T, 1> dw, Workspace& ws) {
  const Index M = x.extent(0), D = x.extent(1), xs = x.stride(0), gs = dy.stride(0);
  const T* const xp = x.data();
  const T* const wp = w.data();
  const T* const rp = rstd.data();
  const T* const gp = dy.data();
  if (!dx.empty()) {
    T* const dxp = dx.data();
    const Index dxs = dx.stride(0);
    parallel_for(M, 64, [=](Index m0, Index m1) {
      for (Index m = m0; m < m1; ++m) {
        const T* SSM_RESTRICT xi = xp + m * xs;
        const T* SSM_RESTRICT gi = gp + m * gs;
        const T r = rp[m];
        T dot = 0;
        for (Index d = 0; d < D; ++d) dot += wp[d] * gi[d] * xi[d];
        const T c = r * r * r * dot / static_cast<T>(D);
        T* SSM_RESTRICT out = dxp + m * dxs;
        for (Index d = 0; d < D; ++d) out[d] = r * wp[d] * gi[d] - xi[d] * c;
      }
    });
  }
  auto part = ws.take<T, 2>({chunk_count(M, detail::kNormRows), D});
  T* const pp = part.data();
  parallel_chunks(M, detail::kNormRows, [=](Index c, Index m0, Index m1) {
    T* SSM_RESTRICT pc = pp + c * D;
    for (Index d = 0; d < D; ++d) pc[d] = T(0);
    for (Index m = m0; m < m1; ++m) {
      const T* SSM_RESTRICT xi = xp + m * xs;
      const T* SSM_RESTRICT gi = gp + m * gs;
      const T r = rp[m];
      for (Index d = 0; d < D; ++d) pc[d] += gi[d] * xi[d] * r;
    }
  });
  detail::add_partials(part, dw.data(), D);
}

/// y: {M, D}; mean, rstd: {M} for backward. gamma/beta may be empty (no affine part).
template <Real T>
void layernorm_forward(Scalar, CView<T, 2> x, CView<T, 1> gamma, CView<T, 1> beta, T eps, View<T, 2> y,
                       View<T, 1> mean, View<T, 1> rstd) {
  const Index D = x.extent(1), xs = x.stride(0), ys = y.stride(0);
  const T* const xp = x.data();
  const T* const gam = gamma.empty() ? nullptr : gamma.data();
  const T* const bet = beta.empty() ? nullptr : beta.data();
  T* const yp = y.data();
  T* const mp = mean.data();
  T* const rp = rstd.data();
  parallel_for(x.extent(0), 64, [=](Index m0, Index m1) {
    for (Index m = m0; m < m1; ++m) {
      const T* SSM_RESTRICT xi = xp + m * xs;
      T s = 0;
      for (Index d = 0; d < D; ++d) s += xi[d];
      const T mu = s / static_cast<T>(D);
      T v = 0;
      for (Index d = 0; d < D; ++d) v += (xi[d] - mu) * (xi[d] - mu);
      const T r = T(1) / std::sqrt(v / static_cast<T>(D) + eps);
      mp[m] = mu;
      rp[m] = r;
      T* SSM_RESTRICT yi = yp + m * ys;
      if (gam)
        for (Index d = 0; d < D; ++d) yi[d] = gam[d] * ((xi[d] - mu) * r) + bet[d];
      else
        for (Index d = 0; d < D; ++d) yi[d] = (xi[d] - mu) * r;
    }
  });
}

/// With x̂ = (x − μ)·r and g = γ ⊙ dy:  dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂))   (overwrites);
/// dγ += Σ_rows dy ⊙ x̂;  dβ += Σ_rows dy.
template <Real T>
void layernorm_backward(Scalar, CView<T, 2> x, CView<T, 1> gamma, CView<T, 1> mean, CView<T, 1> rstd,
                        CView<T, 2> dy, View<T, 2> dx, View<T, 1> dgamma, View<T, 1> dbeta, Workspace& ws) {
  const Index M = x.extent(0), D = x.extent(1), xs = x.stride(0), gs = dy.stride(0);
  const T* const xp = x.data();
  const T* const gam = gamma.empty() ? nullptr : gamma.data();
  const T* const mp = mean.data();
  const T* const rp = rstd.data();
  const T* const gp = dy.data();
  if (!dx.empty()) {
    T* const dxp = dx.data();
    const Index dxs = dx.stride(0);
    parallel_for(M, 64, [=](Index m0, Index m1) {
      for (Index m = m0; m < m1; ++m) {
        const T* SSM_RESTRICT xi = xp + m * xs;
        const T* SSM_RESTRICT gi = gp + m * gs;
        const T mu = mp[m], r = rp[m];
        T sg = 0, sgx = 0;
        for (Index d = 0; d < D; ++d) {
          const T g = (gam ? gam[d] : T(1)) * gi[d];
          sg += g;
          sgx += g * (xi[d] - mu) * r;
        }
        sg /= static_cast<T>(D);
        sgx /= static_cast<T>(D);
        T* SSM_RESTRICT out = dxp + m * dxs;
        for (Index d = 0; d < D; ++d)
          out[d] = r * ((gam ? gam[d] : T(1)) * gi[d] - sg - (xi[d] - mu) * r * sgx);
      }
    });
  }
  if (dgamma.empty()) return;
  auto part = ws.take<T, 3>({chunk_count(M, detail::kNormRows), 2, D});
  T* const pp = part.data();
  parallel_chunks(M, detail::kNormRows, [=](Index c, Index m0, Index m1) {
    T* SSM_RESTRICT pg = pp + c * 2 * D;
    T* SSM_RESTRICT pb = pg + D;
    for (Index d = 0; d < 2 * D; ++d) pg[d] = T(0);
    for (Index m = m0; m < m1; ++m) {
      const T* SSM_RESTRICT xi = xp + m * xs;
      const T* SSM_RESTRICT gi = gp + m * gs;
      const T mu = mp[m], r = rp[m];
      for (Index d = 0; d < D; ++d) {
        pg[d] += gi[d] * (xi[d] - mu) * r;
        pb[d] += gi[d];
      }
    }
  });
  for (Index d = 0; d < D; ++d) {
    T sg = T(0), sb = T(0);
    for (Index c = 0; c < part.extent(0); ++c) {
      sg += part(c, 0, d);
      sb += part(c, 1, d);
    }
    dgamma(d) += sg;
    dbeta(d) += sb;
  }
}

}  // namespace ssm::backend
