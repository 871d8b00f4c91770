// ssm/core/rng.hpp — counter-based random numbers (Philox4x32-10, Salmon et al. SC'11).
// A draw is a pure function of (seed, stream, counter), so results never depend on the thread count or on
// which device draws them: dropout masks are recomputed in backward, and a CUDA kernel draws the same bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <string>
#include <utility>

#include "ssm/core/config.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

namespace detail {

struct U32x4 {
  std::uint32_t v[4];
};

SSM_HOST_DEVICE inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

/// Philox4x32 with 10 rounds: 128 bits of counter, 64 bits of key -> 128 random bits.
SSM_HOST_DEVICE inline U32x4 philox4x32(U32x4 ctr, std::uint32_t k0, std::uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(0xD2511F53u, ctr.v[0], hi0, lo0);
    mulhilo32(0xCD9E8D57u, ctr.v[2], hi1, lo1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}

/// 128 random bits for (seed, stream, counter).
SSM_HOST_DEVICE inline U32x4 philox_bits(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter) {
  U32x4 c{{static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32),
           static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
  return philox4x32(c, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

/// Uniform in [0, 1) from 24 random bits (float) — exact, never 1.
SSM_HOST_DEVICE inline float u32_to_unit_float(std::uint32_t x) { return static_cast<float>(x >> 8) * 0x1.0p-24f; }

/// Uniform in [0, 1) from 53 random bits (double).
SSM_HOST_DEVICE inline double u64_to_unit_double(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t x = (static_cast<std::uint64_t>(hi) << 32 | lo) >> 11;
  return static_cast<double>(x) * 0x1.0p-53;
}

}  // namespace detail

/// Stateless uniform draw in [0, 1) for element `i` of stream `stream`: the same on any thread or device.
SSM_HOST_DEVICE inline float philox_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t i) {
  const auto b = detail::philox_bits(seed, stream, i / 4);
  return detail::u32_to_unit_float(b.v[i % 4]);
}

/// A sequential generator over one Philox stream. `fork(k)` gives an independent generator for
/// sub-task k (e.g. one layer's initialisation), so adding a draw in one place never shifts another.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0x5eed, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t stream() const { return stream_; }

  /// An independent generator: same seed, a stream derived from this stream and `k`.
  Rng fork(std::uint64_t k) const {
    const auto b = detail::philox_bits(seed_ ^ 0xA5A5A5A5F00DD00Dull, stream_, k);
    return Rng(seed_, (static_cast<std::uint64_t>(b.v[0]) << 32 | b.v[1]) ^ k);
  }

  std::uint32_t next_u32() {
    if (lane_ == 4) {
      block_ = detail::philox_bits(seed_, stream_, counter_++);
      lane_ = 0;
    }
    return block_.v[lane_++];
  }

  /// The generator's position as text (seed, stream, counter, lane, Box–Muller spare), and back: a run that saves
  /// it and restores it later draws exactly the numbers an uninterrupted run would.
  std::string save() const {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%llu %llu %llu %d %d %a", static_cast<unsigned long long>(seed_),
                  static_cast<unsigned long long>(stream_), static_cast<unsigned long long>(counter_), lane_,
                  has_spare_ ? 1 : 0, spare_);
    return buf;
  }
  void restore(const std::string& s) {
    unsigned long long seed = 0, stream = 0, counter = 0;
    int lane = 0, spare_flag = 0;
    double spare = 0;
    SSM_CHECK(std::sscanf(s.c_str(), "%llu %llu %llu %d %d %la", &seed, &stream, &counter, &lane, &spare_flag,
                          &spare) == 6 && lane >= 0 && lane <= 4,
              "Rng::restore: malformed generator state '", s, "'");
    seed_ = seed;
    stream_ = stream;
    counter_ = counter;
    lane_ = lane;
    has_spare_ = spare_flag != 0;
    spare_ = spare;
    if (lane_ < 4) block_ = detail::philox_bits(seed_, stream_, counter_ - 1);  // the block being consumed
  }

  /// Uniform in [0, 1).
  template <Real T = double>
  T uniform() {
    if constexpr (std::is_same_v<T, float>) {
      return detail::u32_to_unit_float(next_u32());
    } else {
      const std::uint32_t hi = next_u32();
      return detail::u64_to_unit_double(hi, next_u32());
    }
  }
  template <Real T = double>
  T uniform(T lo, T hi) {
    return lo + (hi - lo) * uniform<T>();
  }

  /// Standard normal by Box–Muller (double internally, so float and double models draw the same values).
  template <Real T = double>
  T normal(T mean = T(0), T stddev = T(1)) {
    if (has_spare_) {
      has_spare_ = false;
      return static_cast<T>(mean + stddev * spare_);
    }
    double u1 = uniform<double>();
    while (u1 <= 0.0) u1 = uniform<double>();
    const double u2 = uniform<double>();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return static_cast<T>(mean + stddev * r * std::cos(2.0 * std::numbers::pi * u2));
  }

  /// Uniform integer in [0, n), unbiased (rejection).
  std::uint64_t uniform_int(std::uint64_t n) {
    SSM_CHECK(n > 0, "uniform_int needs n > 0");
    if (n <= 0xFFFFFFFFull) {
      const std::uint32_t limit = static_cast<std::uint32_t>((0x100000000ull / n) * n - 1);
      const bool full = (0x100000000ull % n) == 0;
      for (;;) {
        const std::uint32_t x = next_u32();
        if (full || x <= limit) return x % n;
      }
    }
    for (;;) {
      const std::uint64_t x = static_cast<std::uint64_t>(next_u32()) << 32 | next_u32();
      const std::uint64_t limit = (~0ull / n) * n;
      if (x < limit) return x % n;
    }
  }

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t counter_ = 0;
  detail::U32x4 block_{};
  int lane_ = 4;
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Fisher–Yates: permutes the elements of a random-access container in place, uniformly, from rng's draws (the
/// same seed gives the same order — the data splits and batch orders of recorded runs depend on this sequence).
template <class Container>
void shuffle(Container& v, Rng& rng) {
  using std::swap;
  for (std::size_t i = v.size(); i > 1; --i) swap(v[i - 1], v[rng.uniform_int(i)]);
}

/// Fills a host view with U[lo, hi).
template <class T, int R>
void fill_uniform(const View<T, R>& v, Rng& rng, T lo, T hi) {
  if constexpr (R == 1) {
    for (Index i = 0; i < v.extent(0); ++i) v(i) = rng.uniform<T>(lo, hi);
  } else {
    for (Index i = 0; i < v.extent(0); ++i) fill_uniform(v[i], rng, lo, hi);
  }
}

/// Fills a host view with N(mean, stddev²).
template <class T, int R>
void fill_normal(const View<T, R>& v, Rng& rng, T mean, T stddev) {
  if constexpr (R == 1) {
    for (Index i = 0; i < v.extent(0); ++i) v(i) = rng.normal<T>(mean, stddev);
  } else {
    for (Index i = 0; i < v.extent(0); ++i) fill_normal(v[i], rng, mean, stddev);
  }
}

}  // namespace ssm
