// ssm/nn/lstm.hpp — LSTM over right-padded sequences, uni- or bidirectional (Hochreiter & Schmidhuber 1997;
// PyTorch's gate order i, f, g, o):  c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t). The backward direction of
// sequence b starts at its last real token n_b − 1, so padding never changes a result; outputs at padded
// positions are zero. x: {B, L, input} → y: {B, L, hidden · directions}. Also a sequence mixer (nn/mixer.hpp)
// when hidden · directions = input. Kernels: backend/scalar/lstm.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ssm/backend/scalar/lstm.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

struct LstmConfig {
  Index input = 0;
  Index hidden = 0;
  bool bidirectional = false;
  double forget_bias = 1.0;  ///< initial bias of the forget gate (1 is the usual choice; PyTorch uses its uniform init)

  Index directions() const { return bidirectional ? 2 : 1; }
  Index output() const { return hidden * directions(); }
  /// A {B, L, D} → {B, L, D} mixer: hidden D (one direction) or D/2 per direction.
  static LstmConfig mixer(Index dim, bool bidirectional = false) {
    SSM_CHECK(!bidirectional || dim % 2 == 0, "a bidirectional LSTM mixer needs an even dimension, found ", dim);
    return {.input = dim, .hidden = bidirectional ? dim / 2 : dim, .bidirectional = bidirectional};
  }
};

template <Real T>
struct LstmParams {
  View<T, 2> w_ih;  // {dirs · 4H, input}: rows [d·4H, (d+1)·4H) are direction d's i, f, g, o
  View<T, 1> bias;  // {dirs · 4H} (PyTorch's b_ih + b_hh)
  View<T, 3> w_hh;  // {dirs, 4H, H}
};

template <Real T, Backend B = backend::Default>
class Lstm {
 public:
  using Config = LstmConfig;
  using Params = LstmParams<T>;
  struct Cache {
    View<const T, 3> x;
    View<const std::int32_t, 1> lengths;
    View<T, 4> gates;  // {dirs, B, L, 4H}, step order
    View<T, 4> c, h;   // {dirs, B, L, H}, step order
  };

  Lstm() = default;
  Lstm(ParamLayout& layout, std::string_view name, const Config& cfg) : cfg_(cfg) {
    SSM_CHECK(cfg.input > 0 && cfg.hidden > 0, name, ": LSTM needs positive sizes, found input=", cfg.input,
              " hidden=", cfg.hidden);
    const Index G = cfg.directions() * 4 * cfg.hidden;
    w_ih_ = layout.add<2>(join_name(name, "w_ih"), {G, cfg.input});
    bias_ = layout.add<1>(join_name(name, "bias"), {G}, {.weight_decay = false});
    w_hh_ = layout.add<3>(join_name(name, "w_hh"), {cfg.directions(), 4 * cfg.hidden, cfg.hidden});
  }

  const Config& config() const { return cfg_; }
  Index output_dim() const { return cfg_.output(); }

