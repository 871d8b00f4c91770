// ssm/train/gradient_check.hpp — the checks every layer's backward is held to:
//   compare(a, b):        |aᵢ − bᵢ| ≤ atol + rtol·|bᵢ| for all i, reporting the largest difference (NaN fails);
//   check_gradient(...):  central differences (f(x + h eᵢ) − f(x − h eᵢ)) / 2h in double against backward.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

/// The largest difference between two arrays and where it is.
struct Difference {
  double max_abs = 0;     ///< max |a − b|
  double max_excess = 0;  ///< max (|a − b| − atol − rtol·|b|); > 0 means a failure
  Index worst = -1;       ///< element with the largest excess
  double a = 0, b = 0;    ///< the values there
  Index failures = 0;
  Index compared = 0;

  bool ok() const { return failures == 0; }
  std::string report(const std::string& what = "values") const {
    std::ostringstream os;
    os.precision(10);
    os << what << ": " << failures << " of " << compared << " elements out of tolerance; largest |a-b| = " << max_abs;
    if (worst >= 0) os << "; worst at [" << worst << "]: " << a << " vs " << b;
    return os.str();
  }
};

/// Element-wise |a − b| ≤ atol + rtol·|b| (b is the reference). Views must have equal sizes.
template <class U, class V, int R>
Difference compare(View<U, R> a, View<V, R> b, double rtol, double atol) {
  SSM_CHECK(a.size() == b.size(), "compare: ", shape_string(a), " vs ", shape_string(b));
  Difference d;
  SSM_CHECK(a.is_contiguous() && b.is_contiguous(), "compare needs contiguous views");
  const View<U, 1> fa(a.data(), {a.size()});
  const View<V, 1> fb(b.data(), {b.size()});
  for (Index i = 0; i < a.size(); ++i) {
    const double x = static_cast<double>(fa(i)), y = static_cast<double>(fb(i));
    const double diff = std::abs(x - y);
    const double excess = (std::isnan(x) || std::isnan(y)) ? std::numeric_limits<double>::infinity()
                                                           : diff - atol - rtol * std::abs(y);
    ++d.compared;
    if (!(diff <= d.max_abs)) d.max_abs = std::isnan(diff) ? std::numeric_limits<double>::infinity() : diff;
    if (excess > 0) ++d.failures;
    if (d.worst < 0 || excess > d.max_excess) {
      d.max_excess = excess;
      d.worst = i;
      d.a = x;
      d.b = y;
    }
  }
  return d;
}

struct GradCheckOptions {
  double step = 1e-6;     ///< h of the central difference
  double rtol = 1e-6;
  double atol = 1e-8;
  Index max_coords = -1;  ///< check at most this many coordinates (a seeded random subset); -1 = all
  std::uint64_t seed = 7;
};

/// Compares `analytic` (dloss/dx from backward) with central differences of `loss()` over the coordinates of x,
/// which it perturbs in place and restores. Returns the comparison (finite differences are the reference).
template <class F>
Difference check_gradient(View<double, 1> x, View<const double, 1> analytic, F&& loss, GradCheckOptions opt = {}) {
  expect_shape(analytic, "analytic gradient", {x.extent(0)});
  std::vector<Index> coords(static_cast<std::size_t>(x.extent(0)));
  for (Index i = 0; i < x.extent(0); ++i) coords[static_cast<std::size_t>(i)] = i;
  if (opt.max_coords >= 0 && opt.max_coords < x.extent(0)) {
    Rng rng(opt.seed);
    for (std::size_t i = coords.size() - 1; i > 0; --i) std::swap(coords[i], coords[rng.uniform_int(i + 1)]);
    coords.resize(static_cast<std::size_t>(opt.max_coords));
  }
  std::vector<double> numeric(coords.size()), picked(coords.size());
  for (std::size_t k = 0; k < coords.size(); ++k) {
    const Index i = coords[k];
    const double saved = x(i);
    x(i) = saved + opt.step;
    const double fp = loss();
    x(i) = saved - opt.step;
    const double fm = loss();
    x(i) = saved;
    numeric[k] = (fp - fm) / (2 * opt.step);
    picked[k] = analytic(i);
  }
  const Index n = static_cast<Index>(coords.size());
  Difference d = compare(View<const double, 1>(picked.data(), {n}), View<const double, 1>(numeric.data(), {n}),
                         opt.rtol, opt.atol);
  if (d.worst >= 0) d.worst = coords[static_cast<std::size_t>(d.worst)];
  return d;
}

}  // namespace ssm
