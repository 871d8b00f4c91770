// ssm/models/transformer_classifier.hpp — the Transformer encoder baseline: tokens {B, L} → Embedding + learned
// positions → Dropout → pre-norm blocks (masked multi-head attention + GELU MLP) × layers → LayerNorm → pooling over
// each length (mean by default) → Dropout → Linear → logits {B, C}.
// per_token: logits {B·L, C} at every position; with causal attention and C = vocab, a GPT-style decoder-only
// language model (tie_embeddings: the output weight is the embedding table).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/attention.hpp"
#include "ssm/nn/classifier_head.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/norm.hpp"
#include "ssm/nn/transformer.hpp"

namespace ssm {

struct TransformerClassifierConfig {
  Index vocab = 0;
  Index dim = 128;
  Index heads = 4;
  Index layers = 2;
  Index ffn = 0;  ///< 0 = 4 · dim
  Index max_length = 512;
  Index classes = 2;
  double dropout = 0.1;
  std::int32_t padding_idx = 0;
  Pooling pooling = Pooling::Mean;
  bool per_token = false;       ///< logits at every position instead of pooled
  bool causal = false;          ///< position t attends to positions ≤ t (language models)
  bool tie_embeddings = false;  ///< per-token head over the vocabulary: output weight = embedding table
};

template <Real T, Backend B = backend::Default>
class TransformerClassifier {
 public:
  using Config = TransformerClassifierConfig;
  struct Params {
    nn::EmbeddingParams<T> embed;
    nn::PositionalEmbeddingParams<T> pos;
    std::vector<nn::TransformerBlockParams<T>> blocks;
    nn::LayerNormParams<T> norm;
    typename nn::ClassifierHead<T, B>::Params head;
  };
  struct Cache {
    typename nn::Embedding<T, B>::Cache embed;
    typename nn::PositionalEmbedding<T, B>::Cache pos;
    typename nn::Dropout<T, B>::Cache drop_embed;
    std::vector<typename nn::TransformerBlock<T, B>::Cache> blocks;
    typename nn::LayerNorm<T, B>::Cache norm;
    typename nn::ClassifierHead<T, B>::Cache head;
    std::vector<View<T, 3>> h;  // h[0]: embeddings + positions; h[l + 1]: output of block l
    View<T, 3> normed;
  };

  explicit TransformerClassifier(const Config& c)
      : config_(c),
        embed_(layout_, "embed", c.vocab, c.dim, c.padding_idx, 0.02),
        pos_(layout_, "pos", c.max_length, c.dim),
        drop_embed_(c.dropout, nn::stream_of("drop_embed")),
        blocks_(make_blocks(layout_, c)),
        norm_(layout_, "norm", c.dim),
        head_(layout_, "head", c.dim, c.classes, c.dropout, nn::stream_of("drop_head"), c.pooling, c.tie_embeddings),
        params_(layout_),
        p_(bind(params_.values())),
        g_(bind(params_.grads())) {}

  TransformerClassifier(const TransformerClassifier&) = delete;
  TransformerClassifier& operator=(const TransformerClassifier&) = delete;

  const Config& config() const { return config_; }
  Parameters<T>& parameters() { return params_; }
  const Parameters<T>& parameters() const { return params_; }

  Params bind(T* base) const {
    Params p{embed_.bind(base), pos_.bind(base), {}, norm_.bind(base), head_.bind(base)};
    for (auto& b : blocks_) p.blocks.push_back(b.bind(base));
    if (head_.tied()) p.head.weight = p.embed.table;
    return p;
  }

  /// Rows of the logits: B·L per token, B pooled.
  Index logit_rows(Index batch, Index L) const { return config_.per_token ? batch * L : batch; }