  /// Recurrent state of a one-directional LSTM: h and c of each sequence, {B, H} row-major.
  struct State {
    Index batch = 0;
    std::vector<T> h, c;
  };
  State make_state(Index batch) const {
    SSM_CHECK(!cfg_.bidirectional, "a bidirectional LSTM has no left-to-right step (its second half reads backwards)");
    return {batch, std::vector<T>(static_cast<std::size_t>(batch * cfg_.hidden), T(0)),
            std::vector<T>(static_cast<std::size_t>(batch * cfg_.hidden), T(0))};
  }
  /// One position of each sequence: x_t {B, input} → y_t {B, H}; equals forward's output at that position.
  void step(const Params& p, State& s, View<const T, 2> x_t, View<T, 2> y_t) const {
    const Index Bn = s.batch, H = cfg_.hidden, In = cfg_.input;
    expect_shape(x_t, "LSTM step input", {Bn, In});
    expect_shape(y_t, "LSTM step output", {Bn, H});
    std::vector<T> z(static_cast<std::size_t>(4 * H));
    for (Index b = 0; b < Bn; ++b) {
      T* h = s.h.data() + b * H;
      T* c = s.c.data() + b * H;
      for (Index r = 0; r < 4 * H; ++r) {
        T acc = p.bias(r);
        for (Index k = 0; k < In; ++k) acc += p.w_ih(r, k) * x_t(b, k);
        for (Index k = 0; k < H; ++k) acc += p.w_hh(0, r, k) * h[k];
        z[static_cast<std::size_t>(r)] = acc;
      }
      for (Index j = 0; j < H; ++j) {
        const T i = math::sigmoid(z[j]), f = math::sigmoid(z[H + j]),
                g = std::tanh(z[2 * H + j]), o = math::sigmoid(z[3 * H + j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * std::tanh(c[j]);
        y_t(b, j) = h[j];
      }
    }
  }

  Params bind(T* base) const { return {w_ih_.bind(base), bias_.bind(base), w_hh_.bind(base)}; }

  /// PyTorch's U(−1/√H, 1/√H) for every tensor, then the forget-gate bias set to config().forget_bias.
  void init(const Params& p, Rng& rng) const {
    const T bound = T(1) / std::sqrt(static_cast<T>(cfg_.hidden));
    fill_uniform(p.w_ih, rng, -bound, bound);
    fill_uniform(p.w_hh, rng, -bound, bound);
    fill_uniform(p.bias, rng, -bound, bound);
    const Index H = cfg_.hidden;
    for (Index d = 0; d < cfg_.directions(); ++d)
      for (Index j = 0; j < H; ++j) p.bias(d * 4 * H + H + j) = static_cast<T>(cfg_.forget_bias);
  }

  /// x: {B, L, input}, lengths: {B} in [1, L] → y: {B, L, hidden · dirs}, zero at padded positions.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1), H = cfg_.hidden, dirs = cfg_.directions(), G = dirs * 4 * H;
    expect_shape(x, "LSTM input", {-1, -1, cfg_.input});
    expect_shape(lengths, "LSTM lengths", {Bn});
    expect_shape(y, "LSTM output", {Bn, L, cfg_.output()});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "LSTM needs contiguous input and output");
    for (Index b = 0; b < Bn; ++b)
      SSM_CHECK(lengths(b) >= 1 && lengths(b) <= L, "LSTM: sequence ", b, " has length ", lengths(b), ", expected 1..", L);
    Workspace& ws = ctx.workspace();
    auto xw = ws.take<T, 3>({Bn, L, G});
    linear_forward(B{}, reshape(x, {Bn * L, cfg_.input}), View<const T, 2>(p.w_ih), View<const T, 1>(p.bias),
                   reshape(xw, {Bn * L, G}));
    cache.x = x;
    cache.lengths = lengths;
    cache.gates = ws.take<T, 4>({dirs, Bn, L, 4 * H});
    cache.c = ws.take<T, 4>({dirs, Bn, L, H});
    cache.h = ws.take<T, 4>({dirs, Bn, L, H});
    auto rec = ws.take<T, 2>({Bn, 4 * H});
    fill(y, T(0));
    for (Index d = 0; d < dirs; ++d)
      lstm_direction_forward(B{}, View<const T, 3>(xw), d * 4 * H, lengths, View<const T, 2>(p.w_hh[d]), d == 1,
                             cache.gates[d], cache.c[d], cache.h[d], rec, y, d * H);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty. dy at padded positions
  /// is ignored.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    const Index Bn = cache.x.extent(0), L = cache.x.extent(1), H = cfg_.hidden, dirs = cfg_.directions(),
                G = dirs * 4 * H;
    expect_shape(dy, "LSTM output gradient", {Bn, L, cfg_.output()});
    if (!dx.empty()) expect_shape(dx, "LSTM input gradient", {Bn, L, cfg_.input});
    Workspace& ws = ctx.workspace();
    auto dgates = ws.take<T, 3>({Bn, L, 4 * H});  // one direction at a time, step order
    auto dxw = ws.take<T, 3>({Bn, L, G});         // both directions, position order
    auto hprev = ws.take<T, 3>({Bn, L, H});
    auto dc = ws.take<T, 2>({Bn, H});
    auto rec = ws.take<T, 2>({Bn, H});
    fill(dxw, T(0));
    for (Index d = 0; d < dirs; ++d) {
      lstm_direction_backward(B{}, cache.lengths, View<const T, 2>(p.w_hh[d]), d == 1,
                              View<const T, 3>(cache.gates[d]), View<const T, 3>(cache.c[d]), dy, d * H, dgates, dc,
                              rec);
      // dW_hh[d] += Σ_{b,s} dz[b, s]ᵀ h[b, s−1]: shift h by one step (h_{−1} = 0) and do one GEMM.
      auto h = cache.h[d];
      for (Index b = 0; b < Bn; ++b) {
        for (Index j = 0; j < H; ++j) hprev(b, 0, j) = T(0);
        for (Index s = 1; s < L; ++s)
          for (Index j = 0; j < H; ++j) hprev(b, s, j) = h(b, s - 1, j);
      }
      linear_backward(B{}, reshape(View<const T, 3>(hprev), {Bn * L, H}), View<const T, 2>(p.w_hh[d]),
                      reshape(View<const T, 3>(dgates), {Bn * L, 4 * H}), View<T, 2>(), g.w_hh[d], View<T, 1>());
      // Back to position order: dz of step s is the gradient of Xw at pos(b, s).
      for (Index b = 0; b < Bn; ++b) {
        const Index n = cache.lengths(b);
        for (Index s = 0; s < n; ++s) {
          const Index pos = d == 1 ? n - 1 - s : s;
          for (Index j = 0; j < 4 * H; ++j) dxw(b, pos, d * 4 * H + j) = dgates(b, s, j);
        }
      }
    }
    // Xw = x W_ihᵀ + b:  dx = dXw W_ih (=),  dW_ih += dXwᵀ x,  db += Σ dXw.
    linear_backward(B{}, reshape(cache.x, {Bn * L, cfg_.input}), View<const T, 2>(p.w_ih),
                    reshape(View<const T, 3>(dxw), {Bn * L, G}),
                    dx.empty() ? View<T, 2>() : reshape(dx, {Bn * L, cfg_.input}), g.w_ih, g.bias);
  }

 private:
  Config cfg_;
  ParamSlot<2> w_ih_;
  ParamSlot<1> bias_;
  ParamSlot<3> w_hh_;
};

}  // namespace ssm::nn
