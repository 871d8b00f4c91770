// tests/cuda/scan_cuda_test.cu — the Cuda selective scan against the scalar reference in double: forward
// outputs, final and chunk states, and every gradient, over shapes that cross tiles (L > 512), odd sizes,
// zero and partial lengths, gate/skip/bias/initial state on and off, fixed and input-dependent B and C, with
// atomics and in deterministic mode (which must also give the same bits twice).
#include <doctest/doctest.h>

#include "cuda_test_util.cuh"

using namespace ssm;
using test::Pair;
using test::check_pair;

namespace {

struct Case {
  Index Bn, L, D, N;
  bool gate, skip, bias, h0, fixed_bc, lengths;
};

template <class T>
void run_case(const Case& c, std::uint64_t seed, bool deterministic) {
  INFO("Bn=" << c.Bn << " L=" << c.L << " D=" << c.D << " N=" << c.N << " gate=" << c.gate << " fixed_bc=" << c.fixed_bc
             << " lengths=" << c.lengths << " deterministic=" << deterministic);
  Rng rng(seed);
  const Index Bn = c.Bn, L = c.L, D = c.D, N = c.N, K = 64, chunks = backend::selective_scan_chunks(L, K);
  auto u = Pair<T>::random(Bn * L * D, rng), delta = Pair<T>::random(Bn * L * D, rng, -3, 1);
  auto A = Pair<T>::random(D * N, rng, -2, -0.1);
  auto Bm = Pair<T>::random(c.fixed_bc ? D * N : Bn * L * N, rng), Cm = Pair<T>::random(c.fixed_bc ? D * N : Bn * L * N, rng);
  auto Dv = Pair<T>::random(D, rng), z = Pair<T>::random(Bn * L * D, rng), bias = Pair<T>::random(D, rng, -1, 0);
  auto h0 = Pair<T>::random(Bn * D * N, rng);
  std::vector<std::int32_t> len(Bn);
  for (Index b = 0; b < Bn; ++b) len[b] = static_cast<std::int32_t>(c.lengths ? rng.uniform_int(L + 1) : L);
  if (c.lengths && Bn > 1) len[0] = 0;
  auto dlen = test::upload_ints(len);

  backend::SelectiveScanParams<double> hp;
  backend::SelectiveScanParams<T> dp;
  hp.u = u.h(Bn, L, D), dp.u = u.d(Bn, L, D);
  hp.delta = delta.h(Bn, L, D), dp.delta = delta.d(Bn, L, D);
  hp.A = A.h(D, N), dp.A = A.d(D, N);
  if (c.fixed_bc) {
    hp.B_fixed = Bm.h(D, N), dp.B_fixed = Bm.d(D, N), hp.C_fixed = Cm.h(D, N), dp.C_fixed = Cm.d(D, N);
  } else {
    hp.B = Bm.h(Bn, L, N), dp.B = Bm.d(Bn, L, N), hp.C = Cm.h(Bn, L, N), dp.C = Cm.d(Bn, L, N);
  }
  if (c.skip) hp.D = Dv.h1(), dp.D = Dv.d1();
  if (c.gate) hp.z = z.h(Bn, L, D), dp.z = z.d(Bn, L, D);
  if (c.bias) hp.delta_bias = bias.h1(), dp.delta_bias = bias.d1();
  if (c.h0) hp.h0 = h0.h(Bn, D, N), dp.h0 = h0.d(Bn, D, N);
  if (c.lengths) {
    hp.lengths = View<const std::int32_t, 1>(len.data(), {Bn});
    dp.lengths = View<const std::int32_t, 1>(dlen.data(), {Bn});
  }
  hp.chunk = dp.chunk = K;

  auto y = Pair<T>::poisoned(Bn * L * D), hl = Pair<T>::poisoned(Bn * D * N);
  auto cs = Pair<T>::random(Bn * chunks * D * N, rng);  // entries past a length are never read: any value
  const auto cs_host_before = cs.host;
  Workspace hws, dws = ssm::cuda::device_workspace();
  backend::selective_scan_forward(backend::Scalar{}, hp, {y.h(Bn, L, D), hl.h(Bn, D, N), View<double, 4>(cs.host.data(), {Bn, chunks, D, N})}, hws);
  backend::selective_scan_forward(backend::Cuda{}, dp, {y.d(Bn, L, D), hl.d(Bn, D, N), View<T, 4>(cs.dev.data(), {Bn, chunks, D, N})}, dws);
  check_pair(y, "scan y");
  check_pair(hl, "scan h_last");
  check_pair(cs, "scan chunk_states");

  auto dy = Pair<T>::random(Bn * L * D, rng), dhl = Pair<T>::random(Bn * D * N, rng);
  auto du = Pair<T>::poisoned(Bn * L * D), ddelta = Pair<T>::poisoned(Bn * L * D), dz = Pair<T>::poisoned(Bn * L * D);
  auto dB = Pair<T>::poisoned(c.fixed_bc ? 0 : Bn * L * N), dC = Pair<T>::poisoned(c.fixed_bc ? 0 : Bn * L * N);
  auto dh0 = Pair<T>::poisoned(Bn * D * N);
  auto dA = Pair<T>::random(D * N, rng), dBf = Pair<T>::random(D * N, rng), dCf = Pair<T>::random(D * N, rng);
  auto dD = Pair<T>::random(D, rng), dbias = Pair<T>::random(D, rng);
  backend::SelectiveScanGrads<double> hg;
  backend::SelectiveScanGrads<T> dg;
  hg.dy = dy.h(Bn, L, D), dg.dy = dy.d(Bn, L, D);
  hg.dh_last = dhl.h(Bn, D, N), dg.dh_last = dhl.d(Bn, D, N);
  hg.du = du.h(Bn, L, D), dg.du = du.d(Bn, L, D);
  hg.ddelta = ddelta.h(Bn, L, D), dg.ddelta = ddelta.d(Bn, L, D);
  if (c.gate) hg.dz = dz.h(Bn, L, D), dg.dz = dz.d(Bn, L, D);
  if (!c.fixed_bc) {
    hg.dB = dB.h(Bn, L, N), dg.dB = dB.d(Bn, L, N), hg.dC = dC.h(Bn, L, N), dg.dC = dC.d(Bn, L, N);
  } else {
    hg.dB_fixed = dBf.h(D, N), dg.dB_fixed = dBf.d(D, N), hg.dC_fixed = dCf.h(D, N), dg.dC_fixed = dCf.d(D, N);
  }
  hg.dh0 = dh0.h(Bn, D, N), dg.dh0 = dh0.d(Bn, D, N);
  hg.dA = dA.h(D, N), dg.dA = dA.d(D, N);
  if (c.skip) hg.dD = dD.h1(), dg.dD = dD.d1();
  if (c.bias) hg.ddelta_bias = dbias.h1(), dg.ddelta_bias = dbias.d1();
  ssm::cuda::set_deterministic(deterministic);
  backend::selective_scan_backward(backend::Scalar{}, hp, View<const double, 4>(cs.host.data(), {Bn, chunks, D, N}), hg, hws);
  backend::selective_scan_backward(backend::Cuda{}, dp, View<const T, 4>(cs.dev.data(), {Bn, chunks, D, N}), dg, dws);
  check_pair(du, "scan du");
  check_pair(ddelta, "scan ddelta");
  if (c.gate) check_pair(dz, "scan dz");
  if (!c.fixed_bc) {
    check_pair(dB, "scan dB");
    check_pair(dC, "scan dC");
  } else {
    check_pair(dBf, "scan dB_fixed");
    check_pair(dCf, "scan dC_fixed");
  }
  check_pair(dh0, "scan dh0");
  check_pair(dA, "scan dA");
  if (c.skip) check_pair(dD, "scan dD");
  if (c.bias) check_pair(dbias, "scan ddelta_bias");
  if (deterministic && !c.fixed_bc) {  // the same bits a second time
    const auto first = dB.dev.to_host();
    backend::selective_scan_backward(backend::Cuda{}, dp, View<const T, 4>(cs.dev.data(), {Bn, chunks, D, N}), dg, dws);
    ssm::cuda::synchronize();
    CHECK(dB.dev.to_host() == first);
  }
  ssm::cuda::set_deterministic(false);
  (void)cs_host_before;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE_TEMPLATE("selective scan forward and backward against the scalar reference", T, float, double) {
  const Case cases[] = {
      {2, 1, 3, 1, false, false, false, false, false, false},
      {3, 37, 5, 4, true, true, true, true, false, true},
      {2, 700, 17, 16, true, true, true, false, false, true},    // two tiles
      {2, 1100, 9, 16, false, true, false, true, true, false},   // three tiles, fixed B and C
      {4, 513, 33, 64, true, false, true, true, false, true},    // one step into the second tile
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases)
    for (bool det : {false, true}) run_case<T>(c, seed++, det);
}

TEST_CASE("selective scan: a length outside [0, L] and a chunk that does not divide the tile are errors") {
  Rng rng(1);
  const Index Bn = 2, L = 8, D = 3, N = 2;
  auto u = Pair<float>::random(Bn * L * D, rng), A = Pair<float>::random(D * N, rng), Bm = Pair<float>::random(Bn * L * N, rng);
  auto y = Pair<float>::poisoned(Bn * L * D);
  auto lens = test::upload_ints({3, 9});
  backend::SelectiveScanParams<float> p;
  p.u = u.d(Bn, L, D), p.delta = u.d(Bn, L, D), p.A = A.d(D, N), p.B = Bm.d(Bn, L, N), p.C = Bm.d(Bn, L, N);
  p.lengths = View<const std::int32_t, 1>(lens.data(), {Bn});
  Workspace ws = ssm::cuda::device_workspace();
  CHECK_THROWS_WITH_AS(backend::selective_scan_forward(backend::Cuda{}, p, {y.d(Bn, L, D), {}, {}}, ws),
                       doctest::Contains("sequence 1 has length 9"), Error);
  p.lengths = {};
  p.chunk = 48;
  CHECK_THROWS_WITH_AS(backend::selective_scan_forward(backend::Cuda{}, p, {y.d(Bn, L, D), {}, {}}, ws),
                       doctest::Contains("must divide the kernel's tile"), Error);
}

}  // TEST_SUITE
