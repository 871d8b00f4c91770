// ssm/layers/dense_ssm.hpp — the naive dense SSM kernel and its adjoint, in double: the Krylov sequence
//   K[d, l] = C_d Ā^l B̄  (l < L),  v_l = Ā^l B̄,
// and the matrix power W = Āⁿ by repeated squaring. LSSL computes its kernel this way; S4 uses it for
// discretizations without a resolvent form (ZOH) and to build C = C̃(I − Ā^L)⁻¹ for its recurrent step; the tests
// use it as the reference every fast kernel is compared with.
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>
#include <vector>

#include "ssm/core/config.hpp"

namespace ssm::detail {

using MatD = Eigen::MatrixXd;
using VecD = Eigen::VectorXd;

/// v_l = Ā^l B̄ for l < L as the columns of V {N, L}; the kernel is then K = C V ({Dirs, L}).
inline MatD krylov(const MatD& abar, const VecD& bbar, Index length) {
  MatD v(abar.rows(), length);
  if (length == 0) return v;
  v.col(0) = bbar;
  for (Index l = 1; l < length; ++l) v.col(l).noalias() = abar * v.col(l - 1);
  return v;
}

/// Adjoint of K = C·krylov(Ā, B̄, L) given G = ∂L/∂K {Dirs, L}: the backward recurrence of the adjoint state
/// a_l = Σ_d G[d, l] C_dᵀ + Āᵀ a_{l+1} (a_L = 0) gives ∂Ā += Σ_{l ≥ 1} a_l v_{l−1}ᵀ, ∂B̄ += a_0, ∂C += G Vᵀ.
inline void krylov_backward(const MatD& abar, const MatD& v, const MatD& c, const MatD& g, MatD& g_abar, VecD& g_bbar,
                            MatD& g_c) {
  const Index L = v.cols(), N = v.rows();
  if (L == 0) return;
  g_c.noalias() += g * v.transpose();
  MatD adj(N, L);  // a_l as columns
  const MatD ct = c.transpose();
  adj.col(L - 1) = ct * g.col(L - 1);
  for (Index l = L - 2; l >= 0; --l) adj.col(l) = ct * g.col(l) + abar.transpose() * adj.col(l + 1);
  if (L > 1) g_abar.noalias() += adj.rightCols(L - 1) * v.leftCols(L - 1).transpose();
  g_bbar += adj.col(0);
}

/// W = Āⁿ by repeated squaring, keeping what the adjoint needs.
struct MatrixPower {
  std::vector<MatD> squares;   // Ā^(2^j)
  std::vector<MatD> partials;  // products of the squares used so far, partials[0] = I
  std::vector<Index> used;     // which squares enter the product, in order
  MatD result;

  MatrixPower(const MatD& a, Index n) {
    const Index N = a.rows();
    partials.push_back(MatD::Identity(N, N));
    MatD s = a;
    for (Index e = n; e > 0; e >>= 1) {
      squares.push_back(s);
      if (e & 1) {
        used.push_back(static_cast<Index>(squares.size()) - 1);
        partials.push_back(partials.back() * s);
      }
      if (e > 1) s = s * s;
    }
    result = partials.back();
  }

  /// ∂L/∂Ā from ∂L/∂W: back through the products (P_{m+1} = P_m S_j) and then the squarings (S_{j+1} = S_j²).
  MatD backward(const MatD& g_result) const {
    const Index N = result.rows();
    std::vector<MatD> g_sq(squares.size(), MatD::Zero(N, N));
    MatD g = g_result;
    for (Index m = static_cast<Index>(used.size()) - 1; m >= 0; --m) {
      const MatD& s = squares[static_cast<std::size_t>(used[static_cast<std::size_t>(m)])];
      g_sq[static_cast<std::size_t>(used[static_cast<std::size_t>(m)])] += partials[static_cast<std::size_t>(m)].transpose() * g;
      g = (g * s.transpose()).eval();
    }
    for (Index j = static_cast<Index>(squares.size()) - 1; j > 0; --j) {
      const MatD& s = squares[static_cast<std::size_t>(j - 1)];
      const MatD& gj = g_sq[static_cast<std::size_t>(j)];
      g_sq[static_cast<std::size_t>(j - 1)] += gj * s.transpose() + s.transpose() * gj;
    }
    return squares.empty() ? MatD::Zero(N, N) : g_sq[0];
  }
};

/// C = C̃ (I − Āⁿ)⁻¹ row by row (c̃: {Dirs, N}), the output map whose truncated kernel C Ā^l B̄ (l < n) has the
/// generating function C̃ (I − zĀ)⁻¹ B̄ at the n-th roots of unity — S4's C̃ parametrisation.
struct CTildeInverse {
  MatrixPower power;
  Eigen::PartialPivLU<MatD> lu_t;  // of (I − W)ᵀ
  MatD c;                          // {Dirs, N}

  CTildeInverse(const MatD& abar, const MatD& c_tilde, Index n)
      : power(abar, n), lu_t((MatD::Identity(abar.rows(), abar.rows()) - power.result).transpose()) {
    c = lu_t.solve(c_tilde.transpose()).transpose();
  }

  /// With cᵀ = M⁻ᵀ c̃ᵀ, M = I − W: ∂c̃ = (M⁻¹ ∂cᵀ)ᵀ and ∂W = −∂M = Σ_d c_dᵀ ∂c̃_d. Adds ∂L/∂Ā to g_abar and
  /// returns ∂L/∂C̃.
  MatD backward(const MatD& g_c, MatD& g_abar) const {
    const Index N = c.cols();
    const MatD m = MatD::Identity(N, N) - power.result;
    const MatD g_ct = m.partialPivLu().solve(g_c.transpose()).transpose();  // {Dirs, N}
    const MatD g_w = c.transpose() * g_ct;
    g_abar += power.backward(g_w);
    return g_ct;
  }
};

}  // namespace ssm::detail
