// tests/scan_test.cpp — the selective scan (Mamba's S6 op): the scalar loop against finite differences in
// double for every input, the final state and its gradient; variable lengths against each sequence alone;
// chunked recomputation against the chunk size; and the SIMD backend against the scalar one on fresh shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ssm/backend/scalar/selective_scan.hpp"
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

}  // TEST_SUITE
