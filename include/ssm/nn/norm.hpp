// ssm/nn/norm.hpp — RMSNorm (y = w ⊙ x / √(mean(x²) + ε), Zhang & Sennrich 2019; Mamba's pre-norm) and
// LayerNorm (y = γ ⊙ (x − μ)/√(var + ε) + β), both over the last dimension of x: {M, D}.
// Kernels: backend/scalar/norm.hpp.
#pragma once

#include "ssm/backend/scalar/norm.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

template <Real T>
struct RmsNormParams {
  View<T, 1> weight;  // {D}, starts at 1
};

template <Real T, Backend B = backend::Default>
class RmsNorm {
 public:
  using Params = RmsNormParams<T>;
  struct Cache {
    View<const T, 2> x;
    View<T, 1> rstd;  // {M}
  };

  RmsNorm() = default;
  RmsNorm(ParamLayout& layout, std::string_view name, Index dim, double eps = 1e-5) : dim_(dim), eps_(eps) {
    SSM_CHECK(dim > 0, name, ": RmsNorm needs a positive dimension, found ", dim);
    weight_ = layout.add<1>(join_name(name, "weight"), {dim}, {.weight_decay = false});
  }

  Index dim() const { return dim_; }
  Params bind(T* base) const { return {weight_.bind(base)}; }
  void init(const Params& p, Rng&) const { fill(p.weight, T(1)); }

  /// x, y: {M, D}.
  void forward(const Params& p, View<const T, 2> x, View<T, 2> y, Cache& cache, const Context& ctx) const {
    expect_shape(x, "RmsNorm input", {-1, dim_});
    expect_shape(y, "RmsNorm output", {x.extent(0), dim_});
    expect_unit_inner_stride(x, "RmsNorm input");
    expect_unit_inner_stride(y, "RmsNorm output");
    cache.x = x;
    cache.rstd = ctx.workspace().take<T>(x.extent(0));
    rmsnorm_forward(B{}, x, View<const T, 1>(p.weight), static_cast<T>(eps_), y, cache.rstd);
  }

  /// The weight gradient accumulates (+=); dx is overwritten (=).
  void backward(const Params& p, const Cache& cache, View<const T, 2> dy, View<T, 2> dx, const Params& g,
                const Context& ctx) const {
    expect_shape(dy, "RmsNorm output gradient", {cache.x.extent(0), dim_});
    if (!dx.empty()) expect_shape(dx, "RmsNorm input gradient", {cache.x.extent(0), dim_});
    rmsnorm_backward(B{}, cache.x, View<const T, 1>(p.weight), View<const T, 1>(cache.rstd), dy, dx, g.weight,
                     ctx.workspace());
  }

 private:
  Index dim_ = 0;
  double eps_ = 1e-5;
  ParamSlot<1> weight_;
};

template <Real T>
struct LayerNormParams {
  View<T, 1> gamma;  // {D}, starts at 1; empty without affine part
  View<T, 1> beta;   // {D}, starts at 0
};

template <Real T, Backend B = backend::Default>
class LayerNorm {
 public:
  using Params = LayerNormParams<T>;
  struct Cache {
    View<const T, 2> x;
    View<T, 1> mean, rstd;  // {M}
  };

  LayerNorm() = default;
  LayerNorm(ParamLayout& layout, std::string_view name, Index dim, double eps = 1e-5, bool affine = true)
      : dim_(dim), eps_(eps) {
    SSM_CHECK(dim > 0, name, ": LayerNorm needs a positive dimension, found ", dim);
    if (affine) {
      gamma_ = layout.add<1>(join_name(name, "weight"), {dim}, {.weight_decay = false});
      beta_ = layout.add<1>(join_name(name, "bias"), {dim}, {.weight_decay = false});
    }
  }

  Index dim() const { return dim_; }
  bool affine() const { return gamma_.offset >= 0; }
  Params bind(T* base) const {
    if (!affine()) return {};
    return {gamma_.bind(base), beta_.bind(base)};
  }
  void init(const Params& p, Rng&) const {
    if (!affine()) return;
    fill(p.gamma, T(1));
    fill(p.beta, T(0));
  }

  void forward(const Params& p, View<const T, 2> x, View<T, 2> y, Cache& cache, const Context& ctx) const {
    expect_shape(x, "LayerNorm input", {-1, dim_});
    expect_shape(y, "LayerNorm output", {x.extent(0), dim_});
    expect_unit_inner_stride(x, "LayerNorm input");
    expect_unit_inner_stride(y, "LayerNorm output");
    cache.x = x;
    cache.mean = ctx.workspace().take<T>(x.extent(0));
    cache.rstd = ctx.workspace().take<T>(x.extent(0));
    layernorm_forward(B{}, x, View<const T, 1>(p.gamma), View<const T, 1>(p.beta), static_cast<T>(eps_), y,
                      cache.mean, cache.rstd);
  }

  /// γ and β gradients accumulate (+=); dx is overwritten (=).
  void backward(const Params& p, const Cache& cache, View<const T, 2> dy, View<T, 2> dx, const Params& g,
                const Context& ctx) const {
    expect_shape(dy, "LayerNorm output gradient", {cache.x.extent(0), dim_});
    if (!dx.empty()) expect_shape(dx, "LayerNorm input gradient", {cache.x.extent(0), dim_});
    layernorm_backward(B{}, cache.x, View<const T, 1>(p.gamma), View<const T, 1>(cache.mean),
                       View<const T, 1>(cache.rstd), dy, dx, g.gamma, g.beta, ctx.workspace());
  }

 private:
  Index dim_ = 0;
  double eps_ = 1e-5;
  ParamSlot<1> gamma_, beta_;
};

}  // namespace ssm::nn
