// ssm/backend/scalar/ssd.hpp — Mamba-2's scan (Dao & Gu 2024, state-space duality): per sequence b and head h, a
// scalar decay per head and a state {P, N}; head h reads group g = h / (H/G) of B and C:
//   h_t = exp(Δ_t A_h) h_{t−1} + Δ_t x_t B_tᵀ,   y_t = h_t C_t + D_h x_t.
// Two forms of one op: the sequential recurrence (the ground truth) and the chunked SSD algorithm, which in each
// chunk of Q steps computes Y = (L ∘ C Bᵀ) X, L[i, j] = exp(s_i − s_j) for j ≤ i (s the cumulative sum of ΔA), by
// GEMMs, and hands states from chunk to chunk by a short sequential scan.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ssm/backend/scalar/dense.hpp"
#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

namespace ssm::backend {

/// Inputs of an SSD scan over Bn sequences of L steps, H heads of P channels, G groups of N states. Every view
/// needs unit stride in its last dimension; the other strides are free, so x, B and C may be columns of one
/// projection. An optional input is "absent" when its view is empty.
template <Real T>
struct SsdParams {
  View<const T, 4> x;                   ///< {Bn, L, H, P}
  View<const T, 3> dt;                  ///< {Bn, L, H} Δ, after the softplus (> 0)
  View<const T, 1> A;                   ///< {H}; ≤ 0 (Mamba-2: −exp(A_log)), so every decay exp(ΔA) is ≤ 1
  View<const T, 4> B;                   ///< {Bn, L, G, N}
  View<const T, 4> C;                   ///< {Bn, L, G, N}
  View<const T, 1> D;                   ///< {H} skip term D·x, or absent
  View<const T, 4> h0;                  ///< {Bn, H, P, N} initial state, or absent (zeros)
  View<const std::int32_t, 1> lengths;  ///< {Bn}, each in [0, L]; absent: every sequence has L steps
  Index chunk = 64;                     ///< Q: steps per chunk of the chunked form (unused by the sequential one)
};

/// What a forward writes. y is required; the others are optional.
template <Real T>
struct SsdOutputs {
  View<T, 4> y;             ///< {Bn, L, H, P}, overwritten; 0 at padded steps (t ≥ length)
  View<T, 4> h_last;        ///< {Bn, H, P, N} state after each sequence's last step (h0 for length 0); may alias h0
  View<T, 4> chunk_states;  ///< chunked form: {Bn, ceil(L/Q), H, P·N} contiguous, the state before step c·Q, which
                            ///< backward needs (chunks past a sequence's length are not written); absent: scratch
};

/// What a backward reads and writes. Activation gradients are overwritten (=), the parameter gradients dA and dD
/// accumulate (+=); every gradient is skipped when its view is empty.
template <Real T>
struct SsdGrads {
  View<const T, 4> dy;       ///< {Bn, L, H, P} (padded steps are ignored)
  View<const T, 4> dh_last;  ///< {Bn, H, P, N} gradient of the final state, or absent (zero)
  View<T, 4> dx;             ///< {Bn, L, H, P} =, 0 at padded steps
  View<T, 3> ddt;            ///< {Bn, L, H} = gradient wrt Δ (after the softplus), 0 at padded steps
  View<T, 4> dB;             ///< {Bn, L, G, N} =, summed over the heads of each group
  View<T, 4> dC;             ///< {Bn, L, G, N} =
  View<T, 4> dh0;            ///< {Bn, H, P, N} = (defined also when h0 is absent)
  View<T, 1> dA;             ///< {H} +=
  View<T, 1> dD;             ///< {H} +=
};

/// Chunks of Q steps in L steps: ceil(L / Q).
inline Index ssd_chunks(Index L, Index chunk) { return (L + chunk - 1) / chunk; }

namespace detail {

struct SsdDims {
  Index batch, L, H, P, G, N, chunk, chunks;
};

/// Validates every input shape (shared by both forms) and returns the sizes.
template <Real T>
SsdDims check_ssd(const SsdParams<T>& p) {
  const Index Bn = p.x.extent(0), L = p.x.extent(1), H = p.x.extent(2), P = p.x.extent(3);
  const Index G = p.B.extent(2), N = p.B.extent(3);
  SSM_CHECK(Bn > 0 && L > 0 && H > 0 && P > 0, "ssd: expected x of shape {Bn, L, H, P} with positive sizes, found ",
            shape_string(p.x));
  SSM_CHECK(G > 0 && N > 0 && H % G == 0, "ssd: expected B of shape {Bn, L, G, N} with G dividing H = ", H,
            ", found ", shape_string(p.B));
  SSM_CHECK(p.chunk > 0, "ssd: chunk must be positive, found ", p.chunk);
  expect_shape(p.dt, "ssd dt", {Bn, L, H});
  expect_shape(p.A, "ssd A", {H});
  expect_shape(p.B, "ssd B", {Bn, L, G, N});
  expect_shape(p.C, "ssd C", {Bn, L, G, N});
  if (!p.D.empty()) expect_shape(p.D, "ssd D", {H});
  if (!p.h0.empty()) expect_shape(p.h0, "ssd h0", {Bn, H, P, N});
  expect_unit_inner_stride(p.x, "ssd x");
  expect_unit_inner_stride(p.dt, "ssd dt");
  expect_unit_inner_stride(p.A, "ssd A");
  expect_unit_inner_stride(p.B, "ssd B");
  expect_unit_inner_stride(p.C, "ssd C");
  expect_unit_inner_stride(p.D, "ssd D");
  expect_unit_inner_stride(p.h0, "ssd h0");
  if (!p.lengths.empty()) {
    expect_shape(p.lengths, "ssd lengths", {Bn});
    for (Index b = 0; b < Bn; ++b)
      SSM_CHECK(p.lengths(b) >= 0 && p.lengths(b) <= L, "ssd: sequence ", b, " has length ", p.lengths(b),
                ", expected one in [0, ", L, "]");
  }
  return {Bn, L, H, P, G, N, p.chunk, ssd_chunks(L, p.chunk)};
}

template <Real T>
SsdDims check_ssd(const SsdParams<T>& p, const SsdOutputs<T>& out) {
  const SsdDims s = check_ssd(p);
  expect_shape(out.y, "ssd output y", {s.batch, s.L, s.H, s.P});
  expect_unit_inner_stride(out.y, "ssd output y");
  if (!out.h_last.empty()) {
    expect_shape(out.h_last, "ssd h_last", {s.batch, s.H, s.P, s.N});
    expect_unit_inner_stride(out.h_last, "ssd h_last");
  }
  if (!out.chunk_states.empty()) {
    expect_shape(out.chunk_states, "ssd chunk_states", {s.batch, s.chunks, s.H, s.P * s.N});
    SSM_CHECK(out.chunk_states.is_contiguous(), "ssd: chunk_states must be contiguous");
  }
  return s;
}

template <Real T>
SsdDims check_ssd(const SsdParams<T>& p, const SsdGrads<T>& g) {
  const SsdDims s = check_ssd(p);
  const auto seq = [&](const auto& v, const char* what, Index k, Index n) {
    if (v.empty()) return;
    expect_shape(v, what, {s.batch, s.L, k, n});
    expect_unit_inner_stride(v, what);
  };
  const auto state = [&](const auto& v, const char* what) {
    if (v.empty()) return;
    expect_shape(v, what, {s.batch, s.H, s.P, s.N});
    expect_unit_inner_stride(v, what);
  };
  SSM_CHECK(!g.dy.empty(), "ssd backward: dy is required");
  seq(g.dy, "ssd dy", s.H, s.P);
  seq(g.dx, "ssd dx", s.H, s.P);
  seq(g.dB, "ssd dB", s.G, s.N);
  seq(g.dC, "ssd dC", s.G, s.N);
  state(g.dh_last, "ssd dh_last");
  state(g.dh0, "ssd dh0");
  if (!g.ddt.empty()) expect_shape(g.ddt, "ssd ddt", {s.batch, s.L, s.H});
  if (!g.dA.empty()) expect_shape(g.dA, "ssd dA", {s.H});
  if (!g.dD.empty()) {
    SSM_CHECK(!p.D.empty(), "ssd backward: dD requested without D");
    expect_shape(g.dD, "ssd dD", {s.H});
  }
  return s;
}

template <Real T>
Index ssd_length(const SsdParams<T>& p, Index b) {
  return p.lengths.empty() ? p.x.extent(1) : static_cast<Index>(p.lengths(b));
}

/// Rows t0 .. t0 + q of v(b, ·, k, ·) as a q × v.extent(3) row-major matrix (its row stride is v's time stride).
template <class T>
ConstMatMap<T> ssd_rows(const View<const T, 4>& v, Index b, Index t0, Index q, Index k) {
  return ConstMatMap<T>(v.data() + b * v.stride(0) + t0 * v.stride(1) + k * v.stride(2), q, v.extent(3),
                        Eigen::OuterStride<>(std::max<Index>(v.stride(1), 1)));
}
template <class T>
MatMap<T> ssd_rows(const View<T, 4>& v, Index b, Index t0, Index q, Index k) {
  return MatMap<T>(v.data() + b * v.stride(0) + t0 * v.stride(1) + k * v.stride(2), q, v.extent(3),
                   Eigen::OuterStride<>(std::max<Index>(v.stride(1), 1)));
}

/// A contiguous rows × cols matrix in scratch.
template <class T>
  requires(!std::is_const_v<T>)
MatMap<T> ssd_mat(T* p, Index rows, Index cols) {
  return MatMap<T>(p, rows, cols, Eigen::OuterStride<>(std::max<Index>(cols, 1)));
}
template <class T>
ConstMatMap<T> ssd_mat(const T* p, Index rows, Index cols) {
  return ConstMatMap<T>(p, rows, cols, Eigen::OuterStride<>(std::max<Index>(cols, 1)));
}
template <class T>
using SsdVec = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;

/// At most this many blocks of (sequence, chunk) tasks, each with its own scratch; a block's size depends only
/// on the problem size, never on the thread count, and each task's arithmetic is the same in any block.
inline constexpr Index kSsdBlocks = 64;

/// The chunked form's work items: task = b · chunks + c, cut into fixed blocks run inside an OpenMP region, so
/// Eigen never threads a product itself (see dense.hpp's gemm_blocks) and the bits do not depend on threads.
/// f(block, task) for every task; `scratch` elements per block are at scratch_base + block · scratch.
template <class F>
void ssd_tasks(Index tasks, F&& f) {
  const Index grain = std::max<Index>(1, (tasks + kSsdBlocks - 1) / kSsdBlocks);
  gemm_blocks(tasks, grain, [&](Index t0, Index t1) {
    for (Index t = t0; t < t1; ++t) f(t0 / grain, t);
  });
}
inline Index ssd_blocks(Index tasks) {
  const Index grain = std::max<Index>(1, (tasks + kSsdBlocks - 1) / kSsdBlocks);
  return chunk_count(tasks, grain);
}

/// s_i = Σ_{k ≤ i} Δ_{t0+k} A (the chunk's cumulative log-decay, ≤ 0 and non-increasing) into cum(b, t0 + i, h).
template <class T>
void ssd_cumsum(const SsdParams<T>& p, const View<T, 3>& cum, Index b, Index t0, Index q, Index h) {
  T s = T(0);
  const T A = p.A(h);
  for (Index i = 0; i < q; ++i) {
    s += p.dt(b, t0 + i, h) * A;
    cum(b, t0 + i, h) = s;
  }
}

}  // namespace detail

/// Forward, the plain recurrence: sequential over time for each (sequence, head), parallel over sequences.
/// out.chunk_states is not used.
template <Real T>
void ssd_sequential_forward(Scalar, const SsdParams<T>& p, const SsdOutputs<T>& out, Workspace& ws) {
  const detail::SsdDims s = detail::check_ssd(p, out);
  const Index L = s.L, H = s.H, P = s.P, N = s.N, heads_per_group = s.H / s.G;
  auto hbuf = ws.take<T, 2>({s.batch, P * N});  // the running state of one head, per sequence
  parallel_for(s.batch, 1, [=](Index b0, Index b1) {
    for (Index b = b0; b < b1; ++b) {
      const Index len = detail::ssd_length(p, b);
      T* const h = hbuf[b].data();
      for (Index hd = 0; hd < H; ++hd) {
        const Index g = hd / heads_per_group;
        for (Index i = 0; i < P; ++i)
          for (Index n = 0; n < N; ++n) h[i * N + n] = p.h0.empty() ? T(0) : p.h0(b, hd, i, n);
        const T A = p.A(hd), D = p.D.empty() ? T(0) : p.D(hd);
        for (Index t = 0; t < len; ++t) {
          const T dt = p.dt(b, t, hd), a = std::exp(dt * A);
          for (Index i = 0; i < P; ++i) {
            const T x = p.x(b, t, hd, i), dtx = dt * x;
            T y = D * x;
            for (Index n = 0; n < N; ++n) {
              T& hv = h[i * N + n];
              hv = a * hv + dtx * p.B(b, t, g, n);
              y += hv * p.C(b, t, g, n);
            }
            out.y(b, t, hd, i) = y;
          }
        }
        for (Index t = len; t < L; ++t)
          for (Index i = 0; i < P; ++i) out.y(b, t, hd, i) = T(0);
        if (!out.h_last.empty())
          for (Index i = 0; i < P; ++i)
            for (Index n = 0; n < N; ++n) out.h_last(b, hd, i, n) = h[i * N + n];
      }
    }
  });
}

/// Backward of the recurrence, recomputing and keeping every state of a sequence (memory ∝ L: a reference).
/// With g_t = ∂L/∂h_t = a_{t+1} g_{t+1} + dy_t C_tᵀ (g after the last step = dh_last), a_t = exp(Δ_t A):
///   dC_t = Σ_h h_tᵀ dy_t,   dB_t = Σ_h Δ_t g_tᵀ x_t,   dx_t = D dy_t + Δ_t g_t B_t,
///   dΔ_t = ⟨g_t, x_t B_tᵀ + A a_t h_{t−1}⟩,   dA += Δ_t a_t ⟨g_t, h_{t−1}⟩,   dD += ⟨dy_t, x_t⟩,   dh0 = a_0 g_0.
/// Activation gradients are overwritten (=), dA and dD accumulate (+=).
template <Real T>
void ssd_sequential_backward(Scalar, const SsdParams<T>& p, const SsdGrads<T>& g, Workspace& ws) {
  const detail::SsdDims s = detail::check_ssd(p, g);
  const Index Bn = s.batch, L = s.L, H = s.H, P = s.P, N = s.N, PN = s.P * s.N, heads_per_group = s.H / s.G;
  auto hs = ws.take<T, 3>({Bn, L + 1, PN});  // hs[b, t] = state after t steps of the head at hand
  auto adj = ws.take<T, 2>({Bn, PN});
  auto pA = ws.take<T, 2>({Bn, H});
  auto pD = ws.take<T, 2>({Bn, H});
  parallel_for(Bn, 1, [=](Index b0, Index b1) {
    for (Index b = b0; b < b1; ++b) {
      const Index len = detail::ssd_length(p, b);
      if (!g.dB.empty()) fill(g.dB[b], T(0));
      if (!g.dC.empty()) fill(g.dC[b], T(0));
      T* const gh = adj[b].data();
      for (Index hd = 0; hd < H; ++hd) {
        const Index gr = hd / heads_per_group;
        const T A = p.A(hd), D = p.D.empty() ? T(0) : p.D(hd);
        T* const h = hs[b].data();
        for (Index i = 0; i < P; ++i)
          for (Index n = 0; n < N; ++n) h[i * N + n] = p.h0.empty() ? T(0) : p.h0(b, hd, i, n);
        for (Index t = 0; t < len; ++t) {
          const T dt = p.dt(b, t, hd), a = std::exp(dt * A);
          const T* prev = h + t * PN;
          T* next = h + (t + 1) * PN;
          for (Index i = 0; i < P; ++i)
            for (Index n = 0; n < N; ++n)
              next[i * N + n] = a * prev[i * N + n] + dt * p.x(b, t, hd, i) * p.B(b, t, gr, n);
        }
        for (Index i = 0; i < P; ++i)
          for (Index n = 0; n < N; ++n) gh[i * N + n] = g.dh_last.empty() ? T(0) : g.dh_last(b, hd, i, n);
        T sA = 0, sD = 0;
        for (Index t = len - 1; t >= 0; --t) {
          const T dt = p.dt(b, t, hd), a = std::exp(dt * A);
          const T* prev = h + t * PN;
          const T* cur = h + (t + 1) * PN;
          T ddt = 0, dga = 0;  // dga = ⟨g_t, h_{t−1}⟩
          for (Index i = 0; i < P; ++i) {
            const T dy = g.dy(b, t, hd, i), x = p.x(b, t, hd, i);
            sD += dy * x;
            T dx = D * dy;
            for (Index n = 0; n < N; ++n) {
              T& gv = gh[i * N + n];
              gv += dy * p.C(b, t, gr, n);  // now ∂L/∂h_t
              if (!g.dC.empty()) g.dC(b, t, gr, n) += dy * cur[i * N + n];
              if (!g.dB.empty()) g.dB(b, t, gr, n) += dt * gv * x;
              dx += dt * gv * p.B(b, t, gr, n);
              ddt += gv * x * p.B(b, t, gr, n);
              dga += gv * prev[i * N + n];
            }
            if (!g.dx.empty()) g.dx(b, t, hd, i) = dx;
          }
          ddt += A * a * dga;
          sA += dt * a * dga;
          if (!g.ddt.empty()) g.ddt(b, t, hd) = ddt;
          for (Index k = 0; k < PN; ++k) gh[k] *= a;
        }
        pA(b, hd) = sA;
        pD(b, hd) = sD;
        for (Index t = len; t < L; ++t) {
          if (!g.ddt.empty()) g.ddt(b, t, hd) = T(0);
          if (!g.dx.empty())
            for (Index i = 0; i < P; ++i) g.dx(b, t, hd, i) = T(0);
        }
        if (!g.dh0.empty())
          for (Index i = 0; i < P; ++i)
            for (Index n = 0; n < N; ++n) g.dh0(b, hd, i, n) = gh[i * N + n];
      }
    }
  });
  for (Index hd = 0; hd < H; ++hd) {
    T sA = 0, sD = 0;
    for (Index b = 0; b < Bn; ++b) {
      sA += pA(b, hd);
      sD += pD(b, hd);
    }
    if (!g.dA.empty()) g.dA(hd) += sA;
    if (!g.dD.empty()) g.dD(hd) += sD;
  }
}

/// Forward, the chunked SSD algorithm. For chunk c of a sequence (steps t0 .. t0 + q), head h, s_i the chunk's
/// cumulative ΔA up to step i and H_c the state before the chunk:
///   (1) Y = M X with M[i, j] = (C_i·B_j) exp(s_i − s_j) Δ_j for j ≤ i (0 above)   — (q×N)(N×q), (q×q)(q×P);
///       S_c = Xᵀ diag(exp(s_last − s_j) Δ_j) B, the chunk's own end state          — (P×q)(q×N);
///   (2) H_{c+1} = exp(s_last) H_c + S_c, a sequential scan over chunks (H_0 = h0);
///   (3) Y += diag(exp(s_i)) C H_cᵀ + D X                                           — (q×N)(N×P).
/// Every exponent is a difference s_i − s_j ≤ 0 (A ≤ 0), so no factor exceeds 1 and none overflows.
template <Real T>
void ssd_chunked_forward(Scalar, const SsdParams<T>& p, const SsdOutputs<T>& out, Workspace& ws) {
  const detail::SsdDims s = detail::check_ssd(p, out);
  const Index Bn = s.batch, L = s.L, H = s.H, P = s.P, N = s.N, Q = s.chunk, NC = s.chunks, PN = P * N;
  const Index heads_per_group = H / s.G, tasks = Bn * NC;
  const View<T, 4> cs = out.chunk_states.empty() ? ws.take<T, 4>({Bn, NC, H, PN}) : out.chunk_states;
  auto cum = ws.take<T, 3>({Bn, L, H});
  const Index per_block = 2 * Q * Q + Q * (N + P);
  auto scratch = ws.take<T, 2>({detail::ssd_blocks(tasks), per_block});
  auto run = ws.take<T, 2>({Bn * H, PN});

  // (1) within each chunk: the diagonal block of Y and the chunk's end state from its own inputs.
  detail::ssd_tasks(tasks, [&](Index block, Index task) {
    const Index b = task / NC, c = task % NC, len = detail::ssd_length(p, b), t0 = c * Q;
    for (Index t = std::max(t0, len); t < std::min(L, t0 + Q); ++t)
      for (Index hd = 0; hd < H; ++hd)
        for (Index i = 0; i < P; ++i) out.y(b, t, hd, i) = T(0);
    if (t0 >= len) return;
    const Index q = std::min(len, t0 + Q) - t0;
    T* const sc = scratch[block].data();
    auto CB = detail::ssd_mat(sc, q, q);
    auto M = detail::ssd_mat(sc + Q * Q, q, q);
    auto wB = detail::ssd_mat(sc + 2 * Q * Q, q, N);  // diag(w) B
    for (Index gr = 0; gr < s.G; ++gr) {
      const auto Bg = detail::ssd_rows(p.B, b, t0, q, gr);
      const auto Cg = detail::ssd_rows(p.C, b, t0, q, gr);
      CB.noalias() = Cg * Bg.transpose();
      for (Index hd = gr * heads_per_group; hd < (gr + 1) * heads_per_group; ++hd) {
        detail::ssd_cumsum(p, cum, b, t0, q, hd);
        const T last = cum(b, t0 + q - 1, hd);
        for (Index i = 0; i < q; ++i) {
          const T si = cum(b, t0 + i, hd);
          for (Index j = 0; j <= i; ++j) M(i, j) = CB(i, j) * std::exp(si - cum(b, t0 + j, hd)) * p.dt(b, t0 + j, hd);
          for (Index j = i + 1; j < q; ++j) M(i, j) = T(0);
          const T w = std::exp(last - si) * p.dt(b, t0 + i, hd);
          for (Index n = 0; n < N; ++n) wB(i, n) = w * Bg(i, n);
        }
        const auto X = detail::ssd_rows(p.x, b, t0, q, hd);
        detail::ssd_rows(out.y, b, t0, q, hd).noalias() = M * X;
        detail::ssd_mat(&cs(b, c, hd, 0), P, N).noalias() = X.transpose() * wB;
      }
    }
  });

  // (2) the states between chunks, in place: cs[c] goes from S_c to H_c (the state before chunk c).
  parallel_for(Bn * H, 1, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / H, hd = r % H, len = detail::ssd_length(p, b);
      T* const h = run[r].data();
      for (Index i = 0; i < P; ++i)
        for (Index n = 0; n < N; ++n) h[i * N + n] = p.h0.empty() ? T(0) : p.h0(b, hd, i, n);
      for (Index c = 0; c < ssd_chunks(len, Q); ++c) {
        const T decay = std::exp(cum(b, std::min(len, (c + 1) * Q) - 1, hd));
        T* const st = &cs(b, c, hd, 0);
        for (Index k = 0; k < PN; ++k) {
          const T own = st[k];
          st[k] = h[k];
          h[k] = decay * h[k] + own;
        }
      }
      if (!out.h_last.empty())
        for (Index i = 0; i < P; ++i)
          for (Index n = 0; n < N; ++n) out.h_last(b, hd, i, n) = h[i * N + n];
    }
  });

  // (3) the incoming state's contribution to every step of the chunk, and the skip term.
  detail::ssd_tasks(tasks, [&](Index block, Index task) {
    const Index b = task / NC, c = task % NC, len = detail::ssd_length(p, b), t0 = c * Q;
    if (t0 >= len) return;
    const Index q = std::min(len, t0 + Q) - t0;
    auto CH = detail::ssd_mat(scratch[block].data() + 2 * Q * Q + Q * N, q, P);
    for (Index gr = 0; gr < s.G; ++gr) {
      const auto Cg = detail::ssd_rows(p.C, b, t0, q, gr);
      for (Index hd = gr * heads_per_group; hd < (gr + 1) * heads_per_group; ++hd) {
        const auto Hc = detail::ssd_mat(&cs(b, c, hd, 0), P, N);
        CH.noalias() = Cg * Hc.transpose();
        const T D = p.D.empty() ? T(0) : p.D(hd);
        for (Index i = 0; i < q; ++i) {
          const T e = std::exp(cum(b, t0 + i, hd));
          for (Index k = 0; k < P; ++k) out.y(b, t0 + i, hd, k) += e * CH(i, k) + D * p.x(b, t0 + i, hd, k);
        }
      }
    }
  });
}

