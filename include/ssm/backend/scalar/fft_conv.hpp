// ssm/backend/scalar/fft_conv.hpp — the long convolution of the LTI layers by FFT, per channel h:
//   y[b, t, h] = Σ_{s ≤ t} K_f[h, t−s] u[b, s, h] + Σ_{s ≥ t} K_b[h, s−t] u[b, s, h] + D[h] u[b, t, h]
// (K_b only when bidirectional), computed as irfft(Ĝ_h · rfft(u)) over n ≥ 2L points with Ĝ = rfft(K_f) + conj(rfft(K_b)),
// so neither the causal tail nor the anti-causal head wraps around. Eigen's FFT (kissfft), one plan cache per thread.
#pragma once

#include <complex>
#include <cstdint>
#include <unsupported/Eigen/FFT>
#include <vector>

#include "ssm/backend/scalar/complex_ops.hpp"
#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm::backend {

/// FFT points for a linear convolution of two length-L sequences without wrap-around: the power of two ≥ 2L.
inline Index fft_conv_size(Index length) {
  Index n = 2;
  while (n < 2 * length) n *= 2;
  return n;
}

namespace detail {

/// Eigen::FFT keeps its plans and scratch in the object, so each thread owns one (plans are reused across calls).
template <class T>
Eigen::FFT<T>& thread_fft() {
  thread_local Eigen::FFT<T> fft(typename Eigen::FFT<T>::impl_type(), Eigen::FFT<T>::HalfSpectrum);
  return fft;
}

template <class T>
struct FftScratch {
  std::vector<T> real;
  std::vector<std::complex<T>> a, b, acc;
  void resize(Index n) {
    real.resize(static_cast<std::size_t>(n));
    a.resize(static_cast<std::size_t>(n / 2 + 1));
    b.resize(static_cast<std::size_t>(n / 2 + 1));
    acc.resize(static_cast<std::size_t>(n / 2 + 1));
  }
};

template <class T>
FftScratch<T>& thread_scratch() {
  thread_local FftScratch<T> s;
  return s;
}

inline Index valid_length(const CView<std::int32_t, 1>& lengths, Index b, Index L) {
  return lengths.empty() ? L : static_cast<Index>(lengths(b));
}

}  // namespace detail

/// spec[h, f] = rfft_n(K_f[h])_f + conj(rfft_n(K_b[h])_f) for f ≤ n/2. k: {Dirs, H, L} (Dirs = 1 or 2, any
/// strides), spec: {H, n/2 + 1, 2} (re, im), n = fft_conv_size(L) or larger.
template <Real T>
void lti_spectrum(Scalar, CView<T, 3> k, View<T, 3> spec) {
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  SSM_CHECK(n >= 2 * L && spec.extent(0) == H && spec.extent(2) == 2 && spec.is_contiguous(),
            "lti_spectrum: expected spec {", H, ", >= ", L + 1, ", 2}, found ", shape_string(spec));
  parallel_for(H, 1, [=](Index h0, Index h1) {
    auto& fft = detail::thread_fft<T>();
    auto& s = detail::thread_scratch<T>();
    s.resize(n);
    for (Index h = h0; h < h1; ++h) {
      auto* g = reinterpret_cast<std::complex<T>*>(&spec(h, 0, 0));
      for (Index dir = 0; dir < dirs; ++dir) {
        for (Index l = 0; l < L; ++l) s.real[l] = k(dir, h, l);
        for (Index l = L; l < n; ++l) s.real[l] = T(0);
        fft.fwd(dir == 0 ? g : s.a.data(), s.real.data(), n);
      }
      if (dirs == 2)
        for (Index f = 0; f < F; ++f) g[f] += std::conj(s.a[f]);
    }
  });
}

/// y = (K ⋆ u) + D u as in the header, from the spectrum of lti_spectrum. x, y: {B, L, H}; d: {H}.
/// lengths: {B}, or empty for all L; when given, u is taken as zero from each sequence's length on, which is what
/// the anti-causal (bidirectional) half needs so that padding never reaches a valid position.
template <Real T>
void lti_conv_forward(Scalar, CView<T, 3> x, CView<std::int32_t, 1> lengths, CView<T, 3> spec, CView<T, 1> d,
                      View<T, 3> y) {
  const Index Bn = x.extent(0), L = x.extent(1), H = x.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  parallel_for(H, 1, [=](Index h0, Index h1) {
    auto& fft = detail::thread_fft<T>();
    auto& s = detail::thread_scratch<T>();
    s.resize(n);
    for (Index h = h0; h < h1; ++h) {
      const auto* g = reinterpret_cast<const std::complex<T>*>(&spec(h, 0, 0));
      const T dh = d(h);
      for (Index b = 0; b < Bn; ++b) {
        const Index len = detail::valid_length(lengths, b, L);
        for (Index t = 0; t < len; ++t) s.real[t] = x(b, t, h);
        for (Index t = len; t < n; ++t) s.real[t] = T(0);
        fft.fwd(s.a.data(), s.real.data(), n);
        for (Index f = 0; f < F; ++f) s.a[f] = detail::cmul(s.a[f], g[f]);
        fft.inv(s.real.data(), s.a.data(), n);
        for (Index t = 0; t < L; ++t) y(b, t, h) = s.real[t] + dh * x(b, t, h);
      }
    }
  });
}

