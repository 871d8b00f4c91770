// ssm/nn/attention.hpp — multi-head self-attention with a padding mask (Vaswani et al. 2017), as a sequence
// mixer {B, L, D} → {B, L, D}:  [Q K V] = x W_inᵀ + b_in,  O_h = softmax(Q_h K_hᵀ / √d_h) V_h over the first n_b
// positions only (and, causal, over positions ≤ t for the query at t),  y = O W_outᵀ + b_out;  y = 0 at padded
// positions. Kernel: backend/scalar/attention.hpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "ssm/backend/scalar/attention.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

struct AttentionConfig {
  Index dim = 0;
  Index heads = 1;
  bool causal = false;  ///< position t attends to positions ≤ t only (language models)
};

template <Real T>
struct AttentionParams {
  View<T, 2> w_in;   // {3D, D}: rows [0, D) make Q, [D, 2D) K, [2D, 3D) V
  View<T, 1> b_in;   // {3D}
  View<T, 2> w_out;  // {D, D}
  View<T, 1> b_out;  // {D}
};

template <Real T, Backend B = backend::Default>
class MultiHeadAttention {
 public:
  using Config = AttentionConfig;
  using Params = AttentionParams<T>;
  struct Cache {
    View<const T, 3> x;
    View<const std::int32_t, 1> lengths;
    View<T, 3> qkv;  // {B, L, 3D}
    View<T, 4> p;    // {B, H, L, L} attention weights
    View<T, 3> o;    // {B, L, D} heads concatenated
  };

  MultiHeadAttention() = default;
  MultiHeadAttention(ParamLayout& layout, std::string_view name, const Config& cfg) : cfg_(cfg) {
    SSM_CHECK(cfg.dim > 0 && cfg.heads > 0 && cfg.dim % cfg.heads == 0, name,
              ": attention needs a dimension divisible by the head count, found dim=", cfg.dim, " heads=", cfg.heads);
    w_in_ = layout.add<2>(join_name(name, "in_proj.weight"), {3 * cfg.dim, cfg.dim});
    b_in_ = layout.add<1>(join_name(name, "in_proj.bias"), {3 * cfg.dim}, {.weight_decay = false});
    w_out_ = layout.add<2>(join_name(name, "out_proj.weight"), {cfg.dim, cfg.dim});
    b_out_ = layout.add<1>(join_name(name, "out_proj.bias"), {cfg.dim}, {.weight_decay = false});
  }

  const Config& config() const { return cfg_; }
  Params bind(T* base) const { return {w_in_.bind(base), b_in_.bind(base), w_out_.bind(base), b_out_.bind(base)}; }

  /// Xavier-uniform projections (PyTorch's nn.MultiheadAttention), zero biases.
  void init(const Params& p, Rng& rng) const {
    const T a_in = std::sqrt(T(6) / static_cast<T>(cfg_.dim + cfg_.dim));  // per Q/K/V block, fan_in = fan_out = D
    fill_uniform(p.w_in, rng, -a_in, a_in);
    fill_uniform(p.w_out, rng, -a_in, a_in);
    fill(p.b_in, T(0));
    fill(p.b_out, T(0));
  }

