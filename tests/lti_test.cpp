// tests/lti_test.cpp — the LTI layers LSSL, S4 and S4D: every configuration through check_layer (finite
// differences in double through the FFT, the Cauchy kernel and the matrix exponential; float vs double; poisoned
// outputs; the += / = rule; 1 vs 2 threads), kernels against naive dense references, the FFT convolution against
// the direct sum, recurrent rollout == convolution, padding in bidirectional mode, Simd against Scalar, and a
// small training run per layer whose loss must fall.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <complex>
#include <limits>
#include <numbers>
#include <unsupported/Eigen/MatrixFunctions>

#include "ssm/layers/lssl.hpp"
#include "ssm/layers/lti_mixers.hpp"
#include "ssm/layers/s4.hpp"
#include "ssm/layers/s4d.hpp"
#include "ssm/optim/adamw.hpp"
#include "test_util.hpp"

using namespace ssm;
using test::view1;
using Sc = backend::Scalar;
using Cd = std::complex<double>;

namespace {

// ---- one adaptor for every mixer, driven by a setup struct ------------------------------------------------

template <class T, class Layer, class Setup>
struct MixerOp {
  static constexpr Index Bn = Setup::Bn, L = Setup::L;
  ParamLayout layout;
  Layer layer{layout, "mixer", Setup::template config<typename Layer::Config>()};
  Parameters<T> params{layout};
  typename Layer::Cache cache;
  std::vector<std::int32_t> lengths;
  Index H = Setup::template config<typename Layer::Config>().d_model;
  Index in_size = Bn * L * H, out_size = Bn * L * H;

  explicit MixerOp(Rng& rng) {
    layer.init(layer.bind(params.values()), rng);
    // Move every parameter off its structured initial value, so no gradient hides behind a symmetry.
    for (Index i = 0; i < params.size(); ++i) params.values()[i] += static_cast<T>(rng.uniform(-0.1, 0.1));
    if (Setup::with_lengths) lengths = {static_cast<std::int32_t>(L), static_cast<std::int32_t>(L - 3)};
  }
  View<const std::int32_t, 1> lengths_view() const { return view1(lengths); }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {Bn, L, H}), lengths_view(), reshape(y, {Bn, L, H}), cache,
                  ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, H}), reshape(dx, {Bn, L, H}),
                   layer.bind(params.grads()), ctx);
  }
};

template <Index B_, Index L_, Index H_, Index N_, bool Bidir = false, bool Glu = false, bool Lengths = false,
          Index LMax = 0, bool TrainA = false, double Drop = 0.0>
struct Setup {
  static constexpr Index Bn = B_, L = L_;
  static constexpr bool with_lengths = Lengths;
  template <class Cfg>
  static Cfg config() {
    Cfg c;
    c.d_model = H_;
    c.d_state = N_;
    c.dt_min = 0.05;
    c.dt_max = 0.5;
    c.bidirectional = Bidir;
    c.glu = Glu;
    c.dropout = Drop;
    if constexpr (requires { c.l_max; }) c.l_max = LMax > 0 ? LMax : L_;
    if constexpr (requires { c.train_a; }) c.train_a = TrainA;
    return c;
  }
};

using Plain = Setup<2, 8, 3, 4>;
using Bidir = Setup<2, 8, 3, 4, true, false, true>;
using GluDrop = Setup<2, 6, 3, 4, false, true, false, 0, false, 0.25>;

template <class T>
using S4dZohOp = MixerOp<T, S4D<T, discretize::Zoh, Sc>, Plain>;
template <class T>
using S4dBilinearBidirOp = MixerOp<T, S4D<T, discretize::Bilinear, Sc>, Bidir>;
template <class T>
using S4dGluOp = MixerOp<T, S4D<T, discretize::Zoh, Sc>, GluDrop>;
template <class T>
using S4LegsOp = MixerOp<T, S4<T, hippo::LegS, discretize::Bilinear, Sc>, Setup<2, 8, 3, 4, false, false, false, 12>>;
template <class T>
using S4LegtBidirOp = MixerOp<T, S4<T, hippo::LegT, discretize::Bilinear, Sc>, Bidir>;
template <class T>
using S4FoutEulerOp = MixerOp<T, S4<T, hippo::FouT, discretize::BackwardEuler, Sc>, GluDrop>;
template <class T>
using S4ZohOp = MixerOp<T, S4<T, hippo::LegS, discretize::Zoh, Sc>, Setup<2, 6, 2, 4, false, false, false, 9>>;
template <class T>
using LsslOp = MixerOp<T, Lssl<T, hippo::LegT, discretize::Bilinear, Sc>, Plain>;
template <class T>
using LsslZohTrainAOp = MixerOp<T, Lssl<T, hippo::LegS, discretize::Zoh, Sc>, Setup<2, 6, 2, 3, false, false, false, 0, true>>;
template <class T>
using LsslBidirOp = MixerOp<T, Lssl<T, hippo::LagT, discretize::ForwardEuler, Sc>, Bidir>;

// ---- naive references -------------------------------------------------------------------------------------

