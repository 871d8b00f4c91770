// ssm/nn/activations.hpp — pointwise activations (SiLU, GELU, softplus, …) and Dropout as layers without
// parameters. Math: backend/scalar/elementwise.hpp (GELU, SiLU and sigmoid vectorised for the Simd backend:
// backend/simd/elementwise.hpp). Inputs of any rank must be contiguous.
#pragma once

#include <cstdint>

#include "ssm/backend/scalar/elementwise.hpp"
#include "ssm/backend/simd/elementwise.hpp"
#include "ssm/core/context.hpp"

namespace ssm::nn {

/// y = act(x) for a contiguous view of any rank (y may be x).
template <Backend B = backend::Default, Real T, int R>
void activation_forward(Activation act, CView<T, R> x, View<T, R> y) {
  SSM_CHECK(x.is_contiguous() && y.is_contiguous() && x.size() == y.size(), activation_name(act),
            ": expected contiguous input and output of equal size, found ", shape_string(x), " and ",
            shape_string(y));
  activation_forward(B{}, act, x.flat(), y.flat());
}

/// dx = act'(x) ⊙ dy, overwriting dx (dx may be dy). x is the forward input.
template <Backend B = backend::Default, Real T, int R>
void activation_backward(Activation act, CView<T, R> x, CView<T, R> dy, View<T, R> dx) {
  SSM_CHECK(x.is_contiguous() && dy.is_contiguous() && dx.is_contiguous() && x.size() == dy.size() &&
                x.size() == dx.size(),
            activation_name(act), " backward: expected contiguous views of equal size");
  activation_backward(B{}, act, x.flat(), dy.flat(), dx.flat());
}

/// Inverted dropout with probability p. The mask is a pure function of (ctx.seed, the layer's stream,
/// the element index): backward recomputes it, and it does not depend on the thread count.
template <Real T, Backend B = backend::Default>
class Dropout {
 public:
  struct Cache {
    bool active = false;
    std::uint64_t seed = 0;
  };

  Dropout() = default;
  /// `stream` tells this dropout's mask from every other dropout's in the model; give each a distinct one.
  explicit Dropout(double p, std::uint64_t stream = 0) : p_(p), stream_(stream) {
    SSM_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), found ", p);
  }

  double p() const { return p_; }

  /// Identity when not training or p = 0. y may be x.
  template <class U, int R>
    requires std::is_same_v<std::remove_const_t<U>, T>
  void forward(View<U, R> x, View<T, R> y, Cache& cache, const Context& ctx) const {
    SSM_CHECK(x.is_contiguous() && y.is_contiguous() && x.size() == y.size(),
              "Dropout: expected contiguous input and output of equal size, found ", shape_string(x), " and ",
              shape_string(y));
    cache.active = ctx.training && p_ > 0.0;
    cache.seed = ctx.seed;
    if (cache.active)
      dropout_apply(B{}, View<const T, 1>(x.flat()), y.flat(), p_, cache.seed, stream_);
    else
      copy_elements(B{}, View<const T, 1>(x.flat()), y.flat());
  }

  /// dx overwritten (=); dx may be dy.
  template <class U, int R>
    requires std::is_same_v<std::remove_const_t<U>, T>
  void backward(const Cache& cache, View<U, R> dy, View<T, R> dx, const Context&) const {
    SSM_CHECK(dy.is_contiguous() && dx.is_contiguous() && dy.size() == dx.size(),
              "Dropout backward: expected contiguous views of equal size");
    if (cache.active)
      dropout_apply(B{}, View<const T, 1>(dy.flat()), dx.flat(), p_, cache.seed, stream_);
    else
      copy_elements(B{}, View<const T, 1>(dy.flat()), dx.flat());
  }

 private:
  double p_ = 0.0;
  std::uint64_t stream_ = 0;
};

}  // namespace ssm::nn
