// ssm/nn/linear.hpp — Linear: y = x Wᵀ + b over the rows of x. W: {out, in} as in PyTorch, so a weight
// exported from torch.nn.Linear loads unchanged. Init as PyTorch: W, b ~ U(−1/√in, 1/√in).
// A Linear built with own_weight = false registers only its bias: its owner binds W to another parameter's values
// and gradients (tied input/output embeddings), and init leaves W alone.
#pragma once

#include <cmath>

#include "ssm/backend/scalar/dense.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

template <Real T>
struct LinearParams {
  View<T, 2> weight;  // {out, in}
  View<T, 1> bias;    // {out}, empty without bias
};

template <Real T, Backend B = backend::Default>
class Linear {
 public:
  using Params = LinearParams<T>;
  struct Cache {
    View<const T, 2> x;  // the input, kept by the caller until backward
  };

  Linear() = default;
  Linear(ParamLayout& layout, std::string_view name, Index in, Index out, bool bias = true, bool own_weight = true)
      : in_(in), out_(out) {
    SSM_CHECK(in > 0 && out > 0, name, ": Linear needs positive sizes, found in=", in, " out=", out);
    if (own_weight) weight_ = layout.add<2>(join_name(name, "weight"), {out, in});
    if (bias) bias_ = layout.add<1>(join_name(name, "bias"), {out}, {.weight_decay = false});
  }

  Index in_features() const { return in_; }
  Index out_features() const { return out_; }
  bool has_bias() const { return bias_.offset >= 0; }
  bool owns_weight() const { return weight_.offset >= 0; }

  /// Without its own weight, Params::weight is empty: the owner sets it (and checks its shape {out, in}).
  Params bind(T* base) const {
    return {owns_weight() ? weight_.bind(base) : View<T, 2>(), has_bias() ? bias_.bind(base) : View<T, 1>()};
  }

  void init(const Params& p, Rng& rng) const {
    const T bound = T(1) / std::sqrt(static_cast<T>(in_));
    if (owns_weight()) fill_uniform(p.weight, rng, -bound, bound);
    if (!p.bias.empty()) fill_uniform(p.bias, rng, -bound, bound);
  }

  /// x: {M, in} -> y: {M, out}.
  void forward(const Params& p, View<const T, 2> x, View<T, 2> y, Cache& cache, const Context&) const {
    expect_shape(x, "Linear input", {-1, in_});
    expect_shape(y, "Linear output", {x.extent(0), out_});
    expect_shape(p.weight, "Linear weight", {out_, in_});
    linear_forward(B{}, x, View<const T, 2>(p.weight), View<const T, 1>(p.bias), y);
    cache.x = x;
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  void backward(const Params& p, const Cache& cache, View<const T, 2> dy, View<T, 2> dx, const Params& g,
                const Context&) const {
    expect_shape(dy, "Linear output gradient", {cache.x.extent(0), out_});
    if (!dx.empty()) expect_shape(dx, "Linear input gradient", {cache.x.extent(0), in_});
    linear_backward(B{}, cache.x, View<const T, 2>(p.weight), dy, dx, g.weight, g.bias);
  }

 private:
  Index in_ = 0, out_ = 0;
  ParamSlot<2> weight_;
  ParamSlot<1> bias_;
};

}  // namespace ssm::nn
