// ssm/nn/dense_conv1d.hpp — dense (all channels to all channels) "valid" 1-D convolution within each sequence's
// length, the layer of Kim's (2014) CNN text classifier:
//   y[b, t, o] = bias[o] + Σ_{k<K} Σ_i W[o, k, i] · x[b, t + k, i]   for t < max(n_b − K + 1, 1)
// where x beyond n_b counts as zero (a sequence shorter than K is zero-padded), and y = 0 at later positions.
// Output lengths are max(n_b − K + 1, 1) (output_lengths()). One GEMM over an unfolded input (backend/scalar/dense_conv1d.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ssm/backend/scalar/dense.hpp"
#include "ssm/backend/scalar/dense_conv1d.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

template <Real T>
struct DenseConv1dParams {
  View<T, 2> weight;  // {out, K · in}: W[o, k, i] at column k · in + i
  View<T, 1> bias;    // {out}
};

template <Real T, Backend B = backend::Default>
class DenseConv1d {
 public:
  using Params = DenseConv1dParams<T>;
  struct Cache {
    View<T, 3> u;  // the unfolded input {B, L, K · in}
    View<const std::int32_t, 1> lengths;
  };

  DenseConv1d() = default;
  DenseConv1d(ParamLayout& layout, std::string_view name, Index in, Index out, Index width)
      : in_(in), out_(out), width_(width) {
    SSM_CHECK(in > 0 && out > 0 && width > 0, name, ": DenseConv1d needs positive sizes, found in=", in, " out=", out,
              " width=", width);
    weight_ = layout.add<2>(join_name(name, "weight"), {out, width * in});
    bias_ = layout.add<1>(join_name(name, "bias"), {out}, {.weight_decay = false});
  }

  Index in_channels() const { return in_; }
  Index out_channels() const { return out_; }
  Index width() const { return width_; }

  Params bind(T* base) const { return {weight_.bind(base), bias_.bind(base)}; }

  /// PyTorch's Conv1d default: fan_in = K · in, W, b ~ U(−1/√fan_in, 1/√fan_in).
  void init(const Params& p, Rng& rng) const {
    const T bound = T(1) / std::sqrt(static_cast<T>(width_ * in_));
    fill_uniform(p.weight, rng, -bound, bound);
    fill_uniform(p.bias, rng, -bound, bound);
  }

  /// max(n − K + 1, 1) for each length n.
  void output_lengths(View<const std::int32_t, 1> lengths, View<std::int32_t, 1> out) const {
    for (Index b = 0; b < lengths.extent(0); ++b)
      out(b) = static_cast<std::int32_t>(std::max<Index>(lengths(b) - width_ + 1, 1));
  }

  /// x: {B, L, in}, lengths {B} in [1, L] → y: {B, L, out}, zero at t ≥ output length.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 3> y, Cache& cache,
               const Context& ctx) const {
    const Index Bn = x.extent(0), L = x.extent(1);
    expect_shape(x, "DenseConv1d input", {-1, -1, in_});
    expect_shape(lengths, "DenseConv1d lengths", {Bn});
    expect_shape(y, "DenseConv1d output", {Bn, L, out_});
    SSM_CHECK(y.is_contiguous(), "DenseConv1d needs a contiguous output");
    for (Index b = 0; b < Bn; ++b)
      SSM_CHECK(lengths(b) >= 1 && lengths(b) <= L, "DenseConv1d: sequence ", b, " has length ", lengths(b),
                ", expected 1..", L);
    cache.lengths = lengths;
    cache.u = ctx.workspace().take<T, 3>({Bn, L, width_ * in_});
    conv_unfold(B{}, x, lengths, width_, cache.u);
    linear_forward(B{}, reshape(View<const T, 3>(cache.u), {Bn * L, width_ * in_}), View<const T, 2>(p.weight),
                   View<const T, 1>(p.bias), reshape(y, {Bn * L, out_}));
    for (Index b = 0; b < Bn; ++b)
      for (Index t = std::max<Index>(lengths(b) - width_ + 1, 1); t < L; ++t)
        for (Index o = 0; o < out_; ++o) y(b, t, o) = T(0);
  }

  /// Parameter gradients accumulate (+=); dx is overwritten (=), or skipped when empty. dy beyond each output
  /// length is ignored.
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, const Params& g,
                const Context& ctx) const {
    const Index Bn = cache.u.extent(0), L = cache.u.extent(1);
    expect_shape(dy, "DenseConv1d output gradient", {Bn, L, out_});
    if (!dx.empty()) expect_shape(dx, "DenseConv1d input gradient", {Bn, L, in_});
    Workspace& ws = ctx.workspace();
    auto dym = ws.take<T, 3>({Bn, L, out_});  // dy with the rows past each output length zeroed
    for (Index b = 0; b < Bn; ++b) {
      const Index n_out = std::max<Index>(cache.lengths(b) - width_ + 1, 1);
      for (Index t = 0; t < L; ++t)
        for (Index o = 0; o < out_; ++o) dym(b, t, o) = t < n_out ? dy(b, t, o) : T(0);
    }
    View<T, 3> du;
    if (!dx.empty()) du = ws.take<T, 3>({Bn, L, width_ * in_});
    linear_backward(B{}, reshape(View<const T, 3>(cache.u), {Bn * L, width_ * in_}), View<const T, 2>(p.weight),
                    reshape(View<const T, 3>(dym), {Bn * L, out_}),
                    dx.empty() ? View<T, 2>() : reshape(du, {Bn * L, width_ * in_}), g.weight, g.bias);
    if (!dx.empty()) conv_fold(B{}, View<const T, 3>(du), cache.lengths, width_, dx);
  }

 private:
  Index in_ = 0, out_ = 0, width_ = 0;
  ParamSlot<2> weight_;
  ParamSlot<1> bias_;
};

}  // namespace ssm::nn
