// ssm/backend/simd/selective_scan.hpp — the selective scan (backend/scalar/selective_scan.hpp has the equations)
// vectorised across channels: one simd::Vec holds W consecutive channels, so exp(Δ_t A) is one vector exp per
// state n and B_t, C_t are broadcasts. Parallel over (sequence, channel block); backward recomputes each chunk
// from the state forward stored at its start. Results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ssm/backend/scalar/selective_scan.hpp"
#include "ssm/backend/simd/elementwise.hpp"
#include "ssm/backend/simd/vec.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ssm::backend {

namespace detail::scan_simd {

template <Real T>
using V = simd::Vec<T>;

/// softplus(x) = max(x, 0) + log1p(e^−|x|), and x above 20 (as the scalar math::softplus). Float: log1p(e) for
/// e ∈ (0, 1] as log(u)·e/(u − 1) with u = 1 + e (exact when u rounds to 1; Goldberg 1991) and log(u) by
/// Cephes' logf polynomial on u = m·2^k, m ∈ [√½, √2). Double (used by tests only) goes lane by lane.
template <Real T>
SSM_ALWAYS_INLINE V<T> softplus(V<T> x) {
  using Vt = V<T>;
  if constexpr (std::is_same_v<T, float>) {
    const Vt e = simd::exp(simd::min(x, -x));  // e^−|x| ∈ (0, 1]
    const Vt u = Vt(1.0f) + e;
    const auto big = u > Vt(1.41421356f);
    const Vt m = simd::select(big, u * Vt(0.5f), u);
    const Vt k = simd::select(big, Vt(1.0f), Vt::zero());
    const Vt r = m - Vt(1.0f);
    const Vt r2 = r * r;
    Vt p(7.0376836292E-2f);
    p = simd::fma(p, r, Vt(-1.1514610310E-1f));
    p = simd::fma(p, r, Vt(1.1676998740E-1f));
    p = simd::fma(p, r, Vt(-1.2420140846E-1f));
    p = simd::fma(p, r, Vt(1.4249322787E-1f));
    p = simd::fma(p, r, Vt(-1.6668057665E-1f));
    p = simd::fma(p, r, Vt(2.0000714765E-1f));
    p = simd::fma(p, r, Vt(-2.4999993993E-1f));
    p = simd::fma(p, r, Vt(3.3333331174E-1f));
    Vt lg = p * r * r2;
    lg = simd::fma(k, Vt(-2.12194440e-4f), lg);
    lg = simd::fma(r2, Vt(-0.5f), lg);
    lg = simd::fma(k, Vt(0.693359375f), r + lg);
    const Vt um1 = u - Vt(1.0f);
    const Vt l1p = simd::select(um1.v == Vt::zero().v, e, lg * e / simd::select(um1.v == Vt::zero().v, Vt(1.0f), um1));
    const Vt sp = simd::max(x, Vt::zero()) + l1p;
    return simd::select(x > Vt(20.0f), x, sp);
  } else {
    T lanes[Vt::W];
    x.store(lanes);
    for (auto& l : lanes) l = math::softplus(l);
    return Vt::load(lanes);
  }
}


/// d softplus / dx = σ(x), 1 above 20.
template <Real T>
SSM_ALWAYS_INLINE V<T> softplus_grad(V<T> x) {
  return simd::select(x > V<T>(T(20)), V<T>(T(1)), simd::sigmoid(x));
}

/// Raw pointers and strides of the inputs, copied into the parallel loops by value (docs/design.md §4).
template <Real T>
struct In {
  Index batch, L, D, N, K, chunks;
  const T *u, *delta, *A, *B, *C, *Bf, *Cf, *skip, *z, *bias, *h0;
  const std::int32_t* lengths;
  Index u_b, u_t, dl_b, dl_t, A_d, B_b, B_t, C_b, C_t, Bf_d, Cf_d, z_b, z_t, h0_b, h0_d;
  bool softplus;