  /// x: {B, L, D}, lengths {B} in [1, L] → y: {B, L, D}.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1), D = cfg_.dim;
    expect_shape(x, "attention input", {-1, -1, D});
    expect_shape(lengths, "attention lengths", {Bn});
    expect_shape(y, "attention output", {Bn, L, D});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "attention needs contiguous input and output");
    for (Index b = 0; b < Bn; ++b)
      SSM_CHECK(lengths(b) >= 1 && lengths(b) <= L, "attention: sequence ", b, " has length ", lengths(b),
                ", expected 1..", L);
    Workspace& ws = ctx.workspace();
    cache.x = x;
    cache.lengths = lengths;
    cache.qkv = ws.take<T, 3>({Bn, L, 3 * D});
    cache.p = ws.take<T, 4>({Bn, cfg_.heads, L, L});
    cache.o = ws.take<T, 3>({Bn, L, D});
    linear_forward(B{}, reshape(x, {Bn * L, D}), View<const T, 2>(p.w_in), View<const T, 1>(p.b_in),
                   reshape(cache.qkv, {Bn * L, 3 * D}));
    attention_forward(B{}, View<const T, 3>(cache.qkv), lengths, cfg_.heads, cache.p, cache.o, cfg_.causal);
    linear_forward(B{}, reshape(View<const T, 3>(cache.o), {Bn * L, D}), View<const T, 2>(p.w_out),
                   View<const T, 1>(p.b_out), reshape(y, {Bn * L, D}));
    for (Index b = 0; b < Bn; ++b)
      for (Index t = lengths(b); t < L; ++t)
        for (Index d = 0; d < D; ++d) y(b, t, d) = T(0);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty; dy at padded positions
  /// is ignored.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    const Index Bn = cache.x.extent(0), L = cache.x.extent(1), D = cfg_.dim;
    expect_shape(dy, "attention output gradient", {Bn, L, D});
    if (!dx.empty()) expect_shape(dx, "attention input gradient", {Bn, L, D});
    Workspace& ws = ctx.workspace();
    auto dym = ws.take<T, 3>({Bn, L, D});
    for (Index b = 0; b < Bn; ++b)
      for (Index t = 0; t < L; ++t)
        for (Index d = 0; d < D; ++d) dym(b, t, d) = t < cache.lengths(b) ? dy(b, t, d) : T(0);
    auto d_o = ws.take<T, 3>({Bn, L, D});
    linear_backward(B{}, reshape(View<const T, 3>(cache.o), {Bn * L, D}), View<const T, 2>(p.w_out),
                    reshape(View<const T, 3>(dym), {Bn * L, D}), reshape(d_o, {Bn * L, D}), g.w_out, g.b_out);
    auto dqkv = ws.take<T, 3>({Bn, L, 3 * D});
    auto scratch = ws.take<T, 3>({std::max(1, num_threads()), L, L});
    attention_backward(B{}, View<const T, 3>(cache.qkv), cache.lengths, cfg_.heads, View<const T, 4>(cache.p),
                       View<const T, 3>(d_o), dqkv, scratch);
    linear_backward(B{}, reshape(cache.x, {Bn * L, D}), View<const T, 2>(p.w_in),
                    reshape(View<const T, 3>(dqkv), {Bn * L, 3 * D}),
                    dx.empty() ? View<T, 2>() : reshape(dx, {Bn * L, D}), g.w_in, g.b_in);
  }

 private:
  Config cfg_;
  ParamSlot<2> w_in_, w_out_;
  ParamSlot<1> b_in_, b_out_;
};

template <Real T>
struct PositionalEmbeddingParams {
  View<T, 2> table;  // {max_length, D}
};

/// Learned absolute positions: y[b, t] = x[b, t] + P[t] (P: {max_length, D}, N(0, 0.02²) at start as in GPT-2/BERT).
template <Real T, Backend B = backend::Default>
class PositionalEmbedding {
 public:
  using Params = PositionalEmbeddingParams<T>;
  struct Cache {
    Index L = 0;
  };

  PositionalEmbedding() = default;
  PositionalEmbedding(ParamLayout& layout, std::string_view name, Index max_length, Index dim)
      : max_length_(max_length), dim_(dim) {
    SSM_CHECK(max_length > 0 && dim > 0, name, ": positional embedding needs positive sizes");
    table_ = layout.add<2>(join_name(name, "weight"), {max_length, dim}, {.weight_decay = false});
  }
  Index max_length() const { return max_length_; }
  Params bind(T* base) const { return {table_.bind(base)}; }
  void init(const Params& p, Rng& rng) const { fill_normal(p.table, rng, T(0), T(0.02)); }

  /// x, y: {B, L, D}, L ≤ max_length; y may be x.
  void forward(const Params& p, View<const T, 3> x, View<T, 3> y, Cache& cache, const Context&) const {
    expect_shape(x, "positional embedding input", {-1, -1, dim_});
    expect_shape(y, "positional embedding output", {x.extent(0), x.extent(1), dim_});
    SSM_CHECK(x.extent(1) <= max_length_, "sequence length ", x.extent(1), " exceeds the ", max_length_,
              " learned positions of the model");
    cache.L = x.extent(1);
    parallel_for(x.extent(0) * x.extent(1), 64, [&](Index r0, Index r1) {
      for (Index r = r0; r < r1; ++r) {
        const Index b = r / cache.L, t = r % cache.L;
        for (Index d = 0; d < dim_; ++d) y(b, t, d) = x(b, t, d) + p.table(t, d);
      }
    });
  }

  /// dP[t] += Σ_b dy[b, t] (+=); dx = dy (=), skipped when empty; dx may be dy.
  void backward(const Params&, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context&) const {
    expect_shape(dy, "positional embedding output gradient", {-1, cache.L, dim_});
    const Index Bn = dy.extent(0);
    parallel_for(cache.L, 16, [&](Index t0, Index t1) {
      for (Index t = t0; t < t1; ++t)
        for (Index b = 0; b < Bn; ++b)
          for (Index d = 0; d < dim_; ++d) g.table(t, d) += dy(b, t, d);
    });
    if (!dx.empty() && dx.data() != dy.data()) copy(dy, dx);
  }

 private:
  Index max_length_ = 0, dim_ = 0;
  ParamSlot<2> table_;
};

}  // namespace ssm::nn
