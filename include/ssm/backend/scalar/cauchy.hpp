// ssm/backend/scalar/cauchy.hpp — the Cauchy sums at the heart of the S4 kernel, over conjugate pairs:
//   out[h, t, k] = Σ_n  v[h, t, n] / (a_k − β_k μ[h, n])  +  conj(v[h, t, n]) / (a_k − β_k conj(μ[h, n]))
// with μ = Δλ, a_k = 1 − z_k, β_k = α + (1−α) z_k at the roots of unity z_k (layers/s4.hpp explains why); one sum
// per term t of the Woodbury identity (C̃B, C̃P, P*B, P*P). Cost O(H · T · N · F).
#pragma once

#include <complex>

#include "ssm/backend/scalar/complex_ops.hpp"
#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm::backend {

/// mu: {H, N2, 2}; v: {H, Tm, N2, 2}; a, beta: {F, 2}; out: {H, Tm, F, 2}, overwritten.
template <Real T>
void cauchy_forward(Scalar, CView<T, 3> mu, CView<T, 4> v, CView<T, 2> a, CView<T, 2> beta, View<T, 4> out) {
  using C = std::complex<T>;
  const Index H = mu.extent(0), N2 = mu.extent(1), Tm = v.extent(1), F = a.extent(0);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h)
      for (Index k = 0; k < F; ++k) {
        const C ak(a(k, 0), a(k, 1)), bk(beta(k, 0), beta(k, 1));
        for (Index t = 0; t < Tm; ++t) {
          C acc(0);
          for (Index n = 0; n < N2; ++n) {
            const C m(mu(h, n, 0), mu(h, n, 1)), vn(v(h, t, n, 0), v(h, t, n, 1));
            const C r1 = detail::crecip(ak - detail::cmul(bk, m));
            const C r2 = detail::crecip(ak - detail::cmul(bk, std::conj(m)));
            acc += detail::cmul(vn, r1) + detail::cmul_conj(r2, vn);
          }
          out(h, t, k, 0) = acc.real();
          out(h, t, k, 1) = acc.imag();
        }
      }
  });
}

/// The adjoint, given alpha = ∂L/∂out in the conjugate-gradient convention (∂/∂Re + i ∂/∂Im), {H, Tm, F, 2}.
/// With r = 1/(a − βμ) and r' = 1/(a − β μ̄) (∂r/∂μ = βr²), and σ = Σ_t v̄_t α_t, τ = Σ_t v_t α_t:
///   g_v[t, n] = Σ_k conj(r) α_t + r' conj(α_t),      g_mu[n] = Σ_k conj(β r²) σ + β r'² conj(τ).
/// Both outputs are overwritten.
template <Real T>
void cauchy_backward(Scalar, CView<T, 3> mu, CView<T, 4> v, CView<T, 2> a, CView<T, 2> beta, CView<T, 4> alpha,
                     View<T, 4> g_v, View<T, 3> g_mu) {
  using C = std::complex<T>;
  const Index H = mu.extent(0), N2 = mu.extent(1), Tm = v.extent(1), F = a.extent(0);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h)
      for (Index n = 0; n < N2; ++n) {
        const C m(mu(h, n, 0), mu(h, n, 1));
        C gm(0);
        for (Index t = 0; t < Tm; ++t) g_v(h, t, n, 0) = g_v(h, t, n, 1) = T(0);
        for (Index k = 0; k < F; ++k) {
          const C ak(a(k, 0), a(k, 1)), bk(beta(k, 0), beta(k, 1));
          const C r1 = detail::crecip(ak - detail::cmul(bk, m));
          const C r2 = detail::crecip(ak - detail::cmul(bk, std::conj(m)));
          C sigma(0), tau(0);
          for (Index t = 0; t < Tm; ++t) {
            const C al(alpha(h, t, k, 0), alpha(h, t, k, 1)), vn(v(h, t, n, 0), v(h, t, n, 1));
            const C gv = detail::cmul_conj(al, r1) + detail::cmul_conj(r2, al);
            g_v(h, t, n, 0) += gv.real();
            g_v(h, t, n, 1) += gv.imag();
            sigma += detail::cmul_conj(al, vn);
            tau += detail::cmul(vn, al);
          }
          const C br1 = detail::cmul(bk, detail::cmul(r1, r1)), br2 = detail::cmul(bk, detail::cmul(r2, r2));
          gm += detail::cmul_conj(sigma, br1) + detail::cmul_conj(br2, tau);
        }
        g_mu(h, n, 0) = gm.real();
        g_mu(h, n, 1) = gm.imag();
      }
  });
}

}  // namespace ssm::backend