/// Backward of the chunked form from the chunk states its forward stored (out.chunk_states), by the same chunks.
/// With W_c = ∂L/∂H_{c+1} (the gradient of the state after chunk c, W_last = dh_last):
///   (a) G_c = dYᵀ diag(exp(s_i)) C, the gradient the chunk's outputs send to H_c         — (P×q)(q×N);
///   (b) W_{c−1} = exp(s_last) W_c + G_c, a reverse scan over chunks;  dh0 = W_{−1};
///   (c) within the chunk, with M and w_j = exp(s_last − s_j) Δ_j as in forward:
///       dX = Mᵀ dY + D dY + diag(w) B W_cᵀ;   dM = dY Xᵀ (j ≤ i);   dCB = dM ∘ exp(s_i − s_j) Δ_j;
///       dC = dCB B + diag(exp(s_i)) dY H_c;   dB = dCBᵀ C + diag(w) X W_c;
///       dΔ_j = Σ_i dM ∘ exp(s_i − s_j) CB + exp(s_last − s_j) r_j  with r_j = ⟨x_j B_jᵀ, W_c⟩;
///       the log-decays: ∂/∂s_i gets Σ_{j<i} dM∘M − Σ_{k>i} dM∘M (column i), exp(s_i) ⟨dy_i, H_c C_i⟩, −w_i r_i,
///       and s_last also exp(s_last) ⟨W_c, H_c⟩ + Σ_j w_j r_j;  s_i = Σ_{k≤i} Δ_k A, so ∂/∂a_k = Σ_{i≥k} ∂/∂s_i
///       (a reverse cumulative sum), dΔ_k += A ∂/∂a_k and dA += Σ_k Δ_k ∂/∂a_k.
/// Activation gradients are overwritten (=), dA and dD accumulate (+=).
template <Real T>
void ssd_chunked_backward(Scalar, const SsdParams<T>& p, CView<T, 4> chunk_states, const SsdGrads<T>& g,
                          Workspace& ws) {
  const detail::SsdDims s = detail::check_ssd(p, g);
  const Index Bn = s.batch, L = s.L, H = s.H, P = s.P, N = s.N, G = s.G, Q = s.chunk, NC = s.chunks, PN = P * N;
  const Index heads_per_group = H / G, tasks = Bn * NC;
  expect_shape(chunk_states, "ssd chunk_states (from forward)", {Bn, NC, H, PN});
  SSM_CHECK(chunk_states.is_contiguous(), "ssd: chunk_states must be contiguous");
  auto cum = ws.take<T, 3>({Bn, L, H});
  auto Wc = ws.take<T, 4>({Bn, NC, H, PN});
  auto run = ws.take<T, 2>({Bn * H, PN});
  auto pA = ws.take<T, 2>({tasks, H});
  auto pD = ws.take<T, 2>({tasks, H});
  const Index per_block = 4 * Q * Q + 4 * Q + 2 * Q * (N + P);
  auto scratch = ws.take<T, 2>({detail::ssd_blocks(tasks), per_block});

  // (a) each chunk's gradient into the state before it.
  detail::ssd_tasks(tasks, [&](Index block, Index task) {
    const Index b = task / NC, c = task % NC, len = detail::ssd_length(p, b), t0 = c * Q;
    if (t0 >= len) return;
    const Index q = std::min(len, t0 + Q) - t0;
    auto eC = detail::ssd_mat(scratch[block].data(), q, N);  // diag(exp(s)) C
    for (Index gr = 0; gr < G; ++gr) {
      const auto Cg = detail::ssd_rows(p.C, b, t0, q, gr);
      for (Index hd = gr * heads_per_group; hd < (gr + 1) * heads_per_group; ++hd) {
        detail::ssd_cumsum(p, cum, b, t0, q, hd);
        for (Index i = 0; i < q; ++i) {
          const T e = std::exp(cum(b, t0 + i, hd));
          for (Index n = 0; n < N; ++n) eC(i, n) = e * Cg(i, n);
        }
        detail::ssd_mat(&Wc(b, c, hd, 0), P, N).noalias() = detail::ssd_rows(g.dy, b, t0, q, hd).transpose() * eC;
      }
    }
  });

  // (b) the reverse scan over chunks, in place: Wc[c] goes from G_c to W_c.
  parallel_for(Bn * H, 1, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / H, hd = r % H, len = detail::ssd_length(p, b);
      T* const w = run[r].data();
      for (Index i = 0; i < P; ++i)
        for (Index n = 0; n < N; ++n) w[i * N + n] = g.dh_last.empty() ? T(0) : g.dh_last(b, hd, i, n);
      for (Index c = ssd_chunks(len, Q) - 1; c >= 0; --c) {
        const T decay = std::exp(cum(b, std::min(len, (c + 1) * Q) - 1, hd));
        T* const st = &Wc(b, c, hd, 0);
        for (Index k = 0; k < PN; ++k) {
          const T own = st[k];
          st[k] = w[k];
          w[k] = decay * w[k] + own;
        }
      }
      if (!g.dh0.empty())
        for (Index i = 0; i < P; ++i)
          for (Index n = 0; n < N; ++n) g.dh0(b, hd, i, n) = w[i * N + n];
    }
  });

  // (c) the gradients inside each chunk.
  detail::ssd_tasks(tasks, [&](Index block, Index task) {
    const Index b = task / NC, c = task % NC, len = detail::ssd_length(p, b), t0 = c * Q;
    for (Index hd = 0; hd < H; ++hd) pA(task, hd) = pD(task, hd) = T(0);
    for (Index t = std::max(t0, len); t < std::min(L, t0 + Q); ++t) {
      for (Index hd = 0; hd < H; ++hd) {
        if (!g.ddt.empty()) g.ddt(b, t, hd) = T(0);
        if (!g.dx.empty())
          for (Index i = 0; i < P; ++i) g.dx(b, t, hd, i) = T(0);
      }
      for (Index gr = 0; gr < G; ++gr)
        for (Index n = 0; n < N; ++n) {
          if (!g.dB.empty()) g.dB(b, t, gr, n) = T(0);
          if (!g.dC.empty()) g.dC(b, t, gr, n) = T(0);
        }
    }
    if (t0 >= len) return;
    const Index q = std::min(len, t0 + Q) - t0;
    T* const sc = scratch[block].data();
    auto CB = detail::ssd_mat(sc, q, q);
    auto M = detail::ssd_mat(sc + Q * Q, q, q);
    auto dM = detail::ssd_mat(sc + 2 * Q * Q, q, q);
    auto dCB = detail::ssd_mat(sc + 3 * Q * Q, q, q);
    detail::SsdVec<T> w(sc + 4 * Q * Q, q), e(sc + 4 * Q * Q + Q, q), ds(sc + 4 * Q * Q + 2 * Q, q),
        ddt(sc + 4 * Q * Q + 3 * Q, q);
    auto XW = detail::ssd_mat(sc + 4 * Q * Q + 4 * Q, q, N);
    auto CH = detail::ssd_mat(sc + 4 * Q * Q + 4 * Q + Q * N, q, P);
    auto wB = detail::ssd_mat(sc + 4 * Q * Q + 4 * Q + Q * (N + P), q, N);  // diag(w) B
    auto edY = detail::ssd_mat(sc + 4 * Q * Q + 4 * Q + Q * (2 * N + P), q, P);  // diag(e) dY
    for (Index gr = 0; gr < G; ++gr) {
      const auto Bg = detail::ssd_rows(p.B, b, t0, q, gr);
      const auto Cg = detail::ssd_rows(p.C, b, t0, q, gr);
      if (!g.dB.empty()) detail::ssd_rows(g.dB, b, t0, q, gr).setZero();
      if (!g.dC.empty()) detail::ssd_rows(g.dC, b, t0, q, gr).setZero();
      CB.noalias() = Cg * Bg.transpose();
      for (Index hd = gr * heads_per_group; hd < (gr + 1) * heads_per_group; ++hd) {
        const T A = p.A(hd), D = p.D.empty() ? T(0) : p.D(hd);
        const T last = cum(b, t0 + q - 1, hd);
        const auto X = detail::ssd_rows(p.x, b, t0, q, hd);
        const auto dY = detail::ssd_rows(g.dy, b, t0, q, hd);
        const auto W = detail::ssd_mat(&Wc(b, c, hd, 0), P, N);
        const auto Hc = detail::ssd_mat(&chunk_states(b, c, hd, 0), P, N);
        for (Index i = 0; i < q; ++i) {
          const T si = cum(b, t0 + i, hd);
          for (Index j = 0; j <= i; ++j) M(i, j) = CB(i, j) * std::exp(si - cum(b, t0 + j, hd)) * p.dt(b, t0 + j, hd);
          for (Index j = i + 1; j < q; ++j) M(i, j) = T(0);
          w(i) = std::exp(last - si) * p.dt(b, t0 + i, hd);
          e(i) = std::exp(si);
          for (Index n = 0; n < N; ++n) wB(i, n) = w(i) * Bg(i, n);
          for (Index k = 0; k < P; ++k) edY(i, k) = e(i) * dY(i, k);
        }
        ds.setZero();
        ddt.setZero();
        // The intra-chunk (quadratic) form Y = M X.
        dM.noalias() = dY * X.transpose();
        for (Index i = 0; i < q; ++i) {
          const T si = cum(b, t0 + i, hd);
          for (Index j = 0; j <= i; ++j) {
            const T l = std::exp(si - cum(b, t0 + j, hd));
            dCB(i, j) = dM(i, j) * l * p.dt(b, t0 + j, hd);
            ddt(j) += dM(i, j) * l * CB(i, j);
            if (j < i) {  // ∂M[i, j]/∂s_i = M[i, j] = −∂M[i, j]/∂s_j (the diagonal does not depend on s)
              const T z = dM(i, j) * M(i, j);
              ds(i) += z;
              ds(j) -= z;
            }
          }
          for (Index j = i + 1; j < q; ++j) dCB(i, j) = T(0);
        }
        // The chunk's end state S = Xᵀ diag(w) B: r_j = ⟨x_j B_jᵀ, W⟩ = (X W)_j · B_j.
        XW.noalias() = X * W;
        for (Index j = 0; j < q; ++j) {
          const T r = XW.row(j).dot(Bg.row(j));
          ddt(j) += std::exp(last - cum(b, t0 + j, hd)) * r;
          ds(q - 1) += w(j) * r;
          ds(j) -= w(j) * r;
        }
        // The incoming state: Y += diag(e) C H_cᵀ, and H_{c+1} = exp(s_last) H_c + S.
        CH.noalias() = Cg * Hc.transpose();
        for (Index i = 0; i < q; ++i) ds(i) += e(i) * dY.row(i).dot(CH.row(i));
        ds(q - 1) += e(q - 1) * W.cwiseProduct(Hc).sum();
        if (!g.dx.empty()) {
          auto dX = detail::ssd_rows(g.dx, b, t0, q, hd);
          dX.noalias() = M.transpose() * dY;
          dX.noalias() += wB * W.transpose();
          if (!p.D.empty()) dX += D * dY;
        }
        if (!p.D.empty()) pD(task, hd) = dY.cwiseProduct(X).sum();
        if (!g.dB.empty()) {
          auto dBg = detail::ssd_rows(g.dB, b, t0, q, gr);
          dBg.noalias() += dCB.transpose() * Cg;
          for (Index j = 0; j < q; ++j)
            for (Index n = 0; n < N; ++n) dBg(j, n) += w(j) * XW(j, n);
        }
        if (!g.dC.empty()) {
          auto dCg = detail::ssd_rows(g.dC, b, t0, q, gr);
          dCg.noalias() += dCB * Bg;
          dCg.noalias() += edY * Hc;
        }
        // s_i = Σ_{k ≤ i} Δ_k A: a reverse cumulative sum gives ∂L/∂(Δ_k A).
        T acc = 0, sA = 0;
        for (Index k = q - 1; k >= 0; --k) {
          acc += ds(k);
          ddt(k) += A * acc;
          sA += p.dt(b, t0 + k, hd) * acc;
        }
        pA(task, hd) = sA;
        if (!g.ddt.empty())
          for (Index k = 0; k < q; ++k) g.ddt(b, t0 + k, hd) = ddt(k);
      }
    }
  });
  for (Index hd = 0; hd < H; ++hd) {
    T sA = 0, sD = 0;
    for (Index t = 0; t < tasks; ++t) {
      sA += pA(t, hd);
      sD += pD(t, hd);
    }
    if (!g.dA.empty()) g.dA(hd) += sA;
    if (!g.dD.empty()) g.dD(hd) += sD;
  }
}

}  // namespace ssm::backend
