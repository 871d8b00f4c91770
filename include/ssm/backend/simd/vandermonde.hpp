// ssm/backend/simd/vandermonde.hpp — the S4D Vandermonde kernel (backend/scalar/vandermonde.hpp) vectorised over
// time: lanes hold z^{l}, …, z^{l+W−1}, advanced by one multiplication by z^W per vector and re-seeded every
// kBlock vectors as z^{l₀}·z^{lane}, with z^{l₀} carried in double (one multiplication by z^{kBlock·W} per block),
// so the error stays at a few tens of ulps of T. The forward walks several modes per pass over k: their power
// recurrences are independent chains, which hides the latency of each (one chain alone is latency-bound).
#pragma once

#include <complex>

#include "ssm/backend/scalar/vandermonde.hpp"
#include "ssm/backend/simd/vec.hpp"
#include "ssm/core/error.hpp"

namespace ssm::backend {

namespace detail {

inline constexpr Index kVandermondeBlock = 16;  // vectors between re-seeds

/// z^{lane} for lane < W, z^W, and the seeds z^{l₀} of successive blocks (l₀ = 0, kBlock·W, …) in double.
template <class T>
struct LanePowers {
  simd::Vec<T> re, im;
  std::complex<T> step;
  std::complex<double> seed_z = 1, block_step;  // z^{l₀} of the next block; z^{kBlock·W}
  LanePowers() = default;
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
    block_step = std::exp(static_cast<double>(kVandermondeBlock * W) * lz);
  }
  /// z^{l₀ + lane} for the next block, whose start l₀ advances by kBlock·W per call (the first call gives l₀ = 0).
  /// The seed is a running product in double: after j blocks its relative error is about j·2⁻⁵³, far below T's
  /// rounding for any L this library handles, and it costs one complex multiplication instead of an exp and a sincos.
  SSM_ALWAYS_INLINE void next_seed(simd::Vec<T>& pr, simd::Vec<T>& pi) {
    using V = simd::Vec<T>;
    const V sr(static_cast<T>(seed_z.real())), si(static_cast<T>(seed_z.imag()));
    pr = sr * re - si * im;
    pi = sr * im + si * re;
    seed_z = cmul(seed_z, block_step);
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

namespace detail {

/// Adds the M modes n0 … n0+M−1 of channel h to every direction's kernel row, one pass over k per block.
template <int M, class T>
SSM_ALWAYS_INLINE void vandermonde_modes(const CView<T, 3>& log_z, const CView<T, 4>& w, const View<T, 3>& k, Index h,
                                         Index n0) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  constexpr Index kMaxDirs = 2;
  const Index dirs = k.extent(0), L = k.extent(2);
  LanePowers<T> lp[M];
  V wr[kMaxDirs][M], wi[kMaxDirs][M];
  for (int m = 0; m < M; ++m) {
    lp[m] = LanePowers<T>(std::complex<double>(log_z(h, n0 + m, 0), log_z(h, n0 + m, 1)));
    for (Index d = 0; d < dirs; ++d) {
      wr[d][m] = V(T(2) * w(d, h, n0 + m, 0));
      wi[d][m] = V(T(-2) * w(d, h, n0 + m, 1));
    }
  }
  for (Index l0 = 0; l0 < L; l0 += kVandermondeBlock * W) {
    V pr[M], pi[M];
    for (int m = 0; m < M; ++m) lp[m].next_seed(pr[m], pi[m]);
    const Index l1 = std::min(L, l0 + kVandermondeBlock * W);
    for (Index l = l0; l < l1; l += W) {
      const int lanes = static_cast<int>(std::min<Index>(W, l1 - l));
      for (Index d = 0; d < dirs; ++d) {
        T* kp = &k(d, h, l);
        V acc = lanes == W ? V::load(kp) : V::load_partial(kp, lanes);
        for (int m = 0; m < M; ++m) acc = simd::fma(wr[d][m], pr[m], simd::fma(wi[d][m], pi[m], acc));
        if (lanes == W)
          acc.store(kp);
        else
          acc.store_partial(kp, lanes);
      }
      for (int m = 0; m < M; ++m) advance(pr[m], pi[m], lp[m].step);
    }
  }
}

}  // namespace detail

/// Same contract as the Scalar overload.
template <Real T>
void vandermonde_forward(Simd, CView<T, 3> log_z, CView<T, 4> w, View<T, 3> k) {
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), N2 = log_z.extent(1);
  SSM_CHECK(dirs <= 2, "Vandermonde kernel: at most 2 directions, found ", dirs);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h) {
      for (Index d = 0; d < dirs; ++d)
        for (Index l = 0; l < L; ++l) k(d, h, l) = T(0);
      Index n = 0;
      for (; n + 4 <= N2; n += 4) detail::vandermonde_modes<4>(log_z, w, k, h, n);
      for (; n < N2; ++n) detail::vandermonde_modes<1>(log_z, w, k, h, n);
    }
  });
}

