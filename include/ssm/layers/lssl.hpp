// ssm/layers/lssl.hpp — the Linear State-Space Layer (Gu et al. 2021): H channels sharing a HiPPO-initialised
// dense A {N, N} (fixed, or trained), each with its own Δ, B, C; discretized densely and convolved by FFT with the
// Krylov kernel   K_h = (C_h B̄_h, C_h Ā_h B̄_h, …, C_h Ā_h^{L−1} B̄_h),   (Ā_h, B̄_h) = Disc(A, B_h, Δ_h),
// computed in double (layers/dense_ssm.hpp). O(N³ + L N²) per channel: the slow, exact ancestor of S4.
#pragma once

#include <cmath>
#include <string_view>
#include <vector>

#include "ssm/backend/simd/dense_step.hpp"
#include "ssm/discretize/discretize.hpp"
#include "ssm/hippo/hippo.hpp"
#include "ssm/layers/dense_recurrence.hpp"
#include "ssm/layers/dense_ssm.hpp"
#include "ssm/layers/kernel_memo.hpp"
#include "ssm/layers/lti_shell.hpp"
#include "ssm/layers/s4d.hpp"

namespace ssm {

struct LsslConfig {
  Index d_model = 0;           ///< H, the channels
  Index d_state = 64;          ///< N
  bool train_a = false;        ///< learn A (shared by the channels) instead of keeping HiPPO's
  double dt_min = 1e-3;        ///< Δ is drawn log-uniform in [dt_min, dt_max]
  double dt_max = 1e-1;
  bool bidirectional = false;  ///< a second C runs the SSM backwards over each sequence (within its length)
  double dropout = 0.0;        ///< after the activation
  Activation activation = Activation::Gelu;
  bool glu = false;            ///< output Linear H → 2H followed by GLU, instead of H → H
};

template <Real T>
struct LsslParams {
  View<T, 1> log_dt;  // {H}
  View<T, 2> a;       // {N, N}, empty unless train_a
  View<T, 2> b;       // {H, N}
  View<T, 3> c;       // {Dirs, H, N}
  detail::LtiShellParams<T> shell;  // D {H}, output Linear
};

template <Real T, HippoMatrix Hippo = hippo::LegS, Discretization Disc = discretize::Bilinear,
          Backend B = backend::Default>
class Lssl {
 public:
  using Config = LsslConfig;
  using Params = LsslParams<T>;
  using Shell = detail::LtiShell<T, B>;
  struct Cache {
    View<T, 3> k;  // {Dirs, H, L}
    bool training = false;  // a training forward: what backward needs is here
    typename Shell::Cache shell;
  };
  /// Generation state, owning: x {B, H, N}, with Ā_h {N, N} and B̄_h computed at the first step (call make_state
  /// again after the parameters change).
  using State = detail::DenseRecurrence<T>;

  Lssl(ParamLayout& layout, std::string_view name, const Config& cfg)
      : cfg_(cfg),
        shell_(layout, name,
               {.channels = cfg.d_model, .bidirectional = cfg.bidirectional, .dropout = cfg.dropout,
                .activation = cfg.activation, .glu = cfg.glu}),
        hippo_a_(Hippo::template matrices<double>(cfg.d_state).first) {
    SSM_CHECK(cfg.d_model > 0 && cfg.d_state > 0, name, ": LSSL needs d_model, d_state > 0, found ", cfg.d_model,
              ", ", cfg.d_state);
    const Index H = cfg.d_model, N = cfg.d_state;
    const ParamOptions ssm_group{.weight_decay = false, .group = "ssm"};
    log_dt_ = layout.add<1>(join_name(name, "log_dt"), {H}, ssm_group);
    if (cfg.train_a) a_ = layout.add<2>(join_name(name, "A"), {N, N}, ssm_group);
    b_ = layout.add<2>(join_name(name, "B"), {H, N}, ssm_group);
    c_ = layout.add<3>(join_name(name, "C"), {shell_.directions(), H, N});
  }

  const Config& config() const { return cfg_; }
  /// The evaluation-mode kernel memo (ssm/layers/kernel_memo.hpp).
  const detail::KernelMemo<T>& kernel_memo() const { return memo_; }

