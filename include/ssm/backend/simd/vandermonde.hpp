// ssm/backend/simd/vandermonde.hpp — the S4D Vandermonde kernel (backend/scalar/vandermonde.hpp) vectorised over
// time: lanes hold z^{l}, …, z^{l+W−1}, advanced by one multiplication by z^W per vector and re-seeded every
// kBlock vectors as z^{l₀}·z^{lane} (from exp(l₀ log z) in double), so the error stays at a few tens of ulps.
#pragma once

#include <complex>

#include "ssm/backend/scalar/vandermonde.hpp"
#include "ssm/backend/simd/vec.hpp"

namespace ssm::backend {

namespace detail {

inline constexpr Index kVandermondeBlock = 16;  // vectors between re-seeds

/// z^{lane} for lane < W, and z^W, from log z.
template <class T>
struct LanePowers {
  simd::Vec<T> re, im;
  std::complex<T> step;
  explicit LanePowers(std::complex<double> lz) {
    constexpr int W = simd::Vec<T>::W;
    T r[W], i[W];
    const std::complex<double> z = std::exp(lz);
    std::complex<double> p = 1;  // W products in double: a few ulps of double, far below T's rounding
    for (int j = 0; j < W; ++j) {
      r[j] = static_cast<T>(p.real());
      i[j] = static_cast<T>(p.imag());
      p = cmul(p, z);
    }
    re = simd::Vec<T>::load(r);
    im = simd::Vec<T>::load(i);
    step = std::complex<T>(p);
  }
  /// z^{l0 + lane}.
  void seed(std::complex<double> lz, Index l0, simd::Vec<T>& pr, simd::Vec<T>& pi) const {
    using V = simd::Vec<T>;
    const std::complex<T> s = l0 == 0 ? std::complex<T>(1) : cexp_to<T>(static_cast<double>(l0) * lz);
    pr = V(s.real()) * re - V(s.imag()) * im;
    pi = V(s.real()) * im + V(s.imag()) * re;
  }
};

template <class T>
SSM_ALWAYS_INLINE void advance(simd::Vec<T>& pr, simd::Vec<T>& pi, std::complex<T> z) {
  using V = simd::Vec<T>;
  const V zr(z.real()), zi(z.imag());
  const V nr = pr * zr - pi * zi;
  pi = simd::fma(pr, zi, pi * zr);
  pr = nr;
}

}  // namespace detail

/// Same contract as the Scalar overload.
template <Real T>
void vandermonde_forward(Simd, CView<T, 3> log_z, CView<T, 4> w, View<T, 3> k) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), N2 = log_z.extent(1);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h) {
      for (Index d = 0; d < dirs; ++d)
        for (Index l = 0; l < L; ++l) k(d, h, l) = T(0);
      for (Index n = 0; n < N2; ++n) {
        const std::complex<double> lz(log_z(h, n, 0), log_z(h, n, 1));
        const detail::LanePowers<T> lp(lz);
        for (Index d = 0; d < dirs; ++d) {
          const V wr(T(2) * w(d, h, n, 0)), wi(T(-2) * w(d, h, n, 1));
          T* kp = &k(d, h, 0);
          for (Index l0 = 0; l0 < L; l0 += detail::kVandermondeBlock * W) {
            V pr, pi;
            lp.seed(lz, l0, pr, pi);
            const Index l1 = std::min(L, l0 + detail::kVandermondeBlock * W);
            Index l = l0;
            for (; l + W <= l1; l += W) {
              simd::fma(wr, pr, simd::fma(wi, pi, V::load(kp + l))).store(kp + l);
              detail::advance(pr, pi, lp.step);
            }
            if (l < l1) {
              const int rest = static_cast<int>(l1 - l);
              simd::fma(wr, pr, simd::fma(wi, pi, V::load_partial(kp + l, rest))).store_partial(kp + l, rest);
            }
          }
        }
      }
    }
  });
}

/// Same contract as the Scalar overload: q = Σ_l g_l z^l and r = Σ_m (m+1) g_{m+1} z^m (the same sum as
/// Σ_l l g_l z^{l−1}, written so that no lane ever needs z^{−1}).
template <Real T>
void vandermonde_backward(Simd, CView<T, 3> log_z, CView<T, 3> dk, View<T, 4> q, View<T, 4> r) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const Index dirs = dk.extent(0), H = dk.extent(1), L = dk.extent(2), N2 = log_z.extent(1);
  T lane_index[W];
  for (int j = 0; j < W; ++j) lane_index[j] = static_cast<T>(j + 1);
  const V lanes1 = V::load(lane_index);  // (1, 2, …, W)
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h)
      for (Index n = 0; n < N2; ++n) {
        const std::complex<double> lz(log_z(h, n, 0), log_z(h, n, 1));
        const detail::LanePowers<T> lp(lz);
        for (Index d = 0; d < dirs; ++d) {
          const T* g = &dk(d, h, 0);
          V qr = V::zero(), qi = V::zero(), rr = V::zero(), ri = V::zero();
          for (Index l0 = 0; l0 < L; l0 += detail::kVandermondeBlock * W) {
            V pr, pi;
            lp.seed(lz, l0, pr, pi);
            const Index l1 = std::min(L, l0 + detail::kVandermondeBlock * W);
            for (Index l = l0; l < l1; l += W) {
              const int n_g = static_cast<int>(std::min<Index>(W, l1 - l));      // g_l valid lanes
              const int n_g1 = static_cast<int>(std::min<Index>(W, L - 1 - l));  // g_{l+1} valid lanes
              const V gl = n_g == W ? V::load(g + l) : V::load_partial(g + l, n_g);
              const V gl1 = n_g1 >= W ? V::load(g + l + 1) : (n_g1 > 0 ? V::load_partial(g + l + 1, n_g1) : V::zero());
              const V coef = gl1 * (lanes1 + V(static_cast<T>(l)));
              qr = simd::fma(gl, pr, qr);
              qi = simd::fma(gl, pi, qi);
              rr = simd::fma(coef, pr, rr);
              ri = simd::fma(coef, pi, ri);
              detail::advance(pr, pi, lp.step);
            }
          }
          q(d, h, n, 0) = qr.sum();
          q(d, h, n, 1) = qi.sum();
          r(d, h, n, 0) = rr.sum();
          r(d, h, n, 1) = ri.sum();
        }
      }
  });
}

}  // namespace ssm::backend
