// ssm/nn/transformer.hpp — a pre-norm Transformer encoder block (Xiong et al. 2020; GPT-2's layout), a sequence
// mixer {B, L, D} → {B, L, D}:
//   r = x + Dropout(MHA(LN₁(x))),   y = r + Dropout(W₂ GELU(W₁ LN₂(r) + b₁) + b₂).
// Attention is masked to each sequence's length; outputs at padded positions are not meaningful (a classifier's
// pooling never reads them) and never reach real positions.
#pragma once

#include <cstdint>
#include <string>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/attention.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/mixer.hpp"
#include "ssm/nn/norm.hpp"

namespace ssm::nn {

struct TransformerBlockConfig {
  Index dim = 0;
  Index heads = 4;
  Index ffn = 0;         ///< hidden width of the MLP; 0 = 4·dim
  double dropout = 0.0;  ///< on the attention and MLP outputs (training only)
  bool causal = false;   ///< causal attention (a language model's decoder block)
};

template <Real T>
struct TransformerBlockParams {
  LayerNormParams<T> ln1;
  AttentionParams<T> attn;
  LayerNormParams<T> ln2;
  LinearParams<T> fc1, fc2;
};

template <Real T, Backend B = backend::Default>
class TransformerBlock {
 public:
  using Config = TransformerBlockConfig;
  using Params = TransformerBlockParams<T>;
  struct Cache {
    View<const T, 3> x;
    typename LayerNorm<T, B>::Cache ln1, ln2;
    typename MultiHeadAttention<T, B>::Cache attn;
    typename Linear<T, B>::Cache fc1, fc2;
    typename Dropout<T, B>::Cache drop1, drop2;
    View<T, 3> h1, a, r, h2;  // {B, L, D}
    View<T, 2> m1, m2;        // {B·L, F} pre-GELU, post-GELU
  };

  TransformerBlock() = default;
  TransformerBlock(ParamLayout& layout, std::string_view name, const Config& cfg)
      : cfg_(normalized(cfg)),
        ln1_(layout, join_name(name, "ln1"), cfg.dim),
        attn_(layout, join_name(name, "attn"), AttentionConfig{cfg.dim, cfg.heads, cfg.causal}),
        ln2_(layout, join_name(name, "ln2"), cfg.dim),
        fc1_(layout, join_name(name, "fc1"), cfg.dim, cfg_.ffn),
        fc2_(layout, join_name(name, "fc2"), cfg_.ffn, cfg.dim),
        drop1_(cfg.dropout, stream_of(std::string(name) + ".drop1")),
        drop2_(cfg.dropout, stream_of(std::string(name) + ".drop2")) {}

  const Config& config() const { return cfg_; }
  Params bind(T* base) const {
    return {ln1_.bind(base), attn_.bind(base), ln2_.bind(base), fc1_.bind(base), fc2_.bind(base)};
  }
  void init(const Params& p, Rng& rng) const {
    Rng r0 = rng.fork(0), r1 = rng.fork(1), r2 = rng.fork(2), r3 = rng.fork(3), r4 = rng.fork(4);
    ln1_.init(p.ln1, r0);
    attn_.init(p.attn, r1);
    ln2_.init(p.ln2, r2);
    fc1_.init(p.fc1, r3);
    fc2_.init(p.fc2, r4);
  }

