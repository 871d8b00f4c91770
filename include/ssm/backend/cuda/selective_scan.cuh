// ssm/backend/cuda/selective_scan.cuh — Mamba's selective scan on the GPU (Cuda overloads of
// backend/scalar/selective_scan.hpp, same SelectiveScanParams/Outputs/Grads, same equations):
//   h_t = a_t h_{t−1} + b_t,  a_t = exp(Δ_t A),  b_t = Δ_t B_t u_t,  y_t = C_t·h_t + D u_t,  out_t = y_t·silu(z_t).
// One block per (sequence, channel); its threads cover a tile of 512 time steps, and for each state n a
// cub::BlockScan over (a, b) pairs with the monoid (a₀, b₀)∘(a₁, b₁) = (a₁a₀, a₁b₀ + b₁) gives every h_t; a prefix
// callback carries the state from tile to tile. Backward recomputes each tile from the states forward stored
// and runs the adjoint backwards with the same scan on the reversed tile. State and sums are kept in T (fp32
// for float). dB/dC (summed over channels) use atomics, or with cuda::set_deterministic(true) a second kernel
// that sums the channels in a fixed order.
#pragma once

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <vector>

#include "ssm/backend/cuda/buffer.cuh"
#include "ssm/backend/scalar/selective_scan.hpp"

namespace ssm::cuda {

/// When true, kernels that would sum with atomics (the selective scan's dB and dC) use a fixed order instead:
/// slower, and bit-for-bit reproducible. Per thread; off by default.
inline bool& deterministic() {
  thread_local bool on = false;
  return on;
}
inline void set_deterministic(bool on) { deterministic() = on; }

}  // namespace ssm::cuda