  In(const SelectiveScanParams<T>& p, const ScanDims& s)
      : batch(s.batch), L(s.L), D(s.D), N(s.N), K(s.chunk), chunks(s.chunks),
        u(p.u.data()), delta(p.delta.data()), A(p.A.data()),
        B(p.B.empty() ? nullptr : p.B.data()), C(p.C.empty() ? nullptr : p.C.data()),
        Bf(p.B_fixed.empty() ? nullptr : p.B_fixed.data()), Cf(p.C_fixed.empty() ? nullptr : p.C_fixed.data()),
        skip(p.D.empty() ? nullptr : p.D.data()), z(p.z.empty() ? nullptr : p.z.data()),
        bias(p.delta_bias.empty() ? nullptr : p.delta_bias.data()), h0(p.h0.empty() ? nullptr : p.h0.data()),
        lengths(p.lengths.empty() ? nullptr : p.lengths.data()),
        u_b(p.u.stride(0)), u_t(p.u.stride(1)), dl_b(p.delta.stride(0)), dl_t(p.delta.stride(1)), A_d(p.A.stride(0)),
        B_b(p.B.stride(0)), B_t(p.B.stride(1)), C_b(p.C.stride(0)), C_t(p.C.stride(1)),
        Bf_d(p.B_fixed.stride(0)), Cf_d(p.C_fixed.stride(0)), z_b(p.z.stride(0)), z_t(p.z.stride(1)),
        h0_b(p.h0.stride(0)), h0_d(p.h0.stride(1)), softplus(p.delta_softplus) {}

