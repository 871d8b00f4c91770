// bench/cuda/selective_scan.cu — the Cuda selective scan at (B=8, D=1536, N=16, L ∈ {512, 2048, 8192}), timed with
// CUDA events (median of 20 after 3 warm-ups, inputs random, outputs poisoned first), reported as achieved
// GB/s of the fewest bytes the op must move, next to a device-to-device copy measured in the same program.
// Usage: cuda_selective_scan [--lengths 512,2048,8192] [--reps 20]. Prints a table; exits 77 without a GPU.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ssm/backend/cuda/cuda.cuh"

using namespace ssm;

namespace {

struct Events {
  cudaEvent_t start, stop;
  Events() {
    SSM_CUDA_CHECK(cudaEventCreate(&start));
    SSM_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};

/// Median milliseconds of f over reps runs (after warm-up runs).
template <class F>
double time_ms(F&& f, int reps, int warmup = 3) {
  Events ev;
  for (int i = 0; i < warmup; ++i) f();
  ssm::cuda::synchronize();
  std::vector<float> ms(static_cast<std::size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    SSM_CUDA_CHECK(cudaEventRecord(ev.start, ssm::cuda::current_stream()));
    f();
    SSM_CUDA_CHECK(cudaEventRecord(ev.stop, ssm::cuda::current_stream()));
    SSM_CUDA_CHECK(cudaEventSynchronize(ev.stop));
    SSM_CUDA_CHECK(cudaEventElapsedTime(&ms[static_cast<std::size_t>(i)], ev.start, ev.stop));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

DeviceBuffer<float> random_device(Index n, std::uint64_t seed, float lo, float hi) {
  std::vector<float> h(static_cast<std::size_t>(n));
  Rng rng(seed);
  for (auto& x : h) x = rng.uniform<float>(lo, hi);
  DeviceBuffer<float> d(n);
  d.upload(h.data(), n);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  if (!ssm::cuda::available()) {
    std::printf("cuda_selective_scan: no CUDA device; nothing to measure\n");
    return 77;
  }
  std::vector<Index> lengths{512, 2048, 8192};
  int reps = 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--lengths") && i + 1 < argc) {
      lengths.clear();
      for (char* tok = std::strtok(argv[++i], ","); tok; tok = std::strtok(nullptr, ",")) lengths.push_back(std::atol(tok));
    } else {
      std::printf("usage: cuda_selective_scan [--lengths 512,2048,8192] [--reps 20]\n");
      return 2;
    }
  }
  std::printf("device: %s\n", ssm::cuda::describe_device().c_str());

  // The reference: a device-to-device copy of 1 GiB (bytes read + bytes written).
  const Index copy_n = Index(1) << 28;
  DeviceBuffer<float> src(copy_n), dst(copy_n);
  SSM_CUDA_CHECK(cudaMemset(src.data(), 1, copy_n * sizeof(float)));
  const double copy_ms = time_ms(
      [&] { SSM_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), copy_n * sizeof(float), cudaMemcpyDeviceToDevice, ssm::cuda::current_stream())); },
      reps);
  const double copy_gbs = 2.0 * copy_n * sizeof(float) / (copy_ms * 1e-3) / 1e9;
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n\n", copy_gbs);

  const Index Bn = 8, D = 1536, N = 16;
  std::printf("| B | D | N | L | forward ms | fwd GB/s | fwd / copy | fwd+bwd ms | f+b GB/s | f+b / copy | Mtok/s fwd |\n");
  std::printf("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (Index L : lengths) {
    const Index K = 64, chunks = backend::selective_scan_chunks(L, K);
    auto u = random_device(Bn * L * D, 1, -1, 1), delta = random_device(Bn * L * D, 2, -4, 0), z = random_device(Bn * L * D, 3, -1, 1);
    auto B = random_device(Bn * L * N, 4, -1, 1), C = random_device(Bn * L * N, 5, -1, 1);
    auto A = random_device(D * N, 6, -2, -0.1f), Dv = random_device(D, 7, -1, 1), bias = random_device(D, 8, -1, 0);
    DeviceBuffer<float> y(Bn * L * D), states(Bn * chunks * D * N), dy(Bn * L * D), du(Bn * L * D), ddelta(Bn * L * D),
        dz(Bn * L * D), dB(Bn * L * N), dC(Bn * L * N), dA(D * N), dD(D), dbias(D);
    SSM_CUDA_CHECK(cudaMemset(y.data(), 0xFF, y.size() * sizeof(float)));
    backend::SelectiveScanParams<float> p;
    p.u = u.view<3>({Bn, L, D});
    p.delta = delta.view<3>({Bn, L, D});
    p.z = z.view<3>({Bn, L, D});
    p.B = B.view<3>({Bn, L, N});
    p.C = C.view<3>({Bn, L, N});
    p.A = A.view<2>({D, N});
    p.D = Dv.view();
    p.delta_bias = bias.view();
    p.chunk = K;
    backend::SelectiveScanOutputs<float> out{y.view<3>({Bn, L, D}), {}, states.view<4>({Bn, chunks, D, N})};
    backend::SelectiveScanGrads<float> g;
    g.dy = y.view<3>({Bn, L, D});
    g.du = du.view<3>({Bn, L, D});
    g.ddelta = ddelta.view<3>({Bn, L, D});
    g.dz = dz.view<3>({Bn, L, D});
    g.dB = dB.view<3>({Bn, L, N});
    g.dC = dC.view<3>({Bn, L, N});
    g.dA = dA.view<2>({D, N});
    g.dD = dD.view();
    g.ddelta_bias = dbias.view();
    Workspace ws = ssm::cuda::device_workspace();
    const double fwd = time_ms([&] { backend::selective_scan_forward(backend::Cuda{}, p, out, ws); }, reps);
    const double both = time_ms(
        [&] {
          ws.reset();
          backend::selective_scan_forward(backend::Cuda{}, p, out, ws);
          backend::selective_scan_backward(backend::Cuda{}, p, View<const float, 4>(states.view<4>({Bn, chunks, D, N})), g, ws);
        },
        reps);
    // Fewest bytes: forward reads u, δ, z, B, C and writes y (+ the chunk states); backward reads those
    // and dy and the states, and writes du, dδ, dz, dB, dC.
    const double seq = static_cast<double>(Bn * L * D) * sizeof(float), bc = static_cast<double>(Bn * L * N) * sizeof(float);
    const double st = static_cast<double>(Bn * chunks * D * N) * sizeof(float);
    const double fwd_bytes = 4 * seq + 2 * bc + st;
    const double bwd_bytes = 4 * seq + 2 * bc + st + 3 * seq + 2 * bc;
    const double fgbs = fwd_bytes / (fwd * 1e-3) / 1e9, bgbs = (fwd_bytes + bwd_bytes) / (both * 1e-3) / 1e9;
    std::printf("| %ld | %ld | %ld | %ld | %.3f | %.0f | %.2f | %.3f | %.0f | %.2f | %.1f |\n", static_cast<long>(Bn),
                static_cast<long>(D), static_cast<long>(N), static_cast<long>(L), fwd, fgbs, fgbs / copy_gbs, both, bgbs,
                bgbs / copy_gbs, static_cast<double>(Bn * L) / (fwd * 1e-3) / 1e6);
  }
  return 0;
}