namespace ssm::backend {

namespace scan_cuda {

inline constexpr int kThreads = 128;
inline constexpr int kItems = 4;
inline constexpr Index kTile = kThreads * kItems;  // time steps per tile; the stored chunk must divide it

template <class T>
struct Pair {
  T a, b;
};

/// (a₀, b₀) then (a₁, b₁): the later step applied after the earlier one.
template <class T>
struct Compose {
  __device__ Pair<T> operator()(const Pair<T>& x, const Pair<T>& y) const { return {y.a * x.a, y.a * x.b + y.b}; }
};

/// Hands the block the state carried in from earlier tiles and folds in this tile's aggregate. Called by the
/// first warp; lane 0's copy is the one written back.
template <class T>
struct Carry {
  Pair<T> running;
  __device__ Pair<T> operator()(const Pair<T>& aggregate) {
    const Pair<T> before = running;
    running = Compose<T>{}(running, aggregate);
    return before;
  }
};

template <class T>
__device__ inline T delta_at(const SelectiveScanParams<T>& p, Index b, Index t, Index d) {
  const T pre = p.delta(b, t, d) + (p.delta_bias.empty() ? T(0) : p.delta_bias(d));
  return p.delta_softplus ? math::softplus(pre) : pre;
}
template <class T>
__device__ inline T b_at(const SelectiveScanParams<T>& p, Index b, Index t, Index d, Index n) {
  return p.B.empty() ? p.B_fixed(d, n) : p.B(b, t, n);
}
template <class T>
__device__ inline T c_at(const SelectiveScanParams<T>& p, Index b, Index t, Index d, Index n) {
  return p.C.empty() ? p.C_fixed(d, n) : p.C(b, t, n);
}
template <class T>
__device__ inline Index length_of(const SelectiveScanParams<T>& p, Index b) {
  return p.lengths.empty() ? p.u.extent(1) : static_cast<Index>(p.lengths(b));
}

/// grid (Bn, D), block kThreads, dynamic shared memory N·sizeof(T) for the carried states.
template <class T>
__global__ void __launch_bounds__(kThreads) forward_kernel(SelectiveScanParams<T> p, SelectiveScanOutputs<T> out) {
  using Scan = cub::BlockScan<Pair<T>, kThreads>;
  __shared__ typename Scan::TempStorage temp;
  extern __shared__ unsigned char smem_raw[];
  T* state = reinterpret_cast<T*>(smem_raw);  // {N}: h before the current tile
  const Index b = blockIdx.x, d = blockIdx.y, L = p.u.extent(1), N = p.A.extent(1), K = p.chunk;
  const Index len = length_of(p, b);
  for (Index n = threadIdx.x; n < N; n += kThreads) {
    state[n] = p.h0.empty() ? T(0) : p.h0(b, d, n);
    if (len > 0 && !out.chunk_states.empty()) out.chunk_states(b, 0, d, n) = state[n];
    if (len == 0 && !out.h_last.empty()) out.h_last(b, d, n) = state[n];
  }
  __syncthreads();
  for (Index t0 = 0; t0 < len; t0 += kTile) {
    T u[kItems], dt[kItems], y[kItems];
    bool valid[kItems];
    for (int i = 0; i < kItems; ++i) {
      const Index t = t0 + threadIdx.x * kItems + i;
      valid[i] = t < len;
      u[i] = valid[i] ? p.u(b, t, d) : T(0);
      dt[i] = valid[i] ? delta_at(p, b, t, d) : T(0);
      y[i] = p.D.empty() ? T(0) : p.D(d) * u[i];
    }
    for (Index n = 0; n < N; ++n) {
      const T A = p.A(d, n);
      Pair<T> h[kItems];
      for (int i = 0; i < kItems; ++i) {
        const Index t = t0 + threadIdx.x * kItems + i;
        h[i] = valid[i] ? Pair<T>{exp(dt[i] * A), dt[i] * b_at(p, b, t, d, n) * u[i]} : Pair<T>{T(1), T(0)};
      }
      Carry<T> carry{{T(1), state[n]}};
      Scan(temp).InclusiveScan(h, h, Compose<T>{}, carry);
      __syncthreads();  // every thread has read state[n]; temp may be reused
      if (threadIdx.x == 0) state[n] = carry.running.b;
      for (int i = 0; i < kItems; ++i) {
        if (!valid[i]) continue;
        const Index t = t0 + threadIdx.x * kItems + i;
        y[i] += c_at(p, b, t, d, n) * h[i].b;
        if (!out.chunk_states.empty() && (t + 1) % K == 0 && t + 1 < len) out.chunk_states(b, (t + 1) / K, d, n) = h[i].b;
        if (!out.h_last.empty() && t == len - 1) out.h_last(b, d, n) = h[i].b;
      }
    }
    for (int i = 0; i < kItems; ++i) {
      const Index t = t0 + threadIdx.x * kItems + i;
      if (t >= L) continue;
      out.y(b, t, d) = !valid[i] ? T(0) : p.z.empty() ? y[i] : y[i] * math::silu(p.z(b, t, d));
    }
    __syncthreads();
  }
  for (Index t = len + threadIdx.x; t < L; t += kThreads) out.y(b, t, d) = T(0);  // padded steps
}

/// Per block (b, d): partial parameter gradients, summed over b afterwards in a fixed order.
template <class T>
struct Partials {
  View<T, 3> dA, dB_fixed, dC_fixed;  // {Bn, D, N}
  View<T, 2> dD, ddelta_bias;         // {Bn, D}
  View<T, 4> adjoint_states;          // {Bn, tiles, D, N}: the adjoint carried into each tile (deterministic dB/dC)
};

/// Loads a tile's pair for step t: (a_t, Δ_t B_t u_t) and remembers a_t.
template <class T>
__device__ inline void recompute_tile(const SelectiveScanParams<T>& p, Index b, Index d, Index n, Index t0, Index len,
                                      const T (&u)[kItems], const T (&dt)[kItems], Pair<T> (&h)[kItems],
                                      T (&a)[kItems]) {
  const T A = p.A(d, n);
  for (int i = 0; i < kItems; ++i) {
    const Index t = t0 + threadIdx.x * kItems + i;
    a[i] = t < len ? exp(dt[i] * A) : T(1);
    h[i] = t < len ? Pair<T>{a[i], dt[i] * b_at(p, b, t, d, n) * u[i]} : Pair<T>{T(1), T(0)};
  }
}

/// grid (Bn, D), block kThreads; dynamic shared memory: state[N], adjoint[N], and the reversed tile.
template <class T>
__global__ void __launch_bounds__(kThreads) backward_kernel(SelectiveScanParams<T> p, View<const T, 4> chunk_states,
                                                            SelectiveScanGrads<T> g, Partials<T> part,
                                                            bool atomic_bc) {
  using Scan = cub::BlockScan<Pair<T>, kThreads>;
  using Reduce = cub::BlockReduce<T, kThreads>;
  __shared__ union {
    typename Scan::TempStorage scan;
    typename Reduce::TempStorage reduce;
  } temp;
  extern __shared__ unsigned char smem_raw[];
  const Index N = p.A.extent(1);
  T* state = reinterpret_cast<T*>(smem_raw);     // {N} h before the tile (from chunk_states)
  T* adjoint = state + N;                        // {N} a_{t+1} g_{t+1} carried backwards into the tile
  Pair<T>* rev = reinterpret_cast<Pair<T>*>(adjoint + N);  // {kTile} the tile reversed
  const Index b = blockIdx.x, d = blockIdx.y, L = p.u.extent(1), K = p.chunk;
  const Index len = length_of(p, b);
  const Index tiles = (len + kTile - 1) / kTile;
  for (Index n = threadIdx.x; n < N; n += kThreads) adjoint[n] = g.dh_last.empty() ? T(0) : g.dh_last(b, d, n);
  T accD = 0, acc_bias = 0;  // this thread's share of dD and d(delta_bias)
  for (Index n = threadIdx.x; n < N; n += kThreads) {
    if (!part.dA.empty()) part.dA(b, d, n) = T(0);
    if (!part.dB_fixed.empty()) part.dB_fixed(b, d, n) = T(0);
    if (!part.dC_fixed.empty()) part.dC_fixed(b, d, n) = T(0);
  }
  __syncthreads();
  for (Index tile = tiles - 1; tile >= 0; --tile) {
    const Index t0 = tile * kTile;
    if (!part.adjoint_states.empty())
      for (Index n = threadIdx.x; n < N; n += kThreads) part.adjoint_states(b, tile, d, n) = adjoint[n];
    for (Index n = threadIdx.x; n < N; n += kThreads) state[n] = chunk_states(b, t0 / K, d, n);
    __syncthreads();
    T u[kItems], dt[kItems], dy[kItems], gB[kItems], ddt[kItems];
    bool valid[kItems];
    for (int i = 0; i < kItems; ++i) {
      const Index t = t0 + threadIdx.x * kItems + i;
      valid[i] = t < len;
      u[i] = valid[i] ? p.u(b, t, d) : T(0);
      dt[i] = valid[i] ? delta_at(p, b, t, d) : T(0);
      dy[i] = valid[i] ? g.dy(b, t, d) : T(0);
      gB[i] = ddt[i] = T(0);
    }
    // With a gate, y_t is needed for dz: recompute it over all states first.
    if (!p.z.empty()) {
      T y[kItems];
      for (int i = 0; i < kItems; ++i) y[i] = p.D.empty() ? T(0) : p.D(d) * u[i];
      for (Index n = 0; n < N; ++n) {
        Pair<T> h[kItems];
        T a[kItems];
        recompute_tile(p, b, d, n, t0, len, u, dt, h, a);
        Carry<T> carry{{T(1), state[n]}};
        Scan(temp.scan).InclusiveScan(h, h, Compose<T>{}, carry);
        __syncthreads();
        for (int i = 0; i < kItems; ++i)
          if (valid[i]) y[i] += c_at(p, b, t0 + threadIdx.x * kItems + i, d, n) * h[i].b;
      }
      for (int i = 0; i < kItems; ++i) {
        if (!valid[i]) continue;
        const Index t = t0 + threadIdx.x * kItems + i;
        const T zt = p.z(b, t, d);
        if (!g.dz.empty()) g.dz(b, t, d) = dy[i] * y[i] * math::silu_grad(zt);
        dy[i] *= math::silu(zt);
      }
    }
    for (Index n = 0; n < N; ++n) {
      // Forward inside the tile: exclusive gives h_{t−1}, then h_t = a_t h_{t−1} + b_t.
      Pair<T> h[kItems];
      T a[kItems], bt[kItems], hprev[kItems];
      recompute_tile(p, b, d, n, t0, len, u, dt, h, a);
      for (int i = 0; i < kItems; ++i) bt[i] = h[i].b;
      Carry<T> carry{{T(1), state[n]}};
      Scan(temp.scan).ExclusiveScan(h, h, Compose<T>{}, carry);
      __syncthreads();
      for (int i = 0; i < kItems; ++i) hprev[i] = h[i].b;
      // Backwards: adj_{t−1} = a_t (adj_t + C_t dy_t), an exclusive scan over the reversed tile of
      // (a_t, a_t C_t dy_t) whose carry is the adjoint flowing in from later tiles.
      for (int i = 0; i < kItems; ++i) {
        const Index local = threadIdx.x * kItems + i, t = t0 + local;
        const T c = valid[i] ? c_at(p, b, t, d, n) : T(0);
        rev[kTile - 1 - local] = valid[i] ? Pair<T>{a[i], a[i] * c * dy[i]} : Pair<T>{T(1), T(0)};
      }
      __syncthreads();
      Pair<T> r[kItems];
      for (int i = 0; i < kItems; ++i) r[i] = rev[threadIdx.x * kItems + i];
      Carry<T> back{{T(1), adjoint[n]}};
      Scan(temp.scan).ExclusiveScan(r, r, Compose<T>{}, back);
      __syncthreads();
      for (int i = 0; i < kItems; ++i) rev[threadIdx.x * kItems + i] = r[i];
      if (threadIdx.x == 0) adjoint[n] = back.running.b;
      __syncthreads();
      T sA = 0, sBf = 0, sCf = 0;
      const T A = p.A(d, n);
      for (int i = 0; i < kItems; ++i) {
        if (!valid[i]) continue;
        const Index local = threadIdx.x * kItems + i, t = t0 + local;
        const T c = c_at(p, b, t, d, n), bn = b_at(p, b, t, d, n);
        const T gt = rev[kTile - 1 - local].b + c * dy[i];  // ∂L/∂h_t
        const T ht = a[i] * hprev[i] + bt[i];
        if (p.C.empty())
          sCf += dy[i] * ht;
        else if (!g.dC.empty() && atomic_bc)
          atomicAdd(&g.dC(b, t, n), dy[i] * ht);
        if (p.B.empty())
          sBf += gt * dt[i] * u[i];
        else if (!g.dB.empty() && atomic_bc)
          atomicAdd(&g.dB(b, t, n), gt * dt[i] * u[i]);
        gB[i] += gt * bn;
        const T ga = gt * hprev[i] * a[i];  // ∂L/∂a_t · a_t
        sA += ga * dt[i];
        ddt[i] += ga * A;
      }
      sA = Reduce(temp.reduce).Sum(sA);
      __syncthreads();
      sBf = Reduce(temp.reduce).Sum(sBf);
      __syncthreads();
      sCf = Reduce(temp.reduce).Sum(sCf);
      __syncthreads();
      if (threadIdx.x == 0) {
        if (!part.dA.empty()) part.dA(b, d, n) += sA;
        if (!part.dB_fixed.empty()) part.dB_fixed(b, d, n) += sBf;
        if (!part.dC_fixed.empty()) part.dC_fixed(b, d, n) += sCf;
      }
    }
    for (int i = 0; i < kItems; ++i) {
      if (!valid[i]) continue;
      const Index t = t0 + threadIdx.x * kItems + i;
      const T pre = p.delta(b, t, d) + (p.delta_bias.empty() ? T(0) : p.delta_bias(d));
      const T full_ddt = ddt[i] + gB[i] * u[i];
      const T dpre = p.delta_softplus ? full_ddt * math::softplus_grad(pre) : full_ddt;
      acc_bias += dpre;
      if (!p.D.empty()) accD += dy[i] * u[i];
      if (!g.du.empty()) g.du(b, t, d) = (p.D.empty() ? T(0) : p.D(d) * dy[i]) + gB[i] * dt[i];
      if (!g.ddelta.empty()) g.ddelta(b, t, d) = dpre;
    }
    __syncthreads();
  }
  for (Index t = len + threadIdx.x; t < L; t += kThreads) {
    if (!g.du.empty()) g.du(b, t, d) = T(0);
    if (!g.ddelta.empty()) g.ddelta(b, t, d) = T(0);
    if (!g.dz.empty()) g.dz(b, t, d) = T(0);
  }
  for (Index n = threadIdx.x; n < N; n += kThreads)
    if (!g.dh0.empty()) g.dh0(b, d, n) = adjoint[n];
  accD = Reduce(temp.reduce).Sum(accD);
  __syncthreads();
  acc_bias = Reduce(temp.reduce).Sum(acc_bias);
  if (threadIdx.x == 0) {
    if (!part.dD.empty()) part.dD(b, d) = accD;
    if (!part.ddelta_bias.empty()) part.ddelta_bias(b, d) = acc_bias;
  }
}

/// Deterministic dB, dC: grid (Bn, tiles), block kThreads. For each state n the block walks every channel d
/// in order, recomputing h from the stored state and the adjoint from the one backward_kernel left at the
/// tile's end, and sums dB_t,n = Σ_d g_t Δ_t u_t and dC_t,n = Σ_d dy_t h_t in registers — no atomics.
template <class T>
__global__ void __launch_bounds__(kThreads) dbc_kernel(SelectiveScanParams<T> p, View<const T, 4> chunk_states,
                                                       SelectiveScanGrads<T> g, View<const T, 4> adjoint_states) {
  using Scan = cub::BlockScan<Pair<T>, kThreads>;
  __shared__ typename Scan::TempStorage temp;
  __shared__ Pair<T> rev[kTile];
  const Index b = blockIdx.x, tile = blockIdx.y, N = p.A.extent(1), D = p.u.extent(2), K = p.chunk;
  const Index len = length_of(p, b), t0 = tile * kTile;
  if (t0 >= len) {  // a tile past the sequence: zero its rows
    for (int i = 0; i < kItems; ++i) {
      const Index t = t0 + threadIdx.x * kItems + i;
      if (t >= p.u.extent(1)) continue;
      for (Index n = 0; n < N; ++n) {
        if (!g.dB.empty()) g.dB(b, t, n) = T(0);
        if (!g.dC.empty()) g.dC(b, t, n) = T(0);
      }
    }
    return;
  }
  for (Index n = 0; n < N; ++n) {
    T sB[kItems] = {}, sC[kItems] = {};
    for (Index d = 0; d < D; ++d) {
      T u[kItems], dt[kItems], dy[kItems], a[kItems];
      Pair<T> h[kItems];
      for (int i = 0; i < kItems; ++i) {
        const Index t = t0 + threadIdx.x * kItems + i;
        const bool v = t < len;
        u[i] = v ? p.u(b, t, d) : T(0);
        dt[i] = v ? delta_at(p, b, t, d) : T(0);
        dy[i] = v ? g.dy(b, t, d) * (p.z.empty() ? T(1) : math::silu(p.z(b, t, d))) : T(0);
      }
      recompute_tile(p, b, d, n, t0, len, u, dt, h, a);
      Carry<T> carry{{T(1), chunk_states(b, t0 / K, d, n)}};
      Scan(temp).InclusiveScan(h, h, Compose<T>{}, carry);
      __syncthreads();
      for (int i = 0; i < kItems; ++i) {
        const Index local = threadIdx.x * kItems + i, t = t0 + local;
        const T c = t < len ? c_at(p, b, t, d, n) : T(0);
        rev[kTile - 1 - local] = t < len ? Pair<T>{a[i], a[i] * c * dy[i]} : Pair<T>{T(1), T(0)};
      }
      __syncthreads();
      Pair<T> r[kItems];
      for (int i = 0; i < kItems; ++i) r[i] = rev[threadIdx.x * kItems + i];
      Carry<T> back{{T(1), adjoint_states(b, tile, d, n)}};
      Scan(temp).ExclusiveScan(r, r, Compose<T>{}, back);
      __syncthreads();
      for (int i = 0; i < kItems; ++i) rev[threadIdx.x * kItems + i] = r[i];
      __syncthreads();
      for (int i = 0; i < kItems; ++i) {
        const Index local = threadIdx.x * kItems + i, t = t0 + local;
        if (t >= len) continue;
        const T gt = rev[kTile - 1 - local].b + c_at(p, b, t, d, n) * dy[i];
        sB[i] += gt * dt[i] * u[i];
        sC[i] += dy[i] * h[i].b;
      }
      __syncthreads();
    }
    for (int i = 0; i < kItems; ++i) {
      const Index t = t0 + threadIdx.x * kItems + i;
      if (t >= p.u.extent(1)) continue;
      if (!g.dB.empty()) g.dB(b, t, n) = t < len ? sB[i] : T(0);
      if (!g.dC.empty()) g.dC(b, t, n) = t < len ? sC[i] : T(0);
    }
  }
}

/// Sums the per-sequence partials over b in order into the parameter gradients (+=).
template <class T>
__global__ void sum_partials(Index Bn, Index D, Index N, Partials<T> part, SelectiveScanGrads<T> g) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < D * N; i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index d = i / N, n = i % N;
    T sa = 0, sb = 0, sc = 0;
    for (Index b = 0; b < Bn; ++b) {
      if (!part.dA.empty()) sa += part.dA(b, d, n);
      if (!part.dB_fixed.empty()) sb += part.dB_fixed(b, d, n);
      if (!part.dC_fixed.empty()) sc += part.dC_fixed(b, d, n);
    }
    if (!g.dA.empty()) g.dA(d, n) += sa;
    if (!g.dB_fixed.empty()) g.dB_fixed(d, n) += sb;
    if (!g.dC_fixed.empty()) g.dC_fixed(d, n) += sc;
    if (n == 0) {
      T sd = 0, sbias = 0;
      for (Index b = 0; b < Bn; ++b) {
        if (!part.dD.empty()) sd += part.dD(b, d);
        if (!part.ddelta_bias.empty()) sbias += part.ddelta_bias(b, d);
      }
      if (!g.dD.empty()) g.dD(d) += sd;
      if (!g.ddelta_bias.empty()) g.ddelta_bias(d) += sbias;
    }
  }
}

