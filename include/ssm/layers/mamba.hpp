// ssm/layers/mamba.hpp — the Mamba block (Gu & Dao 2023, mamba_simple.py), a mixer {B, L, d} → {B, L, d}:
//   [x, z] = in_proj(u);  x = silu(conv1d(x));  [δ, B, C] = x_proj(x);  Δ = softplus(dt_proj(δ) + dt_bias);
//   y = selective_scan(x, Δ, A = −exp(A_log), B, C) + D·x;  out = out_proj(y · silu(z)).
// Δ, B and C can each be made input-independent (the paper's selectivity ablation); N is a run-time size.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

#include "ssm/backend/scalar/selective_scan.hpp"
#include "ssm/backend/simd/selective_scan.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/activations.hpp"
#include "ssm/nn/conv1d.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm {

struct MambaConfig {
  Index d_model = 64;
  Index d_state = 16;  ///< N, states per channel
  Index d_conv = 4;    ///< taps of the causal depthwise convolution
  Index expand = 2;    ///< E: the scan runs on E·d_model channels
  Index dt_rank = 0;   ///< R, rank of Δ's projection; 0 = ceil(d_model / 16)
  double dt_min = 1e-3, dt_max = 0.1, dt_init_floor = 1e-4;  ///< initial Δ, log-uniform in [dt_min, dt_max]
  double dt_scale = 1.0;                                      ///< dt_proj weight ~ U(±dt_scale/√R)
  bool conv_bias = true;
  bool bias = false;  ///< biases of in_proj and out_proj
  /// Selectivity: false makes the quantity input-independent — Δ = softplus(dt_bias) per channel, and B or C
  /// a learned {E·d, N} parameter (B starts at 1, C ~ N(0, 1), as S4D-Real).
  bool selective_delta = true, selective_B = true, selective_C = true;
  Index chunk = 64;  ///< scan steps between stored states (backward memory ∝ L / chunk)
};

template <Real T>
struct MambaParams {
  nn::LinearParams<T> in_proj;   // weight {2·E·d, d}
  nn::Conv1dParams<T> conv;      // weight {K, E·d}, bias {E·d}
  nn::LinearParams<T> x_proj;    // weight {R + 2N (selective parts only), E·d}; empty when nothing is selective
  nn::LinearParams<T> dt_proj;   // weight {E·d, R}; empty when Δ is not selective
  View<T, 1> dt_bias;            // {E·d}
  View<T, 2> A_log;              // {E·d, N}: A = −exp(A_log)
  View<T, 1> D;                  // {E·d}
  View<T, 2> B;                  // {E·d, N} when B is not selective, else empty
  View<T, 2> C;                  // {E·d, N} when C is not selective, else empty
  nn::LinearParams<T> out_proj;  // weight {d, E·d}
};

template <Real T, Backend Bk = backend::Default>
class Mamba {
 public:
  using Config = MambaConfig;
  using Params = MambaParams<T>;
  static constexpr const char* kind = "mamba";

  struct Cache {
    typename nn::Linear<T, Bk>::Cache in_proj, x_proj, dt_proj, out_proj;
    typename nn::Conv1d<T, Bk>::Cache conv;
    View<T, 2> xz;              // {B·L, 2E·d}: in_proj output, x then z
    View<T, 3> conv_out;        // {B, L, E·d}: before the SiLU
    View<T, 3> xc;              // {B, L, E·d}: the scan's input u
    View<T, 2> x_dbl;           // {B·L, R + 2N}: δ, B, C (selective parts)
    View<T, 3> delta;           // {B, L, E·d}: dt_proj(δ), before bias and softplus
    View<T, 2> A;               // {E·d, N}
    View<T, 4> chunk_states;    // the scan's stored states (training passes only)
    View<const std::int32_t, 1> lengths;
    Index batch = 0, L = 0;
  };

  /// Owning per-sequence state for generation: the convolution's last K−1 inputs and the scan state, plus the
  /// scratch of one step. Its size does not depend on how many tokens were generated.
  struct State {
    Index batch = 0;
    Buffer<T> conv;  // {B, K−1, E·d}
    Buffer<T> ssm;   // {B, E·d, N}
    Workspace ws;    // one step's intermediates, reset every step
  };

