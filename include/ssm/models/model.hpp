// ssm/models/model.hpp — the one interface a trainer, an evaluator or a program needs of a model over token
// sequences: tokens {B, L} and lengths {B} → logits {rows, C}, where rows is B (pooled classifiers) or B·L
// (per-token heads: copying, language modelling), and the backward pass from the logits' gradient.
// ModelAdapter<M> gives any model of the library's forward/backward/parameters shape this interface, and, for
// models with a recurrent step (the SSM stacks with a per-token head), O(1)-per-token generation.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "ssm/core/context.hpp"
#include "ssm/core/error.hpp"
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
  /// The last training forward's auxiliary loss (SequenceModel's next-token loss during fine-tuning, in nats,
  /// before its weight; the model adds its gradient itself in backward), or NaN when the model computed none.
  virtual double auxiliary_loss() const { return std::numeric_limits<double>::quiet_NaN(); }
  /// The longest sequence the model accepts (learned positions, S4's l_max), or -1 for any length.
  virtual Index max_length() const { return -1; }

  /// Recurrent generation: begin_steps(B) starts B sequences from the zero state; each step feeds one token per
  /// sequence, tokens {B}, and writes the next-token logits {B, classes()} — what forward gives at that position,
  /// at a cost per token that does not grow with the length. Models without a recurrent form throw.
  virtual bool can_step() const { return false; }
  virtual void begin_steps(Index batch) {
    (void)batch;
    SSM_FAIL("this model has no recurrent step (SSM models with a per-token head have one)");
  }
  virtual void step(View<const std::int32_t, 1> tokens, View<float, 2> logits) {
    (void)tokens, (void)logits;
    SSM_FAIL("this model has no recurrent step (SSM models with a per-token head have one)");
  }
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

/// Models with a State type, make_state(batch) and step(state, tokens_t, logits_t).
template <class M>
concept SteppableModel = requires(const M& m, typename M::State& s) {
  { m.make_state(Index{1}) } -> std::same_as<typename M::State>;
  m.step(s, View<const std::int32_t, 1>(), View<float, 2>());
};

namespace detail {
template <class M>
struct StepState {
  using type = int;
};
template <SteppableModel M>
struct StepState<M> {
  using type = typename M::State;
};
}  // namespace detail

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
  double auxiliary_loss() const override {
    if constexpr (requires { m_.auxiliary_loss(cache_); }) return m_.auxiliary_loss(cache_);
    return Model::auxiliary_loss();
  }
  bool can_step() const override {
    if constexpr (SteppableModel<M>) {
      if constexpr (requires { m_.can_step(); }) return per_token_ && m_.can_step();
      return per_token_;
    }
    return false;
  }
  void begin_steps(Index batch) override {
    if constexpr (SteppableModel<M>) {
      SSM_CHECK(per_token_, "recurrent generation needs a per-token head");
      state_.emplace(m_.make_state(batch));
    } else {
      Model::begin_steps(batch);
    }
  }
  void step(View<const std::int32_t, 1> tokens, View<float, 2> logits) override {
    if constexpr (SteppableModel<M>) {
      SSM_CHECK(state_.has_value(), "step before begin_steps");
      m_.step(*state_, tokens, logits);
    } else {
      Model::step(tokens, logits);
    }
  }
  M& inner() { return m_; }

 private:
  M m_;
  typename M::Cache cache_;
  std::optional<typename detail::StepState<M>::type> state_;
  Index classes_;
  bool per_token_;
  Index max_len_;
};

}  // namespace ssm
