// bench/selective_scan.cpp — Mamba's selective scan: forward and forward+backward, Scalar and Simd, 1 and 2 threads,
// at the sizes, in tokens/s (items) and exps/s. Each scan step costs B·L·D·N exponentials, so the same run
// measures what bounds it: simd::exp over data in L1, glibc's vectorised expf (libmvec) where available, and a
// plain scalar loop calling expf per element, both as raw exp throughput and as a whole scan written that way.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "ssm/ssm.hpp"

#if defined(SSM_HAVE_LIBMVEC) && defined(__AVX512F__)
#include <immintrin.h>
extern "C" __m512 _ZGVeN16v_expf(__m512);  // glibc libmvec: expf on 16 lanes
#define SSM_BENCH_MVEC 1
#endif
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SSM_BENCH_AVX2_POLY 1
#endif

using namespace ssm;

#ifndef SSM_BENCH_CHUNK
#define SSM_BENCH_CHUNK 64
#endif

namespace {

struct Threads {
  int saved = num_threads();
  explicit Threads(long n) { set_num_threads(static_cast<int>(n)); }
  ~Threads() { set_num_threads(saved); }
};

template <class T>
void fill_random(Buffer<T>& b, std::uint64_t seed, T lo, T hi) {
  Rng rng(seed);
  for (auto& x : b) x = rng.uniform<T>(lo, hi);
}

/// Steps between the states forward keeps for backward (the op's and the Mamba layer's default).
constexpr Index kChunk = SSM_BENCH_CHUNK;

/// Inputs of one scan as Mamba's layer calls it: input-dependent B and C, gate, skip, dt bias + softplus.
struct ScanProblem {
  Index Bn, D, N, L;
  Buffer<float> u, delta, z, A, B, C, Dskip, bias, y, states, dy, du, ddelta, dz, dA, dB, dC, dD, dbias;
  ScanProblem(Index b, Index d, Index n, Index l)
      : Bn(b), D(d), N(n), L(l), u(b * l * d), delta(b * l * d), z(b * l * d), A(d * n), B(b * l * n), C(b * l * n),
        Dskip(d), bias(d), y(b * l * d), states(b * backend::selective_scan_chunks(l, kChunk) * d * n), dy(b * l * d),
        du(b * l * d), ddelta(b * l * d), dz(b * l * d), dA(d * n), dB(b * l * n), dC(b * l * n), dD(d), dbias(d) {
    fill_random(u, 1, -1.f, 1.f);
    fill_random(delta, 2, -4.f, 0.f);
    fill_random(z, 3, -2.f, 2.f);
    for (Index i = 0; i < d; ++i)
      for (Index j = 0; j < n; ++j) A.data()[i * n + j] = -static_cast<float>(j + 1);
    fill_random(B, 4, -1.f, 1.f);
    fill_random(C, 5, -1.f, 1.f);
    fill_random(Dskip, 6, -1.f, 1.f);
    fill_random(bias, 7, -4.f, -2.f);
    fill_random(dy, 8, -1.f, 1.f);
    for (auto* buf : {&y, &states, &du, &ddelta, &dz, &dA, &dB, &dC, &dD, &dbias}) buf->fill(0.f);
  }
  backend::SelectiveScanParams<float> params() const {
    backend::SelectiveScanParams<float> p;
    p.u = u.view<3>({Bn, L, D});
    p.delta = delta.view<3>({Bn, L, D});
    p.A = A.view<2>({D, N});
    p.B = B.view<3>({Bn, L, N});
    p.C = C.view<3>({Bn, L, N});
    p.D = Dskip.view<1>({D});
    p.z = z.view<3>({Bn, L, D});
    p.delta_bias = bias.view<1>({D});
    p.chunk = kChunk;
    return p;
  }
  backend::SelectiveScanOutputs<float> outputs(bool keep_states) {
    return {y.view<3>({Bn, L, D}), {},
            keep_states ? states.view<4>({Bn, backend::selective_scan_chunks(L, kChunk), D, N}) : View<float, 4>()};
  }
  backend::SelectiveScanGrads<float> grads() {
    backend::SelectiveScanGrads<float> g;
    g.dy = dy.view<3>({Bn, L, D});
    g.du = du.view<3>({Bn, L, D});
    g.ddelta = ddelta.view<3>({Bn, L, D});
    g.dz = dz.view<3>({Bn, L, D});
    g.dB = dB.view<3>({Bn, L, N});
    g.dC = dC.view<3>({Bn, L, N});
    g.dA = dA.view<2>({D, N});
    g.dD = dD.view<1>({D});
    g.ddelta_bias = dbias.view<1>({D});
    return g;
  }
};

void set_counters(benchmark::State& state, const ScanProblem& s) {
  state.SetItemsProcessed(state.iterations() * s.Bn * s.L);
  state.counters["Gexp/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * s.Bn * s.L * s.D * s.N / 1e9,
                                                benchmark::Counter::kIsRate);
}

// args: B, D, N, L, threads
template <class Bk>
void BM_ScanForward(benchmark::State& state) {
  ScanProblem s(state.range(0), state.range(1), state.range(2), state.range(3));
  Threads threads(state.range(4));
  Workspace ws;
  const auto p = s.params();
  selective_scan_forward(Bk{}, p, s.outputs(false), ws);  // warm the workspace and the buffers
  for (auto _ : state) {
    ws.reset();
    selective_scan_forward(Bk{}, p, s.outputs(false), ws);
    benchmark::DoNotOptimize(s.y.data());
  }
  set_counters(state, s);
}

template <class Bk>
void BM_ScanForwardBackward(benchmark::State& state) {
  ScanProblem s(state.range(0), state.range(1), state.range(2), state.range(3));
  Threads threads(state.range(4));
  Workspace ws;
  const auto p = s.params();
  const auto run = [&] {
    ws.reset();
    selective_scan_forward(Bk{}, p, s.outputs(true), ws);
    selective_scan_backward(Bk{}, p, s.states.view<4>({s.Bn, backend::selective_scan_chunks(s.L, kChunk), s.D, s.N}),
                            s.grads(), ws);
  };
  run();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(s.du.data());
  }
  set_counters(state, s);
}

