// tests/core_test.cpp — views, buffers, the workspace, errors, the RNG and the parallel loops.
#include <doctest/doctest.h>

#include <set>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"
#include "test_util.hpp"

using namespace ssm;

TEST_SUITE("core") {

TEST_CASE("view: row-major strides, element access, slices and sub-views") {
  std::vector<int> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  View<int, 3> x(v.data(), {2, 3, 4});
  CHECK(x.size() == 24);
  CHECK(x.stride(0) == 12);
  CHECK(x.stride(1) == 4);
  CHECK(x.stride(2) == 1);
  CHECK(x(1, 2, 3) == 23);
  CHECK(x(1, 0, 2) == 14);
  CHECK(x.is_contiguous());

  auto row = x[1];  // {3, 4}
  CHECK(row.extent(0) == 3);
  CHECK(row(2, 1) == 21);

  auto cols = x.slice(2, 1, 3);  // {2, 3, 2}, not contiguous
  CHECK(cols.extent(2) == 2);
  CHECK(cols(1, 1, 0) == 17);
  CHECK_FALSE(cols.is_contiguous());

  auto flat = x.reshape<2>({6, 4});
  CHECK(flat(5, 3) == 23);
  CHECK_THROWS_AS(cols.flat(), Error);
  CHECK_THROWS_AS(x.reshape<2>({5, 5}), Error);
  CHECK_THROWS_AS(x.slice(1, 2, 4), Error);

  View<const int, 3> cx = x;  // mutable converts to const
  CHECK(cx(0, 1, 1) == 5);

  View<int, 2> strided(v.data(), {3, 2}, {8, 3});
  CHECK(strided(2, 1) == 19);
}

TEST_CASE("view: expect_shape names the tensor and both shapes") {
  std::vector<float> v(6);
  View<float, 2> x(v.data(), {2, 3});
  CHECK_NOTHROW(expect_shape(x, "x", {2, -1}));
  try {
    expect_shape(x, "input x", {2, 4});
    FAIL("expected a throw");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("input x") != std::string::npos);
    CHECK(m.find("{2, 4}") != std::string::npos);
    CHECK(m.find("{2, 3}") != std::string::npos);
  }
}

TEST_CASE("error: SSM_CHECK throws ssm::Error with file, line and message") {
  try {
    SSM_CHECK(1 + 1 == 3, "expected ", 3, ", found ", 2);
    FAIL("expected a throw");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("core_test.cpp:") == 0);
    CHECK(m.find("expected 3, found 2") != std::string::npos);
  }
}

TEST_CASE("buffer: aligned, grows keeping contents, deep copies") {
  Buffer<float> b(10, 1.5f);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % kAlignment == 0);
  b[3] = 7;
  b.resize(1000);
  CHECK(b[3] == 7);
  CHECK(b[9] == 1.5f);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % kAlignment == 0);
  Buffer<float> c = b;
  c[3] = 0;
  CHECK(b[3] == 7);
  auto m = b.view<2>({10, 100});
  CHECK(m(0, 3) == 7);
}

TEST_CASE("workspace: aligned takes, reuse after reset, blocks merged to the high-water mark") {
  Workspace ws;
  auto a = ws.take<float, 2>({3, 5});
  auto b = ws.take<double>(7);
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % kAlignment == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % kAlignment == 0);
  CHECK(static_cast<void*>(b.data()) != static_cast<void*>(a.data()));
  // Force a second block within one cycle, then check reset merges them into one.
  auto big = ws.take<char>(1 << 20);
  big(0) = 1;
  const std::size_t cycle = ws.used();
  ws.reset();
  CHECK(ws.capacity() >= cycle);
  float* first = ws.take<float>(1).data();
  auto again = ws.take<char>(1 << 20);
  (void)again;
  const std::size_t cap = ws.capacity();
  ws.reset();
  CHECK(ws.take<float>(1).data() == first);  // same memory, no new allocation
  CHECK(ws.capacity() == cap);
}

TEST_CASE("workspace: poison fills takes with NaN") {
  Workspace ws;
  ws.set_poison(true);
  auto v = ws.take<double>(5);
  for (Index i = 0; i < 5; ++i) CHECK(std::isnan(v(i)));
}

TEST_CASE("rng: Philox4x32-10 matches the Random123 known-answer vectors") {
  // Random123's kat_vectors: counter words, key words -> output words.
  auto kat = [](detail::U32x4 ctr, std::uint32_t k0, std::uint32_t k1, detail::U32x4 want) {
    const auto got = detail::philox4x32(ctr, k0, k1);
    for (int i = 0; i < 4; ++i) CHECK(got.v[i] == want.v[i]);
  };
  kat({{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
  kat({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
      {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
  kat({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
      {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST_CASE("rng: seeded, reproducible, forks independent, sensible moments") {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) {
    const double x = a.uniform(), y = b.uniform();
    CHECK(x == y);
    CHECK(x >= 0.0);
    CHECK(x < 1.0);
  }
  CHECK(a.uniform() != c.uniform());
  Rng f0 = Rng(42).fork(0), f1 = Rng(42).fork(1), f0b = Rng(42).fork(0);
  CHECK(f0.uniform() == f0b.uniform());
  CHECK(f0.uniform() != f1.uniform());

  Rng r(1);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = r.normal();
    s += z;
    s2 += z * z;
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1.0) < 0.02);

  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto k = r.uniform_int(7);
    CHECK(k < 7);
    seen.insert(k);
  }
  CHECK(seen.size() == 7);
}

TEST_CASE("rng: philox_uniform is a pure function of (seed, stream, index)") {
  CHECK(philox_uniform(1, 2, 3) == philox_uniform(1, 2, 3));
  CHECK(philox_uniform(1, 2, 3) != philox_uniform(1, 2, 4));
  CHECK(philox_uniform(1, 2, 3) != philox_uniform(1, 3, 3));
}

TEST_CASE("parallel: chunks cover the range once, and chunked sums are the same on 1 and 2 threads") {
  const Index n = 100003;
  std::vector<int> hits(n, 0);
  parallel_chunks(n, 1000, [&](Index, Index b, Index e) {
    for (Index i = b; i < e; ++i) hits[i]++;
  });
  for (int h : hits) REQUIRE(h == 1);

  Rng rng(5);
  auto data = test::random_vector<float>(n, rng);
  auto chunked_sum = [&] {
    std::vector<float> part(chunk_count(n, 4096));
    parallel_chunks(n, 4096, [&](Index c, Index b, Index e) {
      float s = 0;
      for (Index i = b; i < e; ++i) s += data[i];
      part[c] = s;
    });
    float s = 0;
    for (float p : part) s += p;
    return s;
  };
  const int saved = num_threads();
  set_num_threads(1);
  const float one = chunked_sum();
  set_num_threads(2);
  const float two = chunked_sum();
  set_num_threads(saved);
  CHECK(one == two);  // bitwise
}

TEST_CASE("backend tags satisfy the concept; Simd falls back to Scalar") {
  static_assert(Backend<backend::Scalar>);
  static_assert(Backend<backend::Simd>);
  static_assert(Backend<backend::Cuda>);
  static_assert(!Backend<int>);
  static_assert(std::is_base_of_v<backend::Scalar, backend::Simd>);
  static_assert(is_host_backend<backend::Simd>);
  static_assert(!is_host_backend<backend::Cuda>);
  CHECK(std::string(backend::Simd::name) == "simd");
}

}  // TEST_SUITE
