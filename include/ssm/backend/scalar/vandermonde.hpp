// ssm/backend/scalar/vandermonde.hpp — the S4D kernel, a Vandermonde product over the diagonal modes:
//   K[d, h, l] = Σ_n 2·Re(w[d, h, n] · z[h, n]^l),   z = exp(log_z) = Ā_n,  w = C_n B̄_n,
// one half of each conjugate pair stored (the other half is the 2·Re). Powers are carried by multiplication and
// re-seeded from exp(l·log z) (in double) every kReseed steps, so their error stays at a few ulps for any L.
#pragma once

#include <complex>

#include "ssm/backend/scalar/complex_ops.hpp"
#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm::backend {

namespace detail {
inline constexpr Index kReseed = 64;

template <class T>
SSM_ALWAYS_INLINE std::complex<T> cplx(const CView<T, 3>& v, Index i, Index j) {
  return {v(i, j, 0), v(i, j, 1)};
}
}  // namespace detail

/// log_z: {H, N2, 2}; w: {Dirs, H, N2, 2}; k: {Dirs, H, L}, overwritten.
template <Real T>
void vandermonde_forward(Scalar, CView<T, 3> log_z, CView<T, 4> w, View<T, 3> k) {
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), N2 = log_z.extent(1);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h) {
      for (Index d = 0; d < dirs; ++d)
        for (Index l = 0; l < L; ++l) k(d, h, l) = T(0);
      for (Index n = 0; n < N2; ++n) {
        const std::complex<double> lz(log_z(h, n, 0), log_z(h, n, 1));
        const std::complex<T> z = detail::cexp_to<T>(lz);
        for (Index d = 0; d < dirs; ++d) {
          const T wr = T(2) * w(d, h, n, 0), wi = T(2) * w(d, h, n, 1);
          T* kp = &k(d, h, 0);
          for (Index l0 = 0; l0 < L; l0 += detail::kReseed) {
            std::complex<T> p = l0 == 0 ? std::complex<T>(1) : detail::cexp_to<T>(static_cast<double>(l0) * lz);
            const Index l1 = std::min(L, l0 + detail::kReseed);
            for (Index l = l0; l < l1; ++l) {
              kp[l] += wr * p.real() - wi * p.imag();
              p = detail::cmul(p, z);
            }
          }
        }
      }
    }
  });
}

/// The sums the adjoint needs, per mode: q[d, h, n] = Σ_l dk[d, h, l] z^l and r[d, h, n] = Σ_l l·dk[d, h, l] z^{l−1}
/// (overwritten). With them ∂L/∂w̄ = 2·conj(q) and ∂L/∂z̄ = 2·Σ_d conj(w·r) (conjugate-gradient convention).
template <Real T>
void vandermonde_backward(Scalar, CView<T, 3> log_z, CView<T, 3> dk, View<T, 4> q, View<T, 4> r) {
  const Index dirs = dk.extent(0), H = dk.extent(1), L = dk.extent(2), N2 = log_z.extent(1);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h) {
      for (Index n = 0; n < N2; ++n) {
        const std::complex<double> lz(log_z(h, n, 0), log_z(h, n, 1));
        const std::complex<T> z = detail::cexp_to<T>(lz);
        for (Index d = 0; d < dirs; ++d) {
          const T* g = &dk(d, h, 0);
          std::complex<T> sq(0), sr(0);
          for (Index l0 = 0; l0 < L; l0 += detail::kReseed) {
            std::complex<T> p = l0 == 0 ? std::complex<T>(1) : detail::cexp_to<T>(static_cast<double>(l0) * lz);
            std::complex<T> prev =
                l0 == 0 ? std::complex<T>(0) : detail::cexp_to<T>(static_cast<double>(l0 - 1) * lz);
            const Index l1 = std::min(L, l0 + detail::kReseed);
            for (Index l = l0; l < l1; ++l) {
              sq += g[l] * p;
              sr += (static_cast<T>(l) * g[l]) * prev;
              prev = p;
              p = detail::cmul(p, z);
            }
          }
          q(d, h, n, 0) = sq.real();
          q(d, h, n, 1) = sq.imag();
          r(d, h, n, 0) = sr.real();
          r(d, h, n, 1) = sr.imag();
        }
      }
    }
  });
}

}  // namespace ssm::backend
