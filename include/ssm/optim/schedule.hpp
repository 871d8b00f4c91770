// ssm/optim/schedule.hpp — learning-rate schedules as a multiplier of the base rate, by 0-based step s:
// constant 1; warm-up (s+1)/W for s < W; then constant, linear decay or cosine decay to min_ratio at `total`:
//   cosine: r + (1 − r)·½(1 + cos(π·(s − W)/(total − W))).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ssm/core/error.hpp"

namespace ssm::optim {

class LrSchedule {
 public:
  enum class Kind { Constant, Linear, Cosine };

  static LrSchedule constant(long warmup_steps = 0) { return LrSchedule(Kind::Constant, warmup_steps, 0, 1.0); }
  static LrSchedule linear(long warmup_steps, long total_steps, double min_ratio = 0.0) {
    return LrSchedule(Kind::Linear, warmup_steps, total_steps, min_ratio);
  }
  static LrSchedule cosine(long warmup_steps, long total_steps, double min_ratio = 0.0) {
    return LrSchedule(Kind::Cosine, warmup_steps, total_steps, min_ratio);
  }

  /// The multiplier for 0-based step s.
  double operator()(long s) const {
    if (s < warmup_) return static_cast<double>(s + 1) / static_cast<double>(warmup_);
    if (kind_ == Kind::Constant) return 1.0;
    const double span = static_cast<double>(std::max<long>(total_ - warmup_, 1));
    const double progress = std::clamp(static_cast<double>(s - warmup_) / span, 0.0, 1.0);
    const double shape =
        kind_ == Kind::Linear ? 1.0 - progress : 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    return min_ratio_ + (1.0 - min_ratio_) * shape;
  }

  Kind kind() const { return kind_; }
  long warmup_steps() const { return warmup_; }
  long total_steps() const { return total_; }

 private:
  LrSchedule(Kind k, long warmup, long total, double min_ratio)
      : kind_(k), warmup_(warmup), total_(total), min_ratio_(min_ratio) {
    SSM_CHECK(warmup >= 0, "warm-up steps must be >= 0, found ", warmup);
    SSM_CHECK(k == Kind::Constant || total > warmup, "a decaying schedule needs total steps (", total,
              ") > warm-up steps (", warmup, ")");
    SSM_CHECK(min_ratio >= 0.0 && min_ratio <= 1.0, "min_ratio must be in [0, 1], found ", min_ratio);
  }

  Kind kind_;
  long warmup_, total_;
  double min_ratio_;
};

}  // namespace ssm::optim
