// ssm/layers/mamba2.hpp — the Mamba-2 mixer (Dao & Gu 2024; mamba_ssm's Mamba2, Hugging Face's Mamba2Mixer, whose
// checkpoints load name for name), {B, L, d} → {B, L, d}, with E = expand·d channels in H = E/P heads:
//   [z, xBC, δ] = in_proj(u);  [x, B, C] = silu(conv1d(xBC));  Δ = softplus(δ + dt_bias);  A = −exp(A_log) per head;
//   y = SSD(x, Δ, A, B, C) + D·x  (h_t = exp(Δ_t A) h_{t−1} + Δ_t x_t B_tᵀ, y_t = h_t C_t; backend/scalar/ssd.hpp);
//   out = out_proj(rmsnorm(y · silu(z)) · norm.weight), the RMS taken over each group of E/G channels.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

#include "ssm/backend/scalar/ssd.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/activations.hpp"
#include "ssm/nn/conv1d.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/norm.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm {

struct Mamba2Config {
  Index d_model = 64;
  Index d_state = 64;   ///< N, states per channel of a head (shared by the heads of a group)
  Index d_conv = 4;     ///< taps of the causal depthwise convolution over x, B and C
  Index expand = 2;     ///< E = expand·d_model channels
  Index head_dim = 16;  ///< P, channels per head: H = E / P heads, each with one scalar decay
  Index n_groups = 1;   ///< G, groups of heads sharing B and C (and one RMS of the gated norm); H % G == 0
  double dt_min = 1e-3, dt_max = 0.1, dt_init_floor = 1e-4;  ///< initial Δ, log-uniform in [dt_min, dt_max]
  double A_init_min = 1, A_init_max = 16;                     ///< initial −A, uniform in this range
  bool conv_bias = true;
  bool bias = false;  ///< biases of in_proj and out_proj
  double norm_eps = 1e-5;
  Index chunk = 64;  ///< Q, steps per chunk of the SSD algorithm
};

template <Real T>
struct Mamba2Params {
  nn::LinearParams<T> in_proj;   // weight {2E + 2GN + H, d}: output columns z (E), x (E), B (GN), C (GN), δ (H)
  nn::Conv1dParams<T> conv;      // weight {K, E + 2GN}, bias {E + 2GN}
  View<T, 1> dt_bias;            // {H}
  View<T, 1> A_log;              // {H}: A = −exp(A_log)
  View<T, 1> D;                  // {H}
  nn::RmsNormParams<T> norm;     // weight {E}
  nn::LinearParams<T> out_proj;  // weight {d, E}
};

template <Real T, Backend Bk = backend::Default>
class Mamba2 {
 public:
  using Config = Mamba2Config;
  using Params = Mamba2Params<T>;
  static constexpr const char* kind = "mamba2";

  struct Cache {
    typename nn::Linear<T, Bk>::Cache in_proj, out_proj;
    typename nn::Conv1d<T, Bk>::Cache conv;
    View<T, 2> zxbcdt;        // {B·L, 2E + 2GN + H}: in_proj output
    View<T, 3> conv_out;      // {B, L, E + 2GN}: before the SiLU
    View<T, 3> xbc;           // {B, L, E + 2GN}: x, B, C
    View<T, 3> dt;            // {B, L, H}: Δ
    View<T, 1> A;             // {H}
    View<T, 2> y;             // {B·L, E}: the scan's output with D·x, before the gate
    View<T, 2> gate;          // {B·L, E}: sigmoid(z), the gate's one exp per element (silu(z) = z · gate)
    View<T, 2> rstd;          // {B·L, G}: the gated norm's 1/RMS per group
    View<T, 2> normed;        // {B·L, E}: out_proj's input
    View<T, 4> chunk_states;  // {B, chunks, H, P·N}
    View<const std::int32_t, 1> lengths;
    Index batch = 0, L = 0;
  };

  /// Owning per-sequence state for generation: the convolution's last K−1 inputs and the scan state, plus the
  /// scratch of one step. Its size does not depend on how many tokens were generated.
  struct State {
    Index batch = 0;
    Buffer<T> conv;  // {B, K−1, E + 2GN}
    Buffer<T> ssm;   // {B, H, P, N}
    Workspace ws;    // one step's intermediates, reset every step
  };

