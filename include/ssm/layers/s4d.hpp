// ssm/layers/s4d.hpp — S4D (Gu et al. 2022): H independent diagonal SSMs with complex A = diag(λ), one half of
// each conjugate pair stored, discretized per mode (Ā_n = ψ(Δλ_n), B̄_n = Δφ(Δλ_n)B_n) and convolved by FFT:
//   K[h, l] = Σ_n 2·Re(C_n B̄_n Ā_n^l)   (backend/{scalar,simd}/vandermonde.hpp),  y = mix(K ⋆ u + D u).
// λ_n = −exp(log_a_real) + i·a_imag keeps Re λ < 0. Inits S4D-Lin, -Inv, -Real and LegS-diagonal (docs/theory.md).
#pragma once

#include <cmath>
#include <complex>
#include <numbers>
#include <string_view>
#include <vector>

#include "ssm/backend/scalar/vandermonde.hpp"
#include "ssm/backend/simd/vandermonde.hpp"
#include "ssm/discretize/discretize.hpp"
#include "ssm/hippo/hippo.hpp"
#include "ssm/layers/kernel_memo.hpp"
#include "ssm/layers/lti_shell.hpp"

namespace ssm {

enum class S4DInit {
  Lin,   ///< λ_n = −½ + iπn
  Inv,   ///< λ_n = −½ + i(N/π)(N/(2n+1) − 1)
  Real,  ///< λ_n = −(n+1)
  Legs,  ///< Λ and B of HiPPO-LegS's DPLR form with the low-rank term dropped
};

struct S4DConfig {
  Index d_model = 0;            ///< H, the channels (each its own SSM)
  Index d_state = 64;           ///< N: N/2 complex modes are stored (N must be even)
  S4DInit init = S4DInit::Lin;
  double dt_min = 1e-3;         ///< Δ is drawn log-uniform in [dt_min, dt_max]
  double dt_max = 1e-1;
  bool bidirectional = false;   ///< a second C runs the SSM backwards over each sequence (within its length)
  double dropout = 0.0;         ///< after the activation
  Activation activation = Activation::Gelu;
  bool glu = false;             ///< output Linear H → 2H followed by GLU, instead of H → H
};

template <Real T>
struct S4DParams {
  View<T, 1> log_dt;      // {H}
  View<T, 2> log_a_real;  // {H, N/2}: Re λ = −exp(·)
  View<T, 2> a_imag;      // {H, N/2}: Im λ
  View<T, 3> b;           // {H, N/2, 2} complex B
  View<T, 4> c;           // {Dirs, H, N/2, 2} complex C
  detail::LtiShellParams<T> shell;  // D {H}, output Linear
};

namespace detail {

/// The continuous modes (λ, B) per channel, in double, from the parameters.
template <class T>
std::complex<double> mode_lambda(const View<T, 2>& log_a_real, const View<T, 2>& a_imag, Index h, Index n) {
  return {-std::exp(static_cast<double>(log_a_real(h, n))), static_cast<double>(a_imag(h, n))};
}
template <class T, int R, class... I>
SSM_ALWAYS_INLINE std::complex<double> load_c(const View<T, R>& v, I... idx) {
  return {static_cast<double>(v(idx..., 0)), static_cast<double>(v(idx..., 1))};
}
template <class T, int R, class... I>
SSM_ALWAYS_INLINE void add_c(const View<T, R>& v, std::complex<double> g, I... idx) {
  v(idx..., 0) += static_cast<T>(g.real());
  v(idx..., 1) += static_cast<T>(g.imag());
}

/// Initial diagonal modes for S4D and the log-uniform Δ shared by the LTI layers.
inline std::vector<std::complex<double>> s4d_init_lambda(S4DInit init, Index n_state) {
  const Index n2 = n_state / 2;
  std::vector<std::complex<double>> lam(static_cast<std::size_t>(n2));
  if (init == S4DInit::Legs) {
    const hippo::Dplr d = hippo::LegS::dplr(n_state);
    for (Index i = 0; i < n2; ++i) lam[static_cast<std::size_t>(i)] = d.lambda(i);
    return lam;
  }
  const double N = static_cast<double>(n_state);
  for (Index i = 0; i < n2; ++i) {
    const double n = static_cast<double>(i);
    lam[static_cast<std::size_t>(i)] = init == S4DInit::Lin   ? std::complex<double>(-0.5, std::numbers::pi * n)
                                       : init == S4DInit::Inv ? std::complex<double>(-0.5, N / std::numbers::pi * (N / (2 * n + 1) - 1))
                                                              : std::complex<double>(-(n + 1), 0.0);
  }
  return lam;
}

template <Real T>
void init_log_dt(const View<T, 1>& log_dt, Rng& rng, double dt_min, double dt_max) {
  SSM_CHECK(dt_min > 0 && dt_max >= dt_min, "Δ range: expected 0 < dt_min <= dt_max, found ", dt_min, ", ", dt_max);
  for (Index h = 0; h < log_dt.extent(0); ++h)
    log_dt(h) = static_cast<T>(rng.uniform(std::log(dt_min), std::log(dt_max)));
}

/// Re λ at most −1e-4 before taking the log (HiPPO-LegT's normal part has Re λ = 0), as s4 clamps it.
inline double log_neg_real(std::complex<double> lam) { return std::log(std::max(-lam.real(), 1e-4)); }

}  // namespace detail

template <Real T, Discretization Disc = discretize::Zoh, Backend B = backend::Default>
class S4D {
 public:
  using Config = S4DConfig;
  using Params = S4DParams<T>;
  using Shell = detail::LtiShell<T, B>;
  struct Cache {
    View<T, 3> log_z;  // {H, N2, 2}: log Ā
    View<T, 4> w;      // {Dirs, H, N2, 2}: C B̄
    View<T, 3> k;      // {Dirs, H, L}
    bool training = false;  // a training forward: what backward needs is here
    typename Shell::Cache shell;
  };
  /// The recurrent state for generation, owning: x {B, H, N/2} complex, and Ā, B̄ cached at the first step
  /// (call make_state again after the parameters change).
  struct State {
    Index batch = 0;
    std::vector<std::complex<T>> x;     // {B, H, N2}
    std::vector<std::complex<T>> abar;  // {H, N2}
    std::vector<std::complex<T>> bbar;  // {H, N2}
    std::vector<std::complex<T>> c;     // {H, N2}
    std::vector<T> z, scratch;          // {B, H}, {B, 2H}
    bool ready = false;
  };