/// The host-side checks of the scalar backend, with the lengths (device memory) copied to the host first.
template <class T>
SelectiveScanParams<T> host_checked(const SelectiveScanParams<T>& p) {
  SSM_CHECK(kTile % p.chunk == 0, "Cuda selective scan: the stored-state chunk (", p.chunk,
            ") must divide the kernel's tile of ", kTile, " steps");
  SelectiveScanParams<T> shapes = p;
  shapes.lengths = {};
  if (!p.lengths.empty()) {
    expect_shape(p.lengths, "selective scan lengths", {p.u.extent(0)});
    thread_local std::vector<std::int32_t> host;
    host.resize(static_cast<std::size_t>(p.lengths.extent(0)));
    SSM_CUDA_CHECK(cudaMemcpy(host.data(), p.lengths.data(), host.size() * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
    for (std::size_t b = 0; b < host.size(); ++b)
      SSM_CHECK(host[b] >= 0 && host[b] <= p.u.extent(1), "selective scan: sequence ", b, " has length ", host[b],
                ", expected one in [0, ", p.u.extent(1), "]");
  }
  return shapes;
}

}  // namespace scan_cuda

/// All views in device memory (lengths too). Shapes are checked on the host; lengths are read on the device.
template <Real T>
void selective_scan_forward(Cuda, const SelectiveScanParams<T>& p, const SelectiveScanOutputs<T>& out, Workspace&) {
  const detail::ScanDims s = detail::check_scan(scan_cuda::host_checked(p), out);
  const dim3 grid(static_cast<unsigned>(s.batch), static_cast<unsigned>(s.D));
  scan_cuda::forward_kernel<T><<<grid, scan_cuda::kThreads, static_cast<std::size_t>(s.N) * sizeof(T), cuda::current_stream()>>>(p, out);
  SSM_CUDA_CHECK_LAUNCH("selective_scan forward_kernel");
}

template <Real T>
void selective_scan_backward(Cuda, const SelectiveScanParams<T>& p, CView<T, 4> chunk_states,
                             const SelectiveScanGrads<T>& g, Workspace& ws) {
  const detail::ScanDims s = detail::check_scan(scan_cuda::host_checked(p), chunk_states, g);
  const Index Bn = s.batch, D = s.D, N = s.N, tiles = (s.L + scan_cuda::kTile - 1) / scan_cuda::kTile;
  const bool fixed_order = cuda::deterministic();
  scan_cuda::Partials<T> part;
  part.dA = ws.take<T, 3>({Bn, D, N});
  if (!g.dB_fixed.empty()) part.dB_fixed = ws.take<T, 3>({Bn, D, N});
  if (!g.dC_fixed.empty()) part.dC_fixed = ws.take<T, 3>({Bn, D, N});
  part.dD = ws.take<T, 2>({Bn, D});
  part.ddelta_bias = ws.take<T, 2>({Bn, D});
  const bool need_bc = !g.dB.empty() || !g.dC.empty();
  if (fixed_order && need_bc) part.adjoint_states = ws.take<T, 4>({Bn, tiles, D, N});
  if (!fixed_order) {  // the atomics add onto zero
    if (!g.dB.empty()) SSM_CUDA_CHECK(cudaMemsetAsync(g.dB.data(), 0, static_cast<std::size_t>(g.dB.size()) * sizeof(T), cuda::current_stream()));
    if (!g.dC.empty()) SSM_CUDA_CHECK(cudaMemsetAsync(g.dC.data(), 0, static_cast<std::size_t>(g.dC.size()) * sizeof(T), cuda::current_stream()));
  }
  const dim3 grid(static_cast<unsigned>(Bn), static_cast<unsigned>(D));
  const std::size_t smem = static_cast<std::size_t>(2 * N) * sizeof(T) + scan_cuda::kTile * sizeof(scan_cuda::Pair<T>);
  scan_cuda::backward_kernel<T><<<grid, scan_cuda::kThreads, smem, cuda::current_stream()>>>(p, chunk_states, g, part, !fixed_order);
  SSM_CUDA_CHECK_LAUNCH("selective_scan backward_kernel");
  if (fixed_order && need_bc) {
    const dim3 grid2(static_cast<unsigned>(Bn), static_cast<unsigned>(tiles));
    scan_cuda::dbc_kernel<T><<<grid2, scan_cuda::kThreads, 0, cuda::current_stream()>>>(p, chunk_states, g, View<const T, 4>(part.adjoint_states));
    SSM_CUDA_CHECK_LAUNCH("selective_scan dbc_kernel");
  }
  scan_cuda::sum_partials<T><<<cuda::grid_for(D * N), 256, 0, cuda::current_stream()>>>(Bn, D, N, part, g);
  SSM_CUDA_CHECK_LAUNCH("selective_scan sum_partials");
}

}  // namespace ssm::backend