  Index length(Index b) const { return lengths ? static_cast<Index>(lengths[b]) : L; }
};

using simd::Lanes;

/// Scratch of one thread: the parallel loops index it by OpenMP thread number, which never changes a result.
struct Slots {
  bool nested;
  Index count;
  Slots() {
#if defined(_OPENMP)
    nested = omp_in_parallel();
    count = nested ? 1 : std::max(1, omp_get_max_threads());
#else
    nested = true;
    count = 1;
#endif
  }
  Index index() const {
#if defined(_OPENMP)
    return nested ? 0 : std::min<Index>(omp_get_thread_num(), count - 1);
#else
    return 0;
#endif
  }
};

template <Real T>
struct FwdOut {
  T* y;
  Index y_b, y_t;
  T* h_last;
  Index hl_b, hl_d;
  T* states;  // contiguous {batch, chunks, D, N}
};

/// Exponentials below which a parallel chunk is not worth a thread wake-up (about 10 µs of work).
inline constexpr Index kMinWork = Index{1} << 16;

/// Steps per tile of the forward. Within a tile, Δ (softplus) for every step is computed first and the gate
/// last, so the long latency chains of their exp/log/div never stall the state update between them.
inline constexpr Index kTile = 16;

/// Scratch (elements of T) one forward item needs.
template <Real T>
Index forward_scratch(Index N) {
  constexpr Index W = V<T>::W;
  return 4 * N * W + 3 * kTile * W;
}

/// One (sequence, channel block): the whole sequence with the state of W channels × N states in `scratch`.
template <Real T, bool kVarB, bool kVarC>
void forward_block(const In<T>& P, const FwdOut<T>& O, Index b, Index d0, T* scratch) {
  using Vt = V<T>;
  constexpr int W = Vt::W;
  const Index N = P.N, K = P.K;
  const Lanes<T> io{static_cast<int>(std::min<Index>(W, P.D - d0))};
  T* const At = scratch;
  T* const Bt = At + N * W;
  T* const Ct = Bt + N * W;
  T* const h = Ct + N * W;
  T* const dts = h + N * W;        // {kTile, W} Δ
  T* const dtxs = dts + kTile * W;  // {kTile, W} Δ·u
  T* const ys = dtxs + kTile * W;   // {kTile, W} C·h
  io.transpose_in(P.A + d0 * P.A_d, P.A_d, N, At);
  if constexpr (!kVarB) io.transpose_in(P.Bf + d0 * P.Bf_d, P.Bf_d, N, Bt);
  if constexpr (!kVarC) io.transpose_in(P.Cf + d0 * P.Cf_d, P.Cf_d, N, Ct);
  io.transpose_in(P.h0 ? P.h0 + b * P.h0_b + d0 * P.h0_d : nullptr, P.h0_d, N, h);
  const Vt Dv = P.skip ? io.load(P.skip + d0) : Vt::zero();
  const Vt bias = P.bias ? io.load(P.bias + d0) : Vt::zero();
  const Index len = P.length(b);
  const T* const u = P.u + b * P.u_b + d0;
  const T* const dl = P.delta + b * P.dl_b + d0;
  const T* const z = P.z ? P.z + b * P.z_b + d0 : nullptr;
  const T* const Bs = kVarB ? P.B + b * P.B_b : nullptr;
  const T* const Cs = kVarC ? P.C + b * P.C_b : nullptr;
  T* const y = O.y + b * O.y_b + d0;
  for (Index t0 = 0; t0 < len; t0 += kTile) {
    const Index nt = std::min(kTile, len - t0);
    for (Index i = 0; i < nt; ++i) {
      const Index t = t0 + i;
      const Vt pre = io.load(dl + t * P.dl_t) + bias;
      const Vt dt = P.softplus ? softplus<T>(pre) : pre;
      dt.store(dts + i * W);
      (dt * io.load(u + t * P.u_t)).store(dtxs + i * W);
    }
    for (Index i = 0; i < nt; ++i) {
      const Index t = t0 + i;
      if (O.states && t % K == 0) io.transpose_out(h, N, O.states + ((b * P.chunks + t / K) * P.D + d0) * N, N);
      // Rows of consecutive steps are D elements apart, a new page each for large D, where the hardware
      // prefetchers stop: fetch the next tile's Δ and u, and this tile's z and y, while the exps run.
      if (t + kTile < len) {
        __builtin_prefetch(dl + (t + kTile) * P.dl_t);
        __builtin_prefetch(u + (t + kTile) * P.u_t);
      }
      if (z) __builtin_prefetch(z + t * P.z_t);
      __builtin_prefetch(y + t * O.y_t, 1);
      const Vt dt = Vt::load(dts + i * W);
      const Vt dtx = Vt::load(dtxs + i * W);
      const T* const Bp = kVarB ? Bs + t * P.B_t : nullptr;
      const T* const Cp = kVarC ? Cs + t * P.C_t : nullptr;
      Vt acc = Vt::zero();
      for (Index n = 0; n < N; ++n) {
        const Vt a = simd::exp(dt * Vt::load(At + n * W));
        const Vt bn = kVarB ? Vt(Bp[n]) : Vt::load(Bt + n * W);
        const Vt hn = simd::fma(a, Vt::load(h + n * W), dtx * bn);
        hn.store(h + n * W);
        acc = simd::fma(kVarC ? Vt(Cp[n]) : Vt::load(Ct + n * W), hn, acc);
      }
      acc.store(ys + i * W);
    }
    for (Index i = 0; i < nt; ++i) {
      const Index t = t0 + i;
      Vt out = simd::fma(Dv, io.load(u + t * P.u_t), Vt::load(ys + i * W));
      if (z) {
        const Vt zz = io.load(z + t * P.z_t);
        out = out * (zz * simd::sigmoid<T>(zz));
      }
      io.store(out, y + t * O.y_t);
    }
  }
  for (Index t = len; t < P.L; ++t) io.store(Vt::zero(), y + t * O.y_t);
  if (O.h_last) io.transpose_out(h, N, O.h_last + b * O.hl_b + d0 * O.hl_d, O.hl_d);
}

template <Real T>
struct BwdIO {
  const T* states;  // contiguous {batch, chunks, D, N}
  const T *dy, *dh_last;
  Index dy_b, dy_t, dhl_b, dhl_d;
  T *du, *ddelta, *dz, *dh0;
  Index du_b, du_t, dd_b, dd_t, dz_b, dz_t, dh0_b, dh0_d;
  T* part_BC;   // {groups, batch, L, 2N}: this group's Σ over its channels of dB (first N) and dC (last N)
  T* part_par;  // {batch, D, 3N + 2}: per sequence, dA (N), dB_fixed (N), dC_fixed (N), dD, ddelta_bias
};

/// Channels per backward work item. dB and dC sum over channels: each group of kGroup channels sums its own
/// into a partial, and the partials are added in group order — kGroup is fixed, so the order never changes.
inline constexpr Index kGroup = 64;

/// Scratch (elements of T) one backward item needs.
template <Real T>
Index backward_scratch(Index N, Index K) {
  constexpr Index W = V<T>::W;
  const Index nb = kGroup / W;
  return nb * N * W * 7 + nb * W * 2 + (K + 1) * N * W + K * N * W + 5 * K * W + 2 * K * N * W;
}

/// One (sequence, group of channels): chunks last to first; inside a chunk, each channel block recomputes its
/// states from the chunk's stored start, then runs the adjoint backwards (equations: the scalar backward).
/// Per chunk and block, four passes: (a) Δ, softplus', u; (b) states, decays, y before the gate; (c) the gate's
/// gradient and the gradient before it; (d) the reverse recurrence. The passes with long exp/log/div chains
/// stay out of the recurrences, and (b) and (d) prefetch the rows the next passes read.
template <Real T, bool kVarB, bool kVarC>
void backward_group(const In<T>& P, const BwdIO<T>& G, Index b, Index grp, T* scratch) {
  using Vt = V<T>;
  constexpr int W = Vt::W;
  const Index N = P.N, K = P.K, D = P.D, NW = N * W;
  const Index g0 = grp * kGroup, g1 = std::min(D, g0 + kGroup), nb = (g1 - g0 + W - 1) / W;
  T* s = scratch;
  const auto take = [&s](Index n) {
    T* p = s;
    s += n;
    return p;
  };
  T* const At = take(kGroup / W * NW);
  T* const Bt = take(kGroup / W * NW);
  T* const Ct = take(kGroup / W * NW);
  T* const gc = take(kGroup / W * NW);  // adjoint carried to the previous step: a_{t+1} g_{t+1}
  T* const aA = take(kGroup / W * NW);  // accumulators: dA, dB_fixed, dC_fixed per block
  T* const aB = take(kGroup / W * NW);
  T* const aC = take(kGroup / W * NW);
  T* const aD = take(kGroup / W * W);
  T* const abias = take(kGroup / W * W);
  T* const hs = take((K + 1) * NW);  // hs[i]: state after step t0 + i − 1 (hs[0]: the chunk's start)
  T* const as = take(K * NW);        // as[i]: exp(Δ A) of step t0 + i
  T* const dts = take(K * W);        // Δ
  T* const dsp = take(K * W);        // softplus'(δ + bias)
  T* const xs = take(K * W);         // u
  T* const ys = take(K * W);         // y before the gate
  T* const gs = take(K * W);         // ∂L/∂y before the gate
  T* const lB = take(K * NW);  // per-lane partial sums over the group's blocks of dB, dC in this chunk
  T* const lC = take(K * NW);

  const Index len = P.length(b);
  for (Index k = 0; k < nb; ++k) {
    const Index d0 = g0 + k * W;
    const Lanes<T> io{static_cast<int>(std::min<Index>(W, D - d0))};
    io.transpose_in(P.A + d0 * P.A_d, P.A_d, N, At + k * NW);
    if constexpr (!kVarB) io.transpose_in(P.Bf + d0 * P.Bf_d, P.Bf_d, N, Bt + k * NW);
    if constexpr (!kVarC) io.transpose_in(P.Cf + d0 * P.Cf_d, P.Cf_d, N, Ct + k * NW);
    io.transpose_in(G.dh_last ? G.dh_last + b * G.dhl_b + d0 * G.dhl_d : nullptr, G.dhl_d, N, gc + k * NW);
  }
  std::fill(aA, aA + nb * NW, T(0));
  std::fill(aB, aB + nb * NW, T(0));
  std::fill(aC, aC + nb * NW, T(0));
  std::fill(aD, aD + nb * W, T(0));
  std::fill(abias, abias + nb * W, T(0));

  const T* const u = P.u + b * P.u_b;
  const T* const dl = P.delta + b * P.dl_b;
  const T* const z = P.z ? P.z + b * P.z_b : nullptr;
  const T* const dy = G.dy + b * G.dy_b;
  T* const du_out = G.du ? G.du + b * G.du_b : nullptr;
  T* const dd_out = G.ddelta ? G.ddelta + b * G.dd_b : nullptr;
  T* const dz_out = G.dz ? G.dz + b * G.dz_b : nullptr;
  T* const part = G.part_BC + (grp * P.batch + b) * P.L * 2 * N;
  for (Index c = selective_scan_chunks(len, K) - 1; c >= 0; --c) {
    const Index t0 = c * K, kc = std::min(len, t0 + K) - t0;
    if constexpr (kVarB) std::fill(lB, lB + kc * NW, T(0));
    if constexpr (kVarC) std::fill(lC, lC + kc * NW, T(0));
    for (Index k = 0; k < nb; ++k) {
      const Index d0 = g0 + k * W;
      const Lanes<T> io{static_cast<int>(std::min<Index>(W, D - d0))};
      const T* const Ak = At + k * NW;
      const T* const Bk = Bt + k * NW;
      const T* const Ck = Ct + k * NW;
      const Vt Dv = P.skip ? io.load(P.skip + d0) : Vt::zero();
      const Vt bias = P.bias ? io.load(P.bias + d0) : Vt::zero();
      // (a) Δ, softplus' and u of every step of the chunk.
      for (Index i = 0; i < kc; ++i) {
        const Index t = t0 + i;
        const Vt pre = io.load(dl + t * P.dl_t + d0) + bias;
        const Vt dt = P.softplus ? softplus<T>(pre) : pre;
        dt.store(dts + i * W);
        if (P.softplus) softplus_grad<T>(pre).store(dsp + i * W);
        io.load(u + t * P.u_t + d0).store(xs + i * W);
      }
      // (b) Recompute the states from the chunk's stored start.
      io.transpose_in(G.states + ((b * P.chunks + c) * D + d0) * N, N, N, hs);
      for (Index i = 0; i < kc; ++i) {
        const Index t = t0 + i;
        __builtin_prefetch(dy + t * G.dy_t + d0);
        if (z) __builtin_prefetch(z + t * P.z_t + d0);
        if (dz_out) __builtin_prefetch(dz_out + t * G.dz_t + d0, 1);
        if (du_out) __builtin_prefetch(du_out + t * G.du_t + d0, 1);
        if (dd_out) __builtin_prefetch(dd_out + t * G.dd_t + d0, 1);
        const Vt dt = Vt::load(dts + i * W);
        const Vt dtx = dt * Vt::load(xs + i * W);
        Vt acc = Vt::zero();
        const T* const Bp = kVarB ? P.B + b * P.B_b + t * P.B_t : nullptr;
        const T* const Cp = kVarC ? P.C + b * P.C_b + t * P.C_t : nullptr;
        const T* const hp = hs + i * NW;
        T* const hn_out = hs + (i + 1) * NW;
        T* const a_out = as + i * NW;
        for (Index n = 0; n < N; ++n) {
          const Vt a = simd::exp(dt * Vt::load(Ak + n * W));
          a.store(a_out + n * W);
          const Vt bn = kVarB ? Vt(Bp[n]) : Vt::load(Bk + n * W);
          const Vt hn = simd::fma(a, Vt::load(hp + n * W), dtx * bn);
          hn.store(hn_out + n * W);
          if (z) acc = simd::fma(kVarC ? Vt(Cp[n]) : Vt::load(Ck + n * W), hn, acc);
        }
        if (z) simd::fma(Dv, Vt::load(xs + i * W), acc).store(ys + i * W);
      }
      // (c) Through the gate: out = y·silu(z), so dz = dout·y·silu'(z) and ∂L/∂y = dout·silu(z).
      for (Index i = 0; i < kc; ++i) {
        const Index t = t0 + i;
        Vt g = io.load(dy + t * G.dy_t + d0);
        if (z) {
          const Vt zz = io.load(z + t * P.z_t + d0);
          const Vt sg = simd::sigmoid<T>(zz);
          if (dz_out)
            io.store(g * Vt::load(ys + i * W) * (sg * (Vt(T(1)) + zz * (Vt(T(1)) - sg))), dz_out + t * G.dz_t + d0);
          g = g * (zz * sg);
        }
        g.store(gs + i * W);
      }
      // (d) Reverse through the chunk.
      const bool next_block = k + 1 < nb;
      const Index pf_d0 = next_block ? d0 + W : g0;   // what pass (a) reads next: the next block of this
      const Index pf_shift = next_block ? 0 : -K;      // chunk, or the first block of the previous chunk
      T* const gk = gc + k * NW;
      T* const aAk = aA + k * NW;
      T* const aBk = aB + k * NW;
      T* const aCk = aC + k * NW;
      Vt dD_acc = Vt::load(aD + k * W), dbias_acc = Vt::load(abias + k * W);
      for (Index i = kc - 1; i >= 0; --i) {
        const Index t = t0 + i;
        if (t + pf_shift >= 0) {
          __builtin_prefetch(dl + (t + pf_shift) * P.dl_t + pf_d0);
          __builtin_prefetch(u + (t + pf_shift) * P.u_t + pf_d0);
        }
        const Vt x = Vt::load(xs + i * W);
        const Vt dt = Vt::load(dts + i * W);
        const Vt g = Vt::load(gs + i * W);
        dD_acc = simd::fma(g, x, dD_acc);
        Vt du = Dv * g;
        const Vt dtx = dt * x;
        Vt ddt = Vt::zero(), gB = Vt::zero();
        const T* const Bp = kVarB ? P.B + b * P.B_b + t * P.B_t : nullptr;
        const T* const Cp = kVarC ? P.C + b * P.C_b + t * P.C_t : nullptr;
        const T* const hp = hs + i * NW;
        const T* const hn_ = hs + (i + 1) * NW;
        const T* const ap = as + i * NW;
        T* const lBi = lB + i * NW;
        T* const lCi = lC + i * NW;
        for (Index n = 0; n < N; ++n) {
          const Vt cn = kVarC ? Vt(Cp[n]) : Vt::load(Ck + n * W);
          const Vt bn = kVarB ? Vt(Bp[n]) : Vt::load(Bk + n * W);
          const Vt gn = simd::fma(cn, g, Vt::load(gk + n * W));  // ∂L/∂h_t
          const Vt a = Vt::load(ap + n * W);
          const Vt ht = Vt::load(hn_ + n * W);
          if constexpr (kVarC)
            simd::fma(g, ht, Vt::load(lCi + n * W)).store(lCi + n * W);
          else
            simd::fma(g, ht, Vt::load(aCk + n * W)).store(aCk + n * W);
          if constexpr (kVarB)
            simd::fma(gn, dtx, Vt::load(lBi + n * W)).store(lBi + n * W);
          else
            simd::fma(gn, dtx, Vt::load(aBk + n * W)).store(aBk + n * W);
          gB = simd::fma(gn, bn, gB);
          const Vt ga = gn * Vt::load(hp + n * W) * a;  // ∂L/∂a_t · a_t
          simd::fma(ga, dt, Vt::load(aAk + n * W)).store(aAk + n * W);
          ddt = simd::fma(ga, Vt::load(Ak + n * W), ddt);
          (a * gn).store(gk + n * W);
        }
        ddt = simd::fma(gB, x, ddt);
        du = simd::fma(gB, dt, du);
        const Vt dpre = P.softplus ? ddt * Vt::load(dsp + i * W) : ddt;
        dbias_acc += dpre;
        if (du_out) io.store(du, du_out + t * G.du_t + d0);
        if (dd_out) io.store(dpre, dd_out + t * G.dd_t + d0);
      }
      dD_acc.store(aD + k * W);
      dbias_acc.store(abias + k * W);
    }
    // This chunk's dB, dC: sum the lanes (channels) of the group.
    for (Index i = 0; i < kc; ++i) {
      T* const row = part + (t0 + i) * 2 * N;
      for (Index n = 0; n < N; ++n) {
        row[n] = kVarB ? Vt::load(lB + i * NW + n * W).sum() : T(0);
        row[N + n] = kVarC ? Vt::load(lC + i * NW + n * W).sum() : T(0);
      }
    }
  }
  // Padded steps, the initial state's gradient and this sequence's parameter partials.
  for (Index k = 0; k < nb; ++k) {
    const Index d0 = g0 + k * W;
    const Lanes<T> io{static_cast<int>(std::min<Index>(W, D - d0))};
    for (Index t = len; t < P.L; ++t) {
      if (du_out) io.store(Vt::zero(), du_out + t * G.du_t + d0);
      if (dd_out) io.store(Vt::zero(), dd_out + t * G.dd_t + d0);
      if (dz_out) io.store(Vt::zero(), dz_out + t * G.dz_t + d0);
    }
    if (G.dh0) io.transpose_out(gc + k * NW, N, G.dh0 + b * G.dh0_b + d0 * G.dh0_d, G.dh0_d);
    T* const pp = G.part_par + (b * D + d0) * (3 * N + 2);
    const Index ld = 3 * N + 2;
    io.transpose_out(aA + k * NW, N, pp, ld);
    io.transpose_out(aB + k * NW, N, pp + N, ld);
    io.transpose_out(aC + k * NW, N, pp + 2 * N, ld);
    io.transpose_out(aD + k * W, 1, pp + 3 * N, ld);
    io.transpose_out(abias + k * W, 1, pp + 3 * N + 1, ld);
  }
}

}  // namespace detail::scan_simd

