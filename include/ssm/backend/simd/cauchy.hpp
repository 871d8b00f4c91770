// ssm/backend/simd/cauchy.hpp — the S4 Cauchy sums (backend/scalar/cauchy.hpp) vectorised over frequencies:
//   out[h, t, k] = Σ_n v/(a_k − β_k μ_n) + v̄/(a_k − β_k μ̄_n),   lanes = W consecutive k.
// Per (n, block of k) the two reciprocals share one division, 1/(|d₁|²|d₂|²); every term t then costs 4 FMAs.
#pragma once

#include <complex>
#include <vector>

#include "ssm/backend/scalar/cauchy.hpp"
#include "ssm/backend/simd/vec.hpp"

namespace ssm::backend {

namespace detail {

/// Frequencies split into real and imaginary arrays padded to whole vectors (a = 1, β = 0 in the padding, so the
/// padded lanes divide by 1), plus room for per-mode vectors.
template <class T>
struct CauchyScratch {
  std::vector<T> are, aim, bre, bim;  // {Fp}
  std::vector<T> sre, sim, dre, dim;  // {N2 · W}: r₁ + r₂ and r₁ − r₂ (imaginary part r₂ − r₁), per mode
  std::vector<T> alre, alim;          // {Tm · Fp}: alpha of one channel (backward)
  void load_freqs(const CView<T, 2>& a, const CView<T, 2>& beta, Index fp) {
    const Index F = a.extent(0);
    are.assign(static_cast<std::size_t>(fp), T(1));
    aim.assign(static_cast<std::size_t>(fp), T(0));
    bre.assign(static_cast<std::size_t>(fp), T(0));
    bim.assign(static_cast<std::size_t>(fp), T(0));
    for (Index k = 0; k < F; ++k) {
      are[k] = a(k, 0);
      aim[k] = a(k, 1);
      bre[k] = beta(k, 0);
      bim[k] = beta(k, 1);
    }
  }
};

template <class T>
CauchyScratch<T>& cauchy_scratch() {
  thread_local CauchyScratch<T> s;
  return s;
}

/// r₁ = 1/(a − βμ), r₂ = 1/(a − βμ̄) for one mode over W frequencies.
template <class T>
SSM_ALWAYS_INLINE void cauchy_pair(simd::Vec<T> are, simd::Vec<T> aim, simd::Vec<T> bre, simd::Vec<T> bim, T mre,
                                   T mim, simd::Vec<T>& r1re, simd::Vec<T>& r1im, simd::Vec<T>& r2re,
                                   simd::Vec<T>& r2im) {
  using V = simd::Vec<T>;
  const V mr(mre), mi(mim);
  const V pr = bre * mr, pi = bim * mi, qr = bre * mi, qi = bim * mr;
  // d₁ = a − β μ,  d₂ = a − β μ̄
  const V d1r = are - (pr - pi), d1i = aim - (qr + qi);
  const V d2r = are - (pr + pi), d2i = aim - (qi - qr);
  const V n1 = simd::fma(d1r, d1r, d1i * d1i), n2 = simd::fma(d2r, d2r, d2i * d2i);
  const V inv = V(T(1)) / (n1 * n2);
  const V i1 = n2 * inv, i2 = n1 * inv;
  r1re = d1r * i1;
  r1im = -(d1i * i1);
  r2re = d2r * i2;
  r2im = -(d2i * i2);
}

/// TB terms at once over all modes for one block of frequencies: v r₁ + v̄ r₂ =
/// (vr·(r₁+r₂)ʳ + vi·(r₂−r₁)ⁱ) + i (vr·(r₁+r₂)ⁱ + vi·(r₁−r₂)ʳ). The four mode vectors are loaded once for all TB
/// terms, and the vr and vi halves go to separate accumulators: 4·TB independent FMA chains, so the loop runs at
/// FMA throughput instead of waiting on one chain's latency.
template <int TB, class T>
SSM_ALWAYS_INLINE void cauchy_terms(const CView<T, 4>& v, Index h, Index t0, Index N2, const CauchyScratch<T>& s,
                                    Index kb, Index lanes, const View<T, 4>& out) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  V ar[TB], ai[TB], br[TB], bi[TB];
  const T* vp[TB];
  for (int j = 0; j < TB; ++j) {
    ar[j] = ai[j] = br[j] = bi[j] = V::zero();
    vp[j] = &v(h, t0 + j, 0, 0);
  }
  const T* sre = s.sre.data();
  const T* sim = s.sim.data();
  const T* dre = s.dre.data();
  const T* dim = s.dim.data();
  for (Index n = 0; n < N2; ++n) {
    const V xr = V::load(sre + n * W), xi = V::load(sim + n * W), yr = V::load(dre + n * W), yi = V::load(dim + n * W);
    for (int j = 0; j < TB; ++j) {
      const V vr(vp[j][2 * n]), vi(vp[j][2 * n + 1]);
      ar[j] = simd::fma(vr, xr, ar[j]);
      br[j] = simd::fma(vi, yi, br[j]);
      ai[j] = simd::fma(vr, xi, ai[j]);
      bi[j] = simd::fma(vi, yr, bi[j]);
    }
  }
  for (int j = 0; j < TB; ++j) {
    T re[W], im[W];
    (ar[j] + br[j]).store(re);
    (ai[j] + bi[j]).store(im);
    for (Index q = 0; q < lanes; ++q) {
      out(h, t0 + j, kb + q, 0) = re[q];
      out(h, t0 + j, kb + q, 1) = im[q];
    }
  }
}

}  // namespace detail