  Mamba() = default;
  Mamba(ParamLayout& layout, std::string_view name, const Config& cfg) : cfg_(cfg) {
    SSM_CHECK(cfg.d_model > 0 && cfg.d_state > 0 && cfg.d_conv > 0 && cfg.expand > 0 && cfg.chunk > 0, name,
              ": Mamba needs positive d_model, d_state, d_conv, expand and chunk");
    SSM_CHECK(cfg.dt_min > 0 && cfg.dt_min <= cfg.dt_max && cfg.dt_init_floor > 0, name,
              ": Mamba needs 0 < dt_min <= dt_max and dt_init_floor > 0, found ", cfg.dt_min, ", ", cfg.dt_max, ", ",
              cfg.dt_init_floor);
    d_ = cfg.d_model;
    N_ = cfg.d_state;
    E_ = cfg.expand * cfg.d_model;
    R_ = cfg.dt_rank > 0 ? cfg.dt_rank : (cfg.d_model + 15) / 16;
    off_B_ = cfg.selective_delta ? R_ : 0;
    off_C_ = off_B_ + (cfg.selective_B ? N_ : 0);
    x_cols_ = off_C_ + (cfg.selective_C ? N_ : 0);
    const ParamOptions ssm_group{.weight_decay = false, .group = "ssm"};
    in_proj_ = nn::Linear<T, Bk>(layout, join_name(name, "in_proj"), d_, 2 * E_, cfg.bias);
    conv_ = nn::Conv1d<T, Bk>(layout, join_name(name, "conv1d"), E_, cfg.d_conv, cfg.conv_bias);
    if (x_cols_ > 0) x_proj_ = nn::Linear<T, Bk>(layout, join_name(name, "x_proj"), E_, x_cols_, false);
    if (cfg.selective_delta) dt_proj_ = nn::Linear<T, Bk>(layout, join_name(name, "dt_proj"), R_, E_, false);
    dt_bias_ = layout.add<1>(join_name(name, "dt_bias"), {E_}, ssm_group);
    A_log_ = layout.add<2>(join_name(name, "A_log"), {E_, N_}, ssm_group);
    D_ = layout.add<1>(join_name(name, "D"), {E_}, ssm_group);
    if (!cfg.selective_B) B_ = layout.add<2>(join_name(name, "B"), {E_, N_}, ssm_group);
    if (!cfg.selective_C) C_ = layout.add<2>(join_name(name, "C"), {E_, N_}, ssm_group);
    out_proj_ = nn::Linear<T, Bk>(layout, join_name(name, "out_proj"), E_, d_, cfg.bias);
  }

  const Config& config() const { return cfg_; }
  Index d_model() const { return d_; }
  Index d_inner() const { return E_; }
  Index d_state() const { return N_; }
  Index dt_rank() const { return R_; }

  Params bind(T* base) const {
    Params p;
    p.in_proj = in_proj_.bind(base);
    p.conv = conv_.bind(base);
    if (x_cols_ > 0) p.x_proj = x_proj_.bind(base);
    if (cfg_.selective_delta) p.dt_proj = dt_proj_.bind(base);
    p.dt_bias = dt_bias_.bind(base);
    p.A_log = A_log_.bind(base);
    p.D = D_.bind(base);
    if (!cfg_.selective_B) p.B = B_.bind(base);
    if (!cfg_.selective_C) p.C = C_.bind(base);
    p.out_proj = out_proj_.bind(base);
    return p;
  }

  /// The reference initialisation (mamba_simple.py): PyTorch's defaults for in_proj, conv1d, x_proj and out_proj;
  /// dt_proj weight U(±dt_scale/√R); Δ₀ log-uniform in [dt_min, dt_max] (at least dt_init_floor) and
  /// dt_bias = softplus⁻¹(Δ₀); A_log[d, n] = log(n + 1) (S4D-Real); D = 1.
  void init(const Params& p, Rng& rng) const {
    Rng r_in = rng.fork(0), r_conv = rng.fork(1), r_x = rng.fork(2), r_dt = rng.fork(3), r_bias = rng.fork(4),
        r_out = rng.fork(5), r_bc = rng.fork(6);
    in_proj_.init(p.in_proj, r_in);
    conv_.init(p.conv, r_conv);
    if (x_cols_ > 0) x_proj_.init(p.x_proj, r_x);
    if (cfg_.selective_delta) {
      const T std = static_cast<T>(cfg_.dt_scale / std::sqrt(static_cast<double>(R_)));
      fill_uniform(p.dt_proj.weight, r_dt, -std, std);
    }
    const double lo = std::log(cfg_.dt_min), hi = std::log(cfg_.dt_max);
    for (Index e = 0; e < E_; ++e) {
      const double dt = std::max(std::exp(r_bias.uniform<double>(lo, hi)), cfg_.dt_init_floor);
      p.dt_bias(e) = static_cast<T>(math::softplus_inverse(dt));
      for (Index n = 0; n < N_; ++n) p.A_log(e, n) = static_cast<T>(std::log(static_cast<double>(n + 1)));
      p.D(e) = T(1);
    }
    if (!p.B.empty()) fill(p.B, T(1));
    if (!p.C.empty()) fill_normal(p.C, r_bc, T(0), T(1));
    out_proj_.init(p.out_proj, r_out);
  }

