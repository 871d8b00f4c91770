// ssm/nn/pooling.hpp — sequence pooling over variable lengths (mean, last token, max over time) for
// classifiers: {B, L, D} + lengths {B} -> {B, D}. Kernel and equations: backend/scalar/pooling.hpp.
#pragma once

#include "ssm/backend/scalar/pooling.hpp"
#include "ssm/core/context.hpp"

namespace ssm::nn {

template <Real T, Backend B = backend::Default>
class Pool {
 public:
  struct Cache {
    View<const std::int32_t, 1> lengths;
    View<std::int32_t, 2> argmax;  // {B, D}, Max only
    Index L = 0;
  };

  explicit Pool(Pooling kind = Pooling::Mean) : kind_(kind) {}
  Pooling kind() const { return kind_; }

  /// x: {B, L, D}, lengths: {B} each in [1, L] -> y: {B, D}. The caller keeps `lengths` until backward.
  void forward(View<const T, 3> x, View<const std::int32_t, 1> lengths, View<T, 2> y, Cache& cache,
               const Context& ctx) const {
    expect_shape(lengths, "pooling lengths", {x.extent(0)});
    expect_shape(y, "pooling output", {x.extent(0), x.extent(2)});
    cache.lengths = lengths;
    cache.L = x.extent(1);
    cache.argmax = kind_ == Pooling::Max ? ctx.workspace().take<std::int32_t, 2>({x.extent(0), x.extent(2)})
                                         : View<std::int32_t, 2>();
    pool_forward(B{}, kind_, x, lengths, y, cache.argmax);
  }

  /// dx: {B, L, D} overwritten (=), zero at padded positions.
  void backward(const Cache& cache, View<const T, 2> dy, View<T, 3> dx, const Context&) const {
    expect_shape(dx, "pooling input gradient", {cache.lengths.extent(0), cache.L, dy.extent(1)});
    pool_backward(B{}, kind_, cache.lengths, View<const std::int32_t, 2>(cache.argmax), dy, dx);
  }

 private:
  Pooling kind_;
};

}  // namespace ssm::nn
