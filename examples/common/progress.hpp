// examples/common/progress.hpp — wall-clock timing and the one-line progress report of the examples:
// "step 120/400  loss 0.4132  acc 81.2%  12.3k tok/s  ETA 0:42".
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace ssm::examples {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

inline std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

inline std::string format_rate(double per_second) {
  char buf[32];
  if (per_second >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", per_second / 1e6);
  else if (per_second >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", per_second / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", per_second);
  return buf;
}

/// Prints "step s/total  loss …  acc …  tok/s  ETA" on one line.
inline void print_progress(const char* prefix, long step, long total, double loss, double accuracy,
                           double tokens_per_second, double elapsed) {
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total - step) : -1;
  std::printf("%s step %ld/%ld  loss %.4f  acc %5.1f%%  %s tok/s  ETA %s\n", prefix, step, total, loss,
              100.0 * accuracy, format_rate(tokens_per_second).c_str(), format_duration(eta).c_str());
  std::fflush(stdout);
}

}  // namespace ssm::examples