/// Forward, vectorised across channels (equations and shapes: the Scalar overload).
template <Real T>
void selective_scan_forward(Simd, const SelectiveScanParams<T>& p, const SelectiveScanOutputs<T>& out,
                            Workspace& ws) {
  namespace ss = detail::scan_simd;
  const detail::ScanDims s = detail::check_scan(p, out);
  constexpr Index W = simd::kWidth<T>;
  const ss::In<T> P(p, s);
  const ss::FwdOut<T> O{out.y.data(),
                        out.y.stride(0),
                        out.y.stride(1),
                        out.h_last.empty() ? nullptr : out.h_last.data(),
                        out.h_last.stride(0),
                        out.h_last.stride(1),
                        out.chunk_states.empty() ? nullptr : out.chunk_states.data()};
  const ss::Slots slots;
  const Index per_slot = ss::forward_scratch<T>(s.N);
  T* const scratch = ws.take<T>(slots.count * per_slot).data();
  const Index blocks = (s.D + W - 1) / W;
  const bool var_B = P.B != nullptr, var_C = P.C != nullptr;
  // Items are independent (any split gives the same bits); tiny problems stay on one thread.
  const Index grain = std::max<Index>(1, ss::kMinWork / (s.L * W * s.N));
  parallel_for(s.batch * blocks, grain, [=](Index i0, Index i1) {
    T* const mine = scratch + slots.index() * per_slot;
    for (Index i = i0; i < i1; ++i) {
      const Index b = i / blocks, d0 = (i % blocks) * W;
      if (var_B && var_C)
        ss::forward_block<T, true, true>(P, O, b, d0, mine);
      else if (var_B)
        ss::forward_block<T, true, false>(P, O, b, d0, mine);
      else if (var_C)
        ss::forward_block<T, false, true>(P, O, b, d0, mine);
      else
        ss::forward_block<T, false, false>(P, O, b, d0, mine);
    }
  });
}