/// S4's kernel from its definition, in complex arithmetic on the full N-dimensional state:
/// A = diag(Λ, Λ̄) − [P; P̄][P; P̄]*, (Ā, B̄) = Disc(A, [B; B̄], Δ) densely, C = C̃_full (I − Ā^{l_max})⁻¹,
/// K_l = Re(C Ā^l B̄).
template <class Disc, class Params>
Eigen::MatrixXd s4_reference_kernel(const Params& p, Index h, Index dir, Index rank, Index l_max, Index L) {
  const Index N2 = p.log_a_real.extent(1), N = 2 * N2;
  Eigen::MatrixXcd a = Eigen::MatrixXcd::Zero(N, N), pf(N, rank);
  Eigen::VectorXcd b(N), c(N);
  for (Index n = 0; n < N2; ++n) {
    const Cd lam(-std::exp(p.log_a_real(h, n)), p.a_imag(h, n));
    a(n, n) = lam;
    a(N2 + n, N2 + n) = std::conj(lam);
    b(n) = Cd(p.b(h, n, 0), p.b(h, n, 1));
    b(N2 + n) = std::conj(b(n));
    c(n) = Cd(p.c(dir, h, n, 0), p.c(dir, h, n, 1));
    c(N2 + n) = std::conj(c(n));
    for (Index j = 0; j < rank; ++j) {
      pf(n, j) = Cd(p.p(h, j, n, 0), p.p(h, j, n, 1));
      pf(N2 + n, j) = std::conj(pf(n, j));
    }
  }
  a -= pf * pf.adjoint();
  auto [abar, bbar] = Disc::apply(a, b, std::exp(p.log_dt(h)));
  Eigen::MatrixXcd pw = Eigen::MatrixXcd::Identity(N, N);
  for (Index l = 0; l < l_max; ++l) pw = pw * abar;
  const Eigen::RowVectorXcd cc = c.transpose() * (Eigen::MatrixXcd::Identity(N, N) - pw).inverse();
  Eigen::MatrixXd k(1, L);
  Eigen::VectorXcd v = bbar;
  for (Index l = 0; l < L; ++l) {
    const Cd kl = cc * v;
    CHECK(std::abs(kl.imag()) < 1e-9 * (1 + std::abs(kl)));
    k(0, l) = kl.real();
    v = abar * v;
  }
  return k;
}

template <class Layer>
struct Built {
  ParamLayout layout;
  Layer layer;
  Parameters<double> params;
  typename Layer::Params p;
  Built(const typename Layer::Config& cfg, std::uint64_t seed)
      : layer(layout, "m", cfg), params(layout), p(layer.bind(params.values())) {
    Rng rng(seed);
    layer.init(p, rng);
    for (Index i = 0; i < params.size(); ++i) params.values()[i] += rng.uniform(-0.05, 0.05);
  }
};

template <class Hippo, class Disc>
void check_s4_kernel(Index n_state, Index l_max, Index L, bool bidir) {
  INFO("S4 kernel vs dense reference: HiPPO-" << Hippo::name << ", " << Disc::name << ", N = " << n_state
                                              << ", l_max = " << l_max << ", L = " << L);
  using Layer = S4<double, Hippo, Disc, Sc>;
  Built<Layer> m({.d_model = 3, .d_state = n_state, .l_max = l_max, .bidirectional = bidir}, 21);
  const Index D = bidir ? 2 : 1;
  std::vector<double> k(static_cast<std::size_t>(D * 3 * L));
  Workspace ws;
  ws.set_poison(true);
  m.layer.kernel(m.p, View<double, 3>(k.data(), {D, 3, L}), Context(ws));
  double scale = 0;
  for (double v : k) scale = std::max(scale, std::abs(v));
  for (Index d = 0; d < D; ++d)
    for (Index h = 0; h < 3; ++h) {
      const Eigen::MatrixXd ref = s4_reference_kernel<Disc>(m.p, h, d, Hippo::rank, l_max, L);
      std::vector<double> got(k.begin() + (d * 3 + h) * L, k.begin() + (d * 3 + h + 1) * L);
      std::vector<double> want(ref.data(), ref.data() + L);
      test::check_close(got, want, 1e-8, 1e-10 * scale, "kernel");
    }
}

/// Direct sum y[b, t, h] = Σ_{s≤t} K_f[t−s] u[s] + Σ_{t≤s<len} K_b[s−t] u[s] + D u[t], u masked past len.
std::vector<double> direct_conv(const std::vector<double>& x, const std::vector<std::int32_t>& lengths,
                                const std::vector<double>& k, const std::vector<double>& d, Index Bn, Index L, Index H,
                                Index dirs) {
  std::vector<double> y(x.size());
  for (Index b = 0; b < Bn; ++b) {
    const Index len = lengths.empty() ? L : lengths[b];
    const auto u = [&](Index s, Index h) { return s < len ? x[(b * L + s) * H + h] : 0.0; };
    for (Index t = 0; t < L; ++t)
      for (Index h = 0; h < H; ++h) {
        double s = d[h] * x[(b * L + t) * H + h];
        for (Index j = 0; j <= t; ++j) s += k[h * L + t - j] * u(j, h);
        if (dirs == 2)
          for (Index j = t; j < L; ++j) s += k[(H + h) * L + j - t] * u(j, h);
        y[(b * L + t) * H + h] = s;
      }
  }
  return y;
}

/// Runs forward once (double, evaluation mode) and the step-by-step rollout, and compares them.
template <class Layer>
void check_rollout(const typename Layer::Config& cfg, Index Bn, Index L, double tol) {
  Built<Layer> m(cfg, 5);
  const Index H = cfg.d_model;
  Rng rng(9);
  auto x = test::random_vector<double>(Bn * L * H, rng);
  std::vector<double> y(x.size()), ys(x.size());
  Workspace ws;
  Context ctx(ws, /*training=*/false);
  typename Layer::Cache cache;
  m.layer.forward(m.p, View<const double, 3>(x.data(), {Bn, L, H}), {}, View<double, 3>(y.data(), {Bn, L, H}), cache,
                  ctx);
  auto state = m.layer.make_state(Bn);
  std::vector<double> xt(Bn * H), yt(Bn * H);
  for (Index t = 0; t < L; ++t) {
    for (Index b = 0; b < Bn; ++b)
      for (Index h = 0; h < H; ++h) xt[b * H + h] = x[(b * L + t) * H + h];
    m.layer.step(m.p, state, View<const double, 2>(xt.data(), {Bn, H}), View<double, 2>(yt.data(), {Bn, H}));
    for (Index b = 0; b < Bn; ++b)
      for (Index h = 0; h < H; ++h) ys[(b * L + t) * H + h] = yt[b * H + h];
  }
  test::check_close(ys, y, tol, tol, "step() rollout vs forward");
}

