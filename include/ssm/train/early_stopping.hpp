// ssm/train/early_stopping.hpp — stop when a validation metric has not improved by more than min_delta
// for `patience` evaluations in a row; remembers the best value and when it was seen.
#pragma once

#include <cmath>
#include <limits>

#include "ssm/core/error.hpp"

namespace ssm::train {

class EarlyStopping {
 public:
  enum class Mode { Minimize, Maximize };

  explicit EarlyStopping(int patience = 5, Mode mode = Mode::Minimize, double min_delta = 0.0)
      : patience_(patience), mode_(mode), min_delta_(min_delta) {
    SSM_CHECK(patience >= 1, "early-stopping patience must be >= 1, found ", patience);
    SSM_CHECK(min_delta_ >= 0, "early-stopping min_delta must be >= 0, found ", min_delta_);
  }

  /// Records one evaluation; true when it is a new best (the caller keeps that checkpoint).
  /// A NaN metric never improves.
  bool update(double metric) {
    ++evaluations_;
    const bool better = !std::isnan(metric) &&
                        (std::isnan(best_) || (mode_ == Mode::Minimize ? metric < best_ - min_delta_
                                                                       : metric > best_ + min_delta_));
    if (better) {
      best_ = metric;
      best_evaluation_ = evaluations_;
      bad_ = 0;
    } else {
      ++bad_;
    }
    return better;
  }

  bool should_stop() const { return bad_ >= patience_; }
  double best() const { return best_; }
  /// 1-based index of the evaluation that gave best(); 0 before the first.
  int best_evaluation() const { return best_evaluation_; }
  int evaluations() const { return evaluations_; }
  int since_best() const { return bad_; }

  /// Restores the counters (for --resume).
  void restore(double best, int best_evaluation, int evaluations) {
    best_ = best;
    best_evaluation_ = best_evaluation;
    evaluations_ = evaluations;
    bad_ = evaluations - best_evaluation;
  }

 private:
  int patience_;
  Mode mode_;
  double min_delta_;
  double best_ = std::numeric_limits<double>::quiet_NaN();
  int best_evaluation_ = 0;
  int evaluations_ = 0;
  int bad_ = 0;
};

}  // namespace ssm::train