  /// x: {B, L, d} -> y: {B, L, d}; lengths {B} (each in [0, L], or empty: all L). Steps past a sequence's length
  /// are never computed, and neither they nor anything after them changes the outputs before it. The caller
  /// keeps x and lengths alive until backward.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    forward_from(p, x, lengths, y, cache, ctx, View<T, 2>());
  }

  /// Values of the scan state one sequence carries from one forward to the next: E·d·N.
  Index carried_state_size() const { return E_ * N_; }

  /// forward, with each sequence's scan starting from `state` {B, E·d·N} (the {E·d, N} state flattened; empty:
  /// zeros) instead of zeros, and its final scan state (after its last step) written back into `state` — what
  /// state passing and initial-state noise train with (Buitrago Ruiz & Gu 2025). The convolution starts from
  /// zeros either way. The state is an input without gradient, so backward is unchanged: the scan's stored chunk
  /// states already begin with it.
  void forward_from(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y,
                    Cache& cache, const Context& ctx, View<T, 2> state) const {
    expect_shape(x, "Mamba input", {-1, -1, d_});
    expect_shape(y, "Mamba output", {x.extent(0), x.extent(1), d_});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "Mamba: expected contiguous input and output");
    const Index Bn = x.extent(0), L = x.extent(1), M = Bn * L;
    View<T, 3> h;
    if (!state.empty()) {
      expect_shape(state, "Mamba carried state", {Bn, E_ * N_});
      SSM_CHECK(state.is_contiguous(), "Mamba: expected a contiguous carried state");
      h = View<T, 3>(state.data(), {Bn, E_, N_});
    }
    Workspace& ws = ctx.workspace();
    cache.batch = Bn;
    cache.L = L;
    cache.lengths = lengths;
    cache.xz = ws.take<T, 2>({M, 2 * E_});
    cache.conv_out = ws.take<T, 3>({Bn, L, E_});
    cache.xc = ws.take<T, 3>({Bn, L, E_});
    cache.x_dbl = x_cols_ > 0 ? ws.take<T, 2>({M, x_cols_}) : View<T, 2>();
    cache.delta = ws.take<T, 3>({Bn, L, E_});
    cache.A = ws.take<T, 2>({E_, N_});
    cache.chunk_states = ctx.training
                             ? ws.take<T, 4>({Bn, backend::selective_scan_chunks(L, cfg_.chunk), E_, N_})
                             : View<T, 4>();
    auto ys = ws.take<T, 3>({Bn, L, E_});

    in_proj_.forward(p.in_proj, reshape(x, {M, d_}), cache.xz, cache.in_proj, ctx);
    conv_.forward(p.conv, half(cache.xz, 0, Bn, L), cache.conv_out, cache.conv, ctx);
    nn::activation_forward<Bk>(Activation::Silu, View<const T, 3>(cache.conv_out), cache.xc);
    const auto xc2 = reshape(View<const T, 3>(cache.xc), {M, E_});
    if (x_cols_ > 0) x_proj_.forward(p.x_proj, xc2, cache.x_dbl, cache.x_proj, ctx);
    if (cfg_.selective_delta)
      dt_proj_.forward(p.dt_proj, View<const T, 2>(cache.x_dbl.slice(1, 0, R_)), reshape(cache.delta, {M, E_}),
                       cache.dt_proj, ctx);
    else
      fill(cache.delta, T(0));  // Δ = softplus(dt_bias) at every step
    for (Index e = 0; e < E_; ++e)
      for (Index n = 0; n < N_; ++n) cache.A(e, n) = -std::exp(p.A_log(e, n));

    selective_scan_forward(Bk{}, scan_params(p, cache, h), {ys, h, cache.chunk_states}, ws);  // h_last aliases h0
    out_proj_.forward(p.out_proj, reshape(View<const T, 3>(ys), {M, E_}), reshape(y, {M, d_}), cache.out_proj, ctx);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty. Needs the cache of a
  /// training forward (ctx.training), which keeps the scan's chunk states.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    const Index Bn = cache.batch, L = cache.L, M = Bn * L;
    expect_shape(dy, "Mamba output gradient", {Bn, L, d_});
    SSM_CHECK(dy.is_contiguous(), "Mamba backward: expected a contiguous output gradient");
    if (!dx.empty()) {
      expect_shape(dx, "Mamba input gradient", {Bn, L, d_});
      SSM_CHECK(dx.is_contiguous(), "Mamba backward: expected a contiguous input gradient");
    }
    SSM_CHECK(!cache.chunk_states.empty(), "Mamba backward needs the cache of a training forward (ctx.training)");
    Workspace& ws = ctx.workspace();
    auto dys = ws.take<T, 2>({M, E_});
    auto dxz = ws.take<T, 2>({M, 2 * E_});
    auto dxc = ws.take<T, 3>({Bn, L, E_});
    auto dx_dbl = x_cols_ > 0 ? ws.take<T, 2>({M, x_cols_}) : View<T, 2>();
    auto ddelta = cfg_.selective_delta ? ws.take<T, 3>({Bn, L, E_}) : View<T, 3>();
    auto dA = ws.take<T, 2>({E_, N_});
    fill(dA, T(0));

    // out = out_proj(y·silu(z))
    out_proj_.backward(p.out_proj, cache.out_proj, reshape(dy, {M, d_}), dys, g.out_proj, ctx);
    // the scan (with the gate): gradients wrt u = xc, δ, B, C (columns of x_dbl), z (columns of xz) and
    // the parameters A (via dA), D, dt_bias and the fixed B, C.
    backend::SelectiveScanGrads<T> sg;
    sg.dy = reshape(View<const T, 2>(dys), {Bn, L, E_});
    sg.du = dxc;
    sg.ddelta = ddelta;
    if (cfg_.selective_B) sg.dB = columns(dx_dbl, off_B_, N_, Bn, L);
    if (cfg_.selective_C) sg.dC = columns(dx_dbl, off_C_, N_, Bn, L);
    sg.dz = half(dxz, 1, Bn, L);
    sg.dA = dA;
    sg.dD = g.D;
    sg.ddelta_bias = g.dt_bias;
    sg.dB_fixed = g.B;
    sg.dC_fixed = g.C;
    selective_scan_backward(Bk{}, scan_params(p, cache, {}), View<const T, 4>(cache.chunk_states), sg, ws);
    // A = −exp(A_log): dA_log = dA · (−exp(A_log)) = dA · A.
    for (Index e = 0; e < E_; ++e)
      for (Index n = 0; n < N_; ++n) g.A_log(e, n) += dA(e, n) * cache.A(e, n);
    // Δ's projection writes the δ columns of dx_dbl; x_proj then takes the whole of dx_dbl back to xc.
    if (cfg_.selective_delta)
      dt_proj_.backward(p.dt_proj, cache.dt_proj, reshape(View<const T, 3>(ddelta), {M, E_}), dx_dbl.slice(1, 0, R_),
                        g.dt_proj, ctx);
    if (x_cols_ > 0) {
      auto dxc_proj = ws.take<T, 2>({M, E_});
      x_proj_.backward(p.x_proj, cache.x_proj, View<const T, 2>(dx_dbl), dxc_proj, g.x_proj, ctx);
      T* const a = dxc.data();
      const T* const b = dxc_proj.data();
      parallel_for(M * E_, 1 << 14, [=](Index i0, Index i1) {
        for (Index i = i0; i < i1; ++i) a[i] += b[i];
      });
    }
    // xc = silu(conv_out); conv_out = conv1d(x half of xz); xz = in_proj(u).
    nn::activation_backward<Bk>(Activation::Silu, View<const T, 3>(cache.conv_out), View<const T, 3>(dxc), dxc);
    conv_.backward(p.conv, cache.conv, View<const T, 3>(dxc), half(dxz, 0, Bn, L), g.conv, ctx);
    in_proj_.backward(p.in_proj, cache.in_proj, View<const T, 2>(dxz), dx.empty() ? View<T, 2>() : reshape(dx, {M, d_}),
                      g.in_proj, ctx);
  }

  /// A zero state for `batch` sequences.
  State make_state(Index batch) const {
    SSM_CHECK(batch > 0, "Mamba::make_state: batch must be positive, found ", batch);
    State s;
    s.batch = batch;
    s.conv = Buffer<T>(batch * (cfg_.d_conv - 1) * E_, T(0));
    s.ssm = Buffer<T>(batch * E_ * N_, T(0));
    return s;
  }

  /// One token of each sequence: x_t {B, d} -> y_t {B, d}, updating the state; the same as forward over the
  /// whole sequence, one step at a time, in constant memory.
  void step(const Params& p, State& s, View<const T, 2> x_t, View<T, 2> y_t) const {
    const Index Bn = s.batch;
    expect_shape(x_t, "Mamba step input", {Bn, d_});
    expect_shape(y_t, "Mamba step output", {Bn, d_});
    Workspace& ws = s.ws;
    ws.reset();
    Context ctx(ws, false, 0);
    Cache cache;
    cache.batch = Bn;
    cache.L = 1;
    cache.xz = ws.take<T, 2>({Bn, 2 * E_});
    cache.conv_out = ws.take<T, 3>({Bn, 1, E_});
    cache.xc = ws.take<T, 3>({Bn, 1, E_});
    cache.x_dbl = x_cols_ > 0 ? ws.take<T, 2>({Bn, x_cols_}) : View<T, 2>();
    cache.delta = ws.take<T, 3>({Bn, 1, E_});
    cache.A = ws.take<T, 2>({E_, N_});
    auto ys = ws.take<T, 3>({Bn, 1, E_});

    in_proj_.forward(p.in_proj, x_t, cache.xz, cache.in_proj, ctx);
    conv_.step(p.conv, s.conv.template view<3>({Bn, cfg_.d_conv - 1, E_}), View<const T, 2>(cache.xz.slice(1, 0, E_)),
               reshape(cache.conv_out, {Bn, E_}));
    nn::activation_forward<Bk>(Activation::Silu, View<const T, 3>(cache.conv_out), cache.xc);
    const auto xc2 = reshape(View<const T, 3>(cache.xc), {Bn, E_});
    if (x_cols_ > 0) x_proj_.forward(p.x_proj, xc2, cache.x_dbl, cache.x_proj, ctx);
    if (cfg_.selective_delta)
      dt_proj_.forward(p.dt_proj, View<const T, 2>(cache.x_dbl.slice(1, 0, R_)), reshape(cache.delta, {Bn, E_}),
                       cache.dt_proj, ctx);
    else
      fill(cache.delta, T(0));
    for (Index e = 0; e < E_; ++e)
      for (Index n = 0; n < N_; ++n) cache.A(e, n) = -std::exp(p.A_log(e, n));
    auto state = s.ssm.template view<3>({Bn, E_, N_});
    selective_scan_forward(Bk{}, scan_params(p, cache, state), {ys, state, {}}, ws);  // h_last aliases h0
    out_proj_.forward(p.out_proj, reshape(View<const T, 3>(ys), {Bn, E_}), y_t, cache.out_proj, ctx);
  }

 private:
  /// Columns [first, first + n) of a {B·L, cols} matrix as {B, L, n}.
  template <class U>
  static View<U, 3> columns(View<U, 2> m, Index first, Index n, Index Bn, Index L) {
    return View<U, 3>(m.data() + first, {Bn, L, n}, {L * m.stride(0), m.stride(0), 1});
  }
  /// The x (which = 0) or z (which = 1) half of xz: {B·L, 2E} as {B, L, E}.
  View<T, 3> half(View<T, 2> xz, int which, Index Bn, Index L) const { return columns(xz, which * E_, E_, Bn, L); }

  backend::SelectiveScanParams<T> scan_params(const Params& p, const Cache& c, View<const T, 3> h0) const {
    backend::SelectiveScanParams<T> sp;
    sp.u = c.xc;
    sp.delta = c.delta;
    sp.A = c.A;
    if (cfg_.selective_B)
      sp.B = columns(View<const T, 2>(c.x_dbl), off_B_, N_, c.batch, c.L);
    else
      sp.B_fixed = p.B;
    if (cfg_.selective_C)
      sp.C = columns(View<const T, 2>(c.x_dbl), off_C_, N_, c.batch, c.L);
    else
      sp.C_fixed = p.C;
    sp.D = p.D;
    sp.z = half(c.xz, 1, c.batch, c.L);
    sp.delta_bias = p.dt_bias;
    sp.delta_softplus = true;
    sp.h0 = h0;
    sp.lengths = c.lengths;
    sp.chunk = cfg_.chunk;
    return sp;
  }

  Config cfg_;
  Index d_ = 0, N_ = 0, E_ = 0, R_ = 0, off_B_ = 0, off_C_ = 0, x_cols_ = 0;
  nn::Linear<T, Bk> in_proj_, x_proj_, dt_proj_, out_proj_;
  nn::Conv1d<T, Bk> conv_;
  ParamSlot<1> dt_bias_, D_;
  ParamSlot<2> A_log_, B_, C_;
};

}  // namespace ssm
