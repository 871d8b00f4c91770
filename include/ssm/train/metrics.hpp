// ssm/train/metrics.hpp — classification metrics: confusion matrix, accuracy, precision/recall/F1 per class
// and macro-averaged, ROC AUC for binary tasks (the Mann–Whitney statistic, ties counted as ½) and the ROC curve.
//   precision_c = TP/(TP+FP), recall_c = TP/(TP+FN), F1_c = 2PR/(P+R) (0 when undefined), macro = mean over classes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"

namespace ssm::train {

/// counts(t, p): examples of true class t predicted as p.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(Index classes = 2) : c_(classes), m_(static_cast<std::size_t>(classes * classes), 0) {
    SSM_CHECK(classes >= 1, "a confusion matrix needs at least one class, found ", classes);
  }

  void add(std::int32_t truth, std::int32_t predicted, Index times = 1) {
    SSM_CHECK(truth >= 0 && truth < c_ && predicted >= 0 && predicted < c_, "confusion matrix: class ", truth, " / ",
              predicted, " outside [0, ", c_, ")");
    m_[static_cast<std::size_t>(truth * c_ + predicted)] += times;
  }

  Index classes() const { return c_; }
  Index operator()(Index truth, Index predicted) const { return m_[static_cast<std::size_t>(truth * c_ + predicted)]; }
  Index total() const { return std::accumulate(m_.begin(), m_.end(), Index{0}); }
  Index correct() const {
    Index s = 0;
    for (Index i = 0; i < c_; ++i) s += (*this)(i, i);
    return s;
  }
  Index support(Index c) const {  // examples whose true class is c
    Index s = 0;
    for (Index p = 0; p < c_; ++p) s += (*this)(c, p);
    return s;
  }
  Index predicted_count(Index c) const {
    Index s = 0;
    for (Index t = 0; t < c_; ++t) s += (*this)(t, c);
    return s;
  }

  double accuracy() const { return total() ? static_cast<double>(correct()) / static_cast<double>(total()) : 0.0; }
  double precision(Index c) const {
    const Index p = predicted_count(c);
    return p ? static_cast<double>((*this)(c, c)) / static_cast<double>(p) : 0.0;
  }
  double recall(Index c) const {
    const Index s = support(c);
    return s ? static_cast<double>((*this)(c, c)) / static_cast<double>(s) : 0.0;
  }
  double f1(Index c) const {
    const double p = precision(c), r = recall(c);
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
  double macro_precision() const { return macro([&](Index c) { return precision(c); }); }
  double macro_recall() const { return macro([&](Index c) { return recall(c); }); }
  double macro_f1() const { return macro([&](Index c) { return f1(c); }); }

 private:
  template <class F>
  double macro(F f) const {
    double s = 0;
    for (Index c = 0; c < c_; ++c) s += f(c);
    return s / static_cast<double>(c_);
  }
  Index c_;
  std::vector<Index> m_;
};

/// Area under the ROC curve of scores for the positive class: P(score of a random positive > score of a random
/// negative) + ½ P(equal), computed from average ranks in O(n log n). NaN when one class is absent.
inline double roc_auc(const std::vector<double>& scores, const std::vector<std::int32_t>& positive) {
  SSM_CHECK(scores.size() == positive.size(), "roc_auc: ", scores.size(), " scores for ", positive.size(), " labels");
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;  // sum of the (1-based, tie-averaged) ranks of the positives
  Index npos = 0, nneg = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k) {
      if (positive[idx[k]]) {
        rank_sum += avg_rank;
        ++npos;
      } else {
        ++nneg;
      }
    }
    i = j;
  }
  if (npos == 0 || nneg == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(npos), n = static_cast<double>(nneg);
  return (rank_sum - p * (p + 1) / 2) / (p * n);
}

struct RocPoint {
  double fpr, tpr, threshold;
};

/// The ROC curve: one point per distinct score (descending thresholds), from (0, 0) to (1, 1).
inline std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<std::int32_t>& positive) {
  SSM_CHECK(scores.size() == positive.size(), "roc_curve: ", scores.size(), " scores for ", positive.size(), " labels");
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double P = 0, N = 0;
  for (auto y : positive) (y ? P : N) += 1;
  std::vector<RocPoint> out{{0.0, 0.0, std::numeric_limits<double>::infinity()}};
  double tp = 0, fp = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) {
      (positive[idx[j]] ? tp : fp) += 1;
      ++j;
    }
    out.push_back({N > 0 ? fp / N : 0.0, P > 0 ? tp / P : 0.0, scores[idx[i]]});
    i = j;
  }
  return out;
}

}  // namespace ssm::train
