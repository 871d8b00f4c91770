// ssm/backend/scalar/selective_scan.hpp — Mamba's selective scan (S6) as plain sequential loops, the ground truth
// every other backend is tested against. Per sequence b, channel d and state n:
//   Δ_t = softplus(δ_t + Δbias);  h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t u_t;  y_t = C_t·h_t + D u_t;  out_t = y_t·silu(z_t).
// The op's interface (SelectiveScanParams / Outputs / Grads) is shared by the Scalar, Simd and Cuda overloads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ssm/backend/scalar/elementwise.hpp"
#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

namespace ssm::backend {

/// Inputs of a selective scan over Bn sequences of L steps, D channels and N states per channel. Every view
/// needs unit stride in its last dimension; the other strides are free, so u, z, B and C may be columns of a
/// larger projection. An optional input is "absent" when its view is empty.
template <Real T>
struct SelectiveScanParams {
  View<const T, 3> u;                   ///< {Bn, L, D} the input
  View<const T, 3> delta;               ///< {Bn, L, D} δ: Δ before the bias and the softplus
  View<const T, 2> A;                   ///< {D, N} real (negative for a decaying state: Mamba uses −exp(A_log))
  View<const T, 3> B;                   ///< {Bn, L, N} input-dependent B; or absent, and B_fixed is given
  View<const T, 3> C;                   ///< {Bn, L, N} input-dependent C; or absent, and C_fixed is given
  View<const T, 2> B_fixed;             ///< {D, N} input-independent B (the selectivity ablation)
  View<const T, 2> C_fixed;             ///< {D, N} input-independent C
  View<const T, 1> D;                   ///< {D} skip term D·u, or absent
  View<const T, 3> z;                   ///< {Bn, L, D} gate: out = y·silu(z), or absent
  View<const T, 1> delta_bias;          ///< {D} added to δ, or absent
  bool delta_softplus = true;           ///< Δ = softplus(δ + bias) (linear above 20); false: Δ = δ + bias
  View<const T, 3> h0;                  ///< {Bn, D, N} initial state, or absent (zeros)
  View<const std::int32_t, 1> lengths;  ///< {Bn}, each in [0, L]; absent: every sequence has L steps
  Index chunk = 64;                     ///< steps between the states forward stores for backward
};

/// What a forward writes. y is required; the others are optional.
template <Real T>
struct SelectiveScanOutputs {
  View<T, 3> y;             ///< {Bn, L, D}, overwritten; 0 at padded steps (t ≥ length)
  View<T, 3> h_last;        ///< {Bn, D, N} state after each sequence's last step (h0 for length 0); may alias h0
  View<T, 4> chunk_states;  ///< {Bn, ceil(L/chunk), D, N} contiguous: the state before step c·chunk, kept for
                            ///< backward (entries past a sequence's length are not written)
};

/// What a backward reads and writes. Activation gradients are overwritten (=) and parameter gradients
/// (A, D, delta_bias, B_fixed, C_fixed) accumulate (+=); every gradient is skipped when its view is empty.
template <Real T>
struct SelectiveScanGrads {
  View<const T, 3> dy;       ///< {Bn, L, D} gradient of the output (padded steps are ignored)
  View<const T, 3> dh_last;  ///< {Bn, D, N} gradient of the final state, or absent (zero)
  View<T, 3> du;             ///< {Bn, L, D} =, 0 at padded steps
  View<T, 3> ddelta;         ///< {Bn, L, D} = gradient wrt δ (before bias and softplus), 0 at padded steps
  View<T, 3> dB;             ///< {Bn, L, N} =, input-dependent B only
  View<T, 3> dC;             ///< {Bn, L, N} =
  View<T, 3> dz;             ///< {Bn, L, D} =, 0 at padded steps
  View<T, 3> dh0;            ///< {Bn, D, N} = gradient wrt the initial state (defined also when h0 is absent)
  View<T, 2> dA;             ///< {D, N} +=
  View<T, 2> dB_fixed;       ///< {D, N} +=
  View<T, 2> dC_fixed;       ///< {D, N} +=
  View<T, 1> dD;             ///< {D} +=
  View<T, 1> ddelta_bias;    ///< {D} +=
};

/// Number of stored states for L steps: ceil(L / chunk).
inline Index selective_scan_chunks(Index L, Index chunk) { return (L + chunk - 1) / chunk; }

namespace detail {

struct ScanDims {
  Index batch, L, D, N, chunk, chunks;
};

/// Validates every shape of a scan (shared by all backends, on the host) and returns the sizes.
template <Real T>
ScanDims check_scan(const SelectiveScanParams<T>& p) {
  const Index Bn = p.u.extent(0), L = p.u.extent(1), D = p.u.extent(2), N = p.A.extent(1);
  SSM_CHECK(Bn > 0 && L > 0 && D > 0, "selective scan: expected u of shape {Bn, L, D} with positive sizes, found ",
            shape_string(p.u));
  SSM_CHECK(N > 0, "selective scan: expected A of shape {D, N} with N > 0, found ", shape_string(p.A));
  SSM_CHECK(p.chunk > 0, "selective scan: chunk must be positive, found ", p.chunk);
  expect_shape(p.delta, "selective scan delta", {Bn, L, D});
  expect_shape(p.A, "selective scan A", {D, N});
  SSM_CHECK(p.B.empty() != p.B_fixed.empty(), "selective scan: give exactly one of B {Bn, L, N} and B_fixed {D, N}");
  SSM_CHECK(p.C.empty() != p.C_fixed.empty(), "selective scan: give exactly one of C {Bn, L, N} and C_fixed {D, N}");
  if (!p.B.empty()) expect_shape(p.B, "selective scan B", {Bn, L, N});
  if (!p.C.empty()) expect_shape(p.C, "selective scan C", {Bn, L, N});
  if (!p.B_fixed.empty()) expect_shape(p.B_fixed, "selective scan B_fixed", {D, N});
  if (!p.C_fixed.empty()) expect_shape(p.C_fixed, "selective scan C_fixed", {D, N});
  if (!p.D.empty()) expect_shape(p.D, "selective scan D", {D});
  if (!p.z.empty()) expect_shape(p.z, "selective scan z", {Bn, L, D});
  if (!p.delta_bias.empty()) expect_shape(p.delta_bias, "selective scan delta_bias", {D});
  if (!p.h0.empty()) expect_shape(p.h0, "selective scan h0", {Bn, D, N});
  expect_unit_inner_stride(p.u, "selective scan u");
  expect_unit_inner_stride(p.delta, "selective scan delta");
  expect_unit_inner_stride(p.A, "selective scan A");
  expect_unit_inner_stride(p.B, "selective scan B");
  expect_unit_inner_stride(p.C, "selective scan C");
  expect_unit_inner_stride(p.B_fixed, "selective scan B_fixed");
  expect_unit_inner_stride(p.C_fixed, "selective scan C_fixed");
  expect_unit_inner_stride(p.D, "selective scan D");
  expect_unit_inner_stride(p.z, "selective scan z");
  expect_unit_inner_stride(p.delta_bias, "selective scan delta_bias");
  expect_unit_inner_stride(p.h0, "selective scan h0");
  if (!p.lengths.empty()) {
    expect_shape(p.lengths, "selective scan lengths", {Bn});
    for (Index b = 0; b < Bn; ++b)
      SSM_CHECK(p.lengths(b) >= 0 && p.lengths(b) <= L, "selective scan: sequence ", b, " has length ", p.lengths(b),
                ", expected one in [0, ", L, "]");
  }
  return {Bn, L, D, N, p.chunk, selective_scan_chunks(L, p.chunk)};
}

template <Real T>
ScanDims check_scan(const SelectiveScanParams<T>& p, const SelectiveScanOutputs<T>& out) {
  const ScanDims s = check_scan(p);
  expect_shape(out.y, "selective scan output y", {s.batch, s.L, s.D});
  expect_unit_inner_stride(out.y, "selective scan output y");
  if (!out.h_last.empty()) {
    expect_shape(out.h_last, "selective scan h_last", {s.batch, s.D, s.N});
    expect_unit_inner_stride(out.h_last, "selective scan h_last");
  }
  if (!out.chunk_states.empty()) {
    expect_shape(out.chunk_states, "selective scan chunk_states", {s.batch, s.chunks, s.D, s.N});
    SSM_CHECK(out.chunk_states.is_contiguous(), "selective scan: chunk_states must be contiguous");
  }
  return s;
}

template <Real T>
ScanDims check_scan(const SelectiveScanParams<T>& p, View<const T, 4> chunk_states, const SelectiveScanGrads<T>& g) {
  const ScanDims s = check_scan(p);
  expect_shape(chunk_states, "selective scan chunk_states (from forward)", {s.batch, s.chunks, s.D, s.N});
  SSM_CHECK(chunk_states.is_contiguous(), "selective scan: chunk_states must be contiguous");
  expect_shape(g.dy, "selective scan dy", {s.batch, s.L, s.D});
  expect_unit_inner_stride(g.dy, "selective scan dy");
  const auto seq = [&](const auto& v, const char* what, Index last) {
    if (v.empty()) return;
    expect_shape(v, what, {s.batch, s.L, last});
    expect_unit_inner_stride(v, what);
  };
  seq(g.du, "selective scan du", s.D);
  seq(g.ddelta, "selective scan ddelta", s.D);
  seq(g.dz, "selective scan dz", s.D);
  seq(g.dB, "selective scan dB", s.N);
  seq(g.dC, "selective scan dC", s.N);
  SSM_CHECK(g.dz.empty() || !p.z.empty(), "selective scan: dz requested without a gate z");
  SSM_CHECK(g.dB.empty() || !p.B.empty(), "selective scan: dB requested but B is input-independent (use dB_fixed)");
  SSM_CHECK(g.dC.empty() || !p.C.empty(), "selective scan: dC requested but C is input-independent (use dC_fixed)");
  SSM_CHECK(g.dB_fixed.empty() || !p.B_fixed.empty(), "selective scan: dB_fixed requested without B_fixed");
  SSM_CHECK(g.dC_fixed.empty() || !p.C_fixed.empty(), "selective scan: dC_fixed requested without C_fixed");
  SSM_CHECK(g.dD.empty() || !p.D.empty(), "selective scan: dD requested without D");
  SSM_CHECK(g.ddelta_bias.empty() || !p.delta_bias.empty(), "selective scan: ddelta_bias requested without delta_bias");
  const auto state = [&](const auto& v, const char* what) {
    if (v.empty()) return;
    expect_shape(v, what, {s.batch, s.D, s.N});
    expect_unit_inner_stride(v, what);
  };
  state(g.dh_last, "selective scan dh_last");
  state(g.dh0, "selective scan dh0");
  if (!g.dA.empty()) expect_shape(g.dA, "selective scan dA", {s.D, s.N});
  if (!g.dB_fixed.empty()) expect_shape(g.dB_fixed, "selective scan dB_fixed", {s.D, s.N});
  if (!g.dC_fixed.empty()) expect_shape(g.dC_fixed, "selective scan dC_fixed", {s.D, s.N});
  if (!g.dD.empty()) expect_shape(g.dD, "selective scan dD", {s.D});
  if (!g.ddelta_bias.empty()) expect_shape(g.ddelta_bias, "selective scan ddelta_bias", {s.D});
  return s;
}

template <Real T>
Index scan_length(const SelectiveScanParams<T>& p, Index b) {
  return p.lengths.empty() ? p.u.extent(1) : static_cast<Index>(p.lengths(b));
}

}  // namespace detail

/// Forward: y = scan(u, Δ, A, B, C) + D·u, gated by silu(z); optionally the final state and the chunk states
/// backward needs. Sequential over time for each (sequence, channel); parallel over sequences.
template <Real T>
void selective_scan_forward(Scalar, const SelectiveScanParams<T>& p, const SelectiveScanOutputs<T>& out,
                            Workspace& ws) {
  const detail::ScanDims s = detail::check_scan(p, out);
  const Index L = s.L, D = s.D, N = s.N, K = s.chunk;
  auto hbuf = ws.take<T, 2>({s.batch, N});  // the running state of one channel, per sequence
  parallel_for(s.batch, 1, [=](Index b0, Index b1) {
    for (Index b = b0; b < b1; ++b) {
      const Index len = detail::scan_length(p, b);
      const View<T, 1> h = hbuf[b];
      for (Index d = 0; d < D; ++d) {
        for (Index n = 0; n < N; ++n) h(n) = p.h0.empty() ? T(0) : p.h0(b, d, n);
        const T bias = p.delta_bias.empty() ? T(0) : p.delta_bias(d);
        for (Index t = 0; t < len; ++t) {
          if (!out.chunk_states.empty() && t % K == 0)
            for (Index n = 0; n < N; ++n) out.chunk_states(b, t / K, d, n) = h(n);
          const T pre = p.delta(b, t, d) + bias;
          const T dt = p.delta_softplus ? math::softplus(pre) : pre;
          const T x = p.u(b, t, d);
          T y = p.D.empty() ? T(0) : p.D(d) * x;
          for (Index n = 0; n < N; ++n) {
            const T a = std::exp(dt * p.A(d, n));
            const T bn = p.B.empty() ? p.B_fixed(d, n) : p.B(b, t, n);
            const T cn = p.C.empty() ? p.C_fixed(d, n) : p.C(b, t, n);
            h(n) = a * h(n) + dt * bn * x;
            y += cn * h(n);
          }
          out.y(b, t, d) = p.z.empty() ? y : y * math::silu(p.z(b, t, d));
        }
        for (Index t = len; t < L; ++t) out.y(b, t, d) = T(0);
        if (!out.h_last.empty())
          for (Index n = 0; n < N; ++n) out.h_last(b, d, n) = h(n);
      }
    }
  });
}

/// Backward from the chunk states forward stored: for each chunk, last to first, the states inside it are
/// recomputed from its stored start, then the adjoint g_t = ∂L/∂h_t runs backwards through it:
///   g_t = C_t·dy_t + a_{t+1} g_{t+1}  (g after the last step = dh_last),   dh0 = a_0 g_0,
///   ∂L/∂a_t = g_t h_{t−1}  →  dA += Σ_t g_t h_{t−1} a_t Δ_t,  ∂L/∂Δ_t += Σ_n g_t h_{t−1} a_t A + (Σ_n g_t B_t) u_t,
///   dB_t = Σ_d g_t Δ_t u_t,   dC_t = Σ_d dy_t h_t,   du_t = D dy_t + Δ_t Σ_n g_t B_t,
/// where dy_t is the gradient before the gate: dy_t = dout_t·silu(z_t), dz_t = dout_t·y_t·silu'(z_t).
/// Activation gradients are overwritten (=), parameter gradients accumulate (+=).
template <Real T>
void selective_scan_backward(Scalar, const SelectiveScanParams<T>& p, CView<T, 4> chunk_states,
                             const SelectiveScanGrads<T>& g, Workspace& ws) {
  const detail::ScanDims s = detail::check_scan(p, chunk_states, g);
  const Index Bn = s.batch, L = s.L, D = s.D, N = s.N, K = s.chunk;
  // Per sequence: the states of one channel inside one chunk (hs[i] = state after step t0 + i − 1, hs[0] the
  // chunk's start), their decays, and the running adjoint. Parameter gradients go to per-sequence partials
  // summed in sequence order afterwards, so the result does not depend on the thread count.
  auto hs = ws.take<T, 3>({Bn, K + 1, N});
  auto as = ws.take<T, 3>({Bn, K, N});
  auto adj = ws.take<T, 2>({Bn, N});
  auto pA = ws.take<T, 3>({Bn, D, N});
  auto pBf = ws.take<T, 3>({Bn, D, N});
  auto pCf = ws.take<T, 3>({Bn, D, N});
  auto pD = ws.take<T, 2>({Bn, D});
  auto pbias = ws.take<T, 2>({Bn, D});
  parallel_for(Bn, 1, [=](Index b0, Index b1) {
    for (Index b = b0; b < b1; ++b) {
      const Index len = detail::scan_length(p, b);
      fill(pA[b], T(0));
      fill(pBf[b], T(0));
      fill(pCf[b], T(0));
      fill(pD[b], T(0));
      fill(pbias[b], T(0));
      if (!g.dB.empty()) fill(g.dB[b], T(0));
      if (!g.dC.empty()) fill(g.dC[b], T(0));
      for (Index d = 0; d < D; ++d) {
        const T bias = p.delta_bias.empty() ? T(0) : p.delta_bias(d);
        const auto Bv = [&](Index t, Index n) { return p.B.empty() ? p.B_fixed(d, n) : p.B(b, t, n); };
        const auto Cv = [&](Index t, Index n) { return p.C.empty() ? p.C_fixed(d, n) : p.C(b, t, n); };
        for (Index n = 0; n < N; ++n) adj(b, n) = g.dh_last.empty() ? T(0) : g.dh_last(b, d, n);
        for (Index c = selective_scan_chunks(len, K) - 1; c >= 0; --c) {
          const Index t0 = c * K, t1 = std::min(len, t0 + K);
          for (Index n = 0; n < N; ++n) hs(b, 0, n) = chunk_states(b, c, d, n);
          for (Index t = t0; t < t1; ++t) {
            const T pre = p.delta(b, t, d) + bias;
            const T dt = p.delta_softplus ? math::softplus(pre) : pre;
            for (Index n = 0; n < N; ++n) {
              const T a = std::exp(dt * p.A(d, n));
              as(b, t - t0, n) = a;
              hs(b, t - t0 + 1, n) = a * hs(b, t - t0, n) + dt * Bv(t, n) * p.u(b, t, d);
            }
          }
          for (Index t = t1 - 1; t >= t0; --t) {
            const Index i = t - t0;
            const T pre = p.delta(b, t, d) + bias;
            const T dt = p.delta_softplus ? math::softplus(pre) : pre;
            const T x = p.u(b, t, d);
            T dy = g.dy(b, t, d);
            if (!p.z.empty()) {
              T y = p.D.empty() ? T(0) : p.D(d) * x;
              for (Index n = 0; n < N; ++n) y += Cv(t, n) * hs(b, i + 1, n);
              const T zt = p.z(b, t, d);
              if (!g.dz.empty()) g.dz(b, t, d) = dy * y * math::silu_grad(zt);
              dy *= math::silu(zt);
            }
            T du = p.D.empty() ? T(0) : p.D(d) * dy;
            if (!p.D.empty()) pD(b, d) += dy * x;
            T ddt = 0, gB = 0;
            for (Index n = 0; n < N; ++n) {
              const T gn = adj(b, n) + Cv(t, n) * dy;  // ∂L/∂h_t
              const T a = as(b, i, n);
              if (p.C.empty())
                pCf(b, d, n) += dy * hs(b, i + 1, n);
              else if (!g.dC.empty())
                g.dC(b, t, n) += dy * hs(b, i + 1, n);
              if (p.B.empty())
                pBf(b, d, n) += gn * dt * x;
              else if (!g.dB.empty())
                g.dB(b, t, n) += gn * dt * x;
              gB += gn * Bv(t, n);
              const T ga = gn * hs(b, i, n) * a;  // ∂L/∂a_t · a_t
              pA(b, d, n) += ga * dt;
              ddt += ga * p.A(d, n);
              adj(b, n) = a * gn;
            }
            ddt += gB * x;
            du += gB * dt;
            const T dpre = p.delta_softplus ? ddt * math::softplus_grad(pre) : ddt;
            pbias(b, d) += dpre;
            if (!g.du.empty()) g.du(b, t, d) = du;
            if (!g.ddelta.empty()) g.ddelta(b, t, d) = dpre;
          }
        }
        for (Index t = len; t < L; ++t) {
          if (!g.du.empty()) g.du(b, t, d) = T(0);
          if (!g.ddelta.empty()) g.ddelta(b, t, d) = T(0);
          if (!g.dz.empty()) g.dz(b, t, d) = T(0);
        }
        if (!g.dh0.empty())
          for (Index n = 0; n < N; ++n) g.dh0(b, d, n) = adj(b, n);
      }
    }
  });
  for (Index d = 0; d < D; ++d) {
    for (Index n = 0; n < N; ++n) {
      T sa = 0, sb = 0, sc = 0;
      for (Index b = 0; b < Bn; ++b) {
        sa += pA(b, d, n);
        sb += pBf(b, d, n);
        sc += pCf(b, d, n);
      }
      if (!g.dA.empty()) g.dA(d, n) += sa;
      if (!g.dB_fixed.empty()) g.dB_fixed(d, n) += sb;
      if (!g.dC_fixed.empty()) g.dC_fixed(d, n) += sc;
    }
    T sd = 0, sbias = 0;
    for (Index b = 0; b < Bn; ++b) {
      sd += pD(b, d);
      sbias += pbias(b, d);
    }
    if (!g.dD.empty()) g.dD(d) += sd;
    if (!g.ddelta_bias.empty()) g.ddelta_bias(d) += sbias;
  }
}

}  // namespace ssm::backend
