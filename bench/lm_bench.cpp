// bench/lm_bench.cpp — whole language models through the registry's Model interface, at the shapes of published
// checkpoints: state-spaces/mamba-130m-hf (vocab 50280, d 768, 24 layers, N 16, E 2, tied) with random weights.
//   BM_Mamba130mGenerate        one token per iteration through the recurrent step (batch 1): generation speed
//   BM_Mamba130mTrainStep/B/L   forward, cross-entropy, backward and an AdamW update of all 129M parameters
// Counters: tokens/s (items), the parameter count, and the bytes a step needs: parameters + gradients + AdamW's two
// moments (4 × 4 bytes per parameter) and the activation workspace's high-water mark.
//   BM_MixerTrainStep/kind/d/L  one layer's forward and backward (embedding, norms and a 16-way head around it:
//                               negligible), Mamba-1 (N 16) against Mamba-2 (N 64, P 64) at matched parameters;
//                               the counter GFLOP_per_s counts the GEMM work of the step (projections ×3 for
//                               forward and backward, Mamba-2's SSD chunk GEMMs ×3), to compare with the GEMM rate.
// Run: build/release/bench/lm_bench --benchmark_filter=Mamba130m (name the machine kind with every figure).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "ssm/models/registry.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/optim/adamw.hpp"

using namespace ssm;

