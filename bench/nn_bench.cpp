// bench/nn_bench.cpp — the generic layers at a few sizes: Linear (forward, backward), depthwise causal
// Conv1d (forward, backward) and the activations (Scalar loop vs Simd lanes, one thread). Items are tokens
// (rows; elements for the activations); Linear also reports GFLOP/s, to compare with the machine's fp32 FMA peak
// (docs/performance.md).
#include <benchmark/benchmark.h>

#include "ssm/ssm.hpp"

using namespace ssm;

namespace {

template <class T>
void fill_random(Buffer<T>& b, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& x : b) x = rng.uniform<T>(T(-1), T(1));
}

/// Sets the thread count from the benchmark's last argument and restores it afterwards.
struct Threads {
  int saved = num_threads();
  explicit Threads(long n) { set_num_threads(static_cast<int>(n)); }
  ~Threads() { set_num_threads(saved); }
};

// args: rows M, in K, out N, threads
void BM_LinearForward(benchmark::State& state) {
  const Index M = state.range(0), K = state.range(1), N = state.range(2);
  Threads threads(state.range(3));
  ParamLayout layout;
  nn::Linear<float> lin(layout, "l", K, N);
  Parameters<float> params(layout);
  Rng rng(1);
  lin.init(lin.bind(params.values()), rng);
  Buffer<float> x(M * K), y(M * N);
  fill_random(x, 2);
  y.fill(0);
  Workspace ws;
  Context ctx(ws);
  nn::Linear<float>::Cache cache;
  for (auto _ : state) {
    lin.forward(lin.bind(params.values()), x.view<2>({M, K}), y.view<2>({M, N}), cache, ctx);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * M);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * K * N * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_LinearBackward(benchmark::State& state) {
  const Index M = state.range(0), K = state.range(1), N = state.range(2);
  Threads threads(state.range(3));
  ParamLayout layout;
  nn::Linear<float> lin(layout, "l", K, N);
  Parameters<float> params(layout);
  Rng rng(1);
  lin.init(lin.bind(params.values()), rng);
  Buffer<float> x(M * K), y(M * N), dy(M * N), dx(M * K);
  fill_random(x, 2);
  fill_random(dy, 3);
  dx.fill(0);
  Workspace ws;
  Context ctx(ws);
  nn::Linear<float>::Cache cache;
  lin.forward(lin.bind(params.values()), x.view<2>({M, K}), y.view<2>({M, N}), cache, ctx);
  for (auto _ : state) {
    lin.backward(lin.bind(params.values()), cache, dy.view<2>({M, N}), dx.view<2>({M, K}), lin.bind(params.grads()),
                 ctx);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * M);
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * M * K * N * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Reference: the same product Y = X·Wᵀ written directly in Eigen, Eigen threading it itself.
void BM_EigenGemmReference(benchmark::State& state) {
  const Index M = state.range(0), K = state.range(1), N = state.range(2);
  Threads threads(state.range(3));
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Mat x = Mat::Random(M, K), w = Mat::Random(N, K), y = Mat::Zero(M, N);
  for (auto _ : state) {
    y.noalias() = x * w.transpose();
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * M);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * K * N * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// args: batch B, length L, channels D, width K
void BM_Conv1dForward(benchmark::State& state) {
  const Index Bn = state.range(0), L = state.range(1), D = state.range(2), K = state.range(3);
  ParamLayout layout;
  nn::Conv1d<float> conv(layout, "c", D, K);
  Parameters<float> params(layout);
  Rng rng(1);
  conv.init(conv.bind(params.values()), rng);
  Buffer<float> x(Bn * L * D), y(Bn * L * D);
  fill_random(x, 2);
  y.fill(0);
  Workspace ws;
  Context ctx(ws);
  nn::Conv1d<float>::Cache cache;
  for (auto _ : state) {
    conv.forward(conv.bind(params.values()), x.view<3>({Bn, L, D}), y.view<3>({Bn, L, D}), cache, ctx);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * Bn * L);
  state.SetBytesProcessed(state.iterations() * Bn * L * D * 2 * static_cast<Index>(sizeof(float)));
}

void BM_Conv1dBackward(benchmark::State& state) {
  const Index Bn = state.range(0), L = state.range(1), D = state.range(2), K = state.range(3);
  ParamLayout layout;
  nn::Conv1d<float> conv(layout, "c", D, K);
  Parameters<float> params(layout);
  Rng rng(1);
  conv.init(conv.bind(params.values()), rng);
  Buffer<float> x(Bn * L * D), y(Bn * L * D), dy(Bn * L * D), dx(Bn * L * D);
  fill_random(x, 2);
  fill_random(dy, 3);
  dx.fill(0);
  Workspace ws;
  Context ctx(ws);
  nn::Conv1d<float>::Cache cache;
  conv.forward(conv.bind(params.values()), x.view<3>({Bn, L, D}), y.view<3>({Bn, L, D}), cache, ctx);
  for (auto _ : state) {
    ws.reset();
    conv.backward(conv.bind(params.values()), cache, dy.view<3>({Bn, L, D}), dx.view<3>({Bn, L, D}),
                  conv.bind(params.grads()), ctx);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * Bn * L);
  state.SetBytesProcessed(state.iterations() * Bn * L * D * 3 * static_cast<Index>(sizeof(float)));
}

// Reference for Conv1d: a parallel copy of the same tensor (read B·L·D, write B·L·D), the memory-bound floor.
void BM_CopyReference(benchmark::State& state) {
  const Index n = state.range(0) * state.range(1) * state.range(2);
  Buffer<float> x(n), y(n);
  fill_random(x, 2);
  y.fill(0);
  for (auto _ : state) {
    parallel_for(n, 1 << 14, [&](Index i0, Index i1) { std::copy(x.data() + i0, x.data() + i1, y.data() + i0); });
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * state.range(1));
  state.SetBytesProcessed(state.iterations() * n * 2 * static_cast<Index>(sizeof(float)));
}

// args: activation (as int), backward (0/1). 256 Ki floats: input and output stay in the core's L2, so this is
// the arithmetic, not the memory. Items are elements.
template <class B>
void BM_Activation(benchmark::State& state) {
  const Index n = Index(1) << 18;
  const auto act = static_cast<Activation>(state.range(0));
  const bool backward = state.range(1) != 0;
  Threads one(1);
  Buffer<float> x(n), dy(n), y(n);
  fill_random(x, 3);
  fill_random(dy, 4);
  y.fill(0);
  for (auto _ : state) {
    if (backward)
      backend::activation_backward(B{}, act, CView<float, 1>(x.data(), {n}), CView<float, 1>(dy.data(), {n}),
                                   View<float, 1>(y.data(), {n}));
    else
      backend::activation_forward(B{}, act, CView<float, 1>(x.data(), {n}), View<float, 1>(y.data(), {n}));
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetLabel(std::string(activation_name(act)) + (backward ? " backward" : " forward"));
}

void activation_args(benchmark::internal::Benchmark* b) {
  for (Activation a : {Activation::Gelu, Activation::Silu, Activation::Sigmoid})
    for (long backward : {0, 1}) b->Args({static_cast<long>(a), backward});
  b->ArgNames({"act", "backward"})->Unit(benchmark::kMicrosecond);
}

void linear_sizes(benchmark::internal::Benchmark* b) {
  for (long threads : {1, 2})
    for (auto mkn : {std::array<long, 3>{4096, 64, 256}, {4096, 256, 1024}, {8192, 768, 768}, {2048, 1536, 1536},
                     {4096, 128, 10001}})  // the last: a language model's output layer (16 × 256 tokens, 10,001 words)
      b->Args({mkn[0], mkn[1], mkn[2], threads});
  b->ArgNames({"M", "K", "N", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

/// Softmax cross-entropy with its gradient over M rows of C logits (a language model's loss: C = vocabulary).
template <class B>
void BM_CrossEntropy(benchmark::State& state) {
  const Index M = state.range(0), C = state.range(1);
  Threads threads(state.range(2));
  Rng rng(7);
  std::vector<float> z(static_cast<std::size_t>(M * C)), dz(z.size());
  for (auto& v : z) v = static_cast<float>(rng.uniform<double>(-4.0, 4.0));
  std::vector<std::int32_t> y(static_cast<std::size_t>(M));
  for (auto& t : y) t = static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(C)));
  nn::CrossEntropy<float, B> ce;
  const View<const float, 2> zv(z.data(), {M, C});
  const View<const std::int32_t, 1> yv(y.data(), {M});
  for (auto _ : state) {
    auto st = ce.forward_backward(zv, yv, View<float, 2>(dz.data(), {M, C}));
    benchmark::DoNotOptimize(st.loss);
  }
  state.counters["logits/s"] =
      benchmark::Counter(static_cast<double>(M * C), benchmark::Counter::kIsIterationInvariantRate);
  benchmark::DoNotOptimize(dz.data());
}

}  // namespace

BENCHMARK(BM_CrossEntropy<backend::Scalar>)->Args({4096, 10001, 2})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CrossEntropy<backend::Simd>)->Args({4096, 10001, 1})->Args({4096, 10001, 2})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LinearForward)->Apply(linear_sizes);
BENCHMARK(BM_EigenGemmReference)->Apply(linear_sizes);
BENCHMARK(BM_LinearBackward)->Apply(linear_sizes);
BENCHMARK(BM_CopyReference)->Args({8, 512, 128})->Args({8, 2048, 512})->Args({8, 512, 1536})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Conv1dForward)->Args({8, 512, 128, 4})->Args({8, 2048, 512, 4})->Args({8, 512, 1536, 4})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Conv1dBackward)->Args({8, 512, 128, 4})->Args({8, 2048, 512, 4})->Args({8, 512, 1536, 4})->UseRealTime()->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_Activation<backend::Scalar>)->Apply(activation_args);
BENCHMARK(BM_Activation<backend::Simd>)->Apply(activation_args);

BENCHMARK_MAIN();
