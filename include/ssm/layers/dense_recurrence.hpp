// ssm/layers/dense_recurrence.hpp — the token-by-token state LSSL and S4 generate with: per channel a dense
// Ā_h {N, N} and B̄_h (from the layer's discretization, in double, at the first step), and per sequence and
// channel x {N}:  x ← Ā_h x + B̄_h u,  z = C_h x + D_h u  (backend dense_ssm_step). The layer supplies C_h (LSSL
// its C; S4 the C = C̃ (I − Ā^{l_max})⁻¹ it keeps in `c`) and turns z into its output.
#pragma once

#include <vector>

#include "ssm/backend/simd/dense_step.hpp"
#include "ssm/core/view.hpp"
#include "ssm/layers/dense_ssm.hpp"

namespace ssm::detail {

template <Real T>
struct DenseRecurrence {
  Index batch = 0;
  std::vector<T> x, abar, bbar, c, z, scratch, tmp;  // x {B, H, N}; Ā {H, N, N}; B̄, c {H, N}; z {B, H}
  bool ready = false;                                // Ā and B̄ (and c) are set

  DenseRecurrence() = default;
  /// Zero state for `batch` sequences of H channels with N states; `scratch` holds the output mixing's
  /// {B, H} (2H with GLU).
  DenseRecurrence(Index batch_size, Index H, Index N, bool glu)
      : batch(batch_size),
        x(static_cast<std::size_t>(batch_size * H * N), T(0)),
        z(static_cast<std::size_t>(batch_size * H), T(0)),
        scratch(static_cast<std::size_t>(batch_size * H * (glu ? 2 : 1)), T(0)),
        tmp(static_cast<std::size_t>(N), T(0)) {}

  /// Ā_h and B̄_h of channel h from double (sizes Ā and B̄ for H channels on first use).
  void set_channel(Index h, Index H, const MatD& a, const VecD& b) {
    const Index N = b.size();
    abar.resize(static_cast<std::size_t>(H * N * N));
    bbar.resize(static_cast<std::size_t>(H * N));
    for (Index i = 0; i < N; ++i) {
      bbar[static_cast<std::size_t>(h * N + i)] = static_cast<T>(b(i));
      for (Index j = 0; j < N; ++j) abar[static_cast<std::size_t>((h * N + i) * N + j)] = static_cast<T>(a(i, j));
    }
  }

  /// One token u = x_t {B, H} for every sequence and channel: z[b, h] = C_h x + D_h u after the update, with
  /// c_row(h) pointing at C_h (N contiguous values) and d {H}.
  template <Backend Bk, class CRow>
  void advance(View<const T, 2> x_t, View<const T, 1> d, CRow&& c_row) {
    const Index H = x_t.extent(1), N = static_cast<Index>(tmp.size());
    for (Index b = 0; b < batch; ++b)
      for (Index h = 0; h < H; ++h) {
        const T u = x_t(b, h);
        T* xs = &x[static_cast<std::size_t>((b * H + h) * N)];
        const T* a = &abar[static_cast<std::size_t>(h * N * N)];
        const T* bb = &bbar[static_cast<std::size_t>(h * N)];
        const T acc = backend::dense_ssm_step(Bk{}, a, bb, c_row(h), xs, tmp.data(), N, u);
        z[static_cast<std::size_t>(b * H + h)] = acc + d(h) * u;
      }
  }
};

}  // namespace ssm::detail