/// A small sequence-to-sequence regression inside every LTI layer's model class: the target is GELU of a fixed causal
/// filter of the input (a decaying oscillation plus a delay), per channel. Returns (first loss, last loss) of `steps` AdamW steps.
template <class Layer>
std::pair<double, double> train_filter(const typename Layer::Config& cfg, int steps, double lr) {
  const Index H = cfg.d_model, Bn = 8, L = 32;
  ParamLayout layout;
  Layer layer(layout, "m", cfg);
  Parameters<float> params(layout);
  Rng init(3);
  layer.init(layer.bind(params.values()), init);
  optim::AdamW<float> opt(layout, {.lr = lr, .weight_decay = 0.0});
  opt.set_group("ssm", {.lr = 1e-2});
  std::vector<float> filter(L);
  for (Index l = 0; l < L; ++l) filter[l] = static_cast<float>(0.5 * std::exp(-0.15 * l) * std::cos(0.6 * l) + (l == 3 ? 0.5 : 0.0));
  Workspace ws;
  Rng data(11);
  std::vector<float> x(Bn * L * H), y(x.size()), target(x.size()), dy(x.size());
  typename Layer::Cache cache;
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    for (auto& v : x) v = static_cast<float>(data.normal());
    for (Index b = 0; b < Bn; ++b)
      for (Index t = 0; t < L; ++t)
        for (Index h = 0; h < H; ++h) {
          float s = 0;
          for (Index j = 0; j <= t; ++j) s += filter[t - j] * x[(b * L + j) * H + h];
          target[(b * L + t) * H + h] = math::gelu(s);
        }
    ws.reset();
    Context ctx(ws, true, static_cast<std::uint64_t>(step));
    const auto p = layer.bind(params.values());
    layer.forward(p, View<const float, 3>(x.data(), {Bn, L, H}), {}, View<float, 3>(y.data(), {Bn, L, H}), cache, ctx);
    double loss = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double e = y[i] - target[i];
      loss += e * e / static_cast<double>(y.size());
      dy[i] = static_cast<float>(2 * e / static_cast<double>(y.size()));
    }
    if (step == 0) first = loss;
    last = loss;
    params.zero_grad();
    layer.backward(p, cache, View<const float, 3>(dy.data(), {Bn, L, H}), View<float, 3>(),
                   layer.bind(params.grads()), ctx);
    opt.step(params.value_view(), params.grad_view());
  }
  return {first, last};
}

}  // namespace

