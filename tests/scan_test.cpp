// tests/scan_test.cpp — the selective scan (Mamba's S6 op): the scalar loop against finite differences in
// double for every input, the final state and its gradient; variable lengths against each sequence alone;
// chunked recomputation against the chunk size; and the SIMD backend against the scalar one on fresh shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ssm/backend/scalar/selective_scan.hpp"
#include "ssm/backend/simd/selective_scan.hpp"
#include "ssm/backend/simd/vec.hpp"
#include "test_util.hpp"

using namespace ssm;
using backend::SelectiveScanGrads;
using backend::SelectiveScanOutputs;
using backend::SelectiveScanParams;
using test::view1;

namespace {

/// One configuration of the op: sizes and which optional inputs are present.
struct ScanCase {
  Index batch = 2, L = 7, D = 3, N = 4, chunk = 3;
  bool var_B = true, var_C = true;  // input-dependent B / C (else {D, N} parameters)
  bool gate = true, skip = true, bias = true, softplus = true, init_state = true;
  std::vector<std::int32_t> lengths;  // empty: all L
};

/// Random inputs of a case (drawn in double, converted to T) and every gradient buffer, all flat.
template <class T>
struct ScanData {
  ScanCase c;
  std::vector<T> u, delta, A, B, C, z, D, bias, h0;
  std::vector<std::int32_t> lengths;
  // outputs
  std::vector<T> y, h_last, states;
  // gradients
  std::vector<T> dy, dh_last, du, ddelta, dA, dB, dC, dz, dD, dbias, dh0;

  ScanData(const ScanCase& sc, std::uint64_t seed) : c(sc), lengths(sc.lengths) {
    Rng rng(seed);
    const Index BLD = c.batch * c.L * c.D, BLN = c.batch * c.L * c.N, DN = c.D * c.N;
    u = test::random_vector<T>(BLD, rng);
    // Δ = δ + bias must stay positive without the softplus, or the state grows without bound.
    delta = c.softplus ? test::random_vector<T>(BLD, rng, -3.0, 1.0) : test::random_vector<T>(BLD, rng, 0.5, 1.5);
    A.resize(static_cast<std::size_t>(DN));
    for (auto& a : A) a = static_cast<T>(-std::exp(rng.uniform<double>(-1.0, 1.5)));
    B = test::random_vector<T>(c.var_B ? BLN : DN, rng);
    C = test::random_vector<T>(c.var_C ? BLN : DN, rng);
    if (c.gate) z = test::random_vector<T>(BLD, rng, -2.0, 2.0);
    if (c.skip) D = test::random_vector<T>(c.D, rng);
    if (c.bias) bias = c.softplus ? test::random_vector<T>(c.D, rng, -1.0, 0.5) : test::random_vector<T>(c.D, rng, -0.3, 0.3);
    if (c.init_state) h0 = test::random_vector<T>(c.batch * DN, rng);
    y.assign(static_cast<std::size_t>(BLD), T(0));
    h_last.assign(static_cast<std::size_t>(c.batch * DN), T(0));
    states.assign(static_cast<std::size_t>(c.batch * backend::selective_scan_chunks(c.L, c.chunk) * DN), T(0));
    dy = test::random_vector<T>(BLD, rng);
    dh_last = test::random_vector<T>(c.batch * DN, rng);
    du.assign(u.size(), T(0));
    ddelta.assign(u.size(), T(0));
    dz.assign(z.size(), T(0));
    dA.assign(A.size(), T(0));
    dB.assign(B.size(), T(0));
    dC.assign(C.size(), T(0));
    dD.assign(D.size(), T(0));
    dbias.assign(bias.size(), T(0));
    dh0.assign(static_cast<std::size_t>(c.batch * DN), T(0));
  }

  View<const T, 3> seq(const std::vector<T>& v, Index last) const {
    return View<const T, 3>(v.data(), {c.batch, c.L, last});
  }