// The reference the issue compares with: the same forward (gate, skip, softplus) as a plain loop over
// (b, t, d, n) in the best order for it (contiguous channels), calling expf per element. One thread.
void BM_ScanForwardExpfLoop(benchmark::State& state) {
  ScanProblem s(state.range(0), state.range(1), state.range(2), state.range(3));
  const Index Bn = s.Bn, L = s.L, D = s.D, N = s.N;
  std::vector<float> h(static_cast<std::size_t>(D * N));
  for (auto _ : state) {
    for (Index b = 0; b < Bn; ++b) {
      std::fill(h.begin(), h.end(), 0.f);
      for (Index t = 0; t < L; ++t) {
        const float* u = s.u.data() + (b * L + t) * D;
        const float* dl = s.delta.data() + (b * L + t) * D;
        const float* z = s.z.data() + (b * L + t) * D;
        const float* Bt = s.B.data() + (b * L + t) * N;
        const float* Ct = s.C.data() + (b * L + t) * N;
        float* y = s.y.data() + (b * L + t) * D;
        for (Index d = 0; d < D; ++d) {
          const float pre = dl[d] + s.bias.data()[d];
          const float dt = pre > 20.f ? pre : std::log1p(std::exp(pre));
          float acc = s.Dskip.data()[d] * u[d];
          float* hd = h.data() + d * N;
          const float* Ad = s.A.data() + d * N;
          for (Index n = 0; n < N; ++n) {
            hd[n] = std::exp(dt * Ad[n]) * hd[n] + dt * Bt[n] * u[d];
            acc += Ct[n] * hd[n];
          }
          y[d] = acc * (z[d] / (1.f + std::exp(-z[d])));
        }
      }
    }
    benchmark::DoNotOptimize(s.y.data());
  }
  set_counters(state, s);
}

// Raw exponential throughput on 4096 floats that stay in L1 (x ∈ [−8, 0], as Δ·A is), one thread.
// items = exps. The dependency between passes is only through memory, so the loop is throughput-bound.
Buffer<float>& exp_input() {
  static Buffer<float> x = [] {
    Buffer<float> b(4096);
    fill_random(b, 9, -8.f, 0.f);
    return b;
  }();
  return x;
}

void BM_ExpSimd(benchmark::State& state) {
  using V = simd::Vec<float>;
  const Buffer<float>& x = exp_input();
  Buffer<float> y(x.size());
  for (auto _ : state) {
    for (Index i = 0; i < x.size(); i += V::W) simd::exp(V::load(x.data() + i)).store(y.data() + i);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}

void BM_ExpfScalar(benchmark::State& state) {
  const Buffer<float>& x = exp_input();
  Buffer<float> y(x.size());
  for (auto _ : state) {
    for (Index i = 0; i < x.size(); ++i) y.data()[i] = std::exp(x.data()[i]);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}

#if defined(SSM_BENCH_MVEC)
void BM_ExpfLibmvec(benchmark::State& state) {
  const Buffer<float>& x = exp_input();
  Buffer<float> y(x.size());
  for (auto _ : state) {
    for (Index i = 0; i < x.size(); i += 16) _mm512_storeu_ps(y.data() + i, _ZGVeN16v_expf(_mm512_loadu_ps(x.data() + i)));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}
BENCHMARK(BM_ExpfLibmvec);
#endif
#if defined(SSM_BENCH_AVX2_POLY)
// The reference issue 15 names: a plain AVX2 exp as the classic vector math libraries write it (Cephes' scheme):
// clamp, n = round(x·log2 e), r = x − n·ln 2 in two parts, a degree-6 Horner polynomial, 2ⁿ through an int
// conversion and a shift. 8 lanes, no tricks; simd::exp must reach at least its rate.
inline __m256 plain_exp_avx2(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

void BM_ExpPlainAvx2(benchmark::State& state) {
  const Buffer<float>& x = exp_input();
  Buffer<float> y(x.size());
  for (auto _ : state) {
    for (Index i = 0; i < x.size(); i += 8) _mm256_storeu_ps(y.data() + i, plain_exp_avx2(_mm256_loadu_ps(x.data() + i)));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}
BENCHMARK(BM_ExpPlainAvx2);
#endif
BENCHMARK(BM_ExpSimd);
BENCHMARK(BM_ExpfScalar);

void scan_sizes(benchmark::internal::Benchmark* b, bool two_threads) {
  b->ArgNames({"B", "D", "N", "L", "threads"});
  for (long threads : two_threads ? std::vector<long>{1, 2} : std::vector<long>{1}) {
    for (long L : {128, 512, 2048}) b->Args({8, 1536, 16, L, threads});
    b->Args({16, 512, 16, 512, threads});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_ScanForwardExpfLoop)->Apply([](auto* b) { scan_sizes(b, false); })->Iterations(1);
BENCHMARK(BM_ScanForward<backend::Simd>)->Apply([](auto* b) { scan_sizes(b, true); });
BENCHMARK(BM_ScanForwardBackward<backend::Simd>)->Apply([](auto* b) { scan_sizes(b, true); });
BENCHMARK(BM_ScanForward<backend::Scalar>)->Apply([](auto* b) { scan_sizes(b, true); })->Iterations(1);
BENCHMARK(BM_ScanForwardBackward<backend::Scalar>)->Apply([](auto* b) { scan_sizes(b, true); })->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
