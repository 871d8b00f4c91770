// ssm/models/conv_classifier.hpp — the smallest sequence classifier, and the template every model follows:
//   tokens {B, L} → Embedding → depthwise causal Conv1d → SiLU → pooling over each length → Linear → logits {B, C}.
// The model owns one Parameters buffer; forward caches activations in the context's workspace; backward
// calls the layers in reverse so the chain rule reads line by line.
#pragma once

#include <cstdint>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/conv1d.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/pooling.hpp"

namespace ssm {

struct ConvClassifierConfig {
  Index vocab = 0;
  Index dim = 32;
  Index width = 4;  ///< convolution taps
  Index classes = 2;
  std::int32_t padding_idx = 0;
  Pooling pooling = Pooling::Mean;
};

template <Real T, Backend B = backend::Default>
class ConvClassifier {
 public:
  using Config = ConvClassifierConfig;
  struct Params {
    nn::EmbeddingParams<T> embed;
    nn::Conv1dParams<T> conv;
    nn::LinearParams<T> head;
  };
  struct Cache {
    typename nn::Embedding<T, B>::Cache embed;
    typename nn::Conv1d<T, B>::Cache conv;
    typename nn::Pool<T, B>::Cache pool;
    typename nn::Linear<T, B>::Cache head;
    View<T, 3> h_conv;  // conv output, SiLU input: {B, L, D}
    View<T, 3> h_act;   // SiLU output: {B, L, D}
    View<T, 2> pooled;  // {B, D}
  };

  explicit ConvClassifier(const Config& c)
      : config_(c),
        embed_(layout_, "embed", c.vocab, c.dim, c.padding_idx),
        conv_(layout_, "conv", c.dim, c.width),
        pool_(c.pooling),
        head_(layout_, "head", c.dim, c.classes),
        params_(layout_),
        p_(bind(params_.values())),
        g_(bind(params_.grads())) {}

  ConvClassifier(const ConvClassifier&) = delete;
  ConvClassifier& operator=(const ConvClassifier&) = delete;

  const Config& config() const { return config_; }
  Parameters<T>& parameters() { return params_; }
  const Parameters<T>& parameters() const { return params_; }
  const Params& values() const { return p_; }
  const Params& grads() const { return g_; }

  Params bind(T* base) const { return {embed_.bind(base), conv_.bind(base), head_.bind(base)}; }

  /// Deterministic initialisation: each layer draws from its own fork of the seed.
  void init(std::uint64_t seed) {
    Rng rng(seed);
    Rng r0 = rng.fork(0), r1 = rng.fork(1), r2 = rng.fork(2);
    embed_.init(p_.embed, r0);
    conv_.init(p_.conv, r1);
    head_.init(p_.head, r2);
  }

  /// tokens: {B, L} (right-padded), lengths: {B} -> logits: {B, classes}.
  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<T, 2> logits,
               Cache& cache, const Context& ctx) const {
    const Index Bn = tokens.extent(0), L = tokens.extent(1), D = config_.dim;
    Workspace& ws = ctx.workspace();
    auto h_embed = ws.take<T, 3>({Bn, L, D});
    cache.h_conv = ws.take<T, 3>({Bn, L, D});
    cache.h_act = ws.take<T, 3>({Bn, L, D});
    cache.pooled = ws.take<T, 2>({Bn, D});

    embed_.forward(p_.embed, tokens, h_embed, cache.embed, ctx);
    conv_.forward(p_.conv, h_embed, cache.h_conv, cache.conv, ctx);
    nn::activation_forward<B>(Activation::Silu, cache.h_conv, cache.h_act);
    pool_.forward(cache.h_act, lengths, cache.pooled, cache.pool, ctx);
    head_.forward(p_.head, cache.pooled, logits, cache.head, ctx);
  }

  /// Accumulates (+=) the parameter gradients of the loss whose gradient wrt the logits is dlogits.
  void backward(const Cache& cache, View<const T, 2> dlogits, const Context& ctx) const {
    const Index Bn = cache.h_act.extent(0), L = cache.h_act.extent(1), D = config_.dim;
    Workspace& ws = ctx.workspace();
    auto d_pooled = ws.take<T, 2>({Bn, D});
    auto d_act = ws.take<T, 3>({Bn, L, D});
    auto d_embed = ws.take<T, 3>({Bn, L, D});

    head_.backward(p_.head, cache.head, dlogits, d_pooled, g_.head, ctx);
    pool_.backward(cache.pool, d_pooled, d_act, ctx);
    nn::activation_backward<B>(Activation::Silu, cache.h_conv, d_act, d_act);  // d_conv, in place
    conv_.backward(p_.conv, cache.conv, d_act, d_embed, g_.conv, ctx);
    embed_.backward(p_.embed, cache.embed, d_embed, g_.embed, ctx);
  }

 private:
  Config config_;
  ParamLayout layout_;
  nn::Embedding<T, B> embed_;
  nn::Conv1d<T, B> conv_;
  nn::Pool<T, B> pool_;
  nn::Linear<T, B> head_;
  Parameters<T> params_;
  Params p_, g_;
};

}  // namespace ssm