  SelectiveScanParams<T> params() const {
    SelectiveScanParams<T> p;
    p.u = seq(u, c.D);
    p.delta = seq(delta, c.D);
    p.A = View<const T, 2>(A.data(), {c.D, c.N});
    if (c.var_B)
      p.B = seq(B, c.N);
    else
      p.B_fixed = View<const T, 2>(B.data(), {c.D, c.N});
    if (c.var_C)
      p.C = seq(C, c.N);
    else
      p.C_fixed = View<const T, 2>(C.data(), {c.D, c.N});
    if (c.gate) p.z = seq(z, c.D);
    if (c.skip) p.D = view1(D);
    if (c.bias) p.delta_bias = view1(bias);
    p.delta_softplus = c.softplus;
    if (c.init_state) p.h0 = View<const T, 3>(h0.data(), {c.batch, c.D, c.N});
    if (!lengths.empty()) p.lengths = view1(lengths);
    p.chunk = c.chunk;
    return p;
  }

  SelectiveScanOutputs<T> outputs() {
    return {View<T, 3>(y.data(), {c.batch, c.L, c.D}), View<T, 3>(h_last.data(), {c.batch, c.D, c.N}),
            View<T, 4>(states.data(), {c.batch, backend::selective_scan_chunks(c.L, c.chunk), c.D, c.N})};
  }

  View<const T, 4> state_view() const {
    return View<const T, 4>(states.data(), {c.batch, backend::selective_scan_chunks(c.L, c.chunk), c.D, c.N});
  }

  SelectiveScanGrads<T> grads() {
    SelectiveScanGrads<T> g;
    g.dy = seq(dy, c.D);
    g.dh_last = View<const T, 3>(dh_last.data(), {c.batch, c.D, c.N});
    g.du = View<T, 3>(du.data(), {c.batch, c.L, c.D});
    g.ddelta = View<T, 3>(ddelta.data(), {c.batch, c.L, c.D});
    if (c.gate) g.dz = View<T, 3>(dz.data(), {c.batch, c.L, c.D});
    g.dA = View<T, 2>(dA.data(), {c.D, c.N});
    if (c.var_B)
      g.dB = View<T, 3>(dB.data(), {c.batch, c.L, c.N});
    else
      g.dB_fixed = View<T, 2>(dB.data(), {c.D, c.N});
    if (c.var_C)
      g.dC = View<T, 3>(dC.data(), {c.batch, c.L, c.N});
    else
      g.dC_fixed = View<T, 2>(dC.data(), {c.D, c.N});
    if (c.skip) g.dD = view1(dD);
    if (c.bias) g.ddelta_bias = view1(dbias);
    g.dh0 = View<T, 3>(dh0.data(), {c.batch, c.D, c.N});
    return g;
  }

  /// Poisons every output and activation gradient; zeroes the accumulated parameter gradients.
  void poison_outputs() {
    for (auto* v : {&y, &h_last, &states, &du, &ddelta, &dz, &dh0}) test::poison(*v);
    if (c.var_B) test::poison(dB);
    if (c.var_C) test::poison(dC);
    for (auto* v : {&dA, &dD, &dbias}) std::fill(v->begin(), v->end(), T(0));
    if (!c.var_B) std::fill(dB.begin(), dB.end(), T(0));
    if (!c.var_C) std::fill(dC.begin(), dC.end(), T(0));
  }

