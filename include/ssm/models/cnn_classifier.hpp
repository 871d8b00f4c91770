// ssm/models/cnn_classifier.hpp — Kim's (2014) CNN text classifier: tokens {B, L} → Embedding → parallel dense
// "valid" convolutions of several widths (3, 4, 5) → ReLU → max over time within each sequence's length →
// concatenation → Dropout → Linear → logits {B, C}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/classifier_head.hpp"
#include "ssm/nn/dense_conv1d.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/mixer.hpp"
#include "ssm/nn/pooling.hpp"

namespace ssm {

struct CnnClassifierConfig {
  Index vocab = 0;
  Index embed = 128;
  std::vector<Index> widths = {3, 4, 5};
  Index filters = 100;  ///< per width
  Index classes = 2;
  double dropout = 0.1;
  std::int32_t padding_idx = 0;
};

template <Real T, Backend B = backend::Default>
class CnnClassifier {
 public:
  using Config = CnnClassifierConfig;
  struct Params {
    nn::EmbeddingParams<T> embed;
    std::vector<nn::DenseConv1dParams<T>> conv;
    typename nn::ClassifierHead<T, B>::Params head;
  };
  struct Cache {
    typename nn::Embedding<T, B>::Cache embed;
    std::vector<typename nn::DenseConv1d<T, B>::Cache> conv;
    std::vector<typename nn::Pool<T, B>::Cache> pool;
    std::vector<View<std::int32_t, 1>> out_lengths;  // {B} per width
    std::vector<View<T, 3>> pre;                     // conv outputs (ReLU inputs) {B, L, F}
    std::vector<View<T, 3>> act;                     // ReLU outputs
    typename nn::ClassifierHead<T, B>::Cache head;
    View<T, 3> emb;
    View<T, 2> features;  // {B, widths · F}
  };

  explicit CnnClassifier(const Config& c)
      : config_(c),
        embed_(layout_, "embed", c.vocab, c.embed, c.padding_idx),
        conv_(make_convs(layout_, c)),
        pool_(Pooling::Max),
        head_(layout_, "head", static_cast<Index>(c.widths.size()) * c.filters, c.classes, c.dropout,
              nn::stream_of("drop_head")),
        params_(layout_),
        p_(bind(params_.values())),
        g_(bind(params_.grads())) {}

  CnnClassifier(const CnnClassifier&) = delete;
  CnnClassifier& operator=(const CnnClassifier&) = delete;

  const Config& config() const { return config_; }
  Parameters<T>& parameters() { return params_; }
  const Parameters<T>& parameters() const { return params_; }

  Params bind(T* base) const {
    Params p{embed_.bind(base), {}, head_.bind(base)};
    for (auto& l : conv_) p.conv.push_back(l.bind(base));
    return p;
  }

  void init(std::uint64_t seed) {
    Rng rng(seed);
    Rng re = rng.fork(0), rh = rng.fork(1);
    embed_.init(p_.embed, re);
    for (std::size_t k = 0; k < conv_.size(); ++k) {
      Rng r = rng.fork(2 + k);
      conv_[k].init(p_.conv[k], r);
    }
    head_.init(p_.head, rh);
  }

  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<T, 2> logits,
               Cache& cache, const Context& ctx) const {
    const Index Bn = tokens.extent(0), L = tokens.extent(1), F = config_.filters, W = static_cast<Index>(conv_.size());
    Workspace& ws = ctx.workspace();
    cache.emb = ws.take<T, 3>({Bn, L, config_.embed});
    embed_.forward(p_.embed, tokens, cache.emb, cache.embed, ctx);
    cache.features = ws.take<T, 2>({Bn, W * F});
    cache.conv.resize(conv_.size());
    cache.pool.resize(conv_.size());
    cache.out_lengths.resize(conv_.size());
    cache.pre.resize(conv_.size());
    cache.act.resize(conv_.size());
    for (std::size_t k = 0; k < conv_.size(); ++k) {
      cache.pre[k] = ws.take<T, 3>({Bn, L, F});
      cache.act[k] = ws.take<T, 3>({Bn, L, F});
      cache.out_lengths[k] = ws.take<std::int32_t>(Bn);
      conv_[k].output_lengths(lengths, cache.out_lengths[k]);
      conv_[k].forward(p_.conv[k], cache.emb, lengths, cache.pre[k], cache.conv[k], ctx);
      nn::activation_forward<B>(Activation::Relu, View<const T, 3>(cache.pre[k]), cache.act[k]);
      pool_.forward(cache.act[k], cache.out_lengths[k], cache.features.slice(1, Index(k) * F, Index(k + 1) * F),
                    cache.pool[k], ctx);
    }
    head_.forward(p_.head, cache.features, logits, cache.head, ctx);
  }

  /// Accumulates (+=) the parameter gradients of the loss whose gradient wrt the logits is dlogits.
  void backward(const Cache& cache, View<const T, 2> dlogits, const Context& ctx) const {
    const Index Bn = cache.emb.extent(0), L = cache.emb.extent(1), F = config_.filters,
                W = static_cast<Index>(conv_.size());
    Workspace& ws = ctx.workspace();
    auto d_feat = ws.take<T, 2>({Bn, W * F});
    head_.backward(p_.head, cache.head, dlogits, d_feat, g_.head, ctx);
    auto d_emb = ws.take<T, 3>({Bn, L, config_.embed});
    auto d_emb_k = ws.take<T, 3>({Bn, L, config_.embed});
    auto d_act = ws.take<T, 3>({Bn, L, F});
    fill(d_emb, T(0));
    for (std::size_t k = conv_.size(); k-- > 0;) {
      pool_.backward(cache.pool[k], View<const T, 2>(d_feat.slice(1, Index(k) * F, Index(k + 1) * F)), d_act, ctx);
      nn::activation_backward<B>(Activation::Relu, View<const T, 3>(cache.pre[k]), View<const T, 3>(d_act), d_act);
      conv_[k].backward(p_.conv[k], cache.conv[k], d_act, d_emb_k, g_.conv[k], ctx);
      // The embedding feeds every width: its gradient is the sum over the branches.
      T* dst = d_emb.data();
      const T* src = d_emb_k.data();
      for (Index i = 0; i < d_emb.size(); ++i) dst[i] += src[i];
    }
    embed_.backward(p_.embed, cache.embed, d_emb, g_.embed, ctx);
  }

 private:
  static std::vector<nn::DenseConv1d<T, B>> make_convs(ParamLayout& layout, const Config& c) {
    SSM_CHECK(!c.widths.empty() && c.filters > 0, "CnnClassifier needs at least one width and positive filters");
    std::vector<nn::DenseConv1d<T, B>> v;
    for (std::size_t k = 0; k < c.widths.size(); ++k)
      v.emplace_back(layout, "conv." + std::to_string(k), c.embed, c.filters, c.widths[k]);
    return v;
  }

  Config config_;
  ParamLayout layout_;
  nn::Embedding<T, B> embed_;
  std::vector<nn::DenseConv1d<T, B>> conv_;
  nn::Pool<T, B> pool_;
  nn::ClassifierHead<T, B> head_;
  Parameters<T> params_;
  Params p_, g_;
};

}  // namespace ssm