/// The adjoint of lti_conv_forward. dx = Kᵀ ⋆ dy + D dy is overwritten (skipped when empty); dk: {Dirs, H, L},
/// the gradient of the kernels, is overwritten; dd += Σ dy·u. In frequency terms:
/// du = irfft(conj(Ĝ)·DY) (then masked), and dG = irfft(Σ_b DY_b · conj(U_b)), whose entry l is dK_f[l] and
/// whose entry n − l (mod n) is dK_b[l]. Each channel sums its batch in order, so threads do not change the bits.
template <Real T>
void lti_conv_backward(Scalar, CView<T, 3> x, CView<std::int32_t, 1> lengths, CView<T, 3> spec, CView<T, 1> d,
                       CView<T, 3> dy, View<T, 3> dx, View<T, 3> dk, View<T, 1> dd) {
  const Index Bn = x.extent(0), L = x.extent(1), H = x.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  const Index dirs = dk.extent(0);
  const bool want_dx = !dx.empty();
  parallel_for(H, 1, [=](Index h0, Index h1) {
    auto& fft = detail::thread_fft<T>();
    auto& s = detail::thread_scratch<T>();
    s.resize(n);
    for (Index h = h0; h < h1; ++h) {
      const auto* g = reinterpret_cast<const std::complex<T>*>(&spec(h, 0, 0));
      const T dh = d(h);
      T d_sum = 0;
      for (Index f = 0; f < F; ++f) s.acc[f] = 0;
      for (Index b = 0; b < Bn; ++b) {
        const Index len = detail::valid_length(lengths, b, L);
        for (Index t = 0; t < L; ++t) s.real[t] = dy(b, t, h);
        for (Index t = L; t < n; ++t) s.real[t] = T(0);
        fft.fwd(s.a.data(), s.real.data(), n);  // DY
        if (want_dx) {
          for (Index f = 0; f < F; ++f) s.b[f] = detail::cmul_conj(s.a[f], g[f]);
          fft.inv(s.real.data(), s.b.data(), n);
          for (Index t = 0; t < L; ++t) dx(b, t, h) = (t < len ? s.real[t] : T(0)) + dh * dy(b, t, h);
        }
        for (Index t = 0; t < len; ++t) s.real[t] = x(b, t, h);
        for (Index t = len; t < n; ++t) s.real[t] = T(0);
        fft.fwd(s.b.data(), s.real.data(), n);  // U (masked)
        for (Index f = 0; f < F; ++f) s.acc[f] += detail::cmul_conj(s.a[f], s.b[f]);
        for (Index t = 0; t < L; ++t) d_sum += dy(b, t, h) * x(b, t, h);
      }
      dd(h) += d_sum;
      fft.inv(s.real.data(), s.acc.data(), n);
      for (Index l = 0; l < L; ++l) dk(0, h, l) = s.real[l];
      if (dirs == 2)
        for (Index l = 0; l < L; ++l) dk(1, h, l) = s.real[(n - l) % n];
    }
  });
}

/// out[r, :] = irfft_n(spec[r, :]) with the 1/n of the inverse DFT, n = out.extent(1) (any n ≥ 1: the imaginary
/// parts of the zero and Nyquist bins are ignored, as a real signal's spectrum has none). spec: {R, n/2 + 1, 2}.
template <Real T>
void irfft_rows(Scalar, CView<T, 3> spec, View<T, 2> out) {
  const Index R = out.extent(0), n = out.extent(1);
  SSM_CHECK(spec.extent(0) == R && spec.extent(1) == n / 2 + 1 && spec.extent(2) == 2 && spec.is_contiguous(),
            "irfft_rows: expected spectra {", R, ", ", n / 2 + 1, ", 2}, found ", shape_string(spec));
  parallel_for(R, 1, [=](Index r0, Index r1) {
    auto& fft = detail::thread_fft<T>();
    auto& s = detail::thread_scratch<T>();
    s.resize(n);
    for (Index r = r0; r < r1; ++r) {
      fft.inv(s.real.data(), reinterpret_cast<const std::complex<T>*>(&spec(r, 0, 0)), n);
      for (Index l = 0; l < n; ++l) out(r, l) = s.real[l];
    }
  });
}

/// spec[r, f] = rfft_n(in[r, :])_f, the rows zero-padded from in.extent(1) to n points. spec: {R, n/2 + 1, 2}.
template <Real T>
void rfft_rows(Scalar, CView<T, 2> in, Index n, View<T, 3> spec) {
  const Index R = in.extent(0), L = in.extent(1);
  SSM_CHECK(L <= n && spec.extent(0) == R && spec.extent(1) == n / 2 + 1 && spec.extent(2) == 2 &&
                spec.is_contiguous(),
            "rfft_rows: expected spectra {", R, ", ", n / 2 + 1, ", 2} of rows of at most ", n, ", found ",
            shape_string(spec), " from rows of ", L);
  parallel_for(R, 1, [=](Index r0, Index r1) {
    auto& fft = detail::thread_fft<T>();
    auto& s = detail::thread_scratch<T>();
    s.resize(n);
    for (Index r = r0; r < r1; ++r) {
      for (Index l = 0; l < L; ++l) s.real[l] = in(r, l);
      for (Index l = L; l < n; ++l) s.real[l] = T(0);
      fft.fwd(reinterpret_cast<std::complex<T>*>(&spec(r, 0, 0)), s.real.data(), n);
    }
  });
}

}  // namespace ssm::backend
