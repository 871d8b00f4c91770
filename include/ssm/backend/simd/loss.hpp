// ssm/backend/simd/loss.hpp — softmax cross-entropy for float with simd::exp: the language model's loss, whose
// rows are as wide as the vocabulary (10⁴–5·10⁴ logits per token), so the scalar path's two double-precision
// exps and one log per logit were a third of a training step. Same equations and semantics as
// backend/scalar/loss.hpp (label smoothing, class weights, ignore index, argmax = first maximum); per row:
//   z* = max z,  s = Σ_c e^(z_c − z*)  (float lanes, summed in double),  lse = z* + log s,
//   Σ_c w_c log p_c = Σ_c w_c z_c − lse Σ_c w_c,
// and the gradient from one more pass over the e^(z_c − z*) kept in dlogits:
//   ∂/∂z_c = norm · [a · e^(z_c − z*)/s − (ε/C) w_c − (1−ε) w_y [c = y]],  a = (1−ε) w_y + (ε/C) Σ w.
// Double runs the scalar loop. tests/nn_test.cpp holds this path to the scalar one.
//
// Not seen by nvcc: its front end aborts on vector-extension code it has to compile, and the trainer's
// non-template members instantiate the loss for the default backend; in a .cu file Simd falls back to Scalar.
#pragma once
#if !defined(__CUDACC__)

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "ssm/backend/scalar/loss.hpp"
#include "ssm/backend/simd/vec.hpp"
#include "ssm/core/parallel.hpp"

namespace ssm::backend {

namespace detail {

/// The float row kernel. e: C floats of scratch (dlogits' row when the gradient is wanted).
template <class T>
  requires std::is_same_v<T, float>
struct SoftmaxRow {
  using V = simd::Vec<T>;
  static constexpr Index W = V::W;

  static T row_max(const T* z, Index C) {
    V m(-std::numeric_limits<T>::infinity());
    Index c = 0;
    for (; c + W <= C; c += W) m = simd::max(m, V::load(z + c));
    T r = m[0];
    for (int l = 1; l < W; ++l) r = std::max(r, m[l]);
    for (; c < C; ++c) r = std::max(r, z[c]);
    return r;
  }

  /// Σ e^(z_c − zmax), writing each term to e when e is not null.
  static double exp_sum(const T* z, Index C, T zmax, T* e) {
    const V vm(zmax);
    V s0 = V::zero(), s1 = V::zero();
    Index c = 0;
    for (; c + 2 * W <= C; c += 2 * W) {
      const V a = simd::exp(V::load(z + c) - vm), b = simd::exp(V::load(z + c + W) - vm);
      if (e != nullptr) {
        a.store(e + c);
        b.store(e + c + W);
      }
      s0 += a;
      s1 += b;
    }
    double s = 0;
    for (int l = 0; l < W; ++l) s += static_cast<double>(s0[l]) + static_cast<double>(s1[l]);
    for (; c < C; ++c) {
      const T x = std::exp(z[c] - zmax);
      if (e != nullptr) e[c] = x;
      s += x;
    }
    return s;
  }

  static double sum(const T* z, Index C) {
    V s0 = V::zero();
    Index c = 0;
    for (; c + W <= C; c += W) s0 += V::load(z + c);
    double s = 0;
    for (int l = 0; l < W; ++l) s += s0[l];
    for (; c < C; ++c) s += z[c];
    return s;
  }
};

}  // namespace detail

/// logits: {M, C}; targets: {M}; class_weights: {C} or empty; dlogits: {M, C} or empty (overwritten).
template <Real T>
LossStats softmax_cross_entropy(Simd, CView<T, 2> logits, CView<std::int32_t, 1> targets,
                                CView<T, 1> class_weights, CrossEntropyOptions opt, View<T, 2> dlogits) {
  if constexpr (!std::is_same_v<T, float>) {
    return softmax_cross_entropy(Scalar{}, logits, targets, class_weights, opt, dlogits);
  } else {
    using Row = detail::SoftmaxRow<T>;
    const Index M = logits.extent(0), C = logits.extent(1);
    const bool weighted = !class_weights.empty();
    const auto w = [&](Index c) { return weighted ? static_cast<double>(class_weights(c)) : 1.0; };
    // The rows must be contiguous for the vector loads; a strided view takes the scalar path.
    if (C > 1 && (logits.stride(1) != 1 || (!dlogits.empty() && dlogits.stride(1) != 1)))
      return softmax_cross_entropy(Scalar{}, logits, targets, class_weights, opt, dlogits);
    const auto sums = detail::cross_entropy_sums<T>(targets, C, class_weights, opt);
    const double wsum_all = sums.wsum_all, norm = sums.norm, eps = opt.label_smoothing;
    const double eps_c = eps / static_cast<double>(C);
    return detail::reduce_cross_entropy(M, 64, sums, [&](Index m0, Index m1, double& acc, Index& correct) {
      for (Index m = m0; m < m1; ++m) {
        const T* z = &logits(m, 0);
        const std::int32_t y = targets(m);
        if (y == opt.ignore_index) {
          if (!dlogits.empty())
            for (Index c = 0; c < C; ++c) dlogits(m, c) = T(0);
          continue;
        }
        const T zmax = Row::row_max(z, C);
        Index arg = 0;
        while (arg + 1 < C && !(z[arg] == zmax)) ++arg;  // the first maximum, as the scalar loop finds it
        T* e = nullptr;
        if (!dlogits.empty()) e = &dlogits(m, 0);
        const double s = Row::exp_sum(z, C, zmax, e);
        const double lse = static_cast<double>(zmax) + std::log(s);
        double wz = 0;  // Σ w_c z_c
        if (weighted) {
          for (Index c = 0; c < C; ++c) wz += w(c) * static_cast<double>(z[c]);
        } else {
          wz = Row::sum(z, C);
        }
        const double logp_y = static_cast<double>(z[y]) - lse;
        acc += (1.0 - eps) * w(y) * (-logp_y) - eps_c * (wz - lse * wsum_all);
        correct += (arg == y);
        if (e != nullptr) {
          using V = simd::Vec<T>;
          const double a = ((1.0 - eps) * w(y) + eps_c * wsum_all) * norm / s;
          const T af = static_cast<T>(a);
          if (weighted) {
            for (Index c = 0; c < C; ++c) e[c] = static_cast<T>(a * e[c] - norm * eps_c * w(c));
          } else {
            const V va(af), vb(static_cast<T>(norm * eps_c));
            Index c = 0;
            for (; c + V::W <= C; c += V::W) simd::fma(V::load(e + c), va, -vb).store(e + c);
            for (; c < C; ++c) e[c] = e[c] * af - static_cast<T>(norm * eps_c);
          }
          e[y] -= static_cast<T>(norm * (1.0 - eps) * w(y));
        }
      }
    });
  }
}

}  // namespace ssm::backend

#endif  // !defined(__CUDACC__)