  Params bind(T* base) const {
    return {log_dt_.bind(base), cfg_.train_a ? a_.bind(base) : View<T, 2>(), b_.bind(base), c_.bind(base),
            shell_.bind(base)};
  }

  /// A and every B_h from Hippo, C ~ N(0, 1), Δ log-uniform.
  void init(const Params& p, Rng& rng) const {
    const Index H = cfg_.d_model, N = cfg_.d_state;
    auto [a, b] = Hippo::template matrices<double>(N);
    detail::init_log_dt(p.log_dt, rng, cfg_.dt_min, cfg_.dt_max);
    if (cfg_.train_a)
      for (Index i = 0; i < N; ++i)
        for (Index j = 0; j < N; ++j) p.a(i, j) = static_cast<T>(a(i, j));
    for (Index h = 0; h < H; ++h)
      for (Index i = 0; i < N; ++i) p.b(h, i) = static_cast<T>(b(i));
    fill_normal(p.c, rng, T(0), T(1));
    shell_.init(p.shell, rng);
  }

  /// The kernel K {Dirs, H, L} alone: what forward convolves with.
  void kernel(const Params& p, View<T, 3> k, const Context&) const {
    const Index L = k.extent(2), D = shell_.directions();
    expect_shape(k, "LSSL kernel", {D, cfg_.d_model, -1});
    const detail::MatD a = matrix_a(p);
    parallel_for(cfg_.d_model, 1, [&, k](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        auto [abar, bbar] = Disc::apply(a, vec_b(p, h), std::exp(static_cast<double>(p.log_dt(h))));
        const detail::MatD kk = mat_c(p, h) * detail::krylov(abar, bbar, L);
        for (Index d = 0; d < D; ++d)
          for (Index l = 0; l < L; ++l) k(d, h, l) = static_cast<T>(kk(d, l));
      }
    });
  }

