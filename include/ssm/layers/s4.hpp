// ssm/layers/s4.hpp — S4 (Gu, Goel & Ré 2022): H independent SSMs with A = Λ − P P* (DPLR, HiPPO-initialised),
// kernel evaluated at the l_max-th roots of unity and brought back by an inverse FFT, then an FFT convolution:
//   K̂(z) = C̃ (I − zĀ)⁻¹ B̄ = Δ · C̃ ((1 − z) I − Δ β(z) A)⁻¹ B,   β(z) = α + (1 − α) z      (GBT(α), Ā = (I−αΔA)⁻¹(I+(1−α)ΔA))
//        = Δ (k_CB − s k_CP (I + s k_PP)⁻¹ k_PB),  s = Δβ(z),  k_XY = Σ_n X_n Y_n / ((1−z) − s λ_n)   (Woodbury + Cauchy)
// with C̃ = C (I − Ā^{l_max}) trained directly (as s4 does), one half of each conjugate pair stored.
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>
#include <cmath>
#include <complex>
#include <numbers>
#include <string_view>
#include <vector>

#include "ssm/backend/scalar/cauchy.hpp"
#include "ssm/backend/scalar/fft_conv.hpp"
#include "ssm/backend/simd/cauchy.hpp"
#include "ssm/backend/simd/dense_step.hpp"
#include "ssm/discretize/discretize.hpp"
#include "ssm/hippo/hippo.hpp"
#include "ssm/layers/dense_recurrence.hpp"
#include "ssm/layers/dense_ssm.hpp"
#include "ssm/layers/kernel_memo.hpp"
#include "ssm/layers/lti_shell.hpp"
#include "ssm/layers/s4d.hpp"

namespace ssm {

struct S4Config {
  Index d_model = 0;           ///< H, the channels (each its own SSM)
  Index d_state = 64;          ///< N: N/2 complex modes are stored (N must be even)
  Index l_max = 1024;          ///< the kernel's length; C̃ is defined for it and inputs may not be longer
  double dt_min = 1e-3;        ///< Δ is drawn log-uniform in [dt_min, dt_max]
  double dt_max = 1e-1;
  bool bidirectional = false;  ///< a second C̃ runs the SSM backwards over each sequence (within its length)
  double dropout = 0.0;        ///< after the activation
  Activation activation = Activation::Gelu;
  bool glu = false;            ///< output Linear H → 2H followed by GLU, instead of H → H
};

template <Real T>
struct S4Params {
  View<T, 1> log_dt;      // {H}
  View<T, 2> log_a_real;  // {H, N/2}: Re λ = −exp(·)
  View<T, 2> a_imag;      // {H, N/2}: Im λ
  View<T, 4> p;           // {H, r, N/2, 2}: complex low-rank factor P (A = Λ − P P*)
  View<T, 3> b;           // {H, N/2, 2}: complex B
  View<T, 4> c;           // {Dirs, H, N/2, 2}: complex C̃
  detail::LtiShellParams<T> shell;  // D {H}, output Linear
};

/// S4. Disc from the GBT family (bilinear by default, as in the paper) evaluates the kernel through the Cauchy
/// kernel; any other discretization (ZOH) has no resolvent form, so its kernel comes from the dense N×N Ā
/// (O(N³ + N²L) per channel: exact, slow — fine for checking, not for long sequences).
template <Real T, HippoMatrix Hippo = hippo::LegS, Discretization Disc = discretize::Bilinear,
          Backend B = backend::Default>
class S4 {
  static_assert(Hippo::rank <= 4, "S4: low-rank corrections of rank above 4 are not supported");

 public:
  using Config = S4Config;
  using Params = S4Params<T>;
  using Shell = detail::LtiShell<T, B>;
  static constexpr bool uses_cauchy = discretize::is_gbt_v<Disc>;
  static constexpr Index rank = Hippo::rank;

