// ssm/nn/classifier_head.hpp — the end of every classifier in the library: features → Dropout → Linear → logits,
// with the pooling over each sequence's length in front when the features are still a sequence:
//   forward:        features {N, D}                    → logits {N, C}   (per token, or already pooled)
//   forward_pooled: x {B, L, D}, lengths {B} → Pool     → logits {B, C}
// The Linear is registered under the head's name, so checkpoints name its parameters "<name>.weight/.bias".
// A tied head (language models: Press & Wolf 2017) registers only "<name>.bias" (or nothing, without a bias); the model binds its weight to the
// input embedding's table {vocab, D}, whose values it reads and whose gradient it accumulates into.
#pragma once

#include <cstdint>
#include <string_view>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/pooling.hpp"

namespace ssm::nn {

template <Real T, Backend B = backend::Default>
class ClassifierHead {
 public:
  using Params = LinearParams<T>;
  struct Cache {
    typename Pool<T, B>::Cache pool;
    typename Dropout<T, B>::Cache drop;
    typename Linear<T, B>::Cache linear;
    View<T, 2> pooled;   // {B, D}, forward_pooled only
    View<T, 2> dropped;  // the Linear's input, kept until backward
  };

  ClassifierHead() = default;
  /// `stream` is the dropout's mask stream (see Dropout); `pooling` is used by forward_pooled only; bias = false
  /// leaves the logits without a bias (Hugging Face's lm_head has none).
  ClassifierHead(ParamLayout& layout, std::string_view name, Index in, Index classes, double dropout,
                 std::uint64_t stream, Pooling pooling = Pooling::Mean, bool tied = false, bool bias = true)
      : linear_(layout, name, in, classes, bias, /*own_weight=*/!tied), drop_(dropout, stream), pool_(pooling) {}

  bool tied() const { return !linear_.owns_weight(); }
  Index in_features() const { return linear_.in_features(); }
  Index classes() const { return linear_.out_features(); }
  Pooling pooling() const { return pool_.kind(); }

  Params bind(T* base) const { return linear_.bind(base); }
  void init(const Params& p, Rng& rng) const { linear_.init(p, rng); }

  /// features: {N, D} -> logits: {N, C}.
  void forward(const Params& p, View<const T, 2> features, View<T, 2> logits, Cache& cache, const Context& ctx) const {
    expect_shape(features, "classifier head input", {-1, in_features()});
    cache.dropped = ctx.workspace().take<T, 2>({features.extent(0), in_features()});
    drop_.forward(features, cache.dropped, cache.drop, ctx);
    linear_.forward(p, View<const T, 2>(cache.dropped), logits, cache.linear, ctx);
  }

  /// x: {B, L, D}, lengths: {B} each in [1, L] (kept by the caller until backward) -> logits: {B, C}.
  void forward_pooled(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 2> logits,
                      Cache& cache, const Context& ctx) const {
    cache.pooled = ctx.workspace().take<T, 2>({x.extent(0), x.extent(2)});
    pool_.forward(x, lengths, cache.pooled, cache.pool, ctx);
    forward(p, View<const T, 2>(cache.pooled), logits, cache, ctx);
  }

  /// Parameter gradients accumulate (+=) into g; dfeatures: {N, D} overwritten (=).
  void backward(const Params& p, const Cache& cache, View<const T, 2> dlogits, View<T, 2> dfeatures, const Params& g,
                const Context& ctx) const {
    linear_.backward(p, cache.linear, dlogits, dfeatures, g, ctx);
    drop_.backward(cache.drop, dfeatures, dfeatures, ctx);
  }

  /// dx: {B, L, D} overwritten (=), zero at padded positions.
  void backward_pooled(const Params& p, const Cache& cache, View<const T, 2> dlogits, View<T, 3> dx, const Params& g,
                       const Context& ctx) const {
    auto dpooled = ctx.workspace().take<T, 2>({cache.pooled.extent(0), cache.pooled.extent(1)});
    backward(p, cache, dlogits, dpooled, g, ctx);
    pool_.backward(cache.pool, View<const T, 2>(dpooled), dx, ctx);
  }

 private:
  Linear<T, B> linear_;
  Dropout<T, B> drop_;
  Pool<T, B> pool_;
};

}  // namespace ssm::nn