  template <class Backend>
  void run(Workspace& ws) {
    poison_outputs();
    ws.reset();
    const auto p = params();
    selective_scan_forward(Backend{}, p, outputs(), ws);
    selective_scan_backward(Backend{}, p, state_view(), grads(), ws);
  }
};

/// Every output and gradient finite (poisoned buffers were all written).
template <class T>
void require_written(const ScanData<T>& s) {
  for (const auto* v : {&s.y, &s.h_last, &s.du, &s.ddelta, &s.dz, &s.dh0, &s.dA, &s.dB, &s.dC, &s.dD, &s.dbias})
    for (T x : *v) REQUIRE(std::isfinite(x));
}

/// Finite differences in double of L = Σ w·y + Σ w'·h_last against backward, for every input of the case.
void check_scan_gradients(const ScanCase& c, std::uint64_t seed) {
  ScanData<double> s(c, seed);
  Workspace ws;
  ws.set_poison(true);
  const Index ny = static_cast<Index>(s.y.size()), nh = static_cast<Index>(s.h_last.size());
  std::vector<test::GradTarget> targets{{"u", view1(s.u), view1(s.du)},
                                        {"delta", view1(s.delta), view1(s.ddelta)},
                                        {"A", view1(s.A), view1(s.dA)},
                                        {c.var_B ? "B" : "B_fixed", view1(s.B), view1(s.dB)},
                                        {c.var_C ? "C" : "C_fixed", view1(s.C), view1(s.dC)}};
  if (c.init_state) targets.push_back({"h0", view1(s.h0), view1(s.dh0)});
  if (c.gate) targets.push_back({"z", view1(s.z), view1(s.dz)});
  if (c.skip) targets.push_back({"D", view1(s.D), view1(s.dD)});
  if (c.bias) targets.push_back({"delta_bias", view1(s.bias), view1(s.dbias)});
  test::check_gradients(
      ny + nh,
      [&](std::vector<double>& out) {
        ws.reset();
        selective_scan_forward(backend::Scalar{}, s.params(), s.outputs(), ws);
        std::copy(s.y.begin(), s.y.end(), out.begin());
        std::copy(s.h_last.begin(), s.h_last.end(), out.begin() + ny);
      },
      [&](const std::vector<double>& w) {
        std::copy(w.begin(), w.begin() + ny, s.dy.begin());
        std::copy(w.begin() + ny, w.end(), s.dh_last.begin());
        ws.reset();
        const auto p = s.params();
        selective_scan_forward(backend::Scalar{}, p, s.outputs(), ws);
        selective_scan_backward(backend::Scalar{}, p, s.state_view(), s.grads(), ws);
      },
      targets, {.rtol = 1e-5, .atol = 1e-7});
}


/// Runs a case on backend Bk in type T and on Scalar in double, and compares every output and gradient.
template <class T, class Bk>
void check_against_scalar(const ScanCase& c, std::uint64_t seed, double rtol, double atol) {
  ScanData<double> ref(c, seed);
  ScanData<T> got(c, seed);
  Workspace ws;
  ws.set_poison(true);
  ref.template run<backend::Scalar>(ws);
  got.template run<Bk>(ws);
  require_written(got);
  const auto cmp = [&](const auto& a, const auto& b, const char* what) { test::check_close(a, b, rtol, atol, what); };
  cmp(got.y, ref.y, "y");
  cmp(got.h_last, ref.h_last, "h_last");
  cmp(got.du, ref.du, "du");
  cmp(got.ddelta, ref.ddelta, "ddelta");
  cmp(got.dz, ref.dz, "dz");
  cmp(got.dA, ref.dA, "dA");
  cmp(got.dB, ref.dB, c.var_B ? "dB" : "dB_fixed");
  cmp(got.dC, ref.dC, c.var_C ? "dC" : "dC_fixed");
  cmp(got.dD, ref.dD, "dD");
  cmp(got.dbias, ref.dbias, "ddelta_bias");
  cmp(got.dh0, ref.dh0, "dh0");
}

/// A random case: odd or tiny L, N from {1, 4, 16, 64}, D rarely a multiple of the vector width, random
/// chunk length, random optional inputs and ragged lengths.
ScanCase random_case(Rng& rng) {
  static const Index Ns[] = {1, 4, 16, 64};
  static const Index Ls[] = {1, 2, 7, 33, 65, 131};
  ScanCase c;
  c.batch = 1 + static_cast<Index>(rng.uniform_int(3));
  c.L = Ls[rng.uniform_int(6)];
  c.N = Ns[rng.uniform_int(4)];
  const Index W = simd::kWidth<float>;
  static const Index Ds[] = {1, 5, W - 1, W + 3, 2 * W + 5, 67, 150};
  c.D = Ds[rng.uniform_int(7)];
  if (c.N == 64) c.D = std::min<Index>(c.D, 67);  // keep the double reference quick
  c.chunk = 1 + static_cast<Index>(rng.uniform_int(40));
  c.var_B = rng.uniform_int(4) != 0;
  c.var_C = rng.uniform_int(4) != 0;
  c.gate = rng.uniform_int(3) != 0;
  c.skip = rng.uniform_int(3) != 0;
  c.bias = rng.uniform_int(3) != 0;
  c.softplus = rng.uniform_int(5) != 0;
  c.init_state = rng.uniform_int(2) != 0;
  if (rng.uniform_int(2) != 0)
    for (Index b = 0; b < c.batch; ++b) c.lengths.push_back(static_cast<std::int32_t>(rng.uniform_int(c.L + 1)));
  return c;
}

std::string describe(const ScanCase& c) {
  std::string s = "Bn=" + std::to_string(c.batch) + " L=" + std::to_string(c.L) + " D=" + std::to_string(c.D) +
                  " N=" + std::to_string(c.N) + " chunk=" + std::to_string(c.chunk) + (c.var_B ? " B" : " B_fixed") +
                  (c.var_C ? " C" : " C_fixed") + (c.gate ? " gate" : "") + (c.skip ? " skip" : "") +
                  (c.bias ? " bias" : "") + (c.softplus ? " softplus" : "") + (c.init_state ? " h0" : "");
  if (!c.lengths.empty()) {
    s += " lengths";
    for (auto l : c.lengths) s += " " + std::to_string(l);
  }
  return s;
}

}  // namespace