  /// x: {B, L, H} -> y: {B, L, H}; lengths {B} or empty (all L). Causal unless bidirectional.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1), H = cfg_.d_model;
    expect_shape(x, "LSSL input", {-1, -1, H});
    expect_shape(y, "LSSL output", {Bn, L, H});
    if (!lengths.empty()) expect_shape(lengths, "LSSL lengths", {Bn});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "LSSL: input and output must be contiguous");
    cache.k = ctx.workspace().take<T, 3>({shell_.directions(), H, L});
    cache.training = ctx.training;
    // What K is built from: the memo's key for the kernel and its spectrum.
    const auto sources = {detail::memo_source(p.log_dt), detail::memo_source(p.a), detail::memo_source(p.b),
                           detail::memo_source(p.c)};
    memo_.obtain(sources, cache.k, ctx.training, [&] { kernel(p, cache.k, ctx); });
    shell_.forward(p.shell, x, lengths, View<const T, 3>(cache.k), y, cache.shell, ctx, &memo_, sources);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  /// Per channel: the Krylov adjoint gives ∂Ā, ∂B̄, ∂C; the discretization's adjoint turns ∂Ā, ∂B̄ into ∂A, ∂B, ∂Δ.
  /// ∂A (shared) is summed over the channels in channel order, so the bits do not depend on the thread count.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    SSM_CHECK(cache.training, "LSSL::backward: the forward ran with an evaluation Context; backward needs a training one");
    const Index H = cfg_.d_model, N = cfg_.d_state, L = cache.k.extent(2), D = shell_.directions();
    Workspace& ws = ctx.workspace();
    auto dk = ws.take<T, 3>({D, H, L});
    shell_.backward(p.shell, cache.shell, dy, dx, dk, g.shell, ctx);
    const detail::MatD a = matrix_a(p);
    auto g_a_parts = ws.take<double, 3>({cfg_.train_a ? H : 0, N, N});
    parallel_for(H, 1, [&, dk, g_a_parts](Index h0, Index h1) {
      for (Index h = h0; h < h1; ++h) {
        const double dt = std::exp(static_cast<double>(p.log_dt(h)));
        const detail::VecD bh = vec_b(p, h);
        const detail::MatD c = mat_c(p, h);
        auto [abar, bbar] = Disc::apply(a, bh, dt);
        const detail::MatD v = detail::krylov(abar, bbar, L);
        detail::MatD gk(D, L);
        for (Index d = 0; d < D; ++d)
          for (Index l = 0; l < L; ++l) gk(d, l) = static_cast<double>(dk(d, h, l));
        detail::MatD g_abar = detail::MatD::Zero(N, N), g_c = detail::MatD::Zero(D, N);
        detail::VecD g_bbar = detail::VecD::Zero(N);
        detail::krylov_backward(abar, v, c, gk, g_abar, g_bbar, g_c);
        const auto gr = Disc::apply_backward(a, bh, dt, g_abar, g_bbar);
        for (Index i = 0; i < N; ++i) {
          g.b(h, i) += static_cast<T>(gr.b(i));
          for (Index d = 0; d < D; ++d) g.c(d, h, i) += static_cast<T>(g_c(d, i));
          if (cfg_.train_a)
            for (Index j = 0; j < N; ++j) g_a_parts(h, i, j) = gr.a(i, j);
        }
        g.log_dt(h) += static_cast<T>(dt * gr.dt);
      }
    });
    if (cfg_.train_a)
      for (Index h = 0; h < H; ++h)
        for (Index i = 0; i < N; ++i)
          for (Index j = 0; j < N; ++j) g.a(i, j) += static_cast<T>(g_a_parts(h, i, j));
  }

  State make_state(Index batch) const {
    SSM_CHECK(!cfg_.bidirectional, "Lssl::make_state: a bidirectional layer sees the future and has no recurrent step");
    return State(batch, cfg_.d_model, cfg_.d_state, cfg_.glu);
  }

  /// One token: x_t, y_t {B, H}. x ← Ā x + B̄ u, z = C x + D u, y = mix(z).
  void step(const Params& p, State& s, View<const T, 2> x_t, View<T, 2> y_t) const {
    const Index H = cfg_.d_model, Bn = s.batch;
    expect_shape(x_t, "LSSL step input", {Bn, H});
    expect_shape(y_t, "LSSL step output", {Bn, H});
    if (!s.ready) {
      const detail::MatD a = matrix_a(p);
      for (Index h = 0; h < H; ++h) {
        auto [abar, bbar] = Disc::apply(a, vec_b(p, h), std::exp(static_cast<double>(p.log_dt(h))));
        s.set_channel(h, H, abar, bbar);
      }
      s.ready = true;
    }
    s.template advance<B>(x_t, View<const T, 1>(p.shell.d), [&](Index h) { return &p.c(0, h, 0); });
    shell_.step_output(p.shell, View<T, 2>(s.z.data(), {Bn, H}),
                       View<T, 2>(s.scratch.data(), {Bn, cfg_.glu ? 2 * H : H}), y_t);
  }

 private:
  detail::MatD matrix_a(const Params& p) const {
    if (!cfg_.train_a) return hippo_a_;
    detail::MatD a(cfg_.d_state, cfg_.d_state);
    for (Index i = 0; i < cfg_.d_state; ++i)
      for (Index j = 0; j < cfg_.d_state; ++j) a(i, j) = static_cast<double>(p.a(i, j));
    return a;
  }
  detail::VecD vec_b(const Params& p, Index h) const {
    detail::VecD b(cfg_.d_state);
    for (Index i = 0; i < cfg_.d_state; ++i) b(i) = static_cast<double>(p.b(h, i));
    return b;
  }
  detail::MatD mat_c(const Params& p, Index h) const {
    detail::MatD c(shell_.directions(), cfg_.d_state);
    for (Index d = 0; d < shell_.directions(); ++d)
      for (Index i = 0; i < cfg_.d_state; ++i) c(d, i) = static_cast<double>(p.c(d, h, i));
    return c;
  }

  Config cfg_;
  Shell shell_;
  detail::MatD hippo_a_;
  ParamSlot<1> log_dt_;
  ParamSlot<2> a_;
  ParamSlot<2> b_;
  ParamSlot<3> c_;
  detail::KernelMemo<T> memo_;
};

}  // namespace ssm