/// Same contract as the Scalar overload.
template <Real T>
void cauchy_forward(Simd, CView<T, 3> mu, CView<T, 4> v, CView<T, 2> a, CView<T, 2> beta, View<T, 4> out) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const Index H = mu.extent(0), N2 = mu.extent(1), Tm = v.extent(1), F = a.extent(0);
  const Index fp = (F + W - 1) / W * W;
  parallel_for(H, 1, [=](Index h0, Index h1) {
    auto& s = detail::cauchy_scratch<T>();
    s.load_freqs(a, beta, fp);
    s.sre.resize(static_cast<std::size_t>(N2 * W));
    s.sim.resize(s.sre.size());
    s.dre.resize(s.sre.size());
    s.dim.resize(s.sre.size());
    for (Index h = h0; h < h1; ++h) {
      for (Index kb = 0; kb < fp; kb += W) {
        const V are = V::load(&s.are[kb]), aim = V::load(&s.aim[kb]), bre = V::load(&s.bre[kb]),
                bim = V::load(&s.bim[kb]);
        for (Index n = 0; n < N2; ++n) {
          V r1re, r1im, r2re, r2im;
          detail::cauchy_pair(are, aim, bre, bim, mu(h, n, 0), mu(h, n, 1), r1re, r1im, r2re, r2im);
          (r1re + r2re).store(&s.sre[n * W]);
          (r1im + r2im).store(&s.sim[n * W]);
          (r1re - r2re).store(&s.dre[n * W]);
          (r2im - r1im).store(&s.dim[n * W]);
        }
        const Index lanes = std::min<Index>(W, F - kb);
        Index t = 0;
        for (; t + 4 <= Tm; t += 4) detail::cauchy_terms<4>(v, h, t, N2, s, kb, lanes, out);
        for (; t + 2 <= Tm; t += 2) detail::cauchy_terms<2>(v, h, t, N2, s, kb, lanes, out);
        for (; t < Tm; ++t) detail::cauchy_terms<1>(v, h, t, N2, s, kb, lanes, out);
      }
    }
  });
}

