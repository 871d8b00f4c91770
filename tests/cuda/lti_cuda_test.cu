// tests/cuda/lti_cuda_test.cu — the Cuda kernels of the LTI layers (Vandermonde, Cauchy, FFT convolution and
// the plain batched FFTs) against the scalar backend in double, on fresh random inputs, with every output poisoned
// first: one and two directions, odd and power-of-two lengths, L = 1, zero and partial sequence lengths.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "cuda_test_util.cuh"
#include "ssm/backend/cuda/lti.cuh"
#include "ssm/backend/scalar/cauchy.hpp"
#include "ssm/backend/scalar/fft_conv.hpp"
#include "ssm/backend/scalar/vandermonde.hpp"

using namespace ssm;
using test::check_pair;
using test::Pair;

namespace {

template <class T, class V>
View<V, 4> view4(V* p, Index a, Index b, Index c, Index d) {
  return View<V, 4>(p, {a, b, c, d});
}

/// Stable modes: log z with real part in [−0.3, −0.005] and phase in [−3, 3], stored {H, N2, 2}.
template <class T>
Pair<T> random_log_z(Index H, Index N2, Rng& rng) {
  std::vector<double> v(static_cast<std::size_t>(H * N2 * 2));
  for (Index i = 0; i < H * N2; ++i) {
    v[2 * i] = rng.uniform(-0.3, -0.005);
    v[2 * i + 1] = rng.uniform(-3.0, 3.0);
  }
  return Pair<T>(std::move(v));
}

template <class T>
void vandermonde_case(Index dirs, Index H, Index N2, Index L, std::uint64_t seed) {
  INFO("dirs=" << dirs << " H=" << H << " N2=" << N2 << " L=" << L);
  Rng rng(seed);
  auto lz = random_log_z<T>(H, N2, rng);
  auto w = Pair<T>::random(dirs * H * N2 * 2, rng);
  auto k = Pair<T>::poisoned(dirs * H * L);
  backend::vandermonde_forward(backend::Scalar{}, CView<double, 3>(lz.h(H, N2, 2)),
                               CView<double, 4>(view4<double>(w.host.data(), dirs, H, N2, 2)), k.h(dirs, H, L));
  backend::vandermonde_forward(backend::Cuda{}, CView<T, 3>(lz.d(H, N2, 2)),
                               CView<T, 4>(view4<T>(w.dev.data(), dirs, H, N2, 2)), k.d(dirs, H, L));
  check_pair(k, "vandermonde kernel");

  auto dk = Pair<T>::random(dirs * H * L, rng);
  auto q = Pair<T>::poisoned(dirs * H * N2 * 2), r = Pair<T>::poisoned(dirs * H * N2 * 2);
  backend::vandermonde_backward(backend::Scalar{}, CView<double, 3>(lz.h(H, N2, 2)), CView<double, 3>(dk.h(dirs, H, L)),
                                view4<double>(q.host.data(), dirs, H, N2, 2), view4<double>(r.host.data(), dirs, H, N2, 2));
  backend::vandermonde_backward(backend::Cuda{}, CView<T, 3>(lz.d(H, N2, 2)), CView<T, 3>(dk.d(dirs, H, L)),
                                view4<T>(q.dev.data(), dirs, H, N2, 2), view4<T>(r.dev.data(), dirs, H, N2, 2));
  // r sums l·dk over L terms: its magnitude grows like L², so the absolute tolerance scales with it.
  const double scale = static_cast<double>(std::max<Index>(1, L));
  check_pair(q, "vandermonde q", test::rtol_for<T>(), test::atol_for<T>() * scale);
  check_pair(r, "vandermonde r", test::rtol_for<T>(), test::atol_for<T>() * scale * scale);
}

/// The Cauchy sums as S4 calls them (bilinear): a_k = 1 − z_k, β_k = (1 + z_k)/2 at the roots of unity z_k,
/// μ with negative real part, so no denominator comes near zero.
template <class T>
void cauchy_case(Index H, Index Tm, Index N2, Index F, std::uint64_t seed) {
  INFO("H=" << H << " Tm=" << Tm << " N2=" << N2 << " F=" << F);
  Rng rng(seed);
  std::vector<double> mu(static_cast<std::size_t>(H * N2 * 2)), a(static_cast<std::size_t>(F * 2)), beta(a.size());
  for (Index i = 0; i < H * N2; ++i) {
    mu[2 * i] = rng.uniform(-1.0, -0.1);
    mu[2 * i + 1] = rng.uniform(-5.0, 5.0);
  }
  const double n = static_cast<double>(2 * (F - 1));
  for (Index k = 0; k < F; ++k) {
    const double th = -2 * std::numbers::pi * static_cast<double>(k) / n, zr = std::cos(th), zi = std::sin(th);
    a[2 * k] = 1 - zr, a[2 * k + 1] = -zi;
    beta[2 * k] = (1 + zr) / 2, beta[2 * k + 1] = zi / 2;
  }
  Pair<T> pm(std::move(mu)), pa(std::move(a)), pb(std::move(beta));
  auto v = Pair<T>::random(H * Tm * N2 * 2, rng);
  auto out = Pair<T>::poisoned(H * Tm * F * 2);
  backend::cauchy_forward(backend::Scalar{}, CView<double, 3>(pm.h(H, N2, 2)),
                          CView<double, 4>(view4<double>(v.host.data(), H, Tm, N2, 2)), CView<double, 2>(pa.h(F, 2)),
                          CView<double, 2>(pb.h(F, 2)), view4<double>(out.host.data(), H, Tm, F, 2));
  backend::cauchy_forward(backend::Cuda{}, CView<T, 3>(pm.d(H, N2, 2)), CView<T, 4>(view4<T>(v.dev.data(), H, Tm, N2, 2)),
                          CView<T, 2>(pa.d(F, 2)), CView<T, 2>(pb.d(F, 2)), view4<T>(out.dev.data(), H, Tm, F, 2));
  check_pair(out, "cauchy forward");

  auto alpha = Pair<T>::random(H * Tm * F * 2, rng);
  auto gv = Pair<T>::poisoned(H * Tm * N2 * 2), gmu = Pair<T>::poisoned(H * N2 * 2);
  backend::cauchy_backward(backend::Scalar{}, CView<double, 3>(pm.h(H, N2, 2)),
                           CView<double, 4>(view4<double>(v.host.data(), H, Tm, N2, 2)), CView<double, 2>(pa.h(F, 2)),
                           CView<double, 2>(pb.h(F, 2)), CView<double, 4>(view4<double>(alpha.host.data(), H, Tm, F, 2)),
                           view4<double>(gv.host.data(), H, Tm, N2, 2), gmu.h(H, N2, 2));
  backend::cauchy_backward(backend::Cuda{}, CView<T, 3>(pm.d(H, N2, 2)), CView<T, 4>(view4<T>(v.dev.data(), H, Tm, N2, 2)),
                           CView<T, 2>(pa.d(F, 2)), CView<T, 2>(pb.d(F, 2)),
                           CView<T, 4>(view4<T>(alpha.dev.data(), H, Tm, F, 2)), view4<T>(gv.dev.data(), H, Tm, N2, 2),
                           gmu.d(H, N2, 2));
  const double scale = static_cast<double>(F);  // sums over F frequencies
  check_pair(gv, "cauchy g_v", test::rtol_for<T>(), test::atol_for<T>() * scale);
  check_pair(gmu, "cauchy g_mu", test::rtol_for<T>(), test::atol_for<T>() * scale);
}

template <class T>
void conv_case(Index dirs, Index Bn, Index L, Index H, bool with_lengths, std::uint64_t seed) {
  INFO("dirs=" << dirs << " Bn=" << Bn << " L=" << L << " H=" << H << " lengths=" << with_lengths);
  Rng rng(seed);
  const Index n = backend::fft_conv_size(L), F = n / 2 + 1;
  auto k = Pair<T>::random(dirs * H * L, rng, -0.5, 0.5);
  auto spec = Pair<T>::poisoned(H * F * 2);
  backend::lti_spectrum(backend::Scalar{}, CView<double, 3>(k.h(dirs, H, L)), spec.h(H, F, 2));
  backend::lti_spectrum(backend::Cuda{}, CView<T, 3>(k.d(dirs, H, L)), spec.d(H, F, 2));
  check_pair(spec, "lti spectrum", test::rtol_for<T>(), test::atol_for<T>() * std::sqrt(static_cast<double>(L)));

  std::vector<std::int32_t> len(static_cast<std::size_t>(Bn), static_cast<std::int32_t>(L));
  if (with_lengths) {
    for (auto& x : len) x = static_cast<std::int32_t>(rng.uniform_int(L + 1));
    len[0] = 0;
    if (Bn > 1) len[1] = static_cast<std::int32_t>(L);
  }
  auto dlen = test::upload_ints(len);
  const CView<std::int32_t, 1> hl = with_lengths ? CView<std::int32_t, 1>(len.data(), {Bn}) : CView<std::int32_t, 1>();
  const CView<std::int32_t, 1> dl = with_lengths ? CView<std::int32_t, 1>(dlen.data(), {Bn}) : CView<std::int32_t, 1>();

  auto x = Pair<T>::random(Bn * L * H, rng), d = Pair<T>::random(H, rng);
  auto y = Pair<T>::poisoned(Bn * L * H);
  backend::lti_conv_forward(backend::Scalar{}, CView<double, 3>(x.h(Bn, L, H)), hl, CView<double, 3>(spec.h(H, F, 2)),
                            CView<double, 1>(d.h1()), y.h(Bn, L, H));
  backend::lti_conv_forward(backend::Cuda{}, CView<T, 3>(x.d(Bn, L, H)), dl, CView<T, 3>(spec.d(H, F, 2)),
                            CView<T, 1>(d.d1()), y.d(Bn, L, H));
  check_pair(y, "lti conv y");

  auto dy = Pair<T>::random(Bn * L * H, rng);
  auto dx = Pair<T>::poisoned(Bn * L * H), dk = Pair<T>::poisoned(dirs * H * L);
  auto dd = Pair<T>::random(H, rng);  // accumulates
  backend::lti_conv_backward(backend::Scalar{}, CView<double, 3>(x.h(Bn, L, H)), hl, CView<double, 3>(spec.h(H, F, 2)),
                             CView<double, 1>(d.h1()), CView<double, 3>(dy.h(Bn, L, H)), dx.h(Bn, L, H),
                             dk.h(dirs, H, L), dd.h1());
  backend::lti_conv_backward(backend::Cuda{}, CView<T, 3>(x.d(Bn, L, H)), dl, CView<T, 3>(spec.d(H, F, 2)),
                             CView<T, 1>(d.d1()), CView<T, 3>(dy.d(Bn, L, H)), dx.d(Bn, L, H), dk.d(dirs, H, L),
                             dd.d1());
  const double sums = std::sqrt(static_cast<double>(Bn * L));
  check_pair(dx, "lti conv dx");
  check_pair(dk, "lti conv dk", test::rtol_for<T>(), test::atol_for<T>() * sums);
  check_pair(dd, "lti conv dd", test::rtol_for<T>(), test::atol_for<T>() * sums);
}

template <class T>
void rows_case(Index R, Index L, Index n, std::uint64_t seed) {
  INFO("R=" << R << " L=" << L << " n=" << n);
  Rng rng(seed);
  const Index F = n / 2 + 1;
  auto in = Pair<T>::random(R * L, rng);
  auto spec = Pair<T>::poisoned(R * F * 2);
  backend::rfft_rows(backend::Scalar{}, CView<double, 2>(in.h(R, L)), n, spec.h(R, F, 2));
  backend::rfft_rows(backend::Cuda{}, CView<T, 2>(in.d(R, L)), n, spec.d(R, F, 2));
  check_pair(spec, "rfft rows");

  auto s2 = Pair<T>::random(R * F * 2, rng);  // not Hermitian at the real bins: both sides must ignore those parts
  auto out = Pair<T>::poisoned(R * n);
  backend::irfft_rows(backend::Scalar{}, CView<double, 3>(s2.h(R, F, 2)), out.h(R, n));
  backend::irfft_rows(backend::Cuda{}, CView<T, 3>(s2.d(R, F, 2)), out.d(R, n));
  check_pair(out, "irfft rows");
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE_TEMPLATE("LTI: Vandermonde kernel and its adjoint against the scalar backend", T, float, double) {
  std::uint64_t seed = 300;
  for (Index dirs : {1, 2}) {
    vandermonde_case<T>(dirs, 3, 5, 1, seed++);
    vandermonde_case<T>(dirs, 4, 7, 70, seed++);
    vandermonde_case<T>(dirs, 2, 32, 517, seed++);
  }
}

TEST_CASE_TEMPLATE("LTI: Cauchy sums and their adjoint against the scalar backend", T, float, double) {
  cauchy_case<T>(2, 4, 6, 2, 400);
  cauchy_case<T>(3, 4, 16, 65, 401);
  cauchy_case<T>(1, 1, 3, 257, 402);
}

TEST_CASE_TEMPLATE("LTI: FFT convolution, spectrum and adjoint against the scalar backend", T, float, double) {
  std::uint64_t seed = 500;
  for (Index dirs : {1, 2})
    for (bool lengths : {false, true}) {
      conv_case<T>(dirs, 2, 1, 3, lengths, seed++);
      conv_case<T>(dirs, 3, 37, 5, lengths, seed++);
      conv_case<T>(dirs, 2, 256, 4, lengths, seed++);
    }
}

TEST_CASE_TEMPLATE("LTI: batched real FFTs of rows against the scalar backend", T, float, double) {
  rows_case<T>(3, 10, 16, 600);
  rows_case<T>(2, 33, 33, 601);  // odd n: no Nyquist bin
  rows_case<T>(1, 1, 2, 602);
}

TEST_CASE("LTI: a spectrum too short for the kernel is an error naming the shapes") {
  Rng rng(7);
  auto k = Pair<float>::random(8, rng);
  auto spec = Pair<float>::poisoned(5 * 2);
  CHECK_THROWS_WITH_AS(backend::lti_spectrum(backend::Cuda{}, CView<float, 3>(k.d(1, 1, 8)), spec.d(1, 5, 2)),
                       doctest::Contains("lti_spectrum: expected spec"), ssm::Error);
}

}  // TEST_SUITE