  Mamba2() = default;
  Mamba2(ParamLayout& layout, std::string_view name, const Config& cfg) : cfg_(cfg) {
    SSM_CHECK(cfg.d_model > 0 && cfg.d_state > 0 && cfg.d_conv > 0 && cfg.expand > 0 && cfg.head_dim > 0 &&
                  cfg.n_groups > 0 && cfg.chunk > 0,
              name, ": Mamba2 needs positive d_model, d_state, d_conv, expand, head_dim, n_groups and chunk");
    E_ = cfg.expand * cfg.d_model;
    SSM_CHECK(E_ % cfg.head_dim == 0, name, ": Mamba2 needs d_inner = expand·d_model = ", E_,
              " to be a multiple of head_dim, found head_dim = ", cfg.head_dim);
    H_ = E_ / cfg.head_dim;
    SSM_CHECK(H_ % cfg.n_groups == 0, name, ": Mamba2 needs the number of heads d_inner/head_dim = ", H_,
              " to be a multiple of n_groups, found n_groups = ", cfg.n_groups);
    SSM_CHECK(cfg.dt_min > 0 && cfg.dt_min <= cfg.dt_max && cfg.dt_init_floor > 0, name,
              ": Mamba2 needs 0 < dt_min <= dt_max and dt_init_floor > 0, found ", cfg.dt_min, ", ", cfg.dt_max, ", ",
              cfg.dt_init_floor);
    SSM_CHECK(cfg.A_init_min > 0 && cfg.A_init_min <= cfg.A_init_max, name,
              ": Mamba2 needs 0 < A_init_min <= A_init_max, found ", cfg.A_init_min, ", ", cfg.A_init_max);
    SSM_CHECK(cfg.norm_eps > 0, name, ": Mamba2 needs norm_eps > 0, found ", cfg.norm_eps);
    d_ = cfg.d_model;
    N_ = cfg.d_state;
    P_ = cfg.head_dim;
    G_ = cfg.n_groups;
    conv_dim_ = E_ + 2 * G_ * N_;
    cols_ = E_ + conv_dim_ + H_;
    const ParamOptions ssm_group{.weight_decay = false, .group = "ssm"};
    in_proj_ = nn::Linear<T, Bk>(layout, join_name(name, "in_proj"), d_, cols_, cfg.bias);
    conv_ = nn::Conv1d<T, Bk>(layout, join_name(name, "conv1d"), conv_dim_, cfg.d_conv, cfg.conv_bias);
    dt_bias_ = layout.add<1>(join_name(name, "dt_bias"), {H_}, ssm_group);
    A_log_ = layout.add<1>(join_name(name, "A_log"), {H_}, ssm_group);
    D_ = layout.add<1>(join_name(name, "D"), {H_}, ssm_group);
    norm_ = layout.add<1>(join_name(join_name(name, "norm"), "weight"), {E_}, {.weight_decay = false});
    out_proj_ = nn::Linear<T, Bk>(layout, join_name(name, "out_proj"), E_, d_, cfg.bias);
  }

  const Config& config() const { return cfg_; }
  Index d_model() const { return d_; }
  Index d_inner() const { return E_; }
  Index d_state() const { return N_; }
  Index heads() const { return H_; }
  Index head_dim() const { return P_; }
  Index groups() const { return G_; }
  Index conv_dim() const { return conv_dim_; }

  Params bind(T* base) const {
    Params p;
    p.in_proj = in_proj_.bind(base);
    p.conv = conv_.bind(base);
    p.dt_bias = dt_bias_.bind(base);
    p.A_log = A_log_.bind(base);
    p.D = D_.bind(base);
    p.norm.weight = norm_.bind(base);
    p.out_proj = out_proj_.bind(base);
    return p;
  }

  /// The reference initialisation (mamba_ssm's Mamba2): PyTorch's defaults for in_proj, conv1d and out_proj;
  /// Δ₀ log-uniform in [dt_min, dt_max] (at least dt_init_floor) and dt_bias = softplus⁻¹(Δ₀);
  /// A_log = log(U[A_init_min, A_init_max]) per head; D = 1; norm weight = 1.
  void init(const Params& p, Rng& rng) const {
    Rng r_in = rng.fork(0), r_conv = rng.fork(1), r_dt = rng.fork(2), r_A = rng.fork(3), r_out = rng.fork(4);
    in_proj_.init(p.in_proj, r_in);
    conv_.init(p.conv, r_conv);
    const double lo = std::log(cfg_.dt_min), hi = std::log(cfg_.dt_max);
    for (Index h = 0; h < H_; ++h) {
      const double dt = std::max(std::exp(r_dt.uniform<double>(lo, hi)), cfg_.dt_init_floor);
      p.dt_bias(h) = static_cast<T>(math::softplus_inverse(dt));
      p.A_log(h) = static_cast<T>(std::log(r_A.uniform<double>(cfg_.A_init_min, cfg_.A_init_max)));
      p.D(h) = T(1);
    }
    fill(p.norm.weight, T(1));
    out_proj_.init(p.out_proj, r_out);
  }