/// Backward, vectorised across channels; recomputes each chunk from the states forward stored. Activation
/// gradients are overwritten (=), parameter gradients accumulate (+=) (equations: the Scalar overload).
template <Real T>
void selective_scan_backward(Simd, const SelectiveScanParams<T>& p, CView<T, 4> chunk_states,
                             const SelectiveScanGrads<T>& g, Workspace& ws) {
  namespace ss = detail::scan_simd;
  const detail::ScanDims s = detail::check_scan(p, chunk_states, g);
  const Index Bn = s.batch, L = s.L, D = s.D, N = s.N;
  const ss::In<T> P(p, s);
  const Index groups = (D + ss::kGroup - 1) / ss::kGroup;
  auto part_BC = ws.take<T, 4>({groups, Bn, L, 2 * N});
  auto part_par = ws.take<T, 3>({Bn, D, 3 * N + 2});
  const auto ptr = [](const auto& v) { return v.empty() ? nullptr : v.data(); };
  const ss::BwdIO<T> G{chunk_states.data(), g.dy.data(), ptr(g.dh_last), g.dy.stride(0), g.dy.stride(1),
                       g.dh_last.stride(0), g.dh_last.stride(1), ptr(g.du), ptr(g.ddelta), ptr(g.dz), ptr(g.dh0),
                       g.du.stride(0), g.du.stride(1), g.ddelta.stride(0), g.ddelta.stride(1), g.dz.stride(0),
                       g.dz.stride(1), g.dh0.stride(0), g.dh0.stride(1), part_BC.data(), part_par.data()};
  const ss::Slots slots;
  const Index per_slot = ss::backward_scratch<T>(N, s.chunk);
  T* const scratch = ws.take<T>(slots.count * per_slot).data();
  const bool var_B = P.B != nullptr, var_C = P.C != nullptr;
  const Index grain = std::max<Index>(1, ss::kMinWork / (L * ss::kGroup * N));
  parallel_for(Bn * groups, grain, [=](Index i0, Index i1) {
    T* const mine = scratch + slots.index() * per_slot;
    for (Index i = i0; i < i1; ++i) {
      const Index b = i / groups, grp = i % groups;
      if (var_B && var_C)
        ss::backward_group<T, true, true>(P, G, b, grp, mine);
      else if (var_B)
        ss::backward_group<T, true, false>(P, G, b, grp, mine);
      else if (var_C)
        ss::backward_group<T, false, true>(P, G, b, grp, mine);
      else
        ss::backward_group<T, false, false>(P, G, b, grp, mine);
    }
  });
  // dB, dC: the groups' partials in group order; zero at padded steps.
  if (!g.dB.empty() || !g.dC.empty()) {
    const T* const pb = part_BC.data();
    const std::int32_t* const lens = P.lengths;
    const View<T, 3> dB = g.dB, dC = g.dC;
    parallel_for(Bn * L, 64, [=](Index r0, Index r1) {
      for (Index r = r0; r < r1; ++r) {
        const Index b = r / L, t = r % L;
        const bool valid = t < (lens ? static_cast<Index>(lens[b]) : L);
        for (Index n = 0; n < N; ++n) {
          T sb = 0, sc = 0;
          if (valid)
            for (Index q = 0; q < groups; ++q) {
              const T* row = pb + ((q * Bn + b) * L + t) * 2 * N;
              sb += row[n];
              sc += row[N + n];
            }
          if (!dB.empty()) dB(b, t, n) = sb;
          if (!dC.empty()) dC(b, t, n) = sc;
        }
      }
    });
  }
  // Parameter gradients: the sequences' partials in sequence order.
  const T* const pp = part_par.data();
  const Index ld = 3 * N + 2;
  for (Index d = 0; d < D; ++d) {
    for (Index n = 0; n < N; ++n) {
      T sa = 0, sb = 0, sc = 0;
      for (Index b = 0; b < Bn; ++b) {
        const T* row = pp + (b * D + d) * ld;
        sa += row[n];
        sb += row[N + n];
        sc += row[2 * N + n];
      }
      if (!g.dA.empty()) g.dA(d, n) += sa;
      if (!g.dB_fixed.empty()) g.dB_fixed(d, n) += sb;
      if (!g.dC_fixed.empty()) g.dC_fixed(d, n) += sc;
    }
    T sd = 0, sbias = 0;
    for (Index b = 0; b < Bn; ++b) {
      sd += pp[(b * D + d) * ld + 3 * N];
      sbias += pp[(b * D + d) * ld + 3 * N + 1];
    }
    if (!g.dD.empty()) g.dD(d) += sd;
    if (!g.ddelta_bias.empty()) g.ddelta_bias(d) += sbias;
  }
}

}  // namespace ssm::backend
