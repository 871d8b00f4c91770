// ssm/backend/scalar/loss.hpp — softmax cross-entropy with label smoothing ε and class weights w, with
// PyTorch's semantics (F.cross_entropy, reduction='mean'): for a row with target y and p = softmax(z),
//   ℓ = (1−ε) w_y (−log p_y) + (ε/C) Σ_c w_c (−log p_c),   loss = Σ_rows ℓ / Σ_rows w_y,
// rows whose target is `ignore_index` contribute nothing. Gradient: ∂loss/∂z_j =
//   [(1−ε) w_y (p_j − [j=y]) + (ε/C)(p_j Σ_c w_c − w_j)] / Σ_rows w_y.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

struct LossStats {
  double loss = 0;        ///< the mean loss
  double weight_sum = 0;  ///< Σ w_y over counted rows (the normaliser)
  Index count = 0;        ///< rows not ignored
  Index correct = 0;      ///< counted rows whose argmax is the target
};

struct CrossEntropyOptions {
  double label_smoothing = 0.0;
  std::int32_t ignore_index = -1;
};

}  // namespace ssm

namespace ssm::backend {

namespace detail {

/// What every softmax cross-entropy kernel computes before its rows: the targets checked and counted (into
/// st.weight_sum, st.count), Σ_c w_c, and the normaliser 1 / Σ_rows w_y.
struct CrossEntropySums {
  LossStats st;
  double wsum_all = 0;
  double norm = 0;
};

template <Real T>
CrossEntropySums cross_entropy_sums(CView<std::int32_t, 1> targets, Index C, CView<T, 1> class_weights,
                                    const CrossEntropyOptions& opt) {
  const auto w = [&](Index c) { return class_weights.empty() ? 1.0 : static_cast<double>(class_weights(c)); };
  CrossEntropySums s;
  for (Index c = 0; c < C; ++c) s.wsum_all += w(c);
  for (Index m = 0; m < targets.extent(0); ++m) {
    const std::int32_t y = targets(m);
    if (y == opt.ignore_index) continue;
    SSM_CHECK(y >= 0 && y < C, "cross-entropy: target ", y, " in row ", m, " is outside the classes [0, ", C, ")");
    s.st.weight_sum += w(y);
    ++s.st.count;
  }
  s.norm = s.st.weight_sum > 0 ? 1.0 / s.st.weight_sum : 0.0;
  return s;
}

/// rows(m0, m1, loss, correct) over fixed chunks of `grain` of the M rows, on all threads; the chunks' partial
/// losses and counts are added in chunk order, so the result does not depend on the thread count.
template <class F>
LossStats reduce_cross_entropy(Index M, Index grain, const CrossEntropySums& s, F&& rows) {
  std::vector<double> part_loss(static_cast<std::size_t>(chunk_count(M, grain)), 0.0);
  std::vector<Index> part_correct(part_loss.size(), 0);
  parallel_chunks(M, grain, [&](Index chunk, Index m0, Index m1) {
    double acc = 0;
    Index correct = 0;
    rows(m0, m1, acc, correct);
    part_loss[chunk] = acc;
    part_correct[chunk] = correct;
  });
  LossStats st = s.st;
  double total = 0;
  for (std::size_t i = 0; i < part_loss.size(); ++i) {
    total += part_loss[i];
    st.correct += part_correct[i];
  }
  st.loss = total * s.norm;
  return st;
}

}  // namespace detail

/// logits: {M, C}; targets: {M}; class_weights: {C} or empty; dlogits: {M, C} or empty (overwritten).
template <Real T>
LossStats softmax_cross_entropy(Scalar, CView<T, 2> logits, CView<std::int32_t, 1> targets,
                                CView<T, 1> class_weights, CrossEntropyOptions opt, View<T, 2> dlogits) {
  const Index C = logits.extent(1);
  const auto w = [&](Index c) { return class_weights.empty() ? 1.0 : static_cast<double>(class_weights(c)); };
  const auto sums = detail::cross_entropy_sums<T>(targets, C, class_weights, opt);
  const double wsum_all = sums.wsum_all, norm = sums.norm, eps = opt.label_smoothing;
  return detail::reduce_cross_entropy(logits.extent(0), 256, sums, [&](Index m0, Index m1, double& acc,
                                                                       Index& correct) {
    std::vector<double> logp(static_cast<std::size_t>(C));
    for (Index m = m0; m < m1; ++m) {
      const std::int32_t y = targets(m);
      if (y == opt.ignore_index) {
        if (!dlogits.empty())
          for (Index c = 0; c < C; ++c) dlogits(m, c) = T(0);
        continue;
      }
      double zmax = logits(m, 0);
      Index arg = 0;
      for (Index c = 1; c < C; ++c)
        if (logits(m, c) > zmax) {
          zmax = logits(m, c);
          arg = c;
        }
      double se = 0;
      for (Index c = 0; c < C; ++c) se += std::exp(static_cast<double>(logits(m, c)) - zmax);
      const double lse = zmax + std::log(se);
      double smooth = 0;
      for (Index c = 0; c < C; ++c) {
        logp[c] = static_cast<double>(logits(m, c)) - lse;
        smooth -= w(c) * logp[c];
      }
      acc += (1.0 - eps) * w(y) * (-logp[y]) + eps / static_cast<double>(C) * smooth;
      correct += (arg == y);
      if (!dlogits.empty()) {
        for (Index c = 0; c < C; ++c) {
          const double p = std::exp(logp[c]);
          const double g = (1.0 - eps) * w(y) * (p - (c == y ? 1.0 : 0.0)) +
                           eps / static_cast<double>(C) * (p * wsum_all - w(c));
          dlogits(m, c) = static_cast<T>(g * norm);
        }
      }
    }
  });
}

/// probs: {M, C} = softmax(logits) row by row.
template <Real T>
void softmax(Scalar, CView<T, 2> logits, View<T, 2> probs) {
  const Index C = logits.extent(1);
  parallel_for(logits.extent(0), 256, [&](Index m0, Index m1) {
    for (Index m = m0; m < m1; ++m) {
      T zmax = logits(m, 0);
      for (Index c = 1; c < C; ++c) zmax = std::max(zmax, logits(m, c));
      T s = 0;
      for (Index c = 0; c < C; ++c) s += (probs(m, c) = std::exp(logits(m, c) - zmax));
      for (Index c = 0; c < C; ++c) probs(m, c) /= s;
    }
  });
}

}  // namespace ssm::backend