  struct Cache {
    View<T, 3> mu;  // {H, N2, 2}: Δλ                 (Cauchy path)
    View<T, 4> v;   // {H, Tm, N2, 2}: term coefficients
    View<T, 4> s;   // {H, Tm, F, 2}: the Cauchy sums
    View<T, 3> k;   // {Dirs, H, L}: the kernel used
    bool training = false;  // a training forward: what backward needs is here
    typename Shell::Cache shell;
  };
  /// Generation state, owning: x {B, H, N} in real coordinates (Re x, Im x of the N/2 modes), with Ā {H, N, N},
  /// B̄ and C = C̃ (I − Ā^{l_max})⁻¹ computed at the first step (call make_state again after the parameters change).
  using State = detail::DenseRecurrence<T>;

  S4(ParamLayout& layout, std::string_view name, const Config& cfg)
      : cfg_(cfg),
        shell_(layout, name,
               {.channels = cfg.d_model, .bidirectional = cfg.bidirectional, .dropout = cfg.dropout,
                .activation = cfg.activation, .glu = cfg.glu}) {
    SSM_CHECK(cfg.d_model > 0, name, ": S4 needs d_model > 0, found ", cfg.d_model);
    SSM_CHECK(cfg.d_state >= 2 && cfg.d_state % 2 == 0, name,
              ": S4 stores conjugate pairs, so d_state must be even and >= 2, found ", cfg.d_state);
    SSM_CHECK(cfg.l_max >= 1, name, ": S4 needs l_max >= 1, found ", cfg.l_max);
    const Index H = cfg.d_model, N2 = cfg.d_state / 2, dirs = shell_.directions();
    const ParamOptions ssm_group{.weight_decay = false, .group = "ssm"};
    log_dt_ = layout.add<1>(join_name(name, "log_dt"), {H}, ssm_group);
    log_a_real_ = layout.add<2>(join_name(name, "log_a_real"), {H, N2}, ssm_group);
    a_imag_ = layout.add<2>(join_name(name, "a_imag"), {H, N2}, ssm_group);
    p_ = layout.add<4>(join_name(name, "P"), {H, rank, N2, 2}, ssm_group);
    b_ = layout.add<3>(join_name(name, "B"), {H, N2, 2}, ssm_group);
    c_ = layout.add<4>(join_name(name, "C"), {dirs, H, N2, 2});
    // Frequencies z_k = exp(−2πik/l_max), k ≤ l_max/2: a_k = 1 − z_k, β_k = α + (1 − α) z_k.
    if constexpr (uses_cauchy) {
      const Index F = cfg.l_max / 2 + 1;
      freq_a_.resize(static_cast<std::size_t>(2 * F));
      freq_beta_.resize(freq_a_.size());
      beta_d_.resize(static_cast<std::size_t>(F));
      for (Index k = 0; k < F; ++k) {
        const double th = -2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(cfg.l_max);
        const std::complex<double> z(std::cos(th), std::sin(th));
        const std::complex<double> a = 1.0 - z, beta = Disc::alpha + (1.0 - Disc::alpha) * z;
        freq_a_[2 * k] = static_cast<T>(a.real());
        freq_a_[2 * k + 1] = static_cast<T>(a.imag());
        freq_beta_[2 * k] = static_cast<T>(beta.real());
        freq_beta_[2 * k + 1] = static_cast<T>(beta.imag());
        beta_d_[static_cast<std::size_t>(k)] = beta;
      }
    }
  }

  const Config& config() const { return cfg_; }
  /// The evaluation-mode kernel memo (ssm/layers/kernel_memo.hpp).
  const detail::KernelMemo<T>& kernel_memo() const { return memo_; }
  Index terms() const { return dirs() * (1 + rank) + rank + rank * rank; }

  Params bind(T* base) const {
    return {log_dt_.bind(base), log_a_real_.bind(base), a_imag_.bind(base), p_.bind(base),
            b_.bind(base),      c_.bind(base),          shell_.bind(base)};
  }