  S4D(ParamLayout& layout, std::string_view name, const Config& cfg)
      : cfg_(cfg),
        shell_(layout, name,
               {.channels = cfg.d_model, .bidirectional = cfg.bidirectional, .dropout = cfg.dropout,
                .activation = cfg.activation, .glu = cfg.glu}) {
    SSM_CHECK(cfg.d_model > 0, name, ": S4D needs d_model > 0, found ", cfg.d_model);
    SSM_CHECK(cfg.d_state >= 2 && cfg.d_state % 2 == 0, name,
              ": S4D stores conjugate pairs, so d_state must be even and >= 2, found ", cfg.d_state);
    const Index H = cfg.d_model, N2 = cfg.d_state / 2, dirs = shell_.directions();
    const ParamOptions ssm_group{.weight_decay = false, .group = "ssm"};
    log_dt_ = layout.add<1>(join_name(name, "log_dt"), {H}, ssm_group);
    log_a_real_ = layout.add<2>(join_name(name, "log_a_real"), {H, N2}, ssm_group);
    a_imag_ = layout.add<2>(join_name(name, "a_imag"), {H, N2}, ssm_group);
    b_ = layout.add<3>(join_name(name, "B"), {H, N2, 2}, ssm_group);
    c_ = layout.add<4>(join_name(name, "C"), {dirs, H, N2, 2});
  }

  const Config& config() const { return cfg_; }
  /// The evaluation-mode kernel memo (ssm/layers/kernel_memo.hpp).
  const detail::KernelMemo<T>& kernel_memo() const { return memo_; }

  Params bind(T* base) const {
    return {log_dt_.bind(base), log_a_real_.bind(base), a_imag_.bind(base), b_.bind(base), c_.bind(base),
            shell_.bind(base)};
  }

  /// λ from the chosen init, B = 1 (LegS: B̃ of the DPLR form), C ~ complex N(0, 1), Δ log-uniform.
  void init(const Params& p, Rng& rng) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2;
    const auto lam = detail::s4d_init_lambda(cfg_.init, cfg_.d_state);
    hippo::Dplr legs;
    if (cfg_.init == S4DInit::Legs) legs = hippo::LegS::dplr(cfg_.d_state);
    detail::init_log_dt(p.log_dt, rng, cfg_.dt_min, cfg_.dt_max);
    for (Index h = 0; h < H; ++h)
      for (Index n = 0; n < N2; ++n) {
        const auto l = lam[static_cast<std::size_t>(n)];
        p.log_a_real(h, n) = static_cast<T>(detail::log_neg_real(l));
        p.a_imag(h, n) = static_cast<T>(l.imag());
        const std::complex<double> bn = cfg_.init == S4DInit::Legs ? legs.b(n) : std::complex<double>(1.0);
        p.b(h, n, 0) = static_cast<T>(bn.real());
        p.b(h, n, 1) = static_cast<T>(bn.imag());
      }
    fill_normal(p.c, rng, T(0), static_cast<T>(std::sqrt(0.5)));
    shell_.init(p.shell, rng);
  }

