// ssm/nn/mixer.hpp — the sequence-mixer interface: a layer {B, L, D} → {B, L, D} over right-padded sequences
// with lengths, which a residual model can host whatever it is (LSTM, attention, a Transformer block, and the
// SSM layers: LSSL, S4, S4D, Mamba). Checked at compile time by the concept below.
#pragma once

#include <cstdint>
#include <string_view>

#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

/// Mixer(ParamLayout&, std::string_view name, const Config&);  Params bind(T*) const;  void init(const Params&, Rng&) const;
/// forward(params, x {B,L,D}, lengths {B}, y {B,L,D}, cache, ctx);
/// backward(params, cache, dy, dx (=), grads (+=), ctx).
template <class M, class T>
concept SequenceMixer = requires(const M& m, ParamLayout& layout, const typename M::Config& cfg, T* base,
                                 const typename M::Params& p, Rng& rng, View<const T, 3> x,
                                 View<const std::int32_t, 1> lengths, View<T, 3> y, typename M::Cache& cache,
                                 const typename M::Cache& ccache, const Context& ctx) {
  M(layout, std::string_view{}, cfg);
  { m.bind(base) } -> std::same_as<typename M::Params>;
  m.init(p, rng);
  m.forward(p, x, lengths, y, cache, ctx);
  m.backward(p, ccache, x, y, p, ctx);
};

/// A dropout stream derived from a layer's name (FNV-1a's step with an offset basis one digit short of the
/// standard 14695981039346656037; kept, since changing it would change every recorded run's masks), so every
/// named layer draws its own masks.
inline std::uint64_t stream_of(std::string_view name) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace ssm::nn