  /// Λ, P̃, B̃ of Hippo's DPLR form (Re λ clamped to ≤ −1e-4), C̃ ~ complex N(0, 1), Δ log-uniform.
  void init(const Params& p, Rng& rng) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2;
    const hippo::Dplr f = Hippo::dplr(cfg_.d_state);
    detail::init_log_dt(p.log_dt, rng, cfg_.dt_min, cfg_.dt_max);
    for (Index h = 0; h < H; ++h)
      for (Index n = 0; n < N2; ++n) {
        p.log_a_real(h, n) = static_cast<T>(detail::log_neg_real(f.lambda(n)));
        p.a_imag(h, n) = static_cast<T>(f.lambda(n).imag());
        p.b(h, n, 0) = static_cast<T>(f.b(n).real());
        p.b(h, n, 1) = static_cast<T>(f.b(n).imag());
        for (Index j = 0; j < rank; ++j) {
          p.p(h, j, n, 0) = static_cast<T>(f.p(n, j).real());
          p.p(h, j, n, 1) = static_cast<T>(f.p(n, j).imag());
        }
      }
    fill_normal(p.c, rng, T(0), static_cast<T>(std::sqrt(0.5)));
    shell_.init(p.shell, rng);
  }

  /// The kernel K {Dirs, H, L} (L ≤ l_max) alone: what forward convolves with. Scratch from the context.
  void kernel(const Params& p, View<T, 3> k, const Context& ctx) const {
    Cache cache;
    compute_kernel(p, k.extent(2), k, cache, ctx);
  }

