// bench/lti_bench.cpp — the LTI layers' hot paths: S4's kernel (Cauchy sums + Woodbury + inverse FFT) and S4D's
// (Vandermonde), L ∈ {256, 1024, 4096, 16384} × N ∈ {64, 256}, on the Scalar and Simd backends; the FFT
// convolution over L; one recurrent step per token; and a batch-1 evaluation forward with and without the kernel
// memo. Items are kernel entries (H·L), tokens (B·L) or steps (B);
// the counter ns_per_LlogL = time / (H·L·log2 L) stays flat when the cost grows as L log L.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "ssm/backend/scalar/fft_conv.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/layers/lssl.hpp"
#include "ssm/layers/s4.hpp"
#include "ssm/layers/s4d.hpp"

namespace {

using namespace ssm;

constexpr Index kChannels = 8;  // H for the kernel benchmarks (each channel is independent work)

template <class Layer>
struct Model {
  ParamLayout layout;
  Layer layer;
  Parameters<float> params;
  typename Layer::Params p;
  explicit Model(const typename Layer::Config& cfg) : layer(layout, "m", cfg), params(layout), p(layer.bind(params.values())) {
    Rng rng(1);
    layer.init(p, rng);
  }
};

template <class Backend>
void BM_S4Kernel(benchmark::State& st) {
  const Index N = st.range(0), L = st.range(1);
  Model<S4<float, hippo::LegS, discretize::Bilinear, Backend>> m({.d_model = kChannels, .d_state = N, .l_max = L});
  std::vector<float> k(static_cast<std::size_t>(kChannels * L));
  Workspace ws;
  for (auto _ : st) {
    ws.reset();
    m.layer.kernel(m.p, View<float, 3>(k.data(), {1, kChannels, L}), Context(ws));
    benchmark::DoNotOptimize(k.data());
  }
  st.SetItemsProcessed(st.iterations() * kChannels * L);
  st.counters["ns_per_NL"] = benchmark::Counter(static_cast<double>(kChannels * N * L),
                                                benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

template <class Backend>
void BM_S4DKernel(benchmark::State& st) {
  const Index N = st.range(0), L = st.range(1);
  Model<S4D<float, discretize::Zoh, Backend>> m({.d_model = kChannels, .d_state = N});
  std::vector<float> k(static_cast<std::size_t>(kChannels * L));
  Workspace ws;
  for (auto _ : st) {
    ws.reset();
    m.layer.kernel(m.p, View<float, 3>(k.data(), {1, kChannels, L}), Context(ws));
    benchmark::DoNotOptimize(k.data());
  }
  st.SetItemsProcessed(st.iterations() * kChannels * L);
  st.counters["ns_per_NL"] = benchmark::Counter(static_cast<double>(kChannels * N * L),
                                                benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

/// The FFT convolution of the LTI shell: spectrum of K, then per (b, h) rfft → product → irfft; B = 4, H = 32.
/// Scalar: Eigen's kissfft per channel; Simd: radix-2 transforms with the channels in the lanes.
template <class Backend>
void BM_FftConv(benchmark::State& st) {
  const Index L = st.range(0), Bn = 4, H = 32, n = backend::fft_conv_size(L), F = n / 2 + 1;
  Rng rng(2);
  std::vector<float> x(static_cast<std::size_t>(Bn * L * H)), y(x.size()), k(static_cast<std::size_t>(H * L)),
      d(static_cast<std::size_t>(H)), spec(static_cast<std::size_t>(H * F * 2));
  for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
  for (auto& v : k) v = rng.uniform(-1.0f, 1.0f);
  for (auto _ : st) {
    backend::lti_spectrum(Backend{}, View<const float, 3>(k.data(), {1, H, L}), View<float, 3>(spec.data(), {H, F, 2}));
    backend::lti_conv_forward(Backend{}, View<const float, 3>(x.data(), {Bn, L, H}), {},
                              View<const float, 3>(spec.data(), {H, F, 2}), View<const float, 1>(d.data(), {H}),
                              View<float, 3>(y.data(), {Bn, L, H}));
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * Bn * L * H);
  st.counters["ns_per_LlogL"] = benchmark::Counter(static_cast<double>(Bn * H) * static_cast<double>(L) * std::log2(double(L)),
                                                   benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

/// Forward + backward of a whole S4D layer (B = 2, H = 32, N = 64): everything a training step pays per layer.
template <class Backend>
void BM_S4DTrainStep(benchmark::State& st) {
  const Index L = st.range(0), Bn = 2, H = 32;
  using Layer = S4D<float, discretize::Zoh, Backend>;
  Model<Layer> m({.d_model = H, .d_state = 64});
  Rng rng(3);
  std::vector<float> x(static_cast<std::size_t>(Bn * L * H)), y(x.size()), dx(x.size());
  for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
  auto g = m.layer.bind(m.params.grads());
  Workspace ws;
  typename Layer::Cache cache;
  for (auto _ : st) {
    ws.reset();
    Context ctx(ws, true, 1);
    m.layer.forward(m.p, View<const float, 3>(x.data(), {Bn, L, H}), {}, View<float, 3>(y.data(), {Bn, L, H}), cache, ctx);
    m.layer.backward(m.p, cache, View<const float, 3>(y.data(), {Bn, L, H}), View<float, 3>(dx.data(), {Bn, L, H}), g, ctx);
    benchmark::DoNotOptimize(dx.data());
  }
  st.SetItemsProcessed(st.iterations() * Bn * L);
  st.counters["ns_per_LlogL"] = benchmark::Counter(static_cast<double>(Bn * H) * static_cast<double>(L) * std::log2(double(L)),
                                                   benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

/// One generation step (B = 1, H = 64) per iteration: items are tokens.
template <class Layer>
void BM_Step(benchmark::State& st) {
  const Index N = st.range(0), H = 64;
  typename Layer::Config cfg;
  cfg.d_model = H;
  cfg.d_state = N;
  if constexpr (requires { cfg.l_max; }) cfg.l_max = 1024;
  Model<Layer> m(cfg);
  auto state = m.layer.make_state(1);
  std::vector<float> xt(static_cast<std::size_t>(H), 0.1f), yt(xt.size());
  // The first step discretizes (and for S4 inverts I − Ā^{l_max}); time the steady state.
  m.layer.step(m.p, state, View<const float, 2>(xt.data(), {1, H}), View<float, 2>(yt.data(), {1, H}));
  for (auto _ : st) {
    m.layer.step(m.p, state, View<const float, 2>(xt.data(), {1, H}), View<float, 2>(yt.data(), {1, H}));
    benchmark::DoNotOptimize(yt.data());
  }
  st.SetItemsProcessed(st.iterations());
}

/// An evaluation forward of one layer at batch 1 (H = 128, N = 64, the sentiment models' width): args L and
/// memo (1: the kernel memo answers every call after the first, as at inference; 0: the memo is cleared before
/// each call, so the kernel is rebuilt as in training). Items are tokens.
template <class Layer>
void BM_EvalForward(benchmark::State& st) {
  const Index L = st.range(0), H = 128;
  const bool memo = st.range(1) != 0;
  typename Layer::Config cfg;
  cfg.d_model = H;
  cfg.d_state = 64;
  if constexpr (requires { cfg.l_max; }) cfg.l_max = L;
  Model<Layer> m(cfg);
  Rng rng(4);
  std::vector<float> x(static_cast<std::size_t>(L * H)), y(x.size());
  for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
  Workspace ws;
  typename Layer::Cache cache;
  const auto run = [&] {
    ws.reset();
    m.layer.forward(m.p, View<const float, 3>(x.data(), {1, L, H}), {}, View<float, 3>(y.data(), {1, L, H}), cache,
                    Context(ws));
  };
  run();  // warm the workspace (and fill the memo)
  for (auto _ : st) {
    if (!memo) m.layer.kernel_memo().clear();
    run();
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * L);
}

void eval_args(benchmark::internal::Benchmark* b) {
  for (Index l : {64, 512, 4096})
    for (Index memo : {0, 1}) b->Args({l, memo});
  b->ArgNames({"L", "memo"})->Unit(benchmark::kMicrosecond);
}

void kernel_args(benchmark::internal::Benchmark* b) {
  for (Index n : {64, 256})
    for (Index l : {256, 1024, 4096, 16384}) b->Args({n, l});
  b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_S4Kernel<ssm::backend::Scalar>)->Apply(kernel_args);
BENCHMARK(BM_S4Kernel<ssm::backend::Simd>)->Apply(kernel_args);
BENCHMARK(BM_S4DKernel<ssm::backend::Scalar>)->Apply(kernel_args);
BENCHMARK(BM_S4DKernel<ssm::backend::Simd>)->Apply(kernel_args);
BENCHMARK(BM_FftConv<ssm::backend::Scalar>)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FftConv<ssm::backend::Simd>)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_S4DTrainStep<ssm::backend::Scalar>)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_S4DTrainStep<ssm::backend::Simd>)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Step<ssm::S4D<float, ssm::discretize::Zoh, ssm::backend::Simd>>)->Arg(64)->Arg(256);
BENCHMARK(BM_Step<ssm::S4<float, ssm::hippo::LegS, ssm::discretize::Bilinear, ssm::backend::Simd>>)->Arg(64)->Arg(256);
BENCHMARK(BM_Step<ssm::Lssl<float, ssm::hippo::LegS, ssm::discretize::Bilinear, ssm::backend::Simd>>)->Arg(64)->Arg(256);

BENCHMARK(BM_EvalForward<ssm::S4D<float, ssm::discretize::Zoh, ssm::backend::Simd>>)->Apply(eval_args);
BENCHMARK(BM_EvalForward<ssm::S4<float, ssm::hippo::LegS, ssm::discretize::Bilinear, ssm::backend::Simd>>)->Apply(eval_args);
BENCHMARK(BM_EvalForward<ssm::Lssl<float, ssm::hippo::LegS, ssm::discretize::Bilinear, ssm::backend::Simd>>)->Apply(eval_args);

BENCHMARK_MAIN();