/// Same contract as the Scalar overload; lanes are frequencies, summed across lanes at the end of each mode.
template <Real T>
void cauchy_backward(Simd, CView<T, 3> mu, CView<T, 4> v, CView<T, 2> a, CView<T, 2> beta, CView<T, 4> alpha,
                     View<T, 4> g_v, View<T, 3> g_mu) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const Index H = mu.extent(0), N2 = mu.extent(1), Tm = v.extent(1), F = a.extent(0);
  const Index fp = (F + W - 1) / W * W;
  parallel_for(H, 1, [=](Index h0, Index h1) {
    auto& s = detail::cauchy_scratch<T>();
    s.load_freqs(a, beta, fp);
    std::vector<V> gvr(static_cast<std::size_t>(Tm)), gvi(static_cast<std::size_t>(Tm));
    for (Index h = h0; h < h1; ++h) {
      s.alre.assign(static_cast<std::size_t>(Tm * fp), T(0));  // zero padding: padded lanes add nothing
      s.alim.assign(s.alre.size(), T(0));
      for (Index t = 0; t < Tm; ++t)
        for (Index k = 0; k < F; ++k) {
          s.alre[t * fp + k] = alpha(h, t, k, 0);
          s.alim[t * fp + k] = alpha(h, t, k, 1);
        }
      for (Index n = 0; n < N2; ++n) {
        for (Index t = 0; t < Tm; ++t) gvr[t] = gvi[t] = V::zero();
        V gmr = V::zero(), gmi = V::zero();
        const T* vp = &v(h, 0, n, 0);
        const Index vstride = v.stride(1);
        for (Index kb = 0; kb < fp; kb += W) {
          const V are = V::load(&s.are[kb]), aim = V::load(&s.aim[kb]), bre = V::load(&s.bre[kb]),
                  bim = V::load(&s.bim[kb]);
          V r1re, r1im, r2re, r2im;
          detail::cauchy_pair(are, aim, bre, bim, mu(h, n, 0), mu(h, n, 1), r1re, r1im, r2re, r2im);
          const V sre = r1re + r2re, sim = r1im + r2im, dre = r1re - r2re, dim = r2im - r1im;
          // σ = Σ_t v̄ α and τ = Σ_t v α, from four products kept in separate chains: vr·α and vi·α.
          V xr = V::zero(), xi = V::zero(), yr = V::zero(), yi = V::zero();
          for (Index t = 0; t < Tm; ++t) {
            const V alr = V::load(&s.alre[t * fp + kb]), ali = V::load(&s.alim[t * fp + kb]);
            // conj(r₁)α + r₂ conj(α)
            gvr[t] = simd::fma(alr, sre, simd::fma(ali, sim, gvr[t]));
            gvi[t] = simd::fma(ali, dre, simd::fma(alr, dim, gvi[t]));
            const V vr(vp[t * vstride]), vi(vp[t * vstride + 1]);
            xr = simd::fma(vr, alr, xr);  // Σ vr αr
            xi = simd::fma(vr, ali, xi);  // Σ vr αi
            yr = simd::fma(vi, alr, yr);  // Σ vi αr
            yi = simd::fma(vi, ali, yi);  // Σ vi αi
          }
          const V sgr = xr + yi, sgi = xi - yr, tar = xr - yi, tai = xi + yr;
          // g_μ += conj(β r₁²) σ + β r₂² conj(τ)
          const V s1r = r1re * r1re - r1im * r1im, s1i = V(T(2)) * r1re * r1im;
          const V s2r = r2re * r2re - r2im * r2im, s2i = V(T(2)) * r2re * r2im;
          const V p1r = bre * s1r - bim * s1i, p1i = bre * s1i + bim * s1r;
          const V p2r = bre * s2r - bim * s2i, p2i = bre * s2i + bim * s2r;
          gmr = simd::fma(p1r, sgr, simd::fma(p1i, sgi, simd::fma(p2r, tar, simd::fma(p2i, tai, gmr))));
          gmi = simd::fma(p1r, sgi, gmi) - p1i * sgr + (p2i * tar - p2r * tai);
        }
        for (Index t = 0; t < Tm; ++t) {
          g_v(h, t, n, 0) = gvr[t].sum();
          g_v(h, t, n, 1) = gvi[t].sum();
        }
        g_mu(h, n, 0) = gmr.sum();
        g_mu(h, n, 1) = gmi.sum();
      }
    }
  });
}

}  // namespace ssm::backend
