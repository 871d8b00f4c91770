// ssm/nn/conv1d.hpp — depthwise causal Conv1d of any width K over {B, L, D} sequences (Mamba's short
// convolution). y[b, t, d] = bias[d] + Σ_k w[k, d] x[b, t−K+1+k, d]; the kernel is in backend/scalar/conv1d.hpp.
// Causal and right-padded: padding after a sequence's end never changes its outputs.
#pragma once

#include <cmath>

#include "ssm/backend/scalar/conv1d.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

template <Real T>
struct Conv1dParams {
  View<T, 2> weight;  // {K, D}: tap k multiplies x[t − K + 1 + k]
  View<T, 1> bias;    // {D}, empty without bias
};

template <Real T, Backend B = backend::Default>
class Conv1d {
 public:
  using Params = Conv1dParams<T>;
  struct Cache {
    View<const T, 3> x;
  };

  Conv1d() = default;
  Conv1d(ParamLayout& layout, std::string_view name, Index channels, Index width, bool bias = true)
      : channels_(channels), width_(width) {
    SSM_CHECK(channels > 0 && width > 0, name, ": Conv1d needs positive channels and width, found ", channels, " and ",
              width);
    weight_ = layout.add<2>(join_name(name, "weight"), {width, channels});
    if (bias) bias_ = layout.add<1>(join_name(name, "bias"), {channels}, {.weight_decay = false});
  }

  Index channels() const { return channels_; }
  Index width() const { return width_; }
  bool has_bias() const { return bias_.offset >= 0; }

  Params bind(T* base) const { return {weight_.bind(base), has_bias() ? bias_.bind(base) : View<T, 1>()}; }

  /// PyTorch's default for a depthwise conv: fan_in = K, W, b ~ U(−1/√K, 1/√K).
  void init(const Params& p, Rng& rng) const {
    const T bound = T(1) / std::sqrt(static_cast<T>(width_));
    fill_uniform(p.weight, rng, -bound, bound);
    if (!p.bias.empty()) fill_uniform(p.bias, rng, -bound, bound);
  }

  /// x: {B, L, D} -> y: {B, L, D}.
  void forward(const Params& p, View<const T, 3> x, View<T, 3> y, Cache& cache, const Context&) const {
    expect_shape(x, "Conv1d input", {-1, -1, channels_});
    expect_shape(y, "Conv1d output", {x.extent(0), x.extent(1), channels_});
    expect_unit_inner_stride(x, "Conv1d input");
    expect_unit_inner_stride(y, "Conv1d output");
    conv1d_forward(B{}, x, View<const T, 2>(p.weight), View<const T, 1>(p.bias), y);
    cache.x = x;
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    expect_shape(dy, "Conv1d output gradient", {cache.x.extent(0), cache.x.extent(1), channels_});
    if (!dx.empty()) expect_shape(dx, "Conv1d input gradient", {cache.x.extent(0), cache.x.extent(1), channels_});
    conv1d_backward(B{}, cache.x, View<const T, 2>(p.weight), dy, dx, g.weight, g.bias, ctx.workspace());
  }

  /// Generation: state {B, K−1, D} holds the last K−1 inputs (zeros at the start); x_t, y_t: {B, D}.
  void step(const Params& p, View<T, 3> state, View<const T, 2> x_t, View<T, 2> y_t) const {
    expect_shape(state, "Conv1d state", {x_t.extent(0), width_ - 1, channels_});
    expect_shape(y_t, "Conv1d step output", {x_t.extent(0), channels_});
    conv1d_step(B{}, state, x_t, View<const T, 2>(p.weight), View<const T, 1>(p.bias), y_t);
  }

 private:
  Index channels_ = 0, width_ = 0;
  ParamSlot<2> weight_;
  ParamSlot<1> bias_;
};

}  // namespace ssm::nn