  /// x: {B, L, H} -> y: {B, L, H} (L ≤ l_max); lengths {B} or empty (all L). Causal unless bidirectional.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1), H = cfg_.d_model;
    expect_shape(x, "S4 input", {-1, -1, H});
    expect_shape(y, "S4 output", {Bn, L, H});
    if (!lengths.empty()) expect_shape(lengths, "S4 lengths", {Bn});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "S4: input and output must be contiguous");
    SSM_CHECK(L <= cfg_.l_max, "S4: sequence length ", L, " exceeds l_max = ", cfg_.l_max, "; raise Config::l_max");
    cache.k = ctx.workspace().take<T, 3>({dirs(), H, L});
    cache.training = ctx.training;
    // What K is built from: the memo's key for the kernel and its spectrum.
    const auto sources = {detail::memo_source(p.log_dt), detail::memo_source(p.log_a_real),
                           detail::memo_source(p.a_imag), detail::memo_source(p.p), detail::memo_source(p.b),
                           detail::memo_source(p.c)};
    memo_.obtain(sources, cache.k, ctx.training, [&] { compute_kernel(p, L, cache.k, cache, ctx); });
    shell_.forward(p.shell, x, lengths, View<const T, 3>(cache.k), y, cache.shell, ctx, &memo_, sources);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  /// Cauchy path: dK → ḡ_K̂ = (c_k / l_max) rfft(dK) (c_k = 2 except at k = 0 and l_max/2, the adjoint of the
  /// half-spectrum inverse FFT) → the Woodbury adjoint per frequency (ḡ of every Cauchy sum, and ∂L/∂Δ through s
  /// and the leading Δ) → the Cauchy adjoint (ḡ of the term coefficients and of μ = Δλ) → C̃, B, P, λ, Δ.
  /// Dense path: the Krylov, C̃ and discretization adjoints (dense_ssm.hpp, discretize.hpp) in real coordinates.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    SSM_CHECK(cache.training, "S4::backward: the forward ran with an evaluation Context; backward needs a training one");
    const Index H = cfg_.d_model, L = cache.k.extent(2);
    Workspace& ws = ctx.workspace();
    auto dk = ws.take<T, 3>({dirs(), H, L});
    shell_.backward(p.shell, cache.shell, dy, dx, dk, g.shell, ctx);
    if constexpr (uses_cauchy)
      cauchy_kernel_backward(p, cache, dk, g, ws);
    else
      dense_kernel_backward(p, dk, g);
  }

  State make_state(Index batch) const {
    SSM_CHECK(!cfg_.bidirectional, "S4::make_state: a bidirectional layer sees the future and has no recurrent step");
    return State(batch, cfg_.d_model, cfg_.d_state, cfg_.glu);
  }

  /// One token: x_t, y_t {B, H}. x ← Ā x + B̄ u, z = C x + D u, y = mix(z); the rollout equals forward for
  /// every position below l_max.
  void step(const Params& p, State& s, View<const T, 2> x_t, View<T, 2> y_t) const {
    const Index H = cfg_.d_model, N = cfg_.d_state, Bn = s.batch;
    expect_shape(x_t, "S4 step input", {Bn, H});
    expect_shape(y_t, "S4 step output", {Bn, H});
    if (!s.ready) {
      s.c.resize(static_cast<std::size_t>(H * N));
      for (Index h = 0; h < H; ++h) {
        const RealSystem r = real_system(p, h);
        auto [abar, bbar] = Disc::apply(r.a, r.b, r.dt);
        const detail::CTildeInverse ci(abar, r.c_tilde.topRows(1), cfg_.l_max);
        s.set_channel(h, H, abar, bbar);
        for (Index i = 0; i < N; ++i) s.c[static_cast<std::size_t>(h * N + i)] = static_cast<T>(ci.c(0, i));
      }
      s.ready = true;
    }
    s.template advance<B>(x_t, View<const T, 1>(p.shell.d),
                          [&](Index h) { return &s.c[static_cast<std::size_t>(h * N)]; });
    shell_.step_output(p.shell, View<T, 2>(s.z.data(), {Bn, H}),
                       View<T, 2>(s.scratch.data(), {Bn, cfg_.glu ? 2 * H : H}), y_t);
  }

 private:
  using Cd = std::complex<double>;
  using Small = Eigen::Matrix<Cd, rank, rank>;  // fixed size: closed-form inverses, no allocation
  using SmallVec = Eigen::Matrix<Cd, rank, 1>;
  using SmallRow = Eigen::Matrix<Cd, 1, rank>;

  Index dirs() const { return shell_.directions(); }
  // Term indices of the Cauchy sums: C̃B per direction, C̃P_j per direction, P̄_i B, P̄_i P_j.
  Index t_cb(Index d) const { return d; }
  Index t_cp(Index d, Index j) const { return dirs() + d * rank + j; }
  Index t_pb(Index i) const { return dirs() * (1 + rank) + i; }
  Index t_pp(Index i, Index j) const { return dirs() * (1 + rank) + rank + i * rank + j; }

  /// One channel's SSM in real coordinates r = (Re x, Im x) of the N/2 modes, in double:
  ///   A = [[diag Re λ, −diag Im λ], [diag Im λ, diag Re λ]] − 2 Q Qᵀ, Q = [Re P; Im P] {N, r},
  ///   B = [Re B; Im B],  C̃_d = [2 Re C̃_d, −2 Im C̃_d]  (so y = 2 Re(C̃ x)).
  struct RealSystem {
    detail::MatD a, q, c_tilde;
    detail::VecD b;
    double dt;
  };
  RealSystem real_system(const Params& p, Index h) const {
    const Index N2 = cfg_.d_state / 2, N = cfg_.d_state;
    RealSystem r;
    r.dt = std::exp(static_cast<double>(p.log_dt(h)));
    r.a = detail::MatD::Zero(N, N);
    r.q.resize(N, rank);
    r.b.resize(N);
    r.c_tilde.resize(dirs(), N);
    for (Index n = 0; n < N2; ++n) {
      const Cd lam = detail::mode_lambda(p.log_a_real, p.a_imag, h, n);
      r.a(n, n) = r.a(N2 + n, N2 + n) = lam.real();
      r.a(n, N2 + n) = -lam.imag();
      r.a(N2 + n, n) = lam.imag();
      for (Index j = 0; j < rank; ++j) {
        r.q(n, j) = static_cast<double>(p.p(h, j, n, 0));
        r.q(N2 + n, j) = static_cast<double>(p.p(h, j, n, 1));
      }
      r.b(n) = static_cast<double>(p.b(h, n, 0));
      r.b(N2 + n) = static_cast<double>(p.b(h, n, 1));
      for (Index d = 0; d < dirs(); ++d) {
        r.c_tilde(d, n) = 2.0 * static_cast<double>(p.c(d, h, n, 0));
        r.c_tilde(d, N2 + n) = -2.0 * static_cast<double>(p.c(d, h, n, 1));
      }
    }
    r.a -= 2.0 * r.q * r.q.transpose();
    return r;
  }

  void compute_kernel(const Params& p, Index L, View<T, 3> k, Cache& cache, const Context& ctx) const {
    expect_shape(k, "S4 kernel", {dirs(), cfg_.d_model, L});
    SSM_CHECK(L <= cfg_.l_max, "S4: kernel length ", L, " exceeds l_max = ", cfg_.l_max);
    if constexpr (uses_cauchy)
      cauchy_kernel(p, L, k, cache, ctx.workspace());
    else
      dense_kernel(p, L, k);
  }

  // ---- the Cauchy path --------------------------------------------------------------------------------------

  View<const T, 2> freq_a() const { return View<const T, 2>(freq_a_.data(), {cfg_.l_max / 2 + 1, 2}); }
  View<const T, 2> freq_beta() const { return View<const T, 2>(freq_beta_.data(), {cfg_.l_max / 2 + 1, 2}); }

  /// Per frequency: K̂_d = Δ (k_CB,d − s k_CP,d · M⁻¹ k_PB), M = I + s k_PP; the Cauchy sums as a small system.
  struct Woodbury {
    Small m_inv, s_pp;
    SmallVec s_pb, b;  // b = M⁻¹ k_PB
    Cd s;
  };
  /// The Cauchy sums of one channel start at sh = &sums(h, 0, 0, 0); term t at frequency k is sh[2(tF + k)].
  static Cd sum_at(const T* sh, Index F, Index t, Index k) {
    const T* q = sh + 2 * (t * F + k);
    return {static_cast<double>(q[0]), static_cast<double>(q[1])};
  }
  Woodbury woodbury(const T* sh, Index F, Index k, double dt) const {
    Woodbury w;
    w.s = dt * beta_d_[static_cast<std::size_t>(k)];
    for (Index i = 0; i < rank; ++i) {
      w.s_pb(i) = sum_at(sh, F, t_pb(i), k);
      for (Index j = 0; j < rank; ++j) w.s_pp(i, j) = sum_at(sh, F, t_pp(i, j), k);
    }
    const Small m = Small::Identity() + w.s * w.s_pp;
    if constexpr (rank == 1)
      w.m_inv(0, 0) = backend::detail::crecip(m(0, 0));
    else
      w.m_inv = m.inverse();
    w.b = w.m_inv * w.s_pb;
    return w;
  }

  void cauchy_kernel(const Params& p, Index L, View<T, 3> k, Cache& cache, Workspace& ws) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2, F = cfg_.l_max / 2 + 1, Tm = terms(), D = dirs();
    cache.mu = ws.take<T, 3>({H, N2, 2});
    cache.v = ws.take<T, 4>({H, Tm, N2, 2});
    cache.s = ws.take<T, 4>({H, Tm, F, 2});
    const auto mu = cache.mu;
    const auto v = cache.v;
    parallel_for(H, 16, [&, mu, v](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        for (Index n = 0; n < N2; ++n) {
          const Cd m = dt * detail::mode_lambda(p.log_a_real, p.a_imag, h, n);
          mu(h, n, 0) = static_cast<T>(m.real());
          mu(h, n, 1) = static_cast<T>(m.imag());
          const Cd bn = detail::load_c(p.b, h, n);
          const auto put = [&](Index t, Cd val) {
            v(h, t, n, 0) = static_cast<T>(val.real());
            v(h, t, n, 1) = static_cast<T>(val.imag());
          };
          for (Index d = 0; d < D; ++d) {
            const Cd cn = detail::load_c(p.c, d, h, n);
            put(t_cb(d), cn * bn);
            for (Index j = 0; j < rank; ++j) put(t_cp(d, j), cn * detail::load_c(p.p, h, j, n));
          }
          for (Index i = 0; i < rank; ++i) {
            const Cd pi = std::conj(detail::load_c(p.p, h, i, n));
            put(t_pb(i), pi * bn);
            for (Index j = 0; j < rank; ++j) put(t_pp(i, j), pi * detail::load_c(p.p, h, j, n));
          }
        }
      }
    });
    backend::cauchy_forward(B{}, View<const T, 3>(mu), View<const T, 4>(v), freq_a(), freq_beta(), cache.s);
    auto khat = ws.take<T, 4>({D, H, F, 2});
    const auto sums = cache.s;
    parallel_for(H, 1, [&, sums, khat](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        const T* sh = &sums(h, 0, 0, 0);
        for (Index kk = 0; kk < F; ++kk) {
          const Woodbury w = woodbury(sh, F, kk, dt);
          for (Index d = 0; d < D; ++d) {
            Cd cp_b = 0;
            for (Index j = 0; j < rank; ++j) cp_b += sum_at(sh, F, t_cp(d, j), kk) * w.b(j);
            const Cd val = dt * (sum_at(sh, F, t_cb(d), kk) - w.s * cp_b);
            T* out = &khat(d, h, kk, 0);
            out[0] = static_cast<T>(val.real());
            out[1] = static_cast<T>(val.imag());
          }
        }
      }
    });
    auto kfull = ws.take<T, 2>({D * H, cfg_.l_max});
    backend::irfft_rows(B{}, reshape(View<const T, 4>(khat), {D * H, F, 2}), kfull);
    for (Index d = 0; d < D; ++d)
      for (Index h = 0; h < H; ++h)
        for (Index l = 0; l < L; ++l) k(d, h, l) = kfull(d * H + h, l);
  }

  void cauchy_kernel_backward(const Params& p, const Cache& cache, View<T, 3> dk, const Params& g,
                              Workspace& ws) const {
    const Index H = cfg_.d_model, N2 = cfg_.d_state / 2, F = cfg_.l_max / 2 + 1, Tm = terms(), D = dirs();
    const Index lm = cfg_.l_max;
    auto gk_hat = ws.take<T, 3>({D * H, F, 2});
    backend::rfft_rows(B{}, reshape(View<const T, 3>(dk), {D * H, dk.extent(2)}), lm, gk_hat);
    auto alpha = ws.take<T, 4>({H, Tm, F, 2});
    auto g_dt_sums = ws.take<double>(H);
    const auto sums = cache.s;
    parallel_for(H, 1, [&, sums, alpha, gk_hat, g_dt_sums](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        const T* sh = &sums(h, 0, 0, 0);
        T* ah = &alpha(h, 0, 0, 0);
        const auto put = [&](Cd val, Index t, Index k) {
          T* q = ah + 2 * (t * F + k);
          q[0] = static_cast<T>(val.real());
          q[1] = static_cast<T>(val.imag());
        };
        double g_dt = 0;
        for (Index kk = 0; kk < F; ++kk) {
          const Woodbury w = woodbury(sh, F, kk, dt);
          const double ck = (kk == 0 || 2 * kk == lm) ? 1.0 : 2.0;
          const Cd beta = beta_d_[static_cast<std::size_t>(kk)];
          SmallVec g_pb = SmallVec::Zero();
          Small g_pp = Small::Zero();
          for (Index d = 0; d < D; ++d) {
            const T* gq = &gk_hat(d * H + h, kk, 0);
            const Cd gd = (ck / static_cast<double>(lm)) * Cd(static_cast<double>(gq[0]), static_cast<double>(gq[1]));
            SmallVec s_cp;
            for (Index j = 0; j < rank; ++j) s_cp(j) = sum_at(sh, F, t_cp(d, j), kk);
            const SmallRow a = s_cp.transpose() * w.m_inv;
            const Cd cp_b = (s_cp.transpose() * w.b)(0);
            const Cd khat = dt * (sum_at(sh, F, t_cb(d), kk) - w.s * cp_b);
            const Cd a_pp_b = (a * w.s_pp * w.b)(0);
            const Cd dk_ds = -dt * (cp_b - w.s * a_pp_b);
            g_dt += std::real(std::conj(gd) * (khat / dt + beta * dk_ds));
            put(dt * gd, t_cb(d), kk);
            for (Index j = 0; j < rank; ++j) put(std::conj(-dt * w.s * w.b(j)) * gd, t_cp(d, j), kk);
            for (Index i = 0; i < rank; ++i) {
              g_pb(i) += std::conj(-dt * w.s * a(i)) * gd;
              for (Index j = 0; j < rank; ++j) g_pp(i, j) += std::conj(dt * w.s * w.s * a(i) * w.b(j)) * gd;
            }
          }
          for (Index i = 0; i < rank; ++i) {
            put(g_pb(i), t_pb(i), kk);
            for (Index j = 0; j < rank; ++j) put(g_pp(i, j), t_pp(i, j), kk);
          }
        }
        g_dt_sums(h) = g_dt;
      }
    });
    auto g_v = ws.take<T, 4>({H, Tm, N2, 2});
    auto g_mu = ws.take<T, 3>({H, N2, 2});
    backend::cauchy_backward(B{}, View<const T, 3>(cache.mu), View<const T, 4>(cache.v), freq_a(), freq_beta(),
                             View<const T, 4>(alpha), g_v, g_mu);
    parallel_for(H, 16, [&, g_v, g_mu, g_dt_sums](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        double g_dt = g_dt_sums(h);
        for (Index n = 0; n < N2; ++n) {
          const Cd lam = detail::mode_lambda(p.log_a_real, p.a_imag, h, n);
          const Cd gm = detail::load_c(g_mu, h, n);
          g_dt += std::real(std::conj(gm) * lam);
          const Cd g_lam = dt * gm;
          g.log_a_real(h, n) += static_cast<T>(lam.real() * g_lam.real());
          g.a_imag(h, n) += static_cast<T>(g_lam.imag());
          const Cd bn = detail::load_c(p.b, h, n);
          Cd g_b = 0;
          Cd pj[4], g_p[4] = {0, 0, 0, 0};
          for (Index j = 0; j < rank; ++j) pj[j] = detail::load_c(p.p, h, j, n);
          for (Index d = 0; d < D; ++d) {
            const Cd cn = detail::load_c(p.c, d, h, n);
            Cd g_c = 0;
            const Cd gv = detail::load_c(g_v, h, t_cb(d), n);
            g_c += std::conj(bn) * gv;
            g_b += std::conj(cn) * gv;
            for (Index j = 0; j < rank; ++j) {
              const Cd gvj = detail::load_c(g_v, h, t_cp(d, j), n);
              g_c += std::conj(pj[j]) * gvj;
              g_p[j] += std::conj(cn) * gvj;
            }
            detail::add_c(g.c, g_c, d, h, n);
          }
          for (Index i = 0; i < rank; ++i) {
            const Cd gv = detail::load_c(g_v, h, t_pb(i), n);  // v = conj(P_i) B
            g_b += pj[i] * gv;
            g_p[i] += bn * std::conj(gv);
            for (Index j = 0; j < rank; ++j) {
              const Cd gvv = detail::load_c(g_v, h, t_pp(i, j), n);  // v = conj(P_i) P_j
              g_p[j] += pj[i] * gvv;
              g_p[i] += pj[j] * std::conj(gvv);
            }
          }
          detail::add_c(g.b, g_b, h, n);
          for (Index j = 0; j < rank; ++j) detail::add_c(g.p, g_p[j], h, j, n);
        }
        g.log_dt(h) += static_cast<T>(dt * g_dt);
      }
    });
  }

  // ---- the dense path (discretizations without a resolvent form) -------------------------------------------

  void dense_kernel(const Params& p, Index L, View<T, 3> k) const {
    parallel_for(cfg_.d_model, 1, [&, k](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const RealSystem r = real_system(p, h);
        auto [abar, bbar] = Disc::apply(r.a, r.b, r.dt);
        const detail::CTildeInverse ci(abar, r.c_tilde, cfg_.l_max);
        const detail::MatD kk = ci.c * detail::krylov(abar, bbar, L);
        for (Index d = 0; d < dirs(); ++d)
          for (Index l = 0; l < L; ++l) k(d, h, l) = static_cast<T>(kk(d, l));
      }
    });
  }

  void dense_kernel_backward(const Params& p, View<T, 3> dk, const Params& g) const {
    const Index L = dk.extent(2), N2 = cfg_.d_state / 2;
    parallel_for(cfg_.d_model, 1, [&, dk](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const RealSystem r = real_system(p, h);
        auto [abar, bbar] = Disc::apply(r.a, r.b, r.dt);
        const detail::CTildeInverse ci(abar, r.c_tilde, cfg_.l_max);
        const detail::MatD v = detail::krylov(abar, bbar, L);
        detail::MatD gk(dirs(), L);
        for (Index d = 0; d < dirs(); ++d)
          for (Index l = 0; l < L; ++l) gk(d, l) = static_cast<double>(dk(d, h, l));
        detail::MatD g_abar = detail::MatD::Zero(abar.rows(), abar.cols()), g_c = detail::MatD::Zero(dirs(), r.a.rows());
        detail::VecD g_bbar = detail::VecD::Zero(bbar.size());
        detail::krylov_backward(abar, v, ci.c, gk, g_abar, g_bbar, g_c);
        const detail::MatD g_ct = ci.backward(g_c, g_abar);
        const auto gr = Disc::apply_backward(r.a, r.b, r.dt, g_abar, g_bbar);
        // Back from real coordinates to λ, P, B, C̃ (see real_system).
        const detail::MatD g_q = -2.0 * (gr.a + gr.a.transpose()) * r.q;
        for (Index n = 0; n < N2; ++n) {
          const Cd lam = detail::mode_lambda(p.log_a_real, p.a_imag, h, n);
          const double g_re = gr.a(n, n) + gr.a(N2 + n, N2 + n), g_im = gr.a(N2 + n, n) - gr.a(n, N2 + n);
          g.log_a_real(h, n) += static_cast<T>(lam.real() * g_re);
          g.a_imag(h, n) += static_cast<T>(g_im);
          detail::add_c(g.b, Cd(gr.b(n), gr.b(N2 + n)), h, n);
          for (Index j = 0; j < rank; ++j) detail::add_c(g.p, Cd(g_q(n, j), g_q(N2 + n, j)), h, j, n);
          for (Index d = 0; d < dirs(); ++d) detail::add_c(g.c, Cd(2.0 * g_ct(d, n), -2.0 * g_ct(d, N2 + n)), d, h, n);
        }
        g.log_dt(h) += static_cast<T>(r.dt * gr.dt);
      }
    });
  }

  Config cfg_;
  Shell shell_;
  ParamSlot<1> log_dt_;
  ParamSlot<2> log_a_real_, a_imag_;
  ParamSlot<4> p_;
  ParamSlot<3> b_;
  ParamSlot<4> c_;
  detail::KernelMemo<T> memo_;
  std::vector<T> freq_a_, freq_beta_;  // {F, 2}
  std::vector<Cd> beta_d_;             // {F}
};

}  // namespace ssm