  void init(std::uint64_t seed) {
    Rng rng(seed);
    Rng r0 = rng.fork(0), r1 = rng.fork(1), r2 = rng.fork(2), r3 = rng.fork(3);
    embed_.init(p_.embed, r0);
    pos_.init(p_.pos, r1);
    norm_.init(p_.norm, r2);
    head_.init(p_.head, r3);
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      Rng r = rng.fork(4 + l);
      blocks_[l].init(p_.blocks[l], r);
    }
  }

  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<T, 2> logits,
               Cache& cache, const Context& ctx) const {
    const Index Bn = tokens.extent(0), L = tokens.extent(1), D = config_.dim;
    Workspace& ws = ctx.workspace();
    cache.h.assign(blocks_.size() + 1, View<T, 3>());
    cache.blocks.resize(blocks_.size());
    cache.h[0] = ws.take<T, 3>({Bn, L, D});
    embed_.forward(p_.embed, tokens, cache.h[0], cache.embed, ctx);
    pos_.forward(p_.pos, cache.h[0], cache.h[0], cache.pos, ctx);
    drop_embed_.forward(cache.h[0], cache.h[0], cache.drop_embed, ctx);
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      cache.h[l + 1] = ws.take<T, 3>({Bn, L, D});
      blocks_[l].forward(p_.blocks[l], cache.h[l], lengths, cache.h[l + 1], cache.blocks[l], ctx);
    }
    cache.normed = ws.take<T, 3>({Bn, L, D});
    norm_.forward(p_.norm, reshape(View<const T, 3>(cache.h.back()), {Bn * L, D}), reshape(cache.normed, {Bn * L, D}),
                  cache.norm, ctx);
    if (config_.per_token)
      head_.forward(p_.head, reshape(View<const T, 3>(cache.normed), {Bn * L, D}), logits, cache.head, ctx);
    else
      head_.forward_pooled(p_.head, cache.normed, lengths, logits, cache.head, ctx);
  }

  /// Accumulates (+=) the parameter gradients of the loss whose gradient wrt the logits is dlogits.
  void backward(const Cache& cache, View<const T, 2> dlogits, const Context& ctx) const {
    const Index Bn = cache.h[0].extent(0), L = cache.h[0].extent(1), D = config_.dim;
    Workspace& ws = ctx.workspace();
    auto d_normed = ws.take<T, 3>({Bn, L, D});
    if (config_.per_token) {
      head_.backward(p_.head, cache.head, dlogits, reshape(d_normed, {Bn * L, D}), g_.head, ctx);
      if (head_.tied() && config_.padding_idx >= 0) fill(g_.embed.table[config_.padding_idx], T(0));
    } else {
      head_.backward_pooled(p_.head, cache.head, dlogits, d_normed, g_.head, ctx);
    }
    auto d_h = ws.take<T, 3>({Bn, L, D});
    norm_.backward(p_.norm, cache.norm, reshape(View<const T, 3>(d_normed), {Bn * L, D}), reshape(d_h, {Bn * L, D}),
                   g_.norm, ctx);
    for (std::size_t l = blocks_.size(); l-- > 0;) {
      auto d_in = ws.take<T, 3>({Bn, L, D});
      blocks_[l].backward(p_.blocks[l], cache.blocks[l], d_h, d_in, g_.blocks[l], ctx);
      d_h = d_in;
    }
    drop_embed_.backward(cache.drop_embed, d_h, d_h, ctx);
    pos_.backward(p_.pos, cache.pos, d_h, d_h, g_.pos, ctx);
    embed_.backward(p_.embed, cache.embed, d_h, g_.embed, ctx);
  }

 private:
  static std::vector<nn::TransformerBlock<T, B>> make_blocks(ParamLayout& layout, const Config& c) {
    SSM_CHECK(c.layers >= 1, "TransformerClassifier needs at least one block, found ", c.layers);
    SSM_CHECK(!c.tie_embeddings || (c.per_token && c.classes == c.vocab),
              "Transformer: tied embeddings need the per-token head over the vocabulary (classes ", c.classes,
              ", vocab ", c.vocab, ")");
    std::vector<nn::TransformerBlock<T, B>> v;
    for (Index l = 0; l < c.layers; ++l)
      v.emplace_back(layout, "blocks." + std::to_string(l),
                     nn::TransformerBlockConfig{.dim = c.dim, .heads = c.heads, .ffn = c.ffn, .dropout = c.dropout,
                                                .causal = c.causal});
    return v;
  }

  Config config_;
  ParamLayout layout_;
  nn::Embedding<T, B> embed_;
  nn::PositionalEmbedding<T, B> pos_;
  nn::Dropout<T, B> drop_embed_;
  std::vector<nn::TransformerBlock<T, B>> blocks_;
  nn::LayerNorm<T, B> norm_;
  nn::ClassifierHead<T, B> head_;
  Parameters<T> params_;
  Params p_, g_;
};

}  // namespace ssm
