// ssm/backend/simd/fft_conv.hpp — the LTI layers' FFT convolution (backend/scalar/fft_conv.hpp) vectorised across
// channels: W channels ride in the lanes of one vector, so every butterfly of a radix-2 complex FFT works on W
// independent transforms at once with broadcast twiddles, and x, y, dy, dx ({B, L, H}, channels contiguous) are
// read and written a row of W channels at a time instead of one strided element per channel.
//
// Real signals go through complex transforms in pairs: two sequences b, b+1 of a channel block become
// z = x_b + i·x_{b+1}. A convolution with a real kernel is linear, so irfft(Ĝ ⊙ Z) = y_b + i·y_{b+1} with Ĝ the
// Hermitian full spectrum; where two spectra must be separated (the kernel gradient Σ_b DY_b·conj(U_b), and the
// two directions of a bidirectional kernel) they are recovered from Z[f] and conj(Z[n−f]).
// Same contracts as the Scalar overloads; results agree with them to rounding (the sums run in another order).
#pragma once

#include <cmath>
#include <deque>
#include <numbers>
#include <vector>

#include "ssm/backend/scalar/fft_conv.hpp"
#include "ssm/backend/simd/vec.hpp"

namespace ssm::backend {

namespace detail {

/// Twiddles and bit reversal of an n-point complex FFT (n a power of two), built in double and kept per thread.
template <class T>
struct LaneFftPlan {
  Index n = 0;
  std::vector<T> cos, sin;  // cos, sin of 2πj/n for j < n/2
  std::vector<Index> rev;   // bit-reversed index
};

template <class T>
const LaneFftPlan<T>& lane_fft_plan(Index n) {
  thread_local std::deque<LaneFftPlan<T>> plans;  // a deque: adding a plan never moves the others
  for (const auto& p : plans)
    if (p.n == n) return p;
  SSM_CHECK(n >= 1 && (n & (n - 1)) == 0, "lane FFT: n must be a power of two, found ", n);
  LaneFftPlan<T> p;
  p.n = n;
  p.cos.resize(static_cast<std::size_t>(n / 2));
  p.sin.resize(p.cos.size());
  for (Index j = 0; j < n / 2; ++j) {
    const double a = 2.0 * std::numbers::pi * static_cast<double>(j) / static_cast<double>(n);
    p.cos[static_cast<std::size_t>(j)] = static_cast<T>(std::cos(a));
    p.sin[static_cast<std::size_t>(j)] = static_cast<T>(std::sin(a));
  }
  p.rev.resize(static_cast<std::size_t>(n));
  int bits = 0;
  while ((Index{1} << bits) < n) ++bits;
  for (Index i = 0; i < n; ++i) {
    Index r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    p.rev[static_cast<std::size_t>(i)] = r;
  }
  plans.push_back(std::move(p));
  return plans.back();
}

/// Cache blocking of the lane FFTs (powers of two, in entries of one vector of re and one of im): the stages of
/// span ≤ kL1Fft run block by block over blocks that fill L1 (256 · 2 · 64 B = 32 KiB with AVX-512), the stages up
/// to kL2Fft over blocks that sit in L2 (512 KiB), and only wider stages walk the whole array. Measured with
/// lti_bench BM_FftConv (docs/performance.md): L1-sized blocks doubled the speed at n ≤ 2048.
inline constexpr Index kL1Fft = 256;
inline constexpr Index kL2Fft = 4096;

/// Calls bf(a, a + len/2, wr, wi) for every butterfly of the stage of span len over [begin, end) (a multiple of
/// len), with the twiddle wr + i·wi = e^{∓2πi·j/len} (− when `negative`) of the butterfly's offset j in its group.
template <class T, class F>
SSM_ALWAYS_INLINE void lane_stage(const LaneFftPlan<T>& plan, Index len, Index begin, Index end, bool negative,
                                  F&& bf) {
  using V = simd::Vec<T>;
  const Index half = len / 2, step = plan.n / len;
  for (Index j = 0; j < half; ++j) {
    const T c = plan.cos[static_cast<std::size_t>(j * step)], sn = plan.sin[static_cast<std::size_t>(j * step)];
    const V wr(c), wi(negative ? -sn : sn);
    for (Index a = begin + j; a < end; a += len) bf(a, a + half, wr, wi);
  }
}

/// The forward transform (e^{−2πi·jk/n}) of W sequences at once, in place, decimation in frequency: re, im hold n
/// vectors in natural order (entry t of lane l at t·W + l) and come out in bit-reversed order (frequency f at
/// position rev[f]). The convolutions multiply spectra position by position, so they never need natural order.
template <class T>
void lane_fft_forward(T* re, T* im, const LaneFftPlan<T>& plan) {
  using V = simd::Vec<T>;
  constexpr Index W = V::W;
  const Index n = plan.n;
  const auto stage = [&](Index len, Index begin, Index end) {
    lane_stage(plan, len, begin, end, true, [&](Index a, Index b, V wr, V wi) {
      const V ar = V::load(re + a * W), ai = V::load(im + a * W), br = V::load(re + b * W), bi = V::load(im + b * W);
      const V dr = ar - br, di = ai - bi;
      (ar + br).store(re + a * W);
      (ai + bi).store(im + a * W);
      simd::fma(dr, wr, -(di * wi)).store(re + b * W);
      simd::fma(dr, wi, di * wr).store(im + b * W);
    });
  };
  // Widest stages first (decimation in frequency): whole array, then L2 blocks, then L1 blocks.
  const Index l1 = std::min(n, kL1Fft), l2 = std::min(n, kL2Fft);
  for (Index len = n; len > l2; len /= 2) stage(len, 0, n);
  for (Index base = 0; base < n; base += l2)
    for (Index len = l2; len > l1; len /= 2) stage(len, base, base + l2);
  for (Index base = 0; base < n; base += l1)
    for (Index len = l1; len >= 2; len /= 2) stage(len, base, base + l1);
}

/// The inverse transform (e^{+2πi·jk/n}, unscaled), decimation in time: bit-reversed order in, natural order out.
template <class T>
void lane_fft_inverse(T* re, T* im, const LaneFftPlan<T>& plan) {
  using V = simd::Vec<T>;
  constexpr Index W = V::W;
  const Index n = plan.n;
  const auto stage = [&](Index len, Index begin, Index end) {
    lane_stage(plan, len, begin, end, false, [&](Index a, Index b, V wr, V wi) {
      const V br = V::load(re + b * W), bi = V::load(im + b * W);
      const V tr = simd::fma(br, wr, -(bi * wi)), ti = simd::fma(br, wi, bi * wr);
      const V ar = V::load(re + a * W), ai = V::load(im + a * W);
      (ar - tr).store(re + b * W);
      (ai - ti).store(im + b * W);
      (ar + tr).store(re + a * W);
      (ai + ti).store(im + a * W);
    });
  };
  // Narrowest stages first (decimation in time): L1 blocks, then L2 blocks, then the whole array.
  const Index l1 = std::min(n, kL1Fft), l2 = std::min(n, kL2Fft);
  for (Index base = 0; base < n; base += l1)
    for (Index len = 2; len <= l1; len *= 2) stage(len, base, base + l1);
  for (Index base = 0; base < n; base += l2)
    for (Index len = 2 * l1; len <= l2; len *= 2) stage(len, base, base + l2);
  for (Index len = 2 * l2; len <= n; len *= 2) stage(len, 0, n);
}

/// Per-thread scratch of the lane convolutions: `count` arrays of n vectors.
template <class T>
T* lane_scratch(Index n, int count) {
  thread_local std::vector<T> s;
  const auto need = static_cast<std::size_t>(n * simd::Vec<T>::W * count);
  if (s.size() < need) s.resize(need);
  return s.data();
}

/// The full spectrum Ĝ of channels h0 … h0+nl−1 in lane arrays, in bit-reversed order (frequency f at position
/// rev[f]), times `scale`, conjugated when asked: Ĝ[f] = spec[f] for f ≤ n/2 and conj(spec[n − f]) above (the
/// spectrum of a real kernel is Hermitian).
template <class T>
void expand_spectrum(const View<const T, 3>& spec, Index h0, int nl, const LaneFftPlan<T>& plan, T scale,
                     bool conjugate, T* gr, T* gi) {
  constexpr Index W = simd::Vec<T>::W;
  const Index n = plan.n, F = n / 2 + 1;
  const T si = conjugate ? -scale : scale;
  for (Index f = 0; f < n; ++f) {
    const Index p = plan.rev[static_cast<std::size_t>(f)];
    const bool low = f < F;
    const Index g = low ? f : n - f;
    const T sign = low ? si : -si;
    for (Index l = 0; l < W; ++l) {
      gr[p * W + l] = l < nl ? scale * spec(h0 + l, g, 0) : T(0);
      gi[p * W + l] = l < nl ? sign * spec(h0 + l, g, 1) : T(0);
    }
  }
}

/// (re, im)[f] ← (re, im)[f] · (gr, gi)[f] for f < n.
template <class T>
SSM_ALWAYS_INLINE void lane_cmul(T* re, T* im, const T* gr, const T* gi, Index n) {
  using V = simd::Vec<T>;
  constexpr Index W = V::W;
  for (Index f = 0; f < n; ++f) {
    const V ar = V::load(re + f * W), ai = V::load(im + f * W), br = V::load(gr + f * W), bi = V::load(gi + f * W);
    simd::fma(ar, br, -(ai * bi)).store(re + f * W);
    simd::fma(ar, bi, ai * br).store(im + f * W);
  }
}

inline bool channels_contiguous(Index stride) { return stride == 1; }

}  // namespace detail

/// Same contract as the Scalar overload.
template <Real T>
void lti_spectrum(Simd, CView<T, 3> k, View<T, 3> spec) {
  using V = simd::Vec<T>;
  constexpr Index W = V::W;
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  SSM_CHECK(n >= 2 * L && spec.extent(0) == H && spec.extent(2) == 2 && spec.is_contiguous(),
            "lti_spectrum: expected spec {", H, ", >= ", L + 1, ", 2}, found ", shape_string(spec));
  SSM_CHECK(dirs == 1 || dirs == 2, "lti_spectrum: 1 or 2 directions, found ", dirs);
  if ((n & (n - 1)) != 0) return lti_spectrum(Scalar{}, k, spec);
  const Index blocks = (H + W - 1) / W;
  parallel_for(blocks, 1, [=](Index q0, Index q1) {
    const auto& plan = detail::lane_fft_plan<T>(n);
    T* const re = detail::lane_scratch<T>(n, 2);
    T* const im = re + n * W;
    for (Index q = q0; q < q1; ++q) {
      const Index h0 = q * W;
      const int nl = static_cast<int>(std::min<Index>(W, H - h0));
      // z = K_f + i·K_b, lanes = channels.
      for (Index t = 0; t < n; ++t)
        for (Index l = 0; l < W; ++l) {
          const bool in = t < L && l < nl;
          re[t * W + l] = in ? k(0, h0 + l, t) : T(0);
          im[t * W + l] = in && dirs == 2 ? k(1, h0 + l, t) : T(0);
        }
      detail::lane_fft_forward(re, im, plan);  // bit-reversed: frequency f at position rev[f]
      for (Index f = 0; f < F; ++f) {
        const Index pf = plan.rev[static_cast<std::size_t>(f)], pm = plan.rev[static_cast<std::size_t>((n - f) & (n - 1))];
        for (Index l = 0; l < nl; ++l) {
          const T zr = re[pf * W + l], zi = im[pf * W + l];
          if (dirs == 1) {
            spec(h0 + l, f, 0) = zr;
            spec(h0 + l, f, 1) = zi;
          } else {  // Ĝ = rfft(K_f) + conj(rfft(K_b)) = A + conj(B), A = (Z[f] + conj Z[m])/2, B = (Z[f] − conj Z[m])/2i
            const T yr = re[pm * W + l], yi = im[pm * W + l];
            spec(h0 + l, f, 0) = T(0.5) * (zr + yr + zi + yi);
            spec(h0 + l, f, 1) = T(0.5) * (zi - yi + zr - yr);
          }
        }
      }
    }
  });
}

/// Same contract as the Scalar overload.
template <Real T>
void lti_conv_forward(Simd, CView<T, 3> x, CView<std::int32_t, 1> lengths, CView<T, 3> spec, CView<T, 1> d,
                      View<T, 3> y) {
  using V = simd::Vec<T>;
  constexpr Index W = V::W;
  const Index Bn = x.extent(0), L = x.extent(1), H = x.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  if ((n & (n - 1)) != 0 || !detail::channels_contiguous(x.stride(2)) || !detail::channels_contiguous(y.stride(2)))
    return lti_conv_forward(Scalar{}, x, lengths, spec, d, y);
  const Index blocks = (H + W - 1) / W;
  parallel_for(blocks, 1, [=](Index q0, Index q1) {
    const auto& plan = detail::lane_fft_plan<T>(n);
    T* const re = detail::lane_scratch<T>(n, 4);
    T* const im = re + n * W;
    T* const gr = im + n * W;
    T* const gi = gr + n * W;
    for (Index q = q0; q < q1; ++q) {
      const Index h0 = q * W;
      const int nl = static_cast<int>(std::min<Index>(W, H - h0));
      detail::expand_spectrum(spec, h0, nl, plan, T(1) / static_cast<T>(n), false, gr, gi);
      const simd::Lanes<T> io{nl};
      const V dv = io.load(&d(h0));
      for (Index b = 0; b < Bn; b += 2) {
        const bool pair = b + 1 < Bn;
        const Index la = detail::valid_length(lengths, b, L), lb = pair ? detail::valid_length(lengths, b + 1, L) : 0;
        for (Index t = 0; t < n; ++t) {
          (t < la ? io.load(&x(b, t, h0)) : V::zero()).store(re + t * W);
          (t < lb ? io.load(&x(b + 1, t, h0)) : V::zero()).store(im + t * W);
        }
        detail::lane_fft_forward(re, im, plan);
        detail::lane_cmul(re, im, gr, gi, n);  // both in bit-reversed order
        detail::lane_fft_inverse(re, im, plan);
        for (Index t = 0; t < L; ++t) {
          io.store(simd::fma(dv, io.load(&x(b, t, h0)), V::load(re + t * W)), &y(b, t, h0));
          if (pair)
            io.store(simd::fma(dv, io.load(&x(b + 1, t, h0)), V::load(im + t * W)), &y(b + 1, t, h0));
        }
      }
    }
  });
}

/// Same contract as the Scalar overload.
template <Real T>
void lti_conv_backward(Simd, CView<T, 3> x, CView<std::int32_t, 1> lengths, CView<T, 3> spec, CView<T, 1> d,
                       CView<T, 3> dy, View<T, 3> dx, View<T, 3> dk, View<T, 1> dd) {
  using V = simd::Vec<T>;
  constexpr Index W = V::W;
  const Index Bn = x.extent(0), L = x.extent(1), H = x.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  const Index dirs = dk.extent(0);
  const bool want_dx = !dx.empty();
  if ((n & (n - 1)) != 0 || !detail::channels_contiguous(x.stride(2)) || !detail::channels_contiguous(dy.stride(2)) ||
      (want_dx && !detail::channels_contiguous(dx.stride(2))))
    return lti_conv_backward(Scalar{}, x, lengths, spec, d, dy, dx, dk, dd);
  const Index blocks = (H + W - 1) / W;
  parallel_for(blocks, 1, [=](Index q0, Index q1) {
    const auto& plan = detail::lane_fft_plan<T>(n);
    T* const zr = detail::lane_scratch<T>(n, 8);  // DY pair
    T* const zi = zr + n * W;
    T* const wr = zi + n * W;  // work: dx pair, then U pair
    T* const wi = wr + n * W;
    T* const gr = wi + n * W;  // conj(Ĝ)/n
    T* const gi = gr + n * W;
    T* const ar = gi + n * W;  // Σ_b DY_b · conj(U_b), full spectrum
    T* const ai = ar + n * W;
    const V half(T(0.5));
    for (Index q = q0; q < q1; ++q) {
      const Index h0 = q * W;
      const int nl = static_cast<int>(std::min<Index>(W, H - h0));
      if (want_dx) detail::expand_spectrum(spec, h0, nl, plan, T(1) / static_cast<T>(n), true, gr, gi);
      const simd::Lanes<T> io{nl};
      const V dv = io.load(&d(h0));
      for (Index f = 0; f < n; ++f) {
        V::zero().store(ar + f * W);
        V::zero().store(ai + f * W);
      }
      V dsum = V::zero();
      for (Index b = 0; b < Bn; b += 2) {
        const bool pair = b + 1 < Bn;
        const Index la = detail::valid_length(lengths, b, L), lb = pair ? detail::valid_length(lengths, b + 1, L) : 0;
        for (Index t = 0; t < n; ++t) {
          const V ya = t < L ? io.load(&dy(b, t, h0)) : V::zero();
          const V yb = pair && t < L ? io.load(&dy(b + 1, t, h0)) : V::zero();
          ya.store(zr + t * W);
          yb.store(zi + t * W);
          if (t < L) {
            dsum = simd::fma(ya, io.load(&x(b, t, h0)), dsum);
            if (pair) dsum = simd::fma(yb, io.load(&x(b + 1, t, h0)), dsum);
          }
        }
        detail::lane_fft_forward(zr, zi, plan);  // DY_b + i·DY_{b+1}, bit-reversed
        if (want_dx) {
          std::copy(zr, zr + n * W, wr);
          std::copy(zi, zi + n * W, wi);
          detail::lane_cmul(wr, wi, gr, gi, n);
          detail::lane_fft_inverse(wr, wi, plan);
          for (Index t = 0; t < L; ++t) {
            const V ga = t < la ? V::load(wr + t * W) : V::zero();
            io.store(simd::fma(dv, io.load(&dy(b, t, h0)), ga), &dx(b, t, h0));
            if (pair) {
              const V gb = t < lb ? V::load(wi + t * W) : V::zero();
              io.store(simd::fma(dv, io.load(&dy(b + 1, t, h0)), gb), &dx(b + 1, t, h0));
            }
          }
        }
        for (Index t = 0; t < n; ++t) {  // U_b + i·U_{b+1}, each masked at its length
          (t < la ? io.load(&x(b, t, h0)) : V::zero()).store(wr + t * W);
          (t < lb ? io.load(&x(b + 1, t, h0)) : V::zero()).store(wi + t * W);
        }
        detail::lane_fft_forward(wr, wi, plan);
        // Separate the pairs: S_a[f] = (Z[f] + conj Z[m])/2, S_b[f] = (Z[f] − conj Z[m])/2i, m = n − f mod n;
        // then acc[f] += DY_a conj(U_a) + DY_b conj(U_b). Position p holds frequency rev[p]; m sits at rev[m].
        for (Index f = 0; f < n; ++f) {
          const Index m = plan.rev[static_cast<std::size_t>((n - plan.rev[static_cast<std::size_t>(f)]) & (n - 1))];
          const V zfr = V::load(zr + f * W), zfi = V::load(zi + f * W), zmr = V::load(zr + m * W), zmi = V::load(zi + m * W);
          const V ufr = V::load(wr + f * W), ufi = V::load(wi + f * W), umr = V::load(wr + m * W), umi = V::load(wi + m * W);
          const V dar = half * (zfr + zmr), dai = half * (zfi - zmi);
          const V dbr = half * (zfi + zmi), dbi = half * (zmr - zfr);
          const V uar = half * (ufr + umr), uai = half * (ufi - umi);
          const V ubr = half * (ufi + umi), ubi = half * (umr - ufr);
          // (p + iq)(r − is) = (pr + qs) + i(qr − ps)
          V accr = V::load(ar + f * W), acci = V::load(ai + f * W);
          accr = simd::fma(dar, uar, simd::fma(dai, uai, accr));
          acci = simd::fma(dai, uar, acci) - dar * uai;
          accr = simd::fma(dbr, ubr, simd::fma(dbi, ubi, accr));
          acci = simd::fma(dbi, ubr, acci) - dbr * ubi;
          accr.store(ar + f * W);
          acci.store(ai + f * W);
        }
      }
      T ds[W];
      dsum.store(ds);
      for (Index l = 0; l < nl; ++l) dd(h0 + l) += ds[l];
      detail::lane_fft_inverse(ar, ai, plan);  // the gradient of the full kernel; real up to rounding
      const T inv_n = T(1) / static_cast<T>(n);
      for (Index l = 0; l < nl; ++l) {
        for (Index t = 0; t < L; ++t) dk(0, h0 + l, t) = inv_n * ar[t * W + l];
        if (dirs == 2)
          for (Index t = 0; t < L; ++t) dk(1, h0 + l, t) = inv_n * ar[((n - t) & (n - 1)) * W + l];
      }
    }
  });
}

}  // namespace ssm::backend
