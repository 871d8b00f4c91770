// tests/cuda/cuda_test_util.cuh — a tensor held twice: a host reference in double and a device copy in T,
// drawn from the same values (rounded through T), so GPU results in T compare with CPU results in double.
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ssm/backend/cuda/cuda.cuh"

namespace ssm::test {

/// fp32 at the reference implementation's tolerances (ALGORITHMS.md); fp64 near rounding.
template <class T>
constexpr double rtol_for() {
  return std::is_same_v<T, float> ? 6e-4 : 1e-10;
}
template <class T>
constexpr double atol_for() {
  return std::is_same_v<T, float> ? 2e-3 : 1e-12;
}

template <class T>
struct Pair {
  std::vector<double> host;
  DeviceBuffer<T> dev;

  explicit Pair(std::vector<double> h) : host(std::move(h)), dev(static_cast<Index>(host.size())) {
    std::vector<T> t(host.begin(), host.end());
    for (std::size_t i = 0; i < t.size(); ++i) host[i] = static_cast<double>(t[i]);  // the device's values exactly
    dev.upload(t.data(), static_cast<Index>(t.size()));
  }
  static Pair random(Index n, Rng& rng, double lo = -1, double hi = 1) {
    std::vector<double> h(static_cast<std::size_t>(n));
    for (auto& x : h) x = rng.uniform(lo, hi);
    return Pair(std::move(h));
  }
  /// Host zeros, device NaN (every byte 0xFF): an element the kernel does not write fails the comparison.
  static Pair poisoned(Index n) {
    Pair p(std::vector<double>(static_cast<std::size_t>(n), 0.0));
    if (n) SSM_CUDA_CHECK(cudaMemset(p.dev.data(), 0xFF, static_cast<std::size_t>(n) * sizeof(T)));
    return p;
  }
  Index size() const { return static_cast<Index>(host.size()); }

  // Views of the host reference and the device copy with the given extents (plain overloads, so a
  // dependent Pair<T> needs no `template` keyword).
  View<double, 2> h(Index a, Index b) { return View<double, 2>(host.data(), {a, b}); }
  View<double, 3> h(Index a, Index b, Index c) { return View<double, 3>(host.data(), {a, b, c}); }
  View<T, 2> d(Index a, Index b) { return View<T, 2>(dev.data(), {a, b}); }
  View<T, 3> d(Index a, Index b, Index c) { return View<T, 3>(dev.data(), {a, b, c}); }
  View<double, 1> h1() { return View<double, 1>(host.data(), {size()}); }
  View<T, 1> d1() { return View<T, 1>(dev.data(), {size()}); }
};

/// Downloads the device copy and checks it against the host reference at T's tolerance.
template <class T>
void check_pair(const Pair<T>& p, const std::string& what, double rtol = rtol_for<T>(), double atol = atol_for<T>()) {
  ssm::cuda::synchronize();
  const std::vector<T> got = p.dev.to_host();
  const Difference d = compare(View<const T, 1>(got.data(), {static_cast<Index>(got.size())}),
                               View<const double, 1>(p.host.data(), {static_cast<Index>(p.host.size())}), rtol, atol);
  INFO(d.report(what + " (GPU vs CPU scalar)"));
  CHECK(d.ok());
}

inline std::vector<std::int32_t> to_vec(const DeviceBuffer<std::int32_t>& b) { return b.to_host(); }

inline DeviceBuffer<std::int32_t> upload_ints(const std::vector<std::int32_t>& v) {
  DeviceBuffer<std::int32_t> b(static_cast<Index>(v.size()));
  b.upload(v.data(), static_cast<Index>(v.size()));
  return b;
}

}  // namespace ssm::test