  /// The kernel K {Dirs, H, L} alone: what forward convolves with. Scratch from the context.
  void kernel(const Params& p, View<T, 3> k, const Context& ctx) const {
    Cache cache;
    compute_kernel(p, k, cache, ctx);
  }

  /// x: {B, L, H} -> y: {B, L, H}; lengths {B} or empty (all L). Causal unless bidirectional.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1), H = cfg_.d_model;
    expect_shape(x, "S4D input", {-1, -1, H});
    expect_shape(y, "S4D output", {Bn, L, H});
    if (!lengths.empty()) expect_shape(lengths, "S4D lengths", {Bn});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "S4D: input and output must be contiguous");
    cache.k = ctx.workspace().take<T, 3>({shell_.directions(), H, L});
    cache.training = ctx.training;
    // What K is built from: the memo's key for the kernel and its spectrum.
    const auto sources = {detail::memo_source(p.log_dt), detail::memo_source(p.log_a_real),
                           detail::memo_source(p.a_imag), detail::memo_source(p.b), detail::memo_source(p.c)};
    memo_.obtain(sources, cache.k, ctx.training, [&] { compute_kernel(p, cache.k, cache, ctx); });
    shell_.forward(p.shell, x, lengths, View<const T, 3>(cache.k), y, cache.shell, ctx, &memo_, sources);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  /// Chain rule per mode (conjugate-gradient convention ḡ = ∂/∂Re + i∂/∂Im, holomorphic ψ, φ):
  ///   ḡ_w = 2 conj(q),  ḡ_Ā = 2 Σ_d conj(w r)      (q, r: backend vandermonde_backward)
  ///   ḡ_C = conj(B̄) ḡ_w,  ḡ_B̄ = Σ_d conj(C) ḡ_w,  ḡ_B = Δ conj(φ) ḡ_B̄
  ///   ḡ_u = conj(Δ φ'(u) B) ḡ_B̄ + conj(ψ'(u)) ḡ_Ā,  ḡ_λ = Δ ḡ_u
  ///   ∂L/∂Δ = Σ_n Re(conj(ḡ_B̄) φ B) + Re(conj(ḡ_u) λ);  ∂/∂log_dt = Δ ∂/∂Δ;  ∂/∂log_a_real = −e^{·} Re ḡ_λ.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    SSM_CHECK(cache.training, "S4D::backward: the forward ran with an evaluation Context; backward needs a training one");
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2, dirs = shell_.directions(), L = cache.k.extent(2);
    Workspace& ws = ctx.workspace();
    auto dk = ws.take<T, 3>({dirs, H, L});
    shell_.backward(p.shell, cache.shell, dy, dx, dk, g.shell, ctx);
    auto q = ws.take<T, 4>({dirs, H, N2, 2});
    auto r = ws.take<T, 4>({dirs, H, N2, 2});
    backend::vandermonde_backward(B{}, View<const T, 3>(cache.log_z), View<const T, 3>(dk), q, r);
    const auto w = cache.w;
    parallel_for(H, 16, [=, &p, &g](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        double g_dt = 0;
        for (Index n = 0; n < N2; ++n) {
          const std::complex<double> lam = detail::mode_lambda(p.log_a_real, p.a_imag, h, n);
          const std::complex<double> u = dt * lam, bn = detail::load_c(p.b, h, n);
          const auto co = Disc::diagonal(u);
          const std::complex<double> bbar = dt * co.phi * bn;
          std::complex<double> g_bbar = 0, g_abar = 0;
          for (Index d = 0; d < dirs; ++d) {
            const std::complex<double> g_w = 2.0 * std::conj(detail::load_c(q, d, h, n));
            g_abar += 2.0 * std::conj(detail::load_c(w, d, h, n) * detail::load_c(r, d, h, n));
            detail::add_c(g.c, std::conj(bbar) * g_w, d, h, n);
            g_bbar += std::conj(detail::load_c(p.c, d, h, n)) * g_w;
          }
          detail::add_c(g.b, dt * std::conj(co.phi) * g_bbar, h, n);
          const std::complex<double> g_u = std::conj(dt * co.d_phi * bn) * g_bbar + std::conj(co.d_psi) * g_abar;
          g_dt += std::real(std::conj(g_bbar) * co.phi * bn) + std::real(std::conj(g_u) * lam);
          const std::complex<double> g_lam = dt * g_u;
          g.log_a_real(h, n) += static_cast<T>(lam.real() * g_lam.real());  // ∂Re λ/∂θ = −e^θ = Re λ
          g.a_imag(h, n) += static_cast<T>(g_lam.imag());
        }
        g.log_dt(h) += static_cast<T>(dt * g_dt);
      }
    });
  }

  State make_state(Index batch) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2;
    SSM_CHECK(!cfg_.bidirectional, "S4D::make_state: a bidirectional layer sees the future and has no recurrent step");
    State s;
    s.batch = batch;
    s.x.assign(static_cast<std::size_t>(batch * H * N2), std::complex<T>(0));
    s.z.assign(static_cast<std::size_t>(batch * H), T(0));
    s.scratch.assign(static_cast<std::size_t>(batch * H * (cfg_.glu ? 2 : 1)), T(0));
    return s;
  }

  /// One token: x_t, y_t {B, H}. x_n ← Ā_n x_n + B̄_n u, z = 2·Re Σ_n C_n x_n + D u, y = mix(z).
  void step(const Params& p, State& s, View<const T, 2> x_t, View<T, 2> y_t) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2, Bn = s.batch;
    expect_shape(x_t, "S4D step input", {Bn, H});
    expect_shape(y_t, "S4D step output", {Bn, H});
    if (!s.ready) {
      s.abar.resize(static_cast<std::size_t>(H * N2));
      s.bbar.resize(s.abar.size());
      s.c.resize(s.abar.size());
      for (Index h = 0; h < H; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        for (Index n = 0; n < N2; ++n) {
          const auto co = Disc::diagonal(dt * detail::mode_lambda(p.log_a_real, p.a_imag, h, n));
          const std::size_t i = static_cast<std::size_t>(h * N2 + n);
          s.abar[i] = std::complex<T>(co.psi);
          s.bbar[i] = std::complex<T>(dt * co.phi * detail::load_c(p.b, h, n));
          s.c[i] = std::complex<T>(detail::load_c(p.c, 0, h, n));
        }
      }
      s.ready = true;
    }
    for (Index b = 0; b < Bn; ++b)
      for (Index h = 0; h < H; ++h) {
        const T u = x_t(b, h);
        std::complex<T>* xs = &s.x[static_cast<std::size_t>((b * H + h) * N2)];
        const std::size_t o = static_cast<std::size_t>(h * N2);
        T acc = 0;
        for (Index n = 0; n < N2; ++n) {
          xs[n] = backend::detail::cmul(s.abar[o + n], xs[n]) + s.bbar[o + n] * u;
          acc += s.c[o + n].real() * xs[n].real() - s.c[o + n].imag() * xs[n].imag();
        }
        s.z[static_cast<std::size_t>(b * H + h)] = T(2) * acc + p.shell.d(h) * u;
      }
    shell_.step_output(p.shell, View<T, 2>(s.z.data(), {Bn, H}),
                       View<T, 2>(s.scratch.data(), {Bn, cfg_.glu ? 2 * H : H}), y_t);
  }

 private:
  /// Discretize each mode (in double): Ā = ψ(u), B̄ = Δφ(u)B with u = Δλ, w = C B̄; then the Vandermonde product.
  void compute_kernel(const Params& p, View<T, 3> k, Cache& cache, const Context& ctx) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2, dirs = shell_.directions();
    expect_shape(k, "S4D kernel", {dirs, H, -1});
    Workspace& ws = ctx.workspace();
    cache.log_z = ws.take<T, 3>({H, N2, 2});
    cache.w = ws.take<T, 4>({dirs, H, N2, 2});
    const auto log_z = cache.log_z;
    const auto w = cache.w;
    parallel_for(H, 16, [=, &p](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        for (Index n = 0; n < N2; ++n) {
          const std::complex<double> lam = detail::mode_lambda(p.log_a_real, p.a_imag, h, n);
          const auto co = Disc::diagonal(dt * lam);
          const std::complex<double> lz = std::log(co.psi);
          log_z(h, n, 0) = static_cast<T>(lz.real());
          log_z(h, n, 1) = static_cast<T>(lz.imag());
          const std::complex<double> bbar = dt * co.phi * detail::load_c(p.b, h, n);
          for (Index d = 0; d < dirs; ++d) {
            const std::complex<double> wd = detail::load_c(p.c, d, h, n) * bbar;
            w(d, h, n, 0) = static_cast<T>(wd.real());
            w(d, h, n, 1) = static_cast<T>(wd.imag());
          }
        }
      }
    });
    backend::vandermonde_forward(B{}, View<const T, 3>(cache.log_z), View<const T, 4>(cache.w), k);
  }

  Config cfg_;
  Shell shell_;
  ParamSlot<1> log_dt_;
  ParamSlot<2> log_a_real_, a_imag_;
  ParamSlot<3> b_;
  ParamSlot<4> c_;
  detail::KernelMemo<T> memo_;
};

}  // namespace ssm