TEST_SUITE("scan") {

TEST_CASE("scalar scan: gradients of every input and of the final state against finite differences") {
  SUBCASE("input-dependent B and C, gate, skip, bias, softplus, initial state, ragged lengths") {
    check_scan_gradients({.lengths = {7, 5}}, 1);
  }
  SUBCASE("input-independent B and C (ablation), no softplus") {
    check_scan_gradients({.var_B = false, .var_C = false, .softplus = false, .lengths = {4, 7}}, 2);
  }
  SUBCASE("no gate, no skip, no bias, zero initial state, L = 1") {
    check_scan_gradients(
        {.batch = 2, .L = 1, .D = 3, .N = 2, .chunk = 64, .gate = false, .skip = false, .bias = false, .init_state = false},
        3);
  }
  SUBCASE("one state, a sequence of length 0") {
    check_scan_gradients({.batch = 3, .L = 5, .D = 2, .N = 1, .chunk = 2, .lengths = {5, 0, 3}}, 4);
  }
}

TEST_CASE("simd scan equals the scalar scan: double tightly, float at the reference tolerances") {
  Rng rng(2024);
  for (int i = 0; i < 24; ++i) {
    const ScanCase c = random_case(rng);
    INFO("case " << i << ": " << describe(c));
    check_against_scalar<double, backend::Simd>(c, 100 + static_cast<std::uint64_t>(i), 1e-11, 1e-12);
    check_against_scalar<float, backend::Simd>(c, 100 + static_cast<std::uint64_t>(i), 6e-4, 2e-3);
  }
  // The shapes the issue names, each at least once: N ∈ {1, 4, 16, 64}, L = 1 and odd L, D off the vector width.
  for (Index N : {1, 4, 16, 64}) {
    const ScanCase c{.batch = 2, .L = N == 1 ? 1 : 37, .D = simd::kWidth<float> + 3, .N = N, .chunk = 8,
                     .lengths = {N == 1 ? 1 : 37, N == 1 ? 0 : 20}};
    INFO(describe(c));
    check_against_scalar<double, backend::Simd>(c, 7, 1e-11, 1e-12);
    check_against_scalar<float, backend::Simd>(c, 7, 6e-4, 2e-3);
  }
}

TEST_CASE("scan: the float scalar loop agrees with double at the reference tolerances") {
  Rng rng(77);
  for (int i = 0; i < 6; ++i) {
    const ScanCase c = random_case(rng);
    INFO(describe(c));
    check_against_scalar<float, backend::Scalar>(c, 300 + static_cast<std::uint64_t>(i), 6e-4, 2e-3);
  }
}

TEST_CASE_TEMPLATE("scan: the chunk length changes nothing but memory", Bk, backend::Scalar, backend::Simd) {
  ScanCase c{.batch = 2, .L = 45, .D = 19, .N = 5, .lengths = {45, 30}};
  Workspace ws;
  c.chunk = 64;
  ScanData<double> whole(c, 5);
  whole.template run<Bk>(ws);
  for (Index chunk : {1, 4, 11, 45}) {
    c.chunk = chunk;
    ScanData<double> s(c, 5);
    s.template run<Bk>(ws);
    INFO("chunk " << chunk);
    test::check_close(s.y, whole.y, 1e-13, 1e-14, "y");
    test::check_close(s.du, whole.du, 1e-12, 1e-13, "du");
    test::check_close(s.ddelta, whole.ddelta, 1e-12, 1e-13, "ddelta");
    test::check_close(s.dA, whole.dA, 1e-12, 1e-13, "dA");
    test::check_close(s.dB, whole.dB, 1e-12, 1e-13, "dB");
    test::check_close(s.dh0, whole.dh0, 1e-12, 1e-13, "dh0");
  }
}

TEST_CASE_TEMPLATE("scan: a ragged batch equals each sequence run alone", Bk, backend::Scalar, backend::Simd) {
  const ScanCase c{.batch = 3, .L = 23, .D = 21, .N = 6, .chunk = 5, .lengths = {23, 9, 16}};
  Workspace ws;
  ScanData<double> all(c, 11);
  all.template run<Bk>(ws);
  std::vector<double> dA_sum(all.dA.size(), 0.0), dD_sum(all.dD.size(), 0.0), dbias_sum(all.dbias.size(), 0.0);
  for (Index b = 0; b < c.batch; ++b) {
    const Index len = c.lengths[static_cast<std::size_t>(b)], D = c.D, N = c.N;
    ScanCase one = c;
    one.batch = 1;
    one.L = len;
    one.lengths.clear();
    ScanData<double> s(one, 11);
    // Copy sequence b's inputs (and gradients of its outputs) over the random ones.
    const auto rows = [&](const std::vector<double>& from, std::vector<double>& to, Index width) {
      std::copy(from.begin() + b * c.L * width, from.begin() + (b * c.L + len) * width, to.begin());
    };
    rows(all.u, s.u, D);
    rows(all.delta, s.delta, D);
    rows(all.z, s.z, D);
    rows(all.B, s.B, N);
    rows(all.C, s.C, N);
    rows(all.dy, s.dy, D);
    s.A = all.A;
    s.D = all.D;
    s.bias = all.bias;
    std::copy(all.h0.begin() + b * D * N, all.h0.begin() + (b + 1) * D * N, s.h0.begin());
    std::copy(all.dh_last.begin() + b * D * N, all.dh_last.begin() + (b + 1) * D * N, s.dh_last.begin());
    s.template run<Bk>(ws);
    INFO("sequence " << b << " of length " << len);
    const auto same = [&](const std::vector<double>& batch_v, const std::vector<double>& alone, Index width,
                          const char* what) {
      std::vector<double> part(batch_v.begin() + b * c.L * width, batch_v.begin() + (b * c.L + len) * width);
      test::check_close(part, alone, 1e-13, 1e-14, what);
      for (Index i = (b * c.L + len) * width; i < (b + 1) * c.L * width; ++i) CHECK(batch_v[static_cast<std::size_t>(i)] == 0.0);
    };
    same(all.y, s.y, D, "y");
    same(all.du, s.du, D, "du");
    same(all.ddelta, s.ddelta, D, "ddelta");
    same(all.dz, s.dz, D, "dz");
    same(all.dB, s.dB, N, "dB");
    same(all.dC, s.dC, N, "dC");
    const std::vector<double> hl(all.h_last.begin() + b * D * N, all.h_last.begin() + (b + 1) * D * N);
    const std::vector<double> g0(all.dh0.begin() + b * D * N, all.dh0.begin() + (b + 1) * D * N);
    test::check_close(hl, s.h_last, 1e-13, 1e-14, "h_last");
    test::check_close(g0, s.dh0, 1e-13, 1e-14, "dh0");
    for (std::size_t i = 0; i < dA_sum.size(); ++i) dA_sum[i] += s.dA[i];
    for (std::size_t i = 0; i < dD_sum.size(); ++i) dD_sum[i] += s.dD[i];
    for (std::size_t i = 0; i < dbias_sum.size(); ++i) dbias_sum[i] += s.dbias[i];
  }
  test::check_close(all.dA, dA_sum, 1e-12, 1e-13, "dA (sum over sequences)");
  test::check_close(all.dD, dD_sum, 1e-12, 1e-13, "dD (sum over sequences)");
  test::check_close(all.dbias, dbias_sum, 1e-12, 1e-13, "ddelta_bias (sum over sequences)");
}

TEST_CASE_TEMPLATE("scan: stepping one token at a time (h_last aliasing h0) equals the whole sequence", Bk,
                   backend::Scalar, backend::Simd) {
  const ScanCase c{.batch = 2, .L = 9, .D = 20, .N = 4, .chunk = 4};
  Workspace ws;
  ScanData<float> s(c, 21);
  s.template run<Bk>(ws);
  const Index Bn = c.batch, L = c.L, D = c.D, N = c.N;
  std::vector<float> state = s.h0, y_t(static_cast<std::size_t>(Bn * D));
  const auto p = s.params();
  for (Index t = 0; t < L; ++t) {
    SelectiveScanParams<float> q = p;
    const auto at = [&](const View<const float, 3>& v) { return v.slice(1, t, t + 1); };
    q.u = at(p.u);
    q.delta = at(p.delta);
    q.B = at(p.B);
    q.C = at(p.C);
    q.z = at(p.z);
    q.h0 = View<const float, 3>(state.data(), {Bn, D, N});
    ws.reset();
    selective_scan_forward(Bk{}, q,
                           {View<float, 3>(y_t.data(), {Bn, 1, D}), View<float, 3>(state.data(), {Bn, D, N}), {}}, ws);
    for (Index b = 0; b < Bn; ++b)
      for (Index d = 0; d < D; ++d)
        CHECK(y_t[static_cast<std::size_t>(b * D + d)] ==
              doctest::Approx(s.y[static_cast<std::size_t>((b * L + t) * D + d)]).epsilon(1e-5));
  }
  test::check_close(state, s.h_last, 1e-5, 1e-6, "state after L steps vs h_last");
}

TEST_CASE("simd scan: the same bits on 1 and 2 threads") {
  const ScanCase c{.batch = 3, .L = 40, .D = 150, .N = 16, .chunk = 16, .lengths = {40, 17, 33}};
  Workspace ws;
  ScanData<float> one(c, 3), two(c, 3);
  const int saved = num_threads();
  set_num_threads(1);
  one.run<backend::Simd>(ws);
  set_num_threads(2);
  two.run<backend::Simd>(ws);
  set_num_threads(saved);
  CHECK(one.y == two.y);
  CHECK(one.du == two.du);
  CHECK(one.ddelta == two.ddelta);
  CHECK(one.dA == two.dA);
  CHECK(one.dB == two.dB);
  CHECK(one.dC == two.dC);
  CHECK(one.dD == two.dD);
  CHECK(one.dbias == two.dbias);
  CHECK(one.dh0 == two.dh0);
}

TEST_CASE("scan: shapes are checked with messages that name the tensor") {
  ScanData<float> s({}, 1);
  Workspace ws;
  auto p = s.params();
  p.delta = View<const float, 3>(s.delta.data(), {2, 7, 2});
  CHECK_THROWS_WITH_AS(selective_scan_forward(backend::Simd{}, p, s.outputs(), ws),
                       doctest::Contains("selective scan delta: expected shape {2, 7, 3}, found {2, 7, 2}"), Error);
  p = s.params();
  p.B_fixed = View<const float, 2>(s.A.data(), {3, 4});  // both B and B_fixed
  CHECK_THROWS_WITH_AS(selective_scan_forward(backend::Scalar{}, p, s.outputs(), ws),
                       doctest::Contains("exactly one of B"), Error);
  std::vector<std::int32_t> bad{7, 8};
  p = s.params();
  p.lengths = view1(std::as_const(bad));
  CHECK_THROWS_WITH_AS(selective_scan_forward(backend::Simd{}, p, s.outputs(), ws),
                       doctest::Contains("sequence 1 has length 8"), Error);
}

}  // TEST_SUITE