namespace {

ModelOptions mamba_130m() {
  ModelOptions o{.name = "mamba", .head = "lm", .vocab = 50280, .dim = 768, .layers = 24, .dropout = 0, .state = 16,
                 .expand = 2, .conv = 4, .tie_embeddings = true};
  o.padding_idx = -1;
  o.head_bias = false;
  return o;
}

void BM_Mamba130mGenerate(benchmark::State& state) {
  const auto o = mamba_130m();
  auto m = make_model(o);
  m->init(1);
  m->begin_steps(1);
  std::vector<float> logits(static_cast<std::size_t>(o.vocab));
  std::int32_t tok = 7;
  for (int i = 0; i < 8; ++i)  // warm the step's workspace
    m->step(View<const std::int32_t, 1>(&tok, {1}), View<float, 2>(logits.data(), {1, o.vocab}));
  for (auto _ : state) {
    m->step(View<const std::int32_t, 1>(&tok, {1}), View<float, 2>(logits.data(), {1, o.vocab}));
    tok = static_cast<std::int32_t>((tok * 7 + 3) % o.vocab);
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["params"] = static_cast<double>(m->parameters().count());
}

void BM_Mamba130mTrainStep(benchmark::State& state) {
  const Index B = state.range(0), L = state.range(1);
  const auto o = mamba_130m();
  auto m = make_model(o);
  m->init(1);
  auto& params = m->parameters();
  optim::AdamW<float> opt(params.layout(), {.lr = 1e-4});
  Rng rng(3);
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(B * (L + 1)));
  for (auto& t : tokens) t = static_cast<std::int32_t>(rng.uniform<double>(0, static_cast<double>(o.vocab - 1)));
  std::vector<std::int32_t> input(static_cast<std::size_t>(B * L)), target(input.size());
  for (Index b = 0; b < B; ++b)
    for (Index t = 0; t < L; ++t) {
      input[static_cast<std::size_t>(b * L + t)] = tokens[static_cast<std::size_t>(b * (L + 1) + t)];
      target[static_cast<std::size_t>(b * L + t)] = tokens[static_cast<std::size_t>(b * (L + 1) + t + 1)];
    }
  std::vector<float> logits(static_cast<std::size_t>(B * L * o.vocab)), dlogits(logits.size());
  Workspace ws;
  const nn::CrossEntropy<float> ce;
  const auto one = [&](std::uint64_t seed) {
    ws.reset();
    Context ctx(ws, true, seed);
    params.zero_grad();
    m->forward(View<const std::int32_t, 2>(input.data(), {B, L}), {}, View<float, 2>(logits.data(), {B * L, o.vocab}),
               ctx);
    ce.forward_backward(View<const float, 2>(logits.data(), {B * L, o.vocab}),
                        View<const std::int32_t, 1>(target.data(), {B * L}),
                        View<float, 2>(dlogits.data(), {B * L, o.vocab}));
    m->backward(View<const float, 2>(dlogits.data(), {B * L, o.vocab}), ctx);
    opt.step(params.value_view(), View<const float, 1>(params.grad_view()));
  };
  one(0);  // first touch of the workspace and the moments
  one(1);
  std::uint64_t seed = 2;
  for (auto _ : state) one(seed++);
  state.SetItemsProcessed(state.iterations() * B * L);
  const double n = static_cast<double>(params.count());
  state.counters["params"] = n;
  state.counters["state_MiB"] = 16.0 * n / (1 << 20);
  state.counters["activations_MiB"] = static_cast<double>(ws.high_water()) / (1 << 20);
  state.counters["logits_MiB"] = 8.0 * static_cast<double>(B * L * o.vocab) / (1 << 20);
}

/// kind 1: Mamba-1 (N 16, E 2, Δ rank d/16); kind 2: Mamba-2 (N 64, E 2, heads of 64, 1 group, chunk 64).
void BM_MixerTrainStep(benchmark::State& state) {
  const bool two = state.range(0) == 2;
  const Index d = state.range(1), L = state.range(2), B = 4, V = 16, E = 2 * d;
  ModelOptions o{.name = two ? "mamba2" : "mamba", .head = "token", .vocab = V, .classes = V, .dim = d, .layers = 1,
                 .dropout = 0, .state = two ? 64 : 16, .expand = 2, .conv = 4};
  o.head_dim = 64;
  auto m = make_model(o);
  m->init(1);
  auto& params = m->parameters();
  Rng rng(3);
  std::vector<std::int32_t> input(static_cast<std::size_t>(B * L));
  for (auto& t : input) t = static_cast<std::int32_t>(rng.uniform<double>(1, V - 1));
  std::vector<float> logits(static_cast<std::size_t>(B * L * V)), dlogits(logits.size());
  for (auto& g : dlogits) g = static_cast<float>(rng.uniform<double>(-1e-3, 1e-3));
  Workspace ws;
  const auto one = [&](std::uint64_t seed) {
    ws.reset();
    Context ctx(ws, true, seed);
    params.zero_grad();
    m->forward(View<const std::int32_t, 2>(input.data(), {B, L}), {}, View<float, 2>(logits.data(), {B * L, V}), ctx);
    m->backward(View<const float, 2>(dlogits.data(), {B * L, V}), ctx);
  };
  one(0);
  one(1);
  std::uint64_t seed = 2;
  for (auto _ : state) one(seed++);
  // GEMM FLOPs per token, forward; backward is twice that.
  double per_token = 0;
  if (two) {
    const double N = 64, P = 64, H = static_cast<double>(E) / P, Q = 64;
    per_token = 2.0 * d * (2 * E + 2 * N + H) + 2.0 * E * d;  // in_proj, out_proj
    per_token += 2 * Q * N + H * (2 * Q * P + 4 * N * P);     // C·Bᵀ per group; (L∘CBᵀ)·X, states and C·h per head
  } else {
    const double N = 16, R = static_cast<double>((d + 15) / 16);
    per_token = 2.0 * d * 2 * E + 2.0 * E * (R + 2 * N) + 2.0 * R * E + 2.0 * E * d;
  }
  state.SetItemsProcessed(state.iterations() * B * L);
  state.counters["params"] = static_cast<double>(params.count());
  state.counters["GFLOP_per_s"] =
      benchmark::Counter(3.0 * per_token * static_cast<double>(B * L) * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_MixerTrainStep)->ArgsProduct({{1, 2}, {256, 768}, {512, 2048, 4096}})->ArgNames({"kind", "d", "L"})
    ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Mamba130mGenerate)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_Mamba130mTrainStep)->Args({1, 256})->Args({4, 256})->Args({1, 1024})->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