namespace detail {

/// q and r of the M modes n0 … n0+M−1 of channel h in direction d: g_l and (l+1)·g_{l+1} are loaded once per
/// vector for all M modes, and the M power recurrences are independent chains.
template <int M, class T>
SSM_ALWAYS_INLINE void vandermonde_adjoint_modes(const CView<T, 3>& log_z, const CView<T, 3>& dk, const View<T, 4>& q,
                                                 const View<T, 4>& r, Index d, Index h, Index n0) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const Index L = dk.extent(2);
  T lane_index[W];
  for (int j = 0; j < W; ++j) lane_index[j] = static_cast<T>(j + 1);
  const V lanes1 = V::load(lane_index);  // (1, 2, …, W)
  LanePowers<T> lp[M];
  V qr[M], qi[M], rr[M], ri[M];
  for (int m = 0; m < M; ++m) {
    lp[m] = LanePowers<T>(std::complex<double>(log_z(h, n0 + m, 0), log_z(h, n0 + m, 1)));
    qr[m] = qi[m] = rr[m] = ri[m] = V::zero();
  }
  const T* g = &dk(d, h, 0);
  for (Index l0 = 0; l0 < L; l0 += kVandermondeBlock * W) {
    V pr[M], pi[M];
    for (int m = 0; m < M; ++m) lp[m].next_seed(pr[m], pi[m]);
    const Index l1 = std::min(L, l0 + kVandermondeBlock * W);
    for (Index l = l0; l < l1; l += W) {
      const int n_g = static_cast<int>(std::min<Index>(W, l1 - l));      // g_l valid lanes
      const int n_g1 = static_cast<int>(std::min<Index>(W, L - 1 - l));  // g_{l+1} valid lanes
      const V gl = n_g == W ? V::load(g + l) : V::load_partial(g + l, n_g);
      const V gl1 = n_g1 >= W ? V::load(g + l + 1) : (n_g1 > 0 ? V::load_partial(g + l + 1, n_g1) : V::zero());
      const V coef = gl1 * (lanes1 + V(static_cast<T>(l)));
      for (int m = 0; m < M; ++m) {
        qr[m] = simd::fma(gl, pr[m], qr[m]);
        qi[m] = simd::fma(gl, pi[m], qi[m]);
        rr[m] = simd::fma(coef, pr[m], rr[m]);
        ri[m] = simd::fma(coef, pi[m], ri[m]);
        advance(pr[m], pi[m], lp[m].step);
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    q(d, h, n0 + m, 0) = qr[m].sum();
    q(d, h, n0 + m, 1) = qi[m].sum();
    r(d, h, n0 + m, 0) = rr[m].sum();
    r(d, h, n0 + m, 1) = ri[m].sum();
  }
}

}  // namespace detail

/// Same contract as the Scalar overload: q = Σ_l g_l z^l and r = Σ_m (m+1) g_{m+1} z^m (the same sum as
/// Σ_l l g_l z^{l−1}, written so that no lane ever needs z^{−1}).
template <Real T>
void vandermonde_backward(Simd, CView<T, 3> log_z, CView<T, 3> dk, View<T, 4> q, View<T, 4> r) {
  const Index dirs = dk.extent(0), H = dk.extent(1), N2 = log_z.extent(1);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    for (Index h = h0; h < h1; ++h)
      for (Index d = 0; d < dirs; ++d) {
        Index n = 0;
        for (; n + 4 <= N2; n += 4) detail::vandermonde_adjoint_modes<4>(log_z, dk, q, r, d, h, n);
        for (; n < N2; ++n) detail::vandermonde_adjoint_modes<1>(log_z, dk, q, r, d, h, n);
      }
  });
}

}  // namespace ssm::backend