  /// x: {B, L, d} -> y: {B, L, d}; lengths {B} (each in [0, L], or empty: all L). Scan steps past a sequence's
  /// length are never computed, and neither they nor anything after them changes the outputs before it (the
  /// outputs there are out_proj's bias). The caller keeps x and lengths alive until backward.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    forward_from(p, x, lengths, y, cache, ctx, View<T, 2>());
  }

  /// Values of the SSD state one sequence carries from one forward to the next: H·P·N.
  Index carried_state_size() const { return H_ * P_ * N_; }

  /// forward, with each sequence's scan starting from `state` {B, H·P·N} (the {H, P, N} state flattened; empty:
  /// zeros) and its final state written back into it (state passing, initial-state noise); the convolution
  /// starts from zeros. The state is an input without gradient: backward is unchanged, the stored chunk states
  /// begin with it.
  void forward_from(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y,
                    Cache& cache, const Context& ctx, View<T, 2> state) const {
    expect_shape(x, "Mamba2 input", {-1, -1, d_});
    expect_shape(y, "Mamba2 output", {x.extent(0), x.extent(1), d_});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "Mamba2: expected contiguous input and output");
    const Index Bn = x.extent(0), L = x.extent(1), M = Bn * L;
    View<T, 4> h;
    if (!state.empty()) {
      expect_shape(state, "Mamba2 carried state", {Bn, H_ * P_ * N_});
      SSM_CHECK(state.is_contiguous(), "Mamba2: expected a contiguous carried state");
      h = View<T, 4>(state.data(), {Bn, H_, P_, N_});
    }
    Workspace& ws = ctx.workspace();
    cache.batch = Bn;
    cache.L = L;
    cache.lengths = lengths;
    cache.zxbcdt = ws.take<T, 2>({M, cols_});
    cache.conv_out = ws.take<T, 3>({Bn, L, conv_dim_});
    cache.xbc = ws.take<T, 3>({Bn, L, conv_dim_});
    cache.dt = ws.take<T, 3>({Bn, L, H_});
    cache.A = ws.take<T>(H_);
    cache.y = ws.take<T, 2>({M, E_});
    cache.gate = ws.take<T, 2>({M, E_});
    cache.rstd = ws.take<T, 2>({M, G_});
    cache.normed = ws.take<T, 2>({M, E_});
    cache.chunk_states = ws.take<T, 4>({Bn, backend::ssd_chunks(L, cfg_.chunk), H_, P_ * N_});

    in_proj_.forward(p.in_proj, reshape(x, {M, d_}), cache.zxbcdt, cache.in_proj, ctx);
    conv_.forward(p.conv, columns(cache.zxbcdt, E_, conv_dim_, Bn, L), cache.conv_out, cache.conv, ctx);
    nn::activation_forward<Bk>(Activation::Silu, View<const T, 3>(cache.conv_out), cache.xbc);
    delta_forward(p, cache.zxbcdt, reshape(cache.dt, {M, H_}), cache.A);
    backend::ssd_chunked_forward(Bk{}, ssd_params(p, cache, reshape(cache.xbc, {M, conv_dim_}), Bn, L, h),
                                 {reshape(cache.y, {Bn, L, H_, P_}), h, cache.chunk_states}, ws);  // h_last aliases h0
    gated_norm_forward(p, cache.y, cache.zxbcdt.slice(1, 0, E_), cache.normed, cache.gate, cache.rstd);
    out_proj_.forward(p.out_proj, View<const T, 2>(cache.normed), reshape(y, {M, d_}), cache.out_proj, ctx);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    const Index Bn = cache.batch, L = cache.L, M = Bn * L;
    expect_shape(dy, "Mamba2 output gradient", {Bn, L, d_});
    SSM_CHECK(dy.is_contiguous(), "Mamba2 backward: expected a contiguous output gradient");
    if (!dx.empty()) {
      expect_shape(dx, "Mamba2 input gradient", {Bn, L, d_});
      SSM_CHECK(dx.is_contiguous(), "Mamba2 backward: expected a contiguous input gradient");
    }
    SSM_CHECK(!cache.chunk_states.empty(), "Mamba2 backward needs the cache of a forward");
    Workspace& ws = ctx.workspace();
    auto dnormed = ws.take<T, 2>({M, E_});
    auto dys = ws.take<T, 2>({M, E_});
    auto dzxbcdt = ws.take<T, 2>({M, cols_});
    auto dxbc = ws.take<T, 2>({M, conv_dim_});
    auto ddt = ws.take<T, 3>({Bn, L, H_});
    auto dA = ws.take<T>(H_);
    fill(dA, T(0));

    // out = out_proj(normed)
    out_proj_.backward(p.out_proj, cache.out_proj, reshape(dy, {M, d_}), dnormed, g.out_proj, ctx);
    // normed = rmsnorm(y · silu(z)) · w: gradients wrt y, z (the z columns of zxbcdt) and w.
    gated_norm_backward(p, cache, View<const T, 2>(dnormed), dys, dzxbcdt.slice(1, 0, E_), g.norm.weight, ws);
    // The scan: gradients wrt x, B, C (the columns of xbc), Δ, A and D.
    backend::SsdGrads<T> sg;
    sg.dy = reshape(View<const T, 2>(dys), {Bn, L, H_, P_});
    sg.dx = split_columns(dxbc, 0, H_, P_, Bn, L);
    sg.dB = split_columns(dxbc, E_, G_, N_, Bn, L);
    sg.dC = split_columns(dxbc, E_ + G_ * N_, G_, N_, Bn, L);
    sg.ddt = ddt;
    sg.dA = dA;
    sg.dD = g.D;
    backend::ssd_chunked_backward(Bk{}, ssd_params(p, cache, reshape(cache.xbc, {M, conv_dim_}), Bn, L, {}),
                                  View<const T, 4>(cache.chunk_states), sg, ws);
    // A = −exp(A_log): dA_log = dA · A.
    for (Index h = 0; h < H_; ++h) g.A_log(h) += dA(h) * cache.A(h);
    // Δ = softplus(δ + dt_bias): the δ columns of dzxbcdt, and dt_bias summed over rows in order.
    for (Index m = 0; m < M; ++m)
      for (Index h = 0; h < H_; ++h) {
        const T dpre = ddt(m / L, m % L, h) * math::softplus_grad(cache.zxbcdt(m, E_ + conv_dim_ + h) + p.dt_bias(h));
        dzxbcdt(m, E_ + conv_dim_ + h) = dpre;
        g.dt_bias(h) += dpre;
      }
    // xbc = silu(conv_out); conv_out = conv1d(xBC columns of zxbcdt); zxbcdt = in_proj(u).
    const auto dxbc3 = reshape(dxbc, {Bn, L, conv_dim_});
    nn::activation_backward<Bk>(Activation::Silu, View<const T, 3>(cache.conv_out), View<const T, 3>(dxbc3), dxbc3);
    conv_.backward(p.conv, cache.conv, View<const T, 3>(dxbc3), columns(dzxbcdt, E_, conv_dim_, Bn, L), g.conv, ctx);
    in_proj_.backward(p.in_proj, cache.in_proj, View<const T, 2>(dzxbcdt),
                      dx.empty() ? View<T, 2>() : reshape(dx, {M, d_}), g.in_proj, ctx);
  }

  /// A zero state for `batch` sequences.
  State make_state(Index batch) const {
    SSM_CHECK(batch > 0, "Mamba2::make_state: batch must be positive, found ", batch);
    State s;
    s.batch = batch;
    s.conv = Buffer<T>(batch * (cfg_.d_conv - 1) * conv_dim_, T(0));
    s.ssm = Buffer<T>(batch * H_ * P_ * N_, T(0));
    return s;
  }

  /// One token of each sequence: x_t {B, d} -> y_t {B, d}, updating the state by the recurrence; the same as
  /// forward over the whole sequence, one step at a time, in constant memory.
  void step(const Params& p, State& s, View<const T, 2> x_t, View<T, 2> y_t) const {
    const Index Bn = s.batch;
    expect_shape(x_t, "Mamba2 step input", {Bn, d_});
    expect_shape(y_t, "Mamba2 step output", {Bn, d_});
    Workspace& ws = s.ws;
    ws.reset();
    Context ctx(ws, false, 0);
    Cache cache;
    cache.batch = Bn;
    cache.L = 1;
    cache.zxbcdt = ws.take<T, 2>({Bn, cols_});
    cache.conv_out = ws.take<T, 3>({Bn, 1, conv_dim_});
    cache.xbc = ws.take<T, 3>({Bn, 1, conv_dim_});
    cache.dt = ws.take<T, 3>({Bn, 1, H_});
    cache.A = ws.take<T>(H_);
    cache.y = ws.take<T, 2>({Bn, E_});
    cache.gate = ws.take<T, 2>({Bn, E_});
    cache.rstd = ws.take<T, 2>({Bn, G_});
    cache.normed = ws.take<T, 2>({Bn, E_});

    in_proj_.forward(p.in_proj, x_t, cache.zxbcdt, cache.in_proj, ctx);
    conv_.step(p.conv, s.conv.template view<3>({Bn, cfg_.d_conv - 1, conv_dim_}),
               View<const T, 2>(cache.zxbcdt.slice(1, E_, E_ + conv_dim_)), reshape(cache.conv_out, {Bn, conv_dim_}));
    nn::activation_forward<Bk>(Activation::Silu, View<const T, 3>(cache.conv_out), cache.xbc);
    delta_forward(p, cache.zxbcdt, reshape(cache.dt, {Bn, H_}), cache.A);
    const auto state = s.ssm.template view<4>({Bn, H_, P_, N_});
    backend::ssd_sequential_forward(Bk{}, ssd_params(p, cache, reshape(cache.xbc, {Bn, conv_dim_}), Bn, 1, state),
                                    {reshape(cache.y, {Bn, 1, H_, P_}), state, {}}, ws);  // h_last aliases h0
    gated_norm_forward(p, cache.y, cache.zxbcdt.slice(1, 0, E_), cache.normed, cache.gate, cache.rstd);
    out_proj_.forward(p.out_proj, View<const T, 2>(cache.normed), y_t, cache.out_proj, ctx);
  }

 private:
  /// Columns [first, first + n) of a {B·L, cols} matrix as {B, L, n}.
  template <class U>
  static View<U, 3> columns(View<U, 2> m, Index first, Index n, Index Bn, Index L) {
    return View<U, 3>(m.data() + first, {Bn, L, n}, {L * m.stride(0), m.stride(0), 1});
  }
  /// Columns [first, first + k·n) of a {B·L, cols} matrix as {B, L, k, n} (heads or groups).
  template <class U>
  static View<U, 4> split_columns(View<U, 2> m, Index first, Index k, Index n, Index Bn, Index L) {
    return View<U, 4>(m.data() + first, {Bn, L, k, n}, {L * m.stride(0), m.stride(0), n, 1});
  }

  /// Δ = softplus(δ + dt_bias) from the δ columns of zxbcdt into dt {M, H}; A = −exp(A_log).
  void delta_forward(const Params& p, View<const T, 2> zxbcdt, View<T, 2> dt, View<T, 1> A) const {
    for (Index m = 0; m < dt.extent(0); ++m)
      for (Index h = 0; h < H_; ++h) dt(m, h) = math::softplus(zxbcdt(m, E_ + conv_dim_ + h) + p.dt_bias(h));
    for (Index h = 0; h < H_; ++h) A(h) = -std::exp(p.A_log(h));
  }

  backend::SsdParams<T> ssd_params(const Params& p, const Cache& c, View<const T, 2> xbc, Index Bn, Index L,
                                   View<const T, 4> h0) const {
    backend::SsdParams<T> sp;
    sp.x = split_columns(xbc, 0, H_, P_, Bn, L);
    sp.dt = c.dt;
    sp.A = c.A;
    sp.B = split_columns(xbc, E_, G_, N_, Bn, L);
    sp.C = split_columns(xbc, E_ + G_ * N_, G_, N_, Bn, L);
    sp.D = p.D;
    sp.h0 = h0;
    sp.lengths = c.lengths;
    sp.chunk = cfg_.chunk;
    return sp;
  }

  /// The gated RMSNorm (mamba_ssm's RMSNormGated, norm_before_gate = False, group_size = E/G): per row and group,
  /// v = y · silu(z), r = (mean(v²) + ε)^(−½), out = w ⊙ v · r. gate {M, E} receives sigmoid(z) (vectorised, one
  /// exp per element, which backward reuses), rstd {M, G} receives r.
  void gated_norm_forward(const Params& p, View<const T, 2> y, View<const T, 2> z, View<T, 2> out, View<T, 2> gate,
                          View<T, 2> rstd) const {
    const Index M = y.extent(0), Eg = E_ / G_;
    const T eps = static_cast<T>(cfg_.norm_eps);
    parallel_for(M, 64, [&](Index m0, Index m1) {
      for (Index m = m0; m < m1; ++m) {
        backend::activation_forward(Bk{}, Activation::Sigmoid, View<const T, 1>(&z(m, 0), {E_}),
                                    View<T, 1>(&gate(m, 0), {E_}));
        for (Index gr = 0; gr < G_; ++gr) {
          T ss = 0;
          for (Index e = gr * Eg; e < (gr + 1) * Eg; ++e) {
            const T v = y(m, e) * z(m, e) * gate(m, e);
            ss += v * v;
          }
          const T r = T(1) / std::sqrt(ss / static_cast<T>(Eg) + eps);
          rstd(m, gr) = r;
          for (Index e = gr * Eg; e < (gr + 1) * Eg; ++e)
            out(m, e) = p.norm.weight(e) * y(m, e) * z(m, e) * gate(m, e) * r;
        }
      }
    });
  }

  /// With gw = w ⊙ dout over one group of E/G channels:  dv = r·gw − v · r³ · ⟨gw, v⟩ / (E/G),  then
  /// dy = dv · silu(z) and dz = dv · y · silu'(z) (both overwritten);  dw += Σ_rows dout ⊙ v · r, summed per
  /// fixed chunk of rows and the chunks added in order (the same bits on any thread count).
  void gated_norm_backward(const Params& p, const Cache& c, View<const T, 2> dout, View<T, 2> dy, View<T, 2> dz,
                           View<T, 1> dw, Workspace& ws) const {
    const Index M = dout.extent(0), Eg = E_ / G_;
    const View<const T, 2> y = c.y, z = c.zxbcdt.slice(1, 0, E_), gate = c.gate, rstd = c.rstd;
    parallel_for(M, 64, [&](Index m0, Index m1) {
      for (Index m = m0; m < m1; ++m)
        for (Index gr = 0; gr < G_; ++gr) {
          const T r = rstd(m, gr);
          T dot = 0;
          for (Index e = gr * Eg; e < (gr + 1) * Eg; ++e)
            dot += p.norm.weight(e) * dout(m, e) * y(m, e) * z(m, e) * gate(m, e);
          const T k = r * r * r * dot / static_cast<T>(Eg);
          for (Index e = gr * Eg; e < (gr + 1) * Eg; ++e) {
            const T s = gate(m, e), sz = z(m, e) * s;  // silu(z); silu'(z) = s · (1 + z · (1 − s))
            const T dv = r * p.norm.weight(e) * dout(m, e) - y(m, e) * sz * k;
            dy(m, e) = dv * sz;
            dz(m, e) = dv * y(m, e) * s * (T(1) + z(m, e) * (T(1) - s));
          }
        }
    });
    constexpr Index kRows = 256;
    auto part = ws.take<T, 2>({chunk_count(M, kRows), E_});
    parallel_chunks(M, kRows, [&](Index ch, Index m0, Index m1) {
      for (Index e = 0; e < E_; ++e) part(ch, e) = T(0);
      for (Index m = m0; m < m1; ++m) {
        for (Index e = 0; e < E_; ++e)
          part(ch, e) += dout(m, e) * y(m, e) * z(m, e) * gate(m, e) * rstd(m, e / Eg);
      }
    });
    for (Index e = 0; e < E_; ++e) {
      T s = 0;
      for (Index ch = 0; ch < part.extent(0); ++ch) s += part(ch, e);
      dw(e) += s;
    }
  }

  Config cfg_;
  Index d_ = 0, N_ = 0, E_ = 0, H_ = 0, P_ = 0, G_ = 0, conv_dim_ = 0, cols_ = 0;
  nn::Linear<T, Bk> in_proj_, out_proj_;
  nn::Conv1d<T, Bk> conv_;
  ParamSlot<1> dt_bias_, A_log_, D_, norm_;
};

}  // namespace ssm