  /// x, y: {B, L, D}; lengths {B} in [1, L].
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1), D = cfg_.dim, F = cfg_.ffn, M = Bn * L;
    expect_shape(x, "Transformer block input", {-1, -1, D});
    expect_shape(y, "Transformer block output", {Bn, L, D});
    SSM_CHECK(x.is_contiguous() && y.is_contiguous(), "Transformer block needs contiguous input and output");
    Workspace& ws = ctx.workspace();
    cache.x = x;
    cache.h1 = ws.take<T, 3>({Bn, L, D});
    cache.a = ws.take<T, 3>({Bn, L, D});
    cache.r = ws.take<T, 3>({Bn, L, D});
    cache.h2 = ws.take<T, 3>({Bn, L, D});
    cache.m1 = ws.take<T, 2>({M, F});
    cache.m2 = ws.take<T, 2>({M, F});
    ln1_.forward(p.ln1, reshape(x, {M, D}), reshape(cache.h1, {M, D}), cache.ln1, ctx);
    attn_.forward(p.attn, cache.h1, lengths, cache.a, cache.attn, ctx);
    drop1_.forward(cache.a, cache.a, cache.drop1, ctx);
    {
      const T* xp = x.data();
      const T* ap = cache.a.data();
      T* rp = cache.r.data();
      for (Index i = 0; i < M * D; ++i) rp[i] = xp[i] + ap[i];
    }
    ln2_.forward(p.ln2, reshape(View<const T, 3>(cache.r), {M, D}), reshape(cache.h2, {M, D}), cache.ln2, ctx);
    fc1_.forward(p.fc1, reshape(View<const T, 3>(cache.h2), {M, D}), cache.m1, cache.fc1, ctx);
    activation_forward<B>(Activation::Gelu, View<const T, 2>(cache.m1), cache.m2);
    auto y2 = reshape(y, {M, D});
    fc2_.forward(p.fc2, cache.m2, y2, cache.fc2, ctx);
    drop2_.forward(y2, y2, cache.drop2, ctx);
    const T* rp = cache.r.data();
    T* yp = y.data();
    for (Index i = 0; i < M * D; ++i) yp[i] += rp[i];
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    const Index Bn = cache.x.extent(0), L = cache.x.extent(1), D = cfg_.dim, F = cfg_.ffn, M = Bn * L;
    expect_shape(dy, "Transformer block output gradient", {Bn, L, D});
    Workspace& ws = ctx.workspace();
    // y = r + drop2(fc2(gelu(fc1(ln2(r))))):  the MLP branch first.
    auto d_mlp = ws.take<T, 2>({M, D});
    drop2_.backward(cache.drop2, reshape(dy, {M, D}), d_mlp, ctx);
    auto d_m2 = ws.take<T, 2>({M, F});
    fc2_.backward(p.fc2, cache.fc2, d_mlp, d_m2, g.fc2, ctx);
    activation_backward<B>(Activation::Gelu, View<const T, 2>(cache.m1), View<const T, 2>(d_m2), d_m2);
    auto d_h2 = ws.take<T, 2>({M, D});
    fc1_.backward(p.fc1, cache.fc1, d_m2, d_h2, g.fc1, ctx);
    auto d_r = ws.take<T, 3>({Bn, L, D});
    ln2_.backward(p.ln2, cache.ln2, d_h2, reshape(d_r, {M, D}), g.ln2, ctx);
    {  // the residual: dr = dy + (the LN₂ path)
      const T* gp = dy.data();
      T* rp = d_r.data();
      for (Index i = 0; i < M * D; ++i) rp[i] += gp[i];
    }
    // r = x + drop1(attn(ln1(x))).
    auto d_a = ws.take<T, 3>({Bn, L, D});
    drop1_.backward(cache.drop1, View<const T, 3>(d_r), d_a, ctx);
    auto d_h1 = ws.take<T, 3>({Bn, L, D});
    attn_.backward(p.attn, cache.attn, d_a, d_h1, g.attn, ctx);
    if (dx.empty()) {
      auto scratch = ws.take<T, 2>({M, D});
      ln1_.backward(p.ln1, cache.ln1, reshape(View<const T, 3>(d_h1), {M, D}), scratch, g.ln1, ctx);
      return;
    }
    expect_shape(dx, "Transformer block input gradient", {Bn, L, D});
    ln1_.backward(p.ln1, cache.ln1, reshape(View<const T, 3>(d_h1), {M, D}), reshape(dx, {M, D}), g.ln1, ctx);
    const T* rp = d_r.data();
    T* xp = dx.data();
    for (Index i = 0; i < M * D; ++i) xp[i] += rp[i];
  }

 private:
  static Config normalized(Config c) {
    if (c.ffn <= 0) c.ffn = 4 * c.dim;
    return c;
  }
  Config cfg_;
  LayerNorm<T, B> ln1_;
  MultiHeadAttention<T, B> attn_;
  LayerNorm<T, B> ln2_;
  Linear<T, B> fc1_, fc2_;
  Dropout<T, B> drop1_, drop2_;
};

}  // namespace ssm::nn
