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

/// logits: {M, C}; targets: {M}; class_weights: {C} or empty; dlogits: {M, C} or empty (overwritten).
template <Real T>
LossStats softmax_cross_entropy(Scalar, CView<T, 2> logits, CView<std::int32_t, 1> targets,
                                CView<T, 1> class_weights, CrossEntropyOptions opt, View<T, 2> dlogits) {
  const Index M = logits.extent(0), C = logits.extent(1);
  const auto w = [&](Index c) { return class_weights.empty() ? 1.0 : static_cast<double>(class_weights(c)); };
  double wsum_all = 0;
  for (Index c = 0; c < C; ++c) wsum_all += w(c);

  LossStats st;
  for (Index m = 0; m < M; ++m) {
    const std::int32_t y = targets(m);
    if (y == opt.ignore_index) continue;
    SSM_CHECK(y >= 0 && y < C, "cross-entropy: target ", y, " in row ", m, " is outside the classes [0, ", C, ")");
    st.weight_sum += w(y);
    ++st.count;
  }
  const double eps = opt.label_smoothing;
  const double norm = st.weight_sum > 0 ? 1.0 / st.weight_sum : 0.0;

  const Index grain = 256;
  std::vector<double> part_loss(static_cast<std::size_t>(chunk_count(M, grain)), 0.0);
  std::vector<Index> part_correct(part_loss.size(), 0);
  parallel_chunks(M, grain, [&](Index chunk, Index m0, Index m1) {
    std::vector<double> logp(static_cast<std::size_t>(C));
    double acc = 0;
    Index correct = 0;
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
    part_loss[chunk] = acc;
    part_correct[chunk] = correct;
  });
  double total = 0;
  for (std::size_t i = 0; i < part_loss.size(); ++i) {
    total += part_loss[i];
    st.correct += part_correct[i];
  }
  st.loss = total * norm;
  return st;
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
