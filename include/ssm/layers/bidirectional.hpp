// ssm/layers/bidirectional.hpp — a causal mixer made bidirectional (as Vim / Caduceus do with Mamba):
// y = Layer_f(x) + R(Layer_b(R(x))), with R reversing each sequence within its length, two independent layers of
// the same configuration. BiMamba and BiMamba2 are mixers of the SequenceModel interface (models/sequence_model.hpp).
#pragma once

#include "ssm/layers/mamba.hpp"
#include "ssm/layers/mamba2.hpp"

namespace ssm {

/// Padding stays at the end of the reversal, so the backward direction never reads padding before real tokens.
/// No recurrent step: the layer sees the future. Layer<T, B> is any causal mixer with a lengths-aware forward.
template <template <class, class> class Layer, class T, class B>
class Bidirectional {
 public:
  using Inner = Layer<T, B>;
  using Config = typename Inner::Config;
  struct Params {
    typename Inner::Params fwd, bwd;
  };
  struct Cache {
    typename Inner::Cache fwd, bwd;
    View<T, 3> xr;  // {B, L, d}: the reversed input, alive until backward
    View<const std::int32_t, 1> lengths;
  };
  struct State {};

  Bidirectional(ParamLayout& layout, std::string_view name, const Config& cfg)
      : fwd_(layout, join_name(name, "fwd"), cfg), bwd_(layout, join_name(name, "bwd"), cfg) {}
  Params bind(T* base) const { return {fwd_.bind(base), bwd_.bind(base)}; }
  void init(const Params& p, Rng& rng) const {
    Rng rf = rng.fork(1), rb = rng.fork(2);
    fwd_.init(p.fwd, rf);
    bwd_.init(p.bwd, rb);
  }
  /// x, y: {B, L, d}; lengths {B} or empty.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y,
               Cache& c, const Context& ctx) const {
    auto& ws = ctx.workspace();
    const Index Bn = x.extent(0), L = x.extent(1), d = x.extent(2);
    c.lengths = lengths;
    c.xr = ws.take<T, 3>({Bn, L, d});
    reverse(x, lengths, c.xr);
    auto yr = ws.take<T, 3>({Bn, L, d});
    auto yb = ws.take<T, 3>({Bn, L, d});
    fwd_.forward(p.fwd, x, lengths, y, c.fwd, ctx);
    bwd_.forward(p.bwd, View<const T, 3>(c.xr), lengths, yr, c.bwd, ctx);
    reverse(View<const T, 3>(yr), lengths, yb);
    for (Index i = 0; i < y.size(); ++i) y.data()[i] += yb.data()[i];
  }
  /// Parameter gradients accumulate (+=), dx is overwritten (=): dx = dx_f + R(dx_b(R(dy))).
  void backward(const Params& p, const Cache& c, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    auto& ws = ctx.workspace();
    const Index Bn = dy.extent(0), L = dy.extent(1), d = dy.extent(2);
    auto dyr = ws.take<T, 3>({Bn, L, d});
    auto dxr = ws.take<T, 3>({Bn, L, d});
    auto dxb = ws.take<T, 3>({Bn, L, d});
    reverse(dy, c.lengths, dyr);
    fwd_.backward(p.fwd, c.fwd, dy, dx, g.fwd, ctx);
    bwd_.backward(p.bwd, c.bwd, View<const T, 3>(dyr), dxr, g.bwd, ctx);
    reverse(View<const T, 3>(dxr), c.lengths, dxb);
    for (Index i = 0; i < dx.size(); ++i) dx.data()[i] += dxb.data()[i];
  }
  State make_state(Index) const { SSM_FAIL("a bidirectional layer sees the future and has no recurrent step"); }
  void step(const Params&, State&, View<const T, 2>, View<T, 2>) const {
    SSM_FAIL("a bidirectional layer sees the future and has no recurrent step");
  }

 private:
  /// out[b, t] = in[b, n_b − 1 − t] for t < n_b, and in[b, t] (padding) after.
  static void reverse(View<const T, 3> in, View<const std::int32_t, 1> lengths, View<T, 3> out) {
    const Index Bn = in.extent(0), L = in.extent(1), d = in.extent(2);
    for (Index b = 0; b < Bn; ++b) {
      const Index n = lengths.empty() ? L : std::min<Index>(L, lengths(b));
      for (Index t = 0; t < L; ++t) {
        const Index s = t < n ? n - 1 - t : t;
        for (Index k = 0; k < d; ++k) out(b, t, k) = in(b, s, k);
      }
    }
  }
  Inner fwd_, bwd_;
};

template <class T, class B>
using BiMamba = Bidirectional<Mamba, T, B>;
template <class T, class B>
using BiMamba2 = Bidirectional<Mamba2, T, B>;

}  // namespace ssm
