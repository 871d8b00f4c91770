// ssm/models/model.hpp — the one interface a trainer, an evaluator or a program needs of a model over token
// sequences: tokens {B, L} and lengths {B} → logits {rows, C}, where rows is B (pooled classifiers) or B·L
// (per-token heads: copying, language modelling), and the backward pass from the logits' gradient.
// ModelAdapter<M> gives any model of the library's forward/backward/parameters shape this interface.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "ssm/core/context.hpp"
#include "ssm/core/view.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm {

/// A trainable model in float over token sequences; it keeps the cache of its last training forward.
class Model {
 public:
  virtual ~Model() = default;
  /// tokens {B, L} (right-padded), lengths {B} → logits {logit_rows(B, L), classes()}.
  virtual void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<float, 2> logits,
                       const Context& ctx) = 0;
  /// Parameter gradients accumulate (+=) from the gradient of the loss wrt the last forward's logits.
  virtual void backward(View<const float, 2> dlogits, const Context& ctx) = 0;
  virtual Parameters<float>& parameters() = 0;
  virtual void init(std::uint64_t seed) = 0;
  /// Rows of the logits: `batch` for pooled heads, batch · length for per-token heads.
  virtual Index logit_rows(Index batch, Index length) const = 0;
  virtual Index classes() const = 0;
  /// The longest sequence the model accepts (learned positions, S4's l_max), or -1 for any length.
  virtual Index max_length() const { return -1; }
};

/// What ModelAdapter wraps: forward(tokens, lengths, logits, cache, ctx), backward(cache, dlogits, ctx), parameters(),
/// init(seed), and a Cache type.
template <class M>
concept AdaptableModel = requires(M& m, typename M::Cache& c, const Context& ctx) {
  m.forward(View<const std::int32_t, 2>(), View<const std::int32_t, 1>(), View<float, 2>(), c, ctx);
  m.backward(std::as_const(c), View<const float, 2>(), ctx);
  { m.parameters() } -> std::same_as<Parameters<float>&>;
  m.init(std::uint64_t{1});
};

template <AdaptableModel M>
class ModelAdapter final : public Model {
 public:
  /// rows_per_token: true for per-token heads (logit rows B·L), false for pooled ones (B).
  template <class... Args>
  ModelAdapter(Index classes, bool rows_per_token, Index max_len, Args&&... args)
      : m_(std::forward<Args>(args)...), classes_(classes), per_token_(rows_per_token), max_len_(max_len) {}

  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<float, 2> logits,
               const Context& ctx) override {
    m_.forward(tokens, lengths, logits, cache_, ctx);
  }
  void backward(View<const float, 2> dlogits, const Context& ctx) override { m_.backward(cache_, dlogits, ctx); }
  Parameters<float>& parameters() override { return m_.parameters(); }
  void init(std::uint64_t seed) override { m_.init(seed); }
  Index logit_rows(Index batch, Index length) const override { return per_token_ ? batch * length : batch; }
  Index classes() const override { return classes_; }
  Index max_length() const override { return max_len_; }
  M& inner() { return m_; }

 private:
  M m_;
  typename M::Cache cache_;
  Index classes_;
  bool per_token_;
  Index max_len_;
};

}  // namespace ssm