TEST_SUITE("lti") {

TEST_CASE("gradients: S4D (ZOH; bilinear bidirectional with lengths; GLU + dropout)") {
  test::check_layer<S4dZohOp>("S4D zoh");
  test::check_layer<S4dBilinearBidirOp>("S4D bilinear bidirectional");
  test::check_layer<S4dGluOp>("S4D glu dropout");
}

TEST_CASE("gradients: S4 through the Cauchy kernel (LegS; LegT rank 2 bidirectional; FouT backward Euler + GLU)") {
  test::check_layer<S4LegsOp>("S4 legs bilinear, l_max > L");
  test::check_layer<S4LegtBidirOp>("S4 legt bilinear bidirectional");
  test::check_layer<S4FoutEulerOp>("S4 fout backward Euler glu");
}

TEST_CASE("gradients: S4 with ZOH (dense path) and LSSL (fixed and trained A, bidirectional)") {
  test::check_layer<S4ZohOp>("S4 legs zoh");
  test::check_layer<LsslOp>("LSSL legt bilinear");
  test::check_layer<LsslZohTrainAOp>("LSSL legs zoh, trained A");
  test::check_layer<LsslBidirOp>("LSSL lagt forward Euler bidirectional");
}

TEST_CASE("S4 kernel: Cauchy + Woodbury at the roots of unity equals the dense naive kernel") {
  check_s4_kernel<hippo::LegS, discretize::Bilinear>(8, 16, 16, false);
  check_s4_kernel<hippo::LegS, discretize::Bilinear>(16, 33, 20, true);  // odd l_max, L < l_max
  check_s4_kernel<hippo::LegT, discretize::Bilinear>(8, 16, 16, false);  // rank 2
  check_s4_kernel<hippo::LagT, discretize::ForwardEuler>(8, 12, 12, false);
  check_s4_kernel<hippo::FouT, discretize::BackwardEuler>(8, 16, 10, false);
  check_s4_kernel<hippo::LegS, discretize::Gbt<0.3>>(6, 10, 10, false);
  check_s4_kernel<hippo::LegS, discretize::Zoh>(8, 16, 16, false);  // the dense path
}

TEST_CASE("S4D kernel: the Vandermonde product equals Σ 2 Re(C B̄ Ā^l) from the dense diagonal discretization") {
  using Layer = S4D<double, discretize::Zoh, Sc>;
  for (S4DInit init : {S4DInit::Lin, S4DInit::Inv, S4DInit::Real, S4DInit::Legs}) {
    Built<Layer> m({.d_model = 2, .d_state = 8, .init = init}, 4);
    const Index L = 300, H = 2, N2 = 4;  // longer than the re-seeding interval
    Rng rng(1);
    std::vector<double> x(L * H, 0.0), y(L * H);
    x[0] = 1.0;
    x[1] = 1.0;  // an impulse in both channels at t = 0: y = K + D δ, before the output mixing
    Workspace ws;
    Context ctx(ws);
    typename Layer::Cache cache;
    m.layer.forward(m.p, View<const double, 3>(x.data(), {1, L, H}), {}, View<double, 3>(y.data(), {1, L, H}), cache,
                    ctx);
    for (Index h = 0; h < H; ++h) {
      Eigen::VectorXcd lam(N2), b(N2);
      for (Index n = 0; n < N2; ++n) {
        lam(n) = Cd(-std::exp(m.p.log_a_real(h, n)), m.p.a_imag(h, n));
        b(n) = Cd(m.p.b(h, n, 0), m.p.b(h, n, 1));
      }
      auto [abar, bbar] = discretize::Zoh::apply(lam, b, std::exp(m.p.log_dt(h)));
      std::vector<double> got(L), want(L);
      for (Index l = 0; l < L; ++l) {
        got[l] = cache.k(0, h, l);
        Cd s = 0;
        for (Index n = 0; n < N2; ++n) s += Cd(m.p.c(0, h, n, 0), m.p.c(0, h, n, 1)) * bbar(n) * std::pow(abar(n), double(l));
        want[l] = 2 * s.real();
      }
      test::check_close(got, want, 1e-10, 1e-12, "S4D kernel");
    }
  }
}

TEST_CASE("FFT convolution equals the direct sum, causal and two-sided with per-sequence lengths") {
  const Index Bn = 3, L = 13, H = 2;
  Rng rng(8);
  const auto x = test::random_vector<double>(Bn * L * H, rng);
  const auto d = test::random_vector<double>(H, rng);
  for (Index dirs : {1, 2}) {
    const auto k = test::random_vector<double>(dirs * H * L, rng);
    const std::vector<std::int32_t> lengths = dirs == 2 ? std::vector<std::int32_t>{13, 5, 1} : std::vector<std::int32_t>{};
    const Index n = backend::fft_conv_size(L);
    std::vector<double> spec(H * (n / 2 + 1) * 2), y(x.size());
    backend::lti_spectrum(Sc{}, View<const double, 3>(k.data(), {dirs, H, L}), View<double, 3>(spec.data(), {H, n / 2 + 1, 2}));
    backend::lti_conv_forward(Sc{}, View<const double, 3>(x.data(), {Bn, L, H}), view1(lengths),
                              View<const double, 3>(spec.data(), {H, n / 2 + 1, 2}), view1(d),
                              View<double, 3>(y.data(), {Bn, L, H}));
    const auto want = direct_conv(x, lengths, k, d, Bn, L, H, dirs);
    test::check_close(y, want, 1e-12, 1e-12, dirs == 1 ? "causal convolution" : "two-sided convolution");
  }
}

/// The Simd FFT convolution (channels in lanes, sequences in complex pairs) against the Scalar one, on shapes with
/// odd batch sizes, channel counts that are not a multiple of the vector width, L = 1 and per-sequence lengths;
/// every output poisoned first, dd accumulating onto a non-zero start.
template <class T>
void check_simd_fft_conv(Index Bn, Index L, Index H, Index dirs, bool with_lengths, bool want_dx, std::uint64_t seed) {
  INFO("B = " << Bn << ", L = " << L << ", H = " << H << ", dirs = " << dirs << ", lengths " << with_lengths
              << ", dx " << want_dx << ", " << (sizeof(T) == 4 ? "float" : "double"));
  Rng rng(seed);
  const Index n = backend::fft_conv_size(L), F = n / 2 + 1;
  const auto x = test::random_vector<T>(Bn * L * H, rng), dy = test::random_vector<T>(Bn * L * H, rng);
  const auto k = test::random_vector<T>(dirs * H * L, rng), d = test::random_vector<T>(H, rng);
  std::vector<std::int32_t> lengths;
  if (with_lengths)
    for (Index b = 0; b < Bn; ++b) lengths.push_back(static_cast<std::int32_t>(1 + rng.uniform_int(static_cast<std::uint64_t>(L))));
  const T nan = std::numeric_limits<T>::quiet_NaN();
  struct Out {
    std::vector<T> spec, y, dx, dk, dd;
  };
  const auto run = [&](auto backend) {
    Out o{std::vector<T>(H * F * 2, nan), std::vector<T>(x.size(), nan), std::vector<T>(want_dx ? x.size() : 0, nan),
          std::vector<T>(dirs * H * L, nan), std::vector<T>(H, T(0.5))};
    const View<const T, 3> xv(x.data(), {Bn, L, H}), sv(o.spec.data(), {H, F, 2});
    backend::lti_spectrum(backend, View<const T, 3>(k.data(), {dirs, H, L}), View<T, 3>(o.spec.data(), {H, F, 2}));
    backend::lti_conv_forward(backend, xv, view1(std::as_const(lengths)), sv, view1(d), View<T, 3>(o.y.data(), {Bn, L, H}));
    backend::lti_conv_backward(backend, xv, view1(std::as_const(lengths)), sv, view1(d),
                               View<const T, 3>(dy.data(), {Bn, L, H}),
                               want_dx ? View<T, 3>(o.dx.data(), {Bn, L, H}) : View<T, 3>(),
                               View<T, 3>(o.dk.data(), {dirs, H, L}), View<T, 1>(o.dd.data(), {H}));
    return o;
  };
  const Out want = run(Sc{}), got = run(backend::Simd{});
  const double tol = sizeof(T) == 4 ? 2e-5 : 1e-12;
  const auto close = [&](const std::vector<T>& g, const std::vector<T>& w, const char* what) {
    double scale = 1;
    for (T v : w) scale = std::max(scale, std::abs(double(v)));
    test::check_close(g, w, tol, tol * scale, what);
  };
  close(got.spec, want.spec, "spectrum");
  close(got.y, want.y, "y");
  close(got.dx, want.dx, "dx");
  close(got.dk, want.dk, "dk");
  close(got.dd, want.dd, "dd");
}

TEST_CASE("Simd FFT convolution equals Scalar: spectrum, forward, backward; pairs, odd shapes, lengths") {
  std::uint64_t seed = 40;
  // n = 2L rounded up to a power of two: 2 … 128 inside one L1 block, 1024 over L1 and L2 blocks, 8192 over all
  // three levels of the transform's cache blocking.
  for (auto [Bn, L, H] : {std::tuple<Index, Index, Index>{1, 1, 1}, {3, 13, 5}, {2, 64, 17}, {5, 40, 33}, {4, 7, 16},
                          {3, 300, 17}, {1, 2100, 3}})
    for (Index dirs : {1, 2})
      for (bool lengths : {false, true}) {
        seed += 2;
        check_simd_fft_conv<float>(Bn, L, H, dirs, lengths, true, seed);
        check_simd_fft_conv<double>(Bn, L, H, dirs, lengths, /*want_dx=*/(seed & 2) != 0, seed + 1);
      }
}

TEST_CASE("bidirectional: values in the padding never change a valid output") {
  const Index Bn = 2, L = 9, H = 3;
  std::vector<std::int32_t> lengths{9, 4};
  const auto run = [&](auto& m, const std::vector<double>& x) {
    std::vector<double> y(x.size());
    Workspace ws;
    Context ctx(ws);
    typename std::remove_reference_t<decltype(m.layer)>::Cache cache;
    m.layer.forward(m.p, View<const double, 3>(x.data(), {Bn, L, H}), view1(std::as_const(lengths)),
                    View<double, 3>(y.data(), {Bn, L, H}), cache, ctx);
    return y;
  };
  Rng rng(2);
  const auto x = test::random_vector<double>(Bn * L * H, rng);
  auto garbage = x;
  for (Index t = 4; t < L; ++t)
    for (Index h = 0; h < H; ++h) garbage[(1 * L + t) * H + h] = 1e3 * (t + h);
  Built<S4D<double, discretize::Zoh, Sc>> s4d({.d_model = H, .d_state = 4, .bidirectional = true}, 1);
  Built<S4<double, hippo::LegS, discretize::Bilinear, Sc>> s4({.d_model = H, .d_state = 4, .l_max = L, .bidirectional = true}, 1);
  Built<Lssl<double, hippo::LegS, discretize::Bilinear, Sc>> lssl({.d_model = H, .d_state = 4, .bidirectional = true}, 1);
  for (auto [name, y1, y2] : {std::tuple{"S4D", run(s4d, x), run(s4d, garbage)}, std::tuple{"S4", run(s4, x), run(s4, garbage)},
                              std::tuple{"LSSL", run(lssl, x), run(lssl, garbage)}}) {
    INFO(name);
    for (Index b = 0; b < Bn; ++b)
      for (Index t = 0; t < lengths[b]; ++t)
        for (Index h = 0; h < H; ++h) CHECK(y1[(b * L + t) * H + h] == doctest::Approx(y2[(b * L + t) * H + h]).epsilon(1e-12));
  }
  // And a bidirectional layer reads the future: changing the last valid input changes the first output.
  auto later = x;
  later[(1 * L + 3) * H + 0] += 1.0;
  CHECK(run(s4d, later)[(1 * L + 0) * H + 0] != run(s4d, x)[(1 * L + 0) * H + 0]);
}

TEST_CASE("recurrent step(): the rollout equals the convolution (every layer, with and without GLU)") {
  check_rollout<S4D<double, discretize::Zoh, Sc>>({.d_model = 3, .d_state = 8}, 2, 150, 1e-9);
  check_rollout<S4D<double, discretize::Bilinear, Sc>>({.d_model = 3, .d_state = 6, .init = S4DInit::Inv, .glu = true}, 2, 20, 1e-9);
  check_rollout<S4<double, hippo::LegS, discretize::Bilinear, Sc>>({.d_model = 3, .d_state = 8, .l_max = 64}, 2, 40, 1e-9);
  check_rollout<S4<double, hippo::LegT, discretize::Zoh, Sc>>({.d_model = 2, .d_state = 6, .l_max = 24, .glu = true}, 1, 24, 1e-9);
  check_rollout<Lssl<double, hippo::LegT, discretize::Bilinear, Sc>>({.d_model = 3, .d_state = 6}, 2, 30, 1e-9);
  check_rollout<Lssl<double, hippo::FouT, discretize::Zoh, Sc>>({.d_model = 2, .d_state = 6, .train_a = true, .glu = true}, 1, 20, 1e-9);
  // The Simd step (vector dot products per row of Ā): N = 22 runs the two-vector loop, one vector and a tail.
  check_rollout<S4<double, hippo::LegS, discretize::Bilinear, backend::Simd>>({.d_model = 2, .d_state = 22, .l_max = 32}, 2, 32, 1e-9);
  check_rollout<Lssl<double, hippo::LegS, discretize::Zoh, backend::Simd>>({.d_model = 2, .d_state = 22}, 1, 25, 1e-9);
  check_rollout<S4D<double, discretize::Zoh, backend::Simd>>({.d_model = 2, .d_state = 22, .bidirectional = false}, 1, 300, 1e-9);
}

TEST_CASE_TEMPLATE("Simd kernels equal Scalar on fresh random inputs (lengths that leave vector tails)", T, float, double) {
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  const auto close = [&](const std::vector<T>& a, const std::vector<T>& b, const char* what) {
    double scale = 0;
    for (T x : b) scale = std::max(scale, std::abs(double(x)));
    test::check_close(a, b, tol, tol * scale, what);
  };
  Rng rng(77);
  {
    const Index H = 3, N2 = 5, Tm = 6, lm = 71, F = lm / 2 + 1;
    std::vector<T> mu(H * N2 * 2), v = test::random_vector<T>(H * Tm * N2 * 2, rng), a(F * 2), beta(F * 2);
    for (Index i = 0; i < H * N2; ++i) {
      mu[2 * i] = static_cast<T>(-rng.uniform(0.01, 1.0));
      mu[2 * i + 1] = static_cast<T>(rng.uniform(-5.0, 5.0));
    }
    for (Index k = 0; k < F; ++k) {
      const Cd z = std::polar(1.0, -2 * std::numbers::pi * k / lm), be = 0.3 + 0.7 * z;
      a[2 * k] = static_cast<T>(1 - z.real());
      a[2 * k + 1] = static_cast<T>(-z.imag());
      beta[2 * k] = static_cast<T>(be.real());
      beta[2 * k + 1] = static_cast<T>(be.imag());
    }
    const View<const T, 3> muv(mu.data(), {H, N2, 2});
    const View<const T, 4> vv(v.data(), {H, Tm, N2, 2});
    const View<const T, 2> av(a.data(), {F, 2}), bv(beta.data(), {F, 2});
    std::vector<T> o1(H * Tm * F * 2), o2(o1.size());
    backend::cauchy_forward(Sc{}, muv, vv, av, bv, View<T, 4>(o1.data(), {H, Tm, F, 2}));
    backend::cauchy_forward(backend::Simd{}, muv, vv, av, bv, View<T, 4>(o2.data(), {H, Tm, F, 2}));
    close(o2, o1, "Cauchy sums, Simd vs Scalar");
    const auto alpha = test::random_vector<T>(H * Tm * F * 2, rng);
    std::vector<T> gv1(v.size()), gv2(v.size()), gm1(mu.size()), gm2(mu.size());
    backend::cauchy_backward(Sc{}, muv, vv, av, bv, View<const T, 4>(alpha.data(), {H, Tm, F, 2}),
                             View<T, 4>(gv1.data(), {H, Tm, N2, 2}), View<T, 3>(gm1.data(), {H, N2, 2}));
    backend::cauchy_backward(backend::Simd{}, muv, vv, av, bv, View<const T, 4>(alpha.data(), {H, Tm, F, 2}),
                             View<T, 4>(gv2.data(), {H, Tm, N2, 2}), View<T, 3>(gm2.data(), {H, N2, 2}));
    close(gv2, gv1, "Cauchy adjoint (coefficients), Simd vs Scalar");
    close(gm2, gm1, "Cauchy adjoint (mu), Simd vs Scalar");
  }
  {
    const Index D = 2, H = 2, N2 = 6, L = 1001;  // a group of 4 modes and 2 single ones; several blocks and a tail
    std::vector<T> lz(H * N2 * 2), w = test::random_vector<T>(D * H * N2 * 2, rng);
    for (Index i = 0; i < H * N2; ++i) {
      lz[2 * i] = static_cast<T>(-rng.uniform(1e-3, 0.05));
      lz[2 * i + 1] = static_cast<T>(rng.uniform(-3.0, 3.0));
    }
    const View<const T, 3> lzv(lz.data(), {H, N2, 2});
    std::vector<T> k1(D * H * L), k2(k1.size());
    backend::vandermonde_forward(Sc{}, lzv, View<const T, 4>(w.data(), {D, H, N2, 2}), View<T, 3>(k1.data(), {D, H, L}));
    backend::vandermonde_forward(backend::Simd{}, lzv, View<const T, 4>(w.data(), {D, H, N2, 2}),
                                 View<T, 3>(k2.data(), {D, H, L}));
    close(k2, k1, "Vandermonde kernel, Simd vs Scalar");
    const auto g = test::random_vector<T>(D * H * L, rng);
    std::vector<T> q1(D * H * N2 * 2), q2(q1.size()), r1(q1.size()), r2(q1.size());
    backend::vandermonde_backward(Sc{}, lzv, View<const T, 3>(g.data(), {D, H, L}), View<T, 4>(q1.data(), {D, H, N2, 2}),
                                  View<T, 4>(r1.data(), {D, H, N2, 2}));
    backend::vandermonde_backward(backend::Simd{}, lzv, View<const T, 3>(g.data(), {D, H, L}),
                                  View<T, 4>(q2.data(), {D, H, N2, 2}), View<T, 4>(r2.data(), {D, H, N2, 2}));
    close(q2, q1, "Vandermonde adjoint q, Simd vs Scalar");
    close(r2, r1, "Vandermonde adjoint r, Simd vs Scalar");
  }
}

/// The same layer on the Scalar and the Simd backend, same parameters and inputs: outputs and every gradient.
template <class LayerScalar, class LayerSimd>
void check_simd_layer(const typename LayerScalar::Config& cfg, Index Bn, Index L, double tol) {
  using T = std::remove_cvref_t<decltype(*std::declval<typename LayerScalar::Params>().log_dt.data())>;
  ParamLayout l1, l2;
  LayerScalar a(l1, "m", cfg);
  LayerSimd b(l2, "m", cfg);
  Parameters<T> pa(l1), pb(l2);
  Rng rng(31);
  a.init(a.bind(pa.values()), rng);
  for (Index i = 0; i < pa.size(); ++i) pb.values()[i] = pa.values()[i];
  const Index H = cfg.d_model;
  const auto x = test::random_vector<T>(Bn * L * H, rng), dy = test::random_vector<T>(Bn * L * H, rng);
  std::vector<T> ya(x.size()), yb(x.size()), dxa(x.size()), dxb(x.size());
  Workspace ws;
  Context ctx(ws, true, 3);
  typename LayerScalar::Cache ca;
  typename LayerSimd::Cache cb;
  a.forward(a.bind(pa.values()), View<const T, 3>(x.data(), {Bn, L, H}), {}, View<T, 3>(ya.data(), {Bn, L, H}), ca, ctx);
  b.forward(b.bind(pb.values()), View<const T, 3>(x.data(), {Bn, L, H}), {}, View<T, 3>(yb.data(), {Bn, L, H}), cb, ctx);
  a.backward(a.bind(pa.values()), ca, View<const T, 3>(dy.data(), {Bn, L, H}), View<T, 3>(dxa.data(), {Bn, L, H}),
             a.bind(pa.grads()), ctx);
  b.backward(b.bind(pb.values()), cb, View<const T, 3>(dy.data(), {Bn, L, H}), View<T, 3>(dxb.data(), {Bn, L, H}),
             b.bind(pb.grads()), ctx);
  const std::vector<T> ga(pa.grads(), pa.grads() + pa.size()), gb(pb.grads(), pb.grads() + pb.size());
  for (auto [what, u, w] : {std::tuple{"output", &yb, &ya}, std::tuple{"dx", &dxb, &dxa}}) {
    double scale = 0;
    for (T v : *w) scale = std::max(scale, std::abs(double(v)));
    test::check_close(*u, *w, tol, tol * scale, what);
  }
  double scale = 0;
  for (T v : ga) scale = std::max(scale, std::abs(double(v)));
  test::check_close(gb, ga, tol, tol * scale, "parameter gradients");
}

TEST_CASE("Simd layers equal Scalar layers: S4 (Cauchy path), S4D (bidirectional), float and double") {
  check_simd_layer<S4<float, hippo::LegS, discretize::Bilinear, Sc>, S4<float, hippo::LegS, discretize::Bilinear, backend::Simd>>(
      {.d_model = 5, .d_state = 16, .l_max = 100}, 2, 77, 1e-4);
  check_simd_layer<S4<double, hippo::LegT, discretize::Bilinear, Sc>, S4<double, hippo::LegT, discretize::Bilinear, backend::Simd>>(
      {.d_model = 3, .d_state = 10, .l_max = 50, .bidirectional = true}, 2, 50, 1e-11);
  check_simd_layer<S4D<float, discretize::Zoh, Sc>, S4D<float, discretize::Zoh, backend::Simd>>(
      {.d_model = 5, .d_state = 16, .bidirectional = true}, 2, 333, 1e-4);
  check_simd_layer<S4D<double, discretize::Bilinear, Sc>, S4D<double, discretize::Bilinear, backend::Simd>>(
      {.d_model = 3, .d_state = 8, .init = S4DInit::Inv}, 1, 129, 1e-11);
}

/// The evaluation-mode kernel memo: a second evaluation forward with the same parameters and length reuses the
/// kernel and its spectrum and gives the same bits; any change of a parameter the kernel depends on is a miss
/// whose result equals a fresh layer's; a change elsewhere (D) is a hit and still equals a fresh layer's; training
/// forwards bypass it, and backward refuses an evaluation forward's cache.
template <class Layer, class KernelParams>
void check_kernel_memo(const typename Layer::Config& cfg, KernelParams kernel_params) {
  const Index Bn = 2, L = 12, L2 = 7, H = cfg.d_model;
  Built<Layer> m(cfg, 7);
  Rng rng(5);
  const auto x = test::random_vector<double>(Bn * L * H, rng), x2 = test::random_vector<double>(Bn * L2 * H, rng);
  const auto run = [&](Built<Layer>& b, const std::vector<double>& in, Index len) {
    std::vector<double> y(in.size(), std::numeric_limits<double>::quiet_NaN());  // poisoned
    Workspace ws;
    Context ctx(ws);
    typename Layer::Cache cache;
    b.layer.forward(b.p, View<const double, 3>(in.data(), {Bn, len, H}), {}, View<double, 3>(y.data(), {Bn, len, H}),
                    cache, ctx);
    return y;
  };
  const auto fresh = [&](const std::vector<double>& in, Index len) {  // same parameter values, an empty memo
    Built<Layer> f(cfg, 7);
    std::copy(m.params.values(), m.params.values() + m.params.size(), f.params.values());
    return run(f, in, len);
  };
  const auto hits = [&] {  // the kernel's spectrum is kept beside it, so the two memos hit together
    CHECK(m.layer.kernel_memo().spectrum_hits() == m.layer.kernel_memo().hits());
    return m.layer.kernel_memo().hits();
  };
  const auto y1 = run(m, x, L);
  CHECK(hits() == 0);
  CHECK(run(m, x, L) == y1);
  CHECK(hits() == 1);
  CHECK(run(m, x2, L2) == fresh(x2, L2));  // another length: a miss, kept beside the first
  CHECK(hits() == 1);
  CHECK(run(m, x, L) == y1);
  CHECK(hits() == 2);
  for (double* v : kernel_params(m.p)) {
    *v += 1e-3;
    const auto got = run(m, x, L);
    CHECK(hits() == 2);
    CHECK(got == fresh(x, L));
  }
  m.p.shell.d(0) += 0.25;  // not in the kernel
  const auto got = run(m, x, L);
  CHECK(hits() == 3);
  CHECK(got == fresh(x, L));
  {
    Workspace ws;
    Context train(ws, true, 1), eval(ws);
    typename Layer::Cache cache;
    std::vector<double> y(x.size()), dx(x.size());
    m.layer.forward(m.p, View<const double, 3>(x.data(), {Bn, L, H}), {}, View<double, 3>(y.data(), {Bn, L, H}),
                    cache, train);
    CHECK(hits() == 3);
    m.layer.forward(m.p, View<const double, 3>(x.data(), {Bn, L, H}), {}, View<double, 3>(y.data(), {Bn, L, H}),
                    cache, eval);
    CHECK(hits() == 4);
    CHECK_THROWS_AS(m.layer.backward(m.p, cache, View<const double, 3>(y.data(), {Bn, L, H}),
                                     View<double, 3>(dx.data(), {Bn, L, H}), m.layer.bind(m.params.grads()), eval),
                    ssm::Error);
  }
}

TEST_CASE("evaluation forwards reuse the LTI kernel while its parameters and the length are unchanged") {
  SUBCASE("S4D") {
    check_kernel_memo<S4D<double, discretize::Zoh, Sc>>(
        {.d_model = 3, .d_state = 8, .bidirectional = true},
        [](const auto& p) { return std::vector<double*>{p.log_dt.data(), p.log_a_real.data() + 1, p.a_imag.data() + 2,
                                                        p.b.data() + 3, p.c.data() + p.c.size() - 1}; });
  }
  SUBCASE("S4 (Cauchy)") {
    check_kernel_memo<S4<double, hippo::LegS, discretize::Bilinear, Sc>>(
        {.d_model = 2, .d_state = 8, .l_max = 16},
        [](const auto& p) { return std::vector<double*>{p.log_dt.data() + 1, p.log_a_real.data(), p.a_imag.data() + 1,
                                                        p.p.data() + 2, p.b.data(), p.c.data() + 3}; });
  }
  SUBCASE("LSSL (trained A)") {
    check_kernel_memo<Lssl<double, hippo::LegT, discretize::Bilinear, Sc>>(
        {.d_model = 2, .d_state = 6, .train_a = true},
        [](const auto& p) { return std::vector<double*>{p.log_dt.data(), p.a.data() + 7, p.b.data() + 1, p.c.data() + 2}; });
  }
}

TEST_CASE("the parameter groups: Δ, A/Λ, P and B in 'ssm' without weight decay; C in the default group") {
  ParamLayout layout;
  S4<float> s4(layout, "s4", {.d_model = 4, .d_state = 8, .l_max = 16});
  for (const char* name : {"s4.log_dt", "s4.log_a_real", "s4.a_imag", "s4.P", "s4.B"}) {
    const ParamInfo* e = layout.find(name);
    REQUIRE(e != nullptr);
    CHECK(e->options.group == "ssm");
    CHECK_FALSE(e->options.weight_decay);
  }
  CHECK(layout.find("s4.C")->options.group == "default");
  CHECK_FALSE(layout.find("s4.D")->options.weight_decay);
  ParamLayout l2;
  Lssl<float> lssl(l2, "l", {.d_model = 2, .d_state = 4, .train_a = true});
  CHECK(l2.find("l.A")->options.group == "ssm");
}

TEST_CASE("the required spellings compile and run: S4<float, LegS, Zoh, Simd> and Lssl<double, LegT, Bilinear, Scalar>") {
  {
    using Layer = S4<float, hippo::LegS, discretize::Zoh, backend::Simd>;
    ParamLayout layout;
    Layer layer(layout, "s4", {.d_model = 4, .d_state = 8, .l_max = 16});
    Parameters<float> params(layout);
    Rng rng(1);
    layer.init(layer.bind(params.values()), rng);
    std::vector<float> x(2 * 16 * 4, 0.5f), y(x.size()), dx(x.size());
    Workspace ws;
    Context ctx(ws, true, 1);
    Layer::Cache cache;
    layer.forward(layer.bind(params.values()), View<const float, 3>(x.data(), {2, 16, 4}), {},
                  View<float, 3>(y.data(), {2, 16, 4}), cache, ctx);
    layer.backward(layer.bind(params.values()), cache, View<const float, 3>(y.data(), {2, 16, 4}),
                   View<float, 3>(dx.data(), {2, 16, 4}), layer.bind(params.grads()), ctx);
    for (float v : y) CHECK(std::isfinite(v));
    for (float v : dx) CHECK(std::isfinite(v));
  }
  {
    using Layer = Lssl<double, hippo::LegT, discretize::Bilinear, backend::Scalar>;
    ParamLayout layout;
    Layer layer(layout, "lssl", {.d_model = 3, .d_state = 8});
    Parameters<double> params(layout);
    Rng rng(1);
    layer.init(layer.bind(params.values()), rng);
    std::vector<double> x(2 * 10 * 3, 0.25), y(x.size());
    Workspace ws;
    Context ctx(ws);
    Layer::Cache cache;
    layer.forward(layer.bind(params.values()), View<const double, 3>(x.data(), {2, 10, 3}), {},
                  View<double, 3>(y.data(), {2, 10, 3}), cache, ctx);
    for (double v : y) CHECK(std::isfinite(v));
  }
  // The short spellings use the defaults: S4<float> = S4<float, LegS, Bilinear, Simd>; S4D<float> uses ZOH.
  static_assert(std::is_same_v<S4<float>, S4<float, hippo::LegS, discretize::Bilinear, backend::Simd>>);
  static_assert(std::is_same_v<S4D<float>, S4D<float, discretize::Zoh, backend::Simd>>);
  static_assert(std::is_same_v<Lssl<float>, Lssl<float, hippo::LegS, discretize::Bilinear, backend::Simd>>);
}

/// The mixer interface a model generic over Mixer<T, Backend> relies on (models/sequence_model.hpp's SequenceMixer).
template <class M, class T>
concept MixerLike = requires(const M& m, ParamLayout& layout, const typename M::Params& p, typename M::Cache& cache,
                             typename M::State& state, const Context& ctx, Rng& rng, T* base, typename M::Config cfg) {
  cfg.d_model;
  { M(layout, std::string_view{}, std::declval<const typename M::Config&>()) };
  { m.bind(base) } -> std::same_as<typename M::Params>;
  m.init(p, rng);
  m.forward(p, View<const T, 3>(), View<const std::int32_t, 1>(), View<T, 3>(), cache, ctx);
  m.backward(p, std::as_const(cache), View<const T, 3>(), View<T, 3>(), p, ctx);
  { m.make_state(Index{1}) } -> std::same_as<typename M::State>;
  m.step(p, state, View<const T, 2>(), View<T, 2>());
};
template <template <class, class> class Mixer>
constexpr bool is_mixer = MixerLike<Mixer<float, backend::Simd>, float> && MixerLike<Mixer<double, Sc>, double> &&
                          std::is_move_constructible_v<Mixer<float, backend::Simd>>;

TEST_CASE("the LTI layers are two-parameter mixers (lti_mixers.hpp) with the interface SequenceModel uses") {
  static_assert(is_mixer<S4Mixer>);
  static_assert(is_mixer<S4DMixer>);
  static_assert(is_mixer<LsslMixer>);
  CHECK(true);
}

TEST_CASE("training: each layer's loss falls below a quarter of its start on a filter regression (200 AdamW steps)") {
  {
    auto [first, last] = train_filter<S4D<float, discretize::Zoh, Sc>>({.d_model = 4, .d_state = 16}, 200, 5e-3);
    MESSAGE("S4D: loss " << first << " -> " << last);
    CHECK(last < 0.25 * first);
  }
  {
    auto [first, last] = train_filter<S4<float, hippo::LegS, discretize::Bilinear, Sc>>({.d_model = 4, .d_state = 16, .l_max = 32}, 200, 5e-3);
    MESSAGE("S4: loss " << first << " -> " << last);
    CHECK(last < 0.25 * first);
  }
  {
    auto [first, last] = train_filter<Lssl<float, hippo::LegS, discretize::Bilinear, Sc>>({.d_model = 4, .d_state = 16}, 200, 5e-3);
    MESSAGE("LSSL: loss " << first << " -> " << last);
    CHECK(last < 0.25 * first);
  }
}

}  // TEST_SUITE
